"""The ``mirrorflow`` command line (console script ``numerics.cli:main``).

One module per sub-command: ``derive`` (:mod:`numerics.cli._derive`), ``integrate``
(``_integrate``), ``verify`` (``_verify``), ``reproduce`` (``_reproduce``) and ``sweep``
(``_sweep``); ``_common``
holds :class:`CliError`, ``--param`` parsing and the exit codes. Each sub-command's
``add_*_parser`` / ``run_*`` pair is re-exported here. Bad input exits with status 2 and a
one-line reason on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from theory import __version__

from ._common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    one_line,
    print_error,
)
from ._derive import add_derive_parser, run_derive
from ._integrate import add_integrate_parser, run_integrate
from ._reproduce import add_reproduce_parser, run_reproduce_cli
from ._sweep import add_sweep_parser, run_sweep_cli
from ._verify import add_verify_parser, run_verify

__all__ = [
    "CliError",
    "add_derive_parser",
    "add_integrate_parser",
    "add_reproduce_parser",
    "add_sweep_parser",
    "add_verify_parser",
    "build_parser",
    "main",
    "run_derive",
    "run_integrate",
    "run_reproduce_cli",
    "run_sweep_cli",
    "run_verify",
]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``mirrorflow CMD: error: ...``, exit status 2)."""

    def error(self, message: str) -> NoReturn:
        text = f"{message} (see {self.prog} --help)"
        if " " in self.prog:
            print_error(self.prog.split(" ", 1)[1], text)
        else:
            print(f"{self.prog}: error: {one_line(text)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _exit_code_table() -> str:
    return "exit status:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    Examples
    --------
    >>> build_parser().parse_args(["verify", "cosh(x)"]).command
    'verify'
    """
    parser = _Parser(
        prog="mirrorflow",
        description="Implicit bias of mirror flow in homogeneous networks: derive, integrate, "
                    "verify, reproduce, sweep.", epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mirrorflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_derive_parser, add_integrate_parser, add_verify_parser,
                add_reproduce_parser, add_sweep_parser):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mirrorflow`` console script; returns the exit status.

    Examples
    --------
    >>> main(["derive", "x**2", "--param", "b"])
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ValueError, ArithmeticError, NotImplementedError) as exc:
        print_error(args.command, str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mirrorflow {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # our own bug: one line, traceback on request
        if os.environ.get("MIRRORFLOW_DEBUG"):
            raise
        print(f"mirrorflow {args.command}: internal error ({type(exc).__name__}: "
              f"{one_line(str(exc))[:300]}); rerun with MIRRORFLOW_DEBUG=1 for the "
              "traceback and please report it", file=sys.stderr)
        return EXIT_FAILED
