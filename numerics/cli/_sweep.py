"""``mirrorflow sweep SPEC --out DIR`` and ``mirrorflow sweep --report DIR``.

Runs a parameter sweep (:mod:`numerics.sweeps`) on Dask: a ``LocalCluster`` of ``--workers``
processes (default: one per core) or an existing scheduler (``--scheduler tcp://HOST:PORT``),
with rows added to ``DIR/results.parquet`` as runs finish. Running the same command again
computes only the missing runs (``--retry-failed`` also the failed ones). ``--report DIR``
draws figures across the grid into ``DIR/report/``.

Exit status: 0 if every run of the spec reached its target, 3 if some failed (their reasons
are in the table's ``error`` column), 2 on bad input (before any cluster starts), 130 on
Ctrl-C (finished runs are kept).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    json_text,
    print_error,
)

__all__ = ["add_sweep_parser", "run_sweep_cli"]


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sweep`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_sweep_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["sweep", "spec.json", "--out", "runs", "--workers", "2"])
    >>> args.spec, args.out, args.workers, args.scheduler, args.func is run_sweep_cli
    ('spec.json', 'runs', '2', None, True)
    >>> parser.parse_args(["sweep", "--report", "runs"]).report
    'runs'
    """
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep on Dask into a Parquet results table",
        description="Run every config of a sweep SPEC (JSON or TOML: base, grid, zip) as one "
                    "Dask task; rows go to DIR/results.parquet as runs finish, solutions to "
                    "DIR/runs/. Rerun to compute only the missing runs. Exit status 0 if all "
                    "runs reached their target, 3 if some failed, 2 on bad input, 130 on "
                    "Ctrl-C.")
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="sweep spec: {\"base\": CONFIG, \"grid\": {PATH: [values]}, "
                        "\"zip\": {PATH: [values]}, \"kind\": \"integrate\" (default) or "
                        "\"mirror_descent\"}")
    p.add_argument("--out", metavar="DIR", help="output directory (results.parquet, runs/)")
    p.add_argument("--workers", metavar="N",
                   help="worker processes of the local Dask cluster (default: cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use an existing Dask scheduler, e.g. tcp://HOST:8786")
    p.add_argument("--retry-failed", action="store_true", help="recompute failed runs too")
    p.add_argument("--report", metavar="DIR",
                   help="only draw figures from DIR/results.parquet into DIR/report/")
    p.add_argument("--json", action="store_true", help="print one JSON summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_sweep_cli)
    return p


def _workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise CliError(f"--workers expects a positive integer, got {text!r}")
    return n


def _report(args: argparse.Namespace) -> int:
    if args.spec or args.out or args.workers or args.scheduler or args.retry_failed:
        raise CliError("--report DIR only draws figures from an existing sweep; give either "
                       "SPEC --out DIR or --report DIR")
    from ..sweeps import write_report

    try:
        files = write_report(args.report)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json_text({"report": [str(f) for f in files]}))
    else:
        print("report: " + ", ".join(str(f) for f in files))
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    if not args.spec or not args.out:
        raise CliError("give a SPEC file and --out DIR (or --report DIR for figures)")
    workers = _workers(args.workers)
    if workers is not None and args.scheduler is not None:
        raise CliError("--workers sizes the local cluster; with --scheduler the cluster's own "
                       "workers run the sweep: give one of them")
    from ..sweeps import SweepInterrupted, load_spec, prepare_out, probe_address, run_sweep

    if args.scheduler is not None:
        probe_address(args.scheduler)         # malformed or nothing listening: exit 2 now
    spec = load_spec(args.spec)               # every run's config is validated here
    prepare_out(args.out)
    try:
        summary = run_sweep(spec, args.out, workers=workers, scheduler=args.scheduler,
                            retry_failed=args.retry_failed, progress=not args.no_progress)
    except SweepInterrupted as exc:
        s = exc.summary
        print(f"mirrorflow sweep: interrupted; {s['computed']} runs finished now and kept in "
              f"{s['table']}; rerun the same command to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json_text(summary))
    else:
        print(f"sweep: {summary['runs']} runs: {summary['computed']} computed, "
              f"{summary['skipped']} already in the table, {summary['failed']} failed"
              + (f", {summary['lost']} lost (rerun to compute them)" if summary["lost"] else "")
              + f" -> {summary['table']}")
    return EXIT_INCOMPLETE if summary["failed"] or summary["lost"] else EXIT_OK


def run_sweep_cli(args: argparse.Namespace) -> int:
    """Run ``mirrorflow sweep`` for parsed ``args``; returns the exit status.

    Bad input (a missing or invalid SPEC, an unwritable ``--out``, a malformed or unreachable
    ``--scheduler``, a refused results table) prints one line on stderr and returns 2, before
    any cluster is started.

    Examples
    --------
    >>> import contextlib, io
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_sweep_parser(parser.add_subparsers(dest="command"))
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = run_sweep_cli(parser.parse_args(["sweep", "missing.json", "--out", "o"]))
    >>> status, err.getvalue()
    (2, 'mirrorflow sweep: error: missing.json: no such spec file\\n')
    """
    try:
        return _report(args) if args.report else _sweep(args)
    except (CliError, ValueError, ImportError) as exc:
        print_error("sweep", str(exc))
        return EXIT_USAGE
