"""What every ``mirrorflow`` sub-command shares: user errors, ``--param``, exit codes."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["EXIT_CODES", "EXIT_FAILED", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_OK",
           "EXIT_STUCK", "EXIT_USAGE", "CliError", "one_line", "parse_params",
           "positive_seconds", "print_error"]

#: Exit statuses: success; a check or claim failed (or our own bug); bad input; a run that
#: stopped before its target (budget); a run that cannot reach it (stuck); Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_STUCK, EXIT_INTERRUPTED = \
    0, 1, 2, 3, 4, 130

#: The table printed by ``mirrorflow --help`` and the README.
EXIT_CODES = (
    (EXIT_OK, "success: the run reached its target, every check / claim holds"),
    (EXIT_FAILED, "a check or claim failed (or an internal error: please report it)"),
    (EXIT_USAGE, "bad input: one line on stderr names it, nothing was computed"),
    (EXIT_INCOMPLETE, "the run stopped before its target (budget; saved runs can --resume)"),
    (EXIT_STUCK, "the run cannot reach its target (e.g. a network stuck on samples)"),
    (EXIT_INTERRUPTED, "interrupted by Ctrl-C (what was computed is saved with --save)"),
)

#: Longest message printed; longer ones keep their start and end around " ... ".
MAX_MESSAGE = 400


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["b=0.1", ...]`` (repeated ``--param``) as ``{"b": "0.1", ...}``.

    Raises
    ------
    CliError
        For an item that is not ``NAME=VALUE``.

    Examples
    --------
    >>> parse_params(["b = 0.1", "c=2"])
    {'b': '0.1', 'c': '2'}
    >>> parse_params(["b"])
    Traceback (most recent call last):
    ...
    numerics.cli._common.CliError: --param expects NAME=VALUE (e.g. --param b=0.1), got 'b'
    """
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise CliError(f"--param expects NAME=VALUE (e.g. --param b=0.1), got {item!r}")
        params[name.strip()] = value.strip()
    return params


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` with every run of whitespace (newlines included) collapsed to one space, and
    cut to ``limit`` characters (start and end kept) so a 10 kB expression cannot flood stderr.

    Examples
    --------
    >>> one_line("f is not convex:\\n  f'' < 0")
    "f is not convex: f'' < 0"
    >>> len(one_line("x + " * 5000 + "end")) <= MAX_MESSAGE, one_line("a" * 500)[-5:]
    (True, 'aaaaa')
    """
    text = " ".join(str(message).split())
    if len(text) <= limit:
        return text
    head = (limit - 5) * 3 // 4
    return f"{text[:head]} ... {text[len(text) - (limit - 5 - head):]}"


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (``--max-seconds 0`` is refused).

    Examples
    --------
    >>> positive_seconds("2.5")
    2.5
    >>> positive_seconds("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number of seconds > 0, got '0'
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def print_error(command: str, message: str) -> None:
    """Print ``mirrorflow COMMAND: error: MESSAGE`` as one line on stderr.

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     print_error("verify", "bad\\nnorm")
    >>> err.getvalue()
    'mirrorflow verify: error: bad norm\\n'
    """
    print(f"mirrorflow {command}: error: {one_line(message)}", file=sys.stderr)


def json_text(obj: Any) -> str:
    """``obj`` as strict JSON (indent 2): a float that is not finite becomes the string
    ``"inf"``, ``"-inf"`` or ``"nan"`` (JSON has no such numbers; a run stopped at its start
    has log t = -inf).

    Examples
    --------
    >>> print(json_text({"log_t": float("-inf"), "x": [1.5, float("nan")]}))
    {
      "log_t": "-inf",
      "x": [
        1.5,
        "nan"
      ]
    }
    """
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(obj), indent=2, allow_nan=False)

