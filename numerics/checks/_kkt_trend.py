"""The KKT trend check of ``verify`` on networks (THEORY.md §4.1).

Mirror flow on an L-homogeneous model converges in direction to a KKT point of the margin
problem of its horizon, ``min Q_∞(θ) s.t. q_i(θ) >= 1`` (THEORY.md §4). :func:`kkt_trend`
evaluates the stationarity ε of :func:`numerics.checks.kkt` for a given horizon at log-spaced
points of the late part of a trajectory; :func:`check_kkt_trend` judges a horizon (derived or
claimed) by the *trend* of that ε, because on networks ε decays only like a small power of
log t (THEORY.md §5) and a snapshot does not tell the horizons apart.

The problem is the **parameter-space** one for every model: ``TwoLayer`` (degree 3 with
activation z², 2 with ReLU) and ``Diagonal`` (β = u⊙u − v⊙v, degree 2, θ = (u, v)). For the
diagonal network this is the natural problem of the mirror flow: the potential and its
horizon live on θ, and the predictor-space problem ``min ‖β‖_{p/L}`` (THEORY.md §4) is its
image, non-convex for ``p < L`` (hyperbolic entropy: l_{1/2}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..problem import Problem
from ..solvers import MirrorFlowSolution
from ._integrate import checkpoint_indices, status_note
from ._kkt import ZERO_TOL, fit_decay, kkt
from ._norms import norm_name
from ._results import Check

__all__ = ["KKT_TREND", "KKTTrend", "check_kkt_trend", "kkt_trend"]

#: Constants of the trend criterion (THEORY.md §4.1): the window is the last factor ``window``
#: of log t, sampled at ``points`` log-spaced recorded points; a horizon passes if ε is at most
#: ``floor`` at the end, or its log-log slope is at most ``slope`` and its last value at most
#: ``fall`` times its first; ``l1_tol`` is the τ of :func:`numerics.checks.kkt` for l_1
#: (coordinates below 5 % of the largest count as zero).
KKT_TREND: dict[str, float] = {
    "window": 30.0,
    "points": 12,
    "slope": -0.05,
    "fall": 0.9,
    "floor": 1e-6,
    "l1_tol": 0.05,
}


@dataclass(frozen=True)
class KKTTrend:
    """ε of one horizon on the window of a trajectory, and the verdict of the criterion.

    Attributes
    ----------
    horizon : str
        ``"l1"``, ``"l2"``, ``"linf"``, ...
    log_t, stationarity : ndarray
        The points of the window and ε there.
    slope : float
        Fitted log-log slope of ε against log t (:func:`numerics.checks.fit_decay`;
        ``-inf`` if ε is 0 from some point on).
    ratio : float
        ε at the last point over ε at the first.
    zero_tol : float
        The τ used.
    falling : bool
        The verdict: ``ε_end <= floor`` or (``slope <= KKT_TREND["slope"]`` and
        ``ratio <= KKT_TREND["fall"]``).
    """

    horizon: str
    log_t: NDArray[np.float64]
    stationarity: NDArray[np.float64]
    slope: float
    ratio: float
    zero_tol: float
    falling: bool


def kkt_trend(problem: Problem, solution: MirrorFlowSolution, horizon: float) -> KKTTrend:
    """ε of the parameter-space margin problem of ``horizon`` on the late part of a run.

    Parameters
    ----------
    problem : Problem
        Any model :func:`numerics.checks.kkt` handles (``Linear``, ``Diagonal``,
        ``TwoLayer``, ``MLP``).
    solution : MirrorFlowSolution
        The trajectory; its last factor ``KKT_TREND["window"]`` of log t is used.
    horizon : float
        The exponent p of the l_p horizon (``math.inf`` for l_∞), all layers weighted equally.

    Returns
    -------
    KKTTrend

    Raises
    ------
    ValueError
        Fewer than 3 points of the window separate the data, or ``horizon < 1``.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.checks import integrate, planted_dataset
    >>> from numerics import Linear
    >>> prob = Problem.create(planted_dataset([1.0, 0.3], n=3), Linear(), Potential.quadratic())
    >>> tr = kkt_trend(prob, integrate(prob, 100.0), 2.0)

    One support vector, a linear model: the l2 direction is reached, so ε is 0 to rounding.

    >>> tr.horizon, bool(tr.stationarity[-1] < 1e-6), tr.falling
    ('l2', True, True)
    """
    if not horizon >= 1:
        raise ValueError(f"kkt_trend: the horizon exponent must be >= 1, got {horizon!r}")
    tau = KKT_TREND["l1_tol"] if horizon == 1 else ZERO_TOL
    end = float(solution.log_t[-1])
    idx = checkpoint_indices(solution, int(KKT_TREND["points"]), low=end / KKT_TREND["window"])
    lts, eps = [], []
    for i in idx:
        try:
            eps.append(kkt(problem, solution.theta[i], horizon, zero_tol=tau).stationarity)
        except ValueError:           # this point does not separate the data yet
            continue
        lts.append(float(solution.log_t[i]))
    if len(eps) < 3:
        raise ValueError(f"kkt_trend: only {len(eps)} points of log t in [{end / 30:.3g}, "
                         f"{end:.3g}] separate the data; integrate further")
    lt, ep = np.asarray(lts), np.asarray(eps)
    tiny = 1e-300
    slope = fit_decay(lt, np.maximum(ep, tiny))[0]
    ratio = float(ep[-1] / ep[0]) if ep[0] > 0 else (0.0 if ep[-1] == 0 else math.inf)
    falling = bool(ep[-1] <= KKT_TREND["floor"]
                   or (slope <= KKT_TREND["slope"] and ratio <= KKT_TREND["fall"]))
    return KKTTrend(norm_name(horizon), lt, ep, slope, ratio, float(tau), falling)


def check_kkt_trend(problem: Problem, solution: MirrorFlowSolution, horizon: float, *,
                    derived: float | None = None, label: str = "") -> Check:
    """Is the trajectory approaching a KKT point of the ``horizon`` problem? (THEORY.md §4.1)

    Passes iff :func:`kkt_trend` finds ε falling on the last factor 30 of log t: ε ends at
    most 1e-6, or the fitted slope of log ε against log log t is at most -0.05 and the last
    ε is at most 0.9 times the first (:data:`KKT_TREND`). The derived horizon's problem has
    the limit as a KKT point, so its ε tends to 0; a wrong horizon's ε tends to the positive
    residual of the limit and levels off (slope -> 0, ratio -> 1), unless the limit happens to
    be a KKT point of that problem too (THEORY.md §4.1 lists when).

    Parameters
    ----------
    problem, solution
        As for :func:`kkt_trend`.
    horizon : float
        The exponent checked (claimed or derived).
    derived : float, optional
        The derived exponent, only to name it in the output.
    label : str
        Appended to the check's name.

    Returns
    -------
    Check
        Named ``"KKT trend <horizon><label>"``.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.checks import integrate, planted_dataset
    >>> from numerics import Linear
    >>> prob = Problem.create(planted_dataset([1.0, 0.3], n=3), Linear(), Potential.quadratic())
    >>> sol = integrate(prob, 100.0)
    >>> check_kkt_trend(prob, sol, 2.0).passed, check_kkt_trend(prob, sol, 1.0).passed
    (True, False)
    """
    name = f"KKT trend {norm_name(horizon)}{label}"
    predicted = (f"eps falls (slope <= {KKT_TREND['slope']:g}, end/start <= "
                 f"{KKT_TREND['fall']:g}) or ends <= {KKT_TREND['floor']:g}")
    try:
        tr = kkt_trend(problem, solution, horizon)
    except ValueError as exc:
        return Check(name, predicted, "inconclusive", False,
                     f"THEORY.md §4.1: {exc}{status_note(solution)}")
    who = ("" if derived is None else
           " (the derived horizon)" if derived == horizon else
           f" (derived: {norm_name(derived)})")
    pts = ", ".join(f"{e:.3g}@{t:.3g}" for t, e in zip(tr.log_t, tr.stationarity, strict=True))
    return Check(
        name, predicted,
        f"eps {tr.stationarity[0]:.3g} -> {tr.stationarity[-1]:.3g}, slope {tr.slope:+.3f}",
        tr.falling,
        f"THEORY.md §4.1: stationarity of min {tr.horizon}-horizon s.t. q_i >= 1 in parameter "
        f"space{who}, tau = {tr.zero_tol:g}; eps@log t: {pts}; end/start {tr.ratio:.3g}"
        + ("" if tr.falling else "; eps levels off: the limit is not a KKT point of this "
           "problem") + status_note(solution))
