"""What every ``mirrorflow`` sub-command shares: user errors, ``--param``, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["EXIT_FAILED", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE",
           "CliError", "one_line", "parse_params", "print_error"]

#: Exit statuses: success; a check or claim failed (or our own bug); bad input; a run that
#: stopped before its target; Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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


def one_line(message: str) -> str:
    """``message`` with every run of whitespace (newlines included) collapsed to one space.

    Examples
    --------
    >>> one_line("f is not convex:\\n  f'' < 0")
    "f is not convex: f'' < 0"
    """
    return " ".join(str(message).split())


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
