"""Claim 2's setting and its predictions, none of which looks at a run.

The problem (:func:`make_problem`), the limit direction from ``theory.max_margin``
(:func:`limit_direction`), the predicted deviation and exponent of ``log t`` (THEORY.md §5), the
theory's rates (:func:`rate_curves`) and the measures a run is scored with (:func:`deviation`,
:func:`predictor`, :func:`unit`, :func:`fit_exponent`). See :mod:`numerics.reproduce.claim2`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from theory import Potential, max_margin

from ..problem import Dataset, Diagonal, Problem

__all__ = [
    "ALPHA",
    "DEPTH",
    "DEVIATION_BAND",
    "EXPONENT_BAND",
    "SETTINGS",
    "X_DATA",
    "Setting",
    "deviation",
    "fit_exponent",
    "limit_direction",
    "make_problem",
    "pnorm",
    "predicted_deviation",
    "predicted_exponent",
    "predictor",
    "rate_curves",
    "unit",
]

X_DATA = (1.0, 0.9)
ALPHA = 0.1
DEPTH = 2
#: Relative band for the fitted exponent of log t: the predictions are leading order, and the
#: next-order terms (log log t in log t, log f''(rho) ~ rho for cosh) are O(1/log log t), O(1/rho).
EXPONENT_BAND = 0.15
#: Band for the measured deviation over the predicted one at the last checkpoint.
DEVIATION_BAND = (0.9, 1.1)


@dataclass(frozen=True)
class Setting:
    """One potential of the claim-2 experiment and its targets.

    Attributes
    ----------
    key, label : str
        Short name (summary key) and plot label.
    potential : callable
        Returns the :class:`theory.Potential`.
    log_t : dict
        Target ``log t`` for ``"quick"`` and ``"full"`` mode.
    fit_range : tuple
        ``log t`` range of the exponent fit.
    """

    key: str
    label: str
    potential: Callable[[], Potential]
    log_t: dict[str, float]
    fit_range: tuple[float, float]


#: Gradient flow reaches log t = 1e16 in ~10 Taylor steps; cosh needs steps linear in log t
#: (Taylor radius ~ z / log z in the s clock), and the s clock ends at s = 1e300 (rho ~ 690).
SETTINGS: dict[str, Setting] = {
    "gradient_flow": Setting("gradient_flow", "gradient flow  f = x²/2", Potential.quadratic,
                             {"quick": 1e16, "full": 1e16}, (1e8, 1e16)),
    "cosh": Setting("cosh", "cosh  f = cosh x", Potential.cosh,
                    {"quick": 1e3, "full": 3e4}, (1e2, 3e4)),
}


def make_problem(potential: Potential, x: tuple[float, float] = X_DATA,
                 alpha: float = ALPHA) -> Problem:
    """The one-sample depth-2 diagonal network of claim 2, ``theta0 = (alpha, alpha, 0, 0)``.

    Examples
    --------
    >>> prob = make_problem(Potential.quadratic())
    >>> prob.theta0.tolist(), prob.data.X.tolist()
    ([0.1, 0.1, 0.0, 0.0], [[1.0, 0.9]])
    >>> make_problem(Potential.quadratic(), x=(0.9, 1.0))
    Traceback (most recent call last):
    ...
    ValueError: claim 2 needs x1 > x2 > 0 (nearly tied coordinates), got x = (0.9, 1.0); ...
    """
    if not (len(x) == 2 and x[0] > x[1] > 0):
        raise ValueError(f"claim 2 needs x1 > x2 > 0 (nearly tied coordinates), got x = {x}; "
                         "pass e.g. x=(1.0, 0.9)")
    if not alpha > 0:
        raise ValueError(f"alpha (the initial scale of u) must be positive, got {alpha}")
    data = Dataset.from_arrays([list(x)], [1])
    return Problem(data, Diagonal(DEPTH), potential, "exp",
                   np.array([alpha, alpha, 0.0, 0.0]), {"alpha": alpha})


def limit_direction(problem: Problem) -> tuple[np.ndarray, float, float]:
    """Predicted limit ``beta*`` (unit in its norm), the norm exponent ``p`` and the margin.

    From ``theory.max_margin`` in predictor space with ``p = Horizon.predictor_norm(L)``
    (THEORY.md §4), never from a run.

    Examples
    --------
    >>> beta, p, gamma = limit_direction(make_problem(Potential.quadratic()))
    >>> beta.round(12).tolist(), p, gamma
    ([1.0, 0.0], 1.0, 1.0)
    >>> beta, p, gamma = limit_direction(make_problem(Potential.cosh()))
    >>> beta.tolist(), p, round(gamma, 12)
    ([1.0, 1.0], inf, 1.9)
    """
    p = float(problem.potential.horizon.predictor_norm(problem.model.degree))
    res = max_margin(problem.data.X, problem.data.y, p)
    return np.asarray(res.direction, dtype=float), p, float(res.margin)


def deviation(beta: Any, beta_star: np.ndarray, p: float) -> Any:
    """``|| beta / ||beta||_p - beta* ||_inf`` (works on floats and on mpmath numbers).

    Examples
    --------
    >>> float(deviation([3.0, 1.0], np.array([1.0, 0.0]), 1.0))
    0.25
    """
    b = list(beta)
    n = pnorm(b, p)
    return max(abs(v / n - float(w)) for v, w in zip(b, beta_star, strict=True))


def pnorm(v: Any, p: float) -> Any:
    """``||v||_p`` (``p = inf``: the max-norm) of a sequence of floats or mpmath numbers.

    Examples
    --------
    >>> pnorm([3.0, -4.0], 2.0), pnorm([3.0, -4.0], math.inf)
    (5.0, 4.0)
    """
    return max(abs(x) for x in v) if math.isinf(p) else sum(abs(x) ** p for x in v) ** (1 / p)


def predicted_exponent(key: str, x: tuple[float, float] = X_DATA) -> float:
    """Predicted power of ``log t`` in the deviation: ``-(1 - x2/x1)`` (GD), ``-1/2`` (cosh).

    Examples
    --------
    >>> round(predicted_exponent("gradient_flow"), 12), predicted_exponent("cosh")
    (-0.1, -0.5)
    """
    if key == "gradient_flow":
        return -(1 - x[1] / x[0])
    if key == "cosh":
        return -1.0 / DEPTH
    raise ValueError(f"no predicted exponent for {key!r}; use one of {sorted(SETTINGS)}")


@lru_cache(maxsize=8)
def _rho(potential_name: str, gamma: float) -> Callable[[Any], Any]:
    """``rho(log t)`` from the theory's primal-norm rate (THEORY.md §5)."""
    potential = {"cosh": Potential.cosh, "quadratic": Potential.quadratic}[potential_name]()
    rates = potential.rates(depth=DEPTH, margin=sp.nsimplify(gamma, rational=True))
    (t,) = rates.primal_norm.free_symbols
    lt = sp.Symbol("logt", positive=True)
    expr = rates.primal_norm.subs(sp.log(t), lt)
    return sp.lambdify(lt, expr, modules="mpmath")


