"""One sweep task: a pure function of a resolved config that returns the run's table row.

It runs on a Dask worker (or in a plain loop): parse the config, integrate as ``mirrorflow
integrate`` does (:func:`numerics.solve_mirror_flow` with the config's ``log_t``, ``dps`` and
``method``), save the solution to ``RUNS_DIR/<run_id>.json`` and measure the row. It imports
no Dask, so the same function serves benchmarks and tests without a cluster.
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import q_margin
from ..problem import RunConfig, parse_config
from ..solvers import MirrorFlowSolution, solve_mirror_flow
from ._ids import run_id

__all__ = ["EXPECTED_FAILURES", "FINISHED", "HEYOKA_CACHE_ENV", "RESULT_FIELDS", "as_float",
           "error_row", "failure_text", "is_failed", "measure_row", "one_line", "run_task"]

#: Float columns measured per run (None where not available).
FLOAT_FIELDS = ("log_t", "log_loss", "margin", "min_margin", "digits", "balance_residual_max",
                "seconds")
#: Every measured column, in table order.
RESULT_FIELDS = ("status", *FLOAT_FIELDS, "error", "method", "solution")
#: Statuses of a run that reached what it was asked for; every other row counts as failed.
FINISHED = ("reached", "log_loss_target")
#: Worker environment variable naming the worker's own heyoka disk-cache directory (set by the
#: sweep's worker plugin; read when a run first needs heyoka).
HEYOKA_CACHE_ENV = "MIRRORFLOW_HEYOKA_CACHE_DIR"

_heyoka_cache: str | None = None


def is_failed(row: dict[str, Any]) -> bool:
    """True for a row whose run did not finish: an error or a status other than reached.

    Examples
    --------
    >>> is_failed({"status": "reached"}), is_failed({"status": "error"})
    (False, True)
    """
    return row.get("status") not in FINISHED


def one_line(text: Any) -> str:
    """``text`` on one line (every run of whitespace one space)."""
    return " ".join(str(text).split())


def as_float(value: Any) -> float | None:
    """``value`` as a float, None where it is missing, not a number or NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if not math.isnan(v) else None


def _configure_heyoka_cache() -> None:
    """Point heyoka's on-disk compilation cache at this worker's own directory (once)."""
    global _heyoka_cache
    path = os.environ.get(HEYOKA_CACHE_ENV)
    if not path or path == _heyoka_cache:
        return
    import heyoka

    Path(path).mkdir(parents=True, exist_ok=True)
    heyoka.llvm_state.set_diskcache_path(path)
    _heyoka_cache = path


def measure_row(cfg: RunConfig, sol: MirrorFlowSolution) -> dict[str, Any]:
    """The measured columns of a finished solution (``seconds`` and ``solution`` excepted).

    ``margin`` is the normalized Q-margin :func:`numerics.q_margin` of the final θ (None where
    undefined, e.g. per-layer potentials with mixed horizons); ``min_margin`` is
    min_i y_i Φ(θ; x_i); ``digits`` the certified direction digits (None without a
    certificate); ``balance_residual_max`` the balance-law residual at the final time, relative
    to the size of the terms (``MirrorFlowSolution.balance_residual_max``, THEORY.md §2; tables
    written before session 12 hold the absolute residual, an upper bound of the relative one).

    Examples
    --------
    >>> from numerics import parse_config, solve_mirror_flow
    >>> cfg = parse_config({"model": {"kind": "linear"}, "potential": "x**2/2",
    ...                     "data": {"X": [[1.0, 0.5]], "y": [1]}, "until": {"log_t": 5}})
    >>> row = measure_row(cfg, solve_mirror_flow(cfg.problem, log_t=5, certify=False))
    >>> row["status"], row["log_t"], row["digits"], row["error"]
    ('reached', 5.0, None, None)
    """
    try:
        margin = as_float(q_margin(cfg.problem, sol.theta[-1]))
    except (NotImplementedError, ValueError, ArithmeticError):
        margin = None
    digits = (sol.meta.get("digits") or {}).get("direction")
    reason = None if sol.status in FINISHED else one_line(sol.message)
    return {"status": sol.status, "log_t": as_float(sol.log_t[-1]),
            "log_loss": as_float(sol.log_loss[-1]), "margin": margin,
            "min_margin": as_float(sol.min_margin[-1]), "digits": as_float(digits),
            "balance_residual_max": as_float(np.asarray(sol.balance_residual_max)[-1]),
            "error": reason, "method": sol.method}


#: Exceptions a bad config, dataset or plan raises: their message is the row's reason. Anything
#: else is a bug of ours, recorded as an internal error.
EXPECTED_FAILURES = (ValueError, ArithmeticError, NotImplementedError, ImportError)


def failure_text(exc: BaseException) -> str:
    """The one-line ``error`` of a run that raised ``exc``.

    Examples
    --------
    >>> failure_text(ValueError("bad eta"))
    'ValueError: bad eta'
    >>> failure_text(KeyError("x")).startswith("internal error (KeyError")
    True
    """
    if isinstance(exc, EXPECTED_FAILURES):
        return f"{type(exc).__name__}: {one_line(exc)}"
    return f"internal error ({type(exc).__name__}: {one_line(exc)}); please report it"


def error_row(rid: str) -> dict[str, Any]:
    """A result row of run ``rid`` before it ran: every field empty, status ``error``."""
    return {"run_id": rid, **dict.fromkeys(RESULT_FIELDS), "status": "error"}


def run_task(config: dict[str, Any], runs_dir: str, max_seconds: float = 600.0,
             certify: bool = True) -> dict[str, Any]:
    """Run one resolved config; save its solution; return its row (never raises for a run).

    Parameters
    ----------
    config
        A resolved ``integrate`` config (see :func:`numerics.parse_config`).
    runs_dir
        Directory for ``<run_id>.json`` (:meth:`numerics.MirrorFlowSolution.save`); on a
        cluster it must be visible to the workers.
    max_seconds, certify
        Passed to :func:`numerics.solve_mirror_flow`.

    Returns
    -------
    dict
        ``run_id`` and the :data:`RESULT_FIELDS`. A run that raises (bad data, a refused
        plan, ...) gives ``status = "error"`` and ``error = "ValueError: ..."`` (one line).

    Examples
    --------
    >>> import tempfile
    >>> row = run_task({"model": {"kind": "linear"}, "potential": "x**2/2",
    ...                 "data": {"X": [[1.0, 0.0], [-1.0, 0.0]], "y": [1, 1]},
    ...                 "until": {"log_t": 5}}, tempfile.mkdtemp())
    >>> row["status"], row["error"][:45]
    ('error', 'ValueError: the dataset is not linearly separ')
    """
    start = time.perf_counter()
    rid = run_id(config)
    row = error_row(rid)
    try:
        cfg = parse_config(copy.deepcopy(config))
        if cfg.dps is not None:
            _configure_heyoka_cache()
        extra = {"method": cfg.method} if cfg.dps is not None else {}
        sol = solve_mirror_flow(cfg.problem, log_t=cfg.log_t, dps=cfg.dps,
                                max_seconds=max_seconds, certify=certify, **extra)
        path = Path(runs_dir) / f"{rid}.json"
        sol.save(path)
        row.update(measure_row(cfg, sol), solution=f"{path.parent.name}/{path.name}")
    except Exception as exc:           # recorded, the sweep goes on
        row["error"] = failure_text(exc)
    row["seconds"] = time.perf_counter() - start
    return row
