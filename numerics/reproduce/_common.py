"""Shared helpers of the reproduce claims: settings, runs, figures, JSON-safe numbers."""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from theory import Potential

from ..problem import Problem
from ..solvers import MirrorFlowSolution, solve_mirror_flow

__all__ = ["PotentialSpec", "fast_mode", "finite", "horizon_label", "progress_bar",
           "save_figure", "solve", "target_log_t"]

#: The float64 solver stalls for l_inf-type (cosh) potentials near log t ≈ 65 (THEORY.md §7);
#: their runs stop below that, and the summary records the log t each run really reached.
LINF_LOG_T_CAP = 55.0


@dataclass(frozen=True)
class PotentialSpec:
    """A named potential of an experiment: a sympy string and its parameters.

    Examples
    --------
    >>> spec = PotentialSpec("hyperbolic entropy b=0.1", "x*asinh(x/b) - sqrt(x**2 + b**2)",
    ...                      (("b", 0.1),))
    >>> horizon_label(spec.potential())
    'l1'
    """

    name: str
    expr: str
    params: tuple[tuple[str, float], ...] = ()

    def potential(self) -> Potential:
        """The :class:`theory.Potential` (validated by theory; one cached instance per spec)."""
        return _potential(self.expr, self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"name": self.name, "expr": self.expr, "params": dict(self.params)}


@functools.lru_cache(maxsize=64)
def _potential(expr: str, params: tuple[tuple[str, float], ...]) -> Potential:
    return Potential(expr, **dict(params))


def horizon_label(potential: Potential) -> str:
    """Short name of a potential's horizon as derived by theory: ``l1``, ``l2``, ``linf``, ...

    Examples
    --------
    >>> horizon_label(Potential.quadratic()), horizon_label(Potential.cosh())
    ('l2', 'linf')
    >>> horizon_label(Potential("x**2/2 + x**4/4"))     # the quartic term dominates
    'l4'
    """
    h = potential.horizon
    if h.norm == "one-sided" or h.p is None:
        return h.norm
    if h.p == sp.oo:
        return "linf"
    p = sp.nsimplify(h.p)
    return f"l{p}" if p.is_Integer else f"l{float(p):g}"


def target_log_t(potential: Potential, log_t: float) -> float:
    """The log t a run aims at: ``log_t``, capped at :data:`LINF_LOG_T_CAP` for l_inf horizons.

    Examples
    --------
    >>> target_log_t(Potential.cosh(), 200.0), target_log_t(Potential.quadratic(), 200.0)
    (55.0, 200.0)
    """
    return min(log_t, LINF_LOG_T_CAP) if horizon_label(potential) == "linf" else log_t


def solve(problem: Problem, log_t: float, max_seconds: float) -> MirrorFlowSolution:
    """One float64 mirror-flow run (no certificate rerun: the claims compare runs instead)."""
    return solve_mirror_flow(problem, log_t=log_t, certify=False, max_seconds=max_seconds)


def fast_mode() -> bool:
    """True when ``MIRRORFLOW_FAST=1`` (set by the test suite for notebooks)."""
    return os.environ.get("MIRRORFLOW_FAST", "") == "1"


def finite(x: Any) -> Any:
    """Recursively turn numpy scalars/arrays into JSON-safe Python (nan/inf as strings).

    Examples
    --------
    >>> finite({"a": np.float64(1.5), "b": [np.nan, np.inf], "c": np.arange(2)})
    {'a': 1.5, 'b': ['nan', 'inf'], 'c': [0, 1]}
    """
    if isinstance(x, dict):
        return {str(k): finite(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return finite(x.tolist())
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if math.isfinite(v) else repr(v)
    return x


def save_figure(fig: Any, out: Path, stem: str) -> list[str]:
    """Save ``fig`` as ``out/stem.png`` and ``out/stem.pdf``; returns the file names."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    names = []
    for ext in ("png", "pdf"):
        fig.savefig(out / f"{stem}.{ext}", dpi=100, bbox_inches="tight")
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def progress_bar(items: Sequence[Any] | Iterable[Any], desc: str, enabled: bool, total=None):
    """A tqdm bar over ``items`` (a plain iterator when ``enabled`` is false)."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, disable=not enabled, total=total, leave=True)


class Timer:
    """Wall-clock seconds since construction."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Elapsed seconds."""
        return time.perf_counter() - self.start