def predicted_deviation(key: str, log_t: Any, x: tuple[float, float] = X_DATA,
                        alpha: float = ALPHA) -> float:
    """Predicted deviation at ``log t`` (module docstring: [paper] for GD, [derived] for cosh).

    Examples
    --------
    >>> round(predicted_deviation("gradient_flow", 1e15), 4)
    0.02
    >>> round(predicted_deviation("cosh", 702.0), 3)   # loss ~ 1e-305
    0.011
    """
    x1, x2 = x
    if key == "gradient_flow":
        return float((x1 * alpha**2 / mpmath.mpf(log_t)) ** (1 - x2 / x1))
    if key == "cosh":
        gamma = x1 + x2  # l_inf predictor margin; limit_direction() computes it independently
        rho = _rho("cosh", gamma)(mpmath.mpf(log_t))
        return float(2 * mpmath.log(mpmath.mpf(x1) / x2) / rho)
    raise ValueError(f"no predicted deviation for {key!r}; use one of {sorted(SETTINGS)}")


def fit_exponent(log_t: np.ndarray, dev: np.ndarray, lo: float, hi: float) -> float:
    """Least-squares slope of ``log dev`` against ``log log t`` on ``lo <= log t <= hi``.

    Examples
    --------
    >>> lt = np.logspace(2, 8, 7)
    >>> round(fit_exponent(lt, 3 * lt ** -0.1, 1e2, 1e8), 12)
    -0.1
    """
    lt, dv = np.asarray(log_t, float), np.asarray(dev, float)
    sel = (lt >= lo * (1 - 1e-9)) & (lt <= hi * (1 + 1e-9)) & (dv > 0)
    if sel.sum() < 2:
        raise ValueError(f"need two checkpoints with {lo:g} <= log t <= {hi:g} to fit a slope")
    return float(np.polyfit(np.log(lt[sel]), np.log(dv[sel]), 1)[0])


