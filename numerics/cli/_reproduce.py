"""``mirrorflow reproduce [claim1|claim2|claim3|all] [--quick] [--out DIR]``.

:func:`add_reproduce_parser` adds the sub-command to an ``argparse`` sub-parser set;
:func:`run_reproduce_cli` runs it, prints one line per claim (holds or not) and returns the
exit status: 0 iff every requested claim holds, 1 if one does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..reproduce import CLAIMS, run_reproduce
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, one_line, print_error

__all__ = ["add_reproduce_parser", "format_table", "run_reproduce_cli"]

DEFAULT_OUT = "mirrorflow-results"


def _claim(text: str) -> str:
    if text not in (*CLAIMS, "all"):
        raise argparse.ArgumentTypeError(
            f"unknown claim {text!r}; choose from {', '.join([*CLAIMS, 'all'])}")
    return text


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``reproduce`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_reproduce_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["reproduce", "claim1", "--quick"])
    >>> args.claims, args.quick, args.out
    (['claim1'], True, 'mirrorflow-results')
    >>> parser.parse_args(["reproduce"]).claims
    ['all']
    """
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's claims: figures and summary.json",
        description="Run the paper's claims (THEORY.md §3-6) and write PNG/PDF figures and "
                    "summary.json to --out. Exit status 0 iff every requested claim holds.")
    p.add_argument("claims", nargs="*", default=["all"], type=_claim, metavar="CLAIM",
                   help=f"one or more of {', '.join([*CLAIMS, 'all'])} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="small settings: all claims in a few minutes on 2 cores")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"output directory (default: {DEFAULT_OUT}/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_reproduce_cli)
    return p


def format_table(summary: dict[str, Any]) -> str:
    """One line per requested claim: name, verdict, its ``headline`` (or criterion) or error.

    Examples
    --------
    >>> print(format_table({"requested": ["claim2"], "claims": {"claim2": {
    ...     "holds": False, "error": "ModuleNotFoundError: no claim2"}}}))
    claim    holds  details
    claim2   NO     error: ModuleNotFoundError: no claim2
    """
    lines = ["claim    holds  details"]
    for name in summary["requested"]:
        sec = summary["claims"][name]
        mark = "yes" if sec.get("holds") else "NO"
        if "error" in sec:
            detail = f"error: {(str(sec['error']).splitlines() or [''])[0][:100]}"
        else:
            detail = str(sec.get("headline", sec.get("criterion", "")))[:100]
        lines.append(f"{name:<8} {mark:<6} {detail}")
    return "\n".join(lines)


def run_reproduce_cli(args: argparse.Namespace) -> int:
    """Run ``mirrorflow reproduce`` for parsed ``args``; returns the exit status."""
    out = Path(args.out)
    try:
        summary = run_reproduce(args.claims, quick=bool(args.quick), out=out,
                                progress=not getattr(args, "no_progress", False))
    except ValueError as exc:                    # one line, like every other refusal
        print_error("reproduce", str(exc))
        return EXIT_USAGE
    print(format_table(summary))
    for w in summary.get("warnings", []):
        print(f"warning: {one_line(str(w))}", file=sys.stderr)
    print(f"summary and figures in {out}/")
    return EXIT_OK if summary["all_hold"] else EXIT_FAILED
