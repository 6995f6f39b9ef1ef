"""``mirrorflow verify EXPR``: check a potential's theory (balance law, identity, horizon,
rates) against float64 mirror-flow trajectories (:func:`numerics.checks.verify`)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import sympy as sp

from theory import InvalidPotentialError, Potential

from ..checks import parse_norm, verify
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    json_text,
    one_line,
    parse_params,
    print_error,
)

__all__ = ["add_verify_parser", "run_verify"]


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mirrorflow verify`` to the CLI's subparsers (sets ``func=run_verify``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_verify_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["verify", "cosh(x)", "--claim-horizon", "linf", "--json"])
    >>> args.model, args.claim_horizon, args.budget, args.func is run_verify
    ('linear', 'linf', 60.0, True)
    """
    v = subparsers.add_parser(
        "verify", help="check a potential's theory (balance law, identity, horizon, rates) "
                       "against mirror-flow trajectories")
    v.add_argument("expr", help="f(x) in sympy syntax, e.g. 'x**2/2 + abs(x)**3/3'")
    v.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="parameter value, e.g. --param b=0.1 (repeatable)")
    v.add_argument("--model", choices=("linear", "diagonal", "two_layer"), default="linear",
                   help="model to train (default linear)")
    v.add_argument("--claim-horizon", metavar="NORM",
                   help="assert a horizon (l1, l2, l3, linf, ...) and check it on trajectories")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--budget", type=float, default=60.0, metavar="SECONDS",
                   help="wall-clock budget for all runs (default 60)")
    v.set_defaults(func=run_verify)
    return v


def run_verify(args: argparse.Namespace) -> int:
    """Run ``mirrorflow verify``: print the table (or JSON) and return the exit status.

    0 if every check passed, 1 if a check failed, 2 for bad input (a one-line
    ``mirrorflow verify: error: ...`` on stderr naming the problem and the fix).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_verify_parser(parser.add_subparsers(dest="command"))
    >>> run_verify(parser.parse_args(["verify", "x**2", "--claim-horizon", "l0"]))
    2
    """
    try:
        pot = _potential(args)
    except (CliError, ValueError, InvalidPotentialError, TypeError, sp.SympifyError,
            NotImplementedError) as exc:
        print_error("verify", one_line(str(exc)) or type(exc).__name__)
        return EXIT_USAGE
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = verify(pot, model=args.model, claim_horizon=args.claim_horizon,
                    budget=args.budget, progress=progress)
    if args.json:
        print(json_text(report.to_json()))
    else:
        print(f"mirrorflow verify {pot.name!r} on a {args.model} model (float64)")
        print(report.table())
    return EXIT_OK if report.passed else EXIT_FAILED


def _potential(args: argparse.Namespace) -> Potential:
    """Validate the options (before any integration) and build the potential."""
    params = parse_params(args.param)
    if not (math.isfinite(args.budget) and args.budget > 0):
        raise CliError(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.claim_horizon is not None:
        parse_norm(args.claim_horizon)
    return Potential(args.expr, **params)