def rate_curves(potential: Potential, gamma: float, log_t: np.ndarray) -> dict[str, np.ndarray]:
    """The theory's rates at ``log t``: ``-log L``, ``-log(t L)``, ``rho`` and ``log f'(rho)``.

    From ``Potential.rates(depth=2, margin=gamma)`` (THEORY.md §5), evaluated with mpmath, so
    ``t = exp(1e16)`` is an ordinary number.

    Examples
    --------
    >>> c = rate_curves(Potential.quadratic(), 1.0, np.array([1e4]))  # L = 1/(4 t log t)
    >>> round(float(c["neg_log_loss"][0]), 3), round(float(c["neg_log_tl"][0]), 3)
    (10010.597, 10.597)
    >>> float(c["primal"][0])
    100.0
    """
    rates = potential.rates(depth=DEPTH, margin=sp.nsimplify(gamma, rational=True))
    t = sp.Symbol("t", positive=True)
    tt = next(iter(rates.loss.free_symbols))
    fns = {k: sp.lambdify(t, getattr(rates, k).subs(tt, t), modules="mpmath")
           for k in ("loss", "primal_norm", "dual_norm")}
    out: dict[str, list[float]] = {"neg_log_loss": [], "neg_log_tl": [], "primal": [],
                                   "log_dual": []}
    with mpmath.workdps(60):
        for lt in log_t:
            tv = mpmath.exp(mpmath.mpf(float(lt)))
            nll = -mpmath.log(fns["loss"](tv))
            out["neg_log_loss"].append(float(nll))
            out["neg_log_tl"].append(float(nll - mpmath.mpf(float(lt))))
            out["primal"].append(float(fns["primal_norm"](tv)))
            out["log_dual"].append(float(mpmath.log(fns["dual_norm"](tv))))
    return {k: np.array(v) for k, v in out.items()}


def predictor(theta: Any) -> list[Any]:
    """``beta = u*u - v*v`` of ``theta = (u1, u2, v1, v2)``, exact for mpmath inputs.

    Examples
    --------
    >>> predictor([2.0, 1.0, 1.0, 0.0])
    [3.0, 1.0]
    """
    with mpmath.workprec(400):
        return [theta[0] ** 2 - theta[2] ** 2, theta[1] ** 2 - theta[3] ** 2]


def unit(theta: Any) -> list[Any]:
    """``theta / ||theta||_2`` at 400 bits (mpmath).

    Examples
    --------
    >>> [float(v) for v in unit([mpmath.mpf(3), mpmath.mpf(4)])]
    [0.6, 0.8]
    """
    with mpmath.workprec(400):
        n = mpmath.sqrt(mpmath.fsum(v * v for v in theta))
        return [v / n for v in theta]
