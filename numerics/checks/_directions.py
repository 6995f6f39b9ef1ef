"""Limit directions and horizon claims (THEORY.md §3-4).

:func:`check_direction` compares θ/‖θ‖ (or the predictor of a diagonal network,
:func:`check_predictor_direction`) with the l_q max-margin direction: closed form for planted
data (:func:`numerics.checks.planted_direction`), else :func:`theory.max_margin`;
:func:`check_horizon_claim` asks whether a claimed norm's direction is the nearest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from theory import max_margin

from ..problem import Dataset, Diagonal, Problem
from ..solvers import MirrorFlowSolution
from ._integrate import checkpoint_indices, status_note
from ._norms import CANDIDATES, norm_name
from ._planted import planted_direction
from ._results import Check

__all__ = ["check_direction", "check_horizon_claim", "check_predictor_direction"]

Array = NDArray[np.float64]


def _unit(v: Any) -> Array:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _angle_gap(theta: Array, u: Array) -> float:
    """Euclidean distance of the l2-normalised directions (a norm-free gap in [0, 2])."""
    return float(np.linalg.norm(_unit(theta) - _unit(u)))


def _direction_oracle(data: Dataset, q: float) -> Array:
    """l_q max-margin direction: closed form for planted data, else theory.max_margin."""
    if "x_star" in data.info:
        return planted_direction(data.info["x_star"], q)
    if q < 1:
        raise ValueError(f"no max-margin oracle for the quasi-norm l{q:g} on general data")
    return np.asarray(max_margin(data.X, data.y, q).direction, dtype=float)


def _predictor(problem: Problem, theta: Array) -> Array:
    model = problem.model
    return np.asarray(model.beta(theta), dtype=float) if isinstance(model, Diagonal) \
        else np.asarray(theta, dtype=float)


def _gaps(problem: Problem, solution: MirrorFlowSolution, u: Array, idx: Sequence[int]
          ) -> Array:
    return np.array([_angle_gap(_predictor(problem, solution.theta[i]), u) for i in idx])


def check_direction(problem: Problem, solution: MirrorFlowSolution, q: float, *,
                    checkpoints: int = 5, shrink: float = 0.9, converged: float = 2e-3,
                    compare: bool | None = None, label: str = "") -> Check:
    """Limit direction (THEORY.md §4, [lit]): θ/‖θ‖ → the l_q max-margin direction.

    For a linear model q is the horizon exponent; for a diagonal network the predictor
    β = u^L − v^L is used and q = p/L (may be < 1; planted data only). The oracle is the
    closed form of :func:`planted_direction` for planted data, else
    :func:`theory.max_margin`. The gap (distance of the l2-normalised directions) is measured
    at ``checkpoints`` log-spaced values of log t. Passes if the final gap is below
    ``shrink`` times the first one (or below ``converged``) and, if ``compare`` (default: for
    planted data, where every candidate has a closed form), the l_q direction is the nearest
    of the candidates l1, l1.5, l2, l3, l4, l_inf whose direction differs from it; with
    ``compare``, being nearer by a factor 2 than every candidate also passes (mixtures such as
    x²/2 + abs(x)³/3 approach their horizon like 1/ρ, too slowly for the gap to shrink
    visibly between log t = 25 and 400 on a diagonal network). (On
    general data several norms can share the max-margin direction, e.g. two support vectors
    in 2-D fix it for every norm, so only the shrinking gap is checked there.)

    q = inf on planted data (rapidly varying f: cosh, exp(x²/2)) also passes on the *trend*:
    the gap to the l_inf direction falls at every checkpoint and the effective exponent
    q_eff (the q of a grid 0.5 .. 32, inf whose closed-form direction is nearest) never
    decreases and ends larger than it started. THEORY.md §5: such potentials approach their
    limit extremely slowly (cosh on a depth-2 diagonal net is still nearest an l8 direction
    at log t = 400), so the limit itself is out of float64's reach. A trajectory with a
    finite l_q limit fails this once q_eff has reached q (l1, l2 fail at once); a large
    finite q (>= 8) cannot be told from l_inf at float64-reachable times.
    """
    if compare is None:
        compare = "x_star" in problem.data.info
    idx = checkpoint_indices(solution, checkpoints)
    u = _direction_oracle(problem.data, q)
    gaps = _gaps(problem, solution, u, idx)
    others = {}
    for c in CANDIDATES if compare else ():  # candidates with a different direction only
        uc = _direction_oracle(problem.data, c)
        if _angle_gap(uc, u) > 1e-9:
            others[c] = _gaps(problem, solution, uc, idx[-1:])[0]
    near_q, near_gap = min(others.items(), key=lambda kv: kv[1]) if others else (q, math.inf)
    shrinking = gaps[-1] <= max(shrink * gaps[0], converged)
    nearest = gaps[-1] < near_gap
    clear = gaps[-1] <= 0.5 * near_gap      # nearest by a factor 2: slow approach is fine
    lts = ", ".join(f"{solution.log_t[i]:.3g}" for i in idx)
    trend, trend_txt, q_eff = (_linf_trend(problem, solution, idx, gaps)
                               if math.isinf(q) and compare else (False, "", None))
    passed = (shrinking and nearest) or (compare and clear) or trend
    return Check(
        f"direction -> {norm_name(q)} max-margin{label}",
        (f"gap -> 0 (nearest: {norm_name(q)}, or falling with q_eff growing)"
         if trend_txt else f"gap -> 0 (nearest: {norm_name(q)})" if compare else "gap -> 0"),
        f"gap {gaps[0]:.2g} -> {gaps[-1]:.2g}"
        + (f" (next: {norm_name(near_q)} {near_gap:.2g})" if others else "")
        + (f", q_eff {norm_name(q_eff[0])} -> {norm_name(q_eff[-1])}" if q_eff else ""),
        bool(passed),
        f"THEORY.md §4: gaps {np.array2string(gaps, precision=3)} at log t = {lts}; oracle "
        f"direction {np.array2string(u, precision=4)}; "
        + ("" if shrinking else "the gap does not shrink; ")
        + ("" if nearest else f"the {norm_name(near_q)} direction is nearer; ")
        + ("" if clear or not nearest else f"not nearer by a factor 2 than "
           f"{norm_name(near_q)}; ")
        + trend_txt + status_note(solution))


#: Exponents scanned for the effective exponent q_eff of a direction (planted data).
_Q_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, math.inf)


def _effective_exponent(problem: Problem, theta: Array) -> float:
    """The q of :data:`_Q_GRID` whose closed-form l_q max-margin direction is nearest."""
    beta = _predictor(problem, theta)
    x_star = problem.data.info["x_star"]
    return min(_Q_GRID, key=lambda q: _angle_gap(beta, planted_direction(x_star, q)))


def _linf_trend(problem: Problem, solution: MirrorFlowSolution, idx: NDArray[np.intp],
                gaps: Array) -> tuple[bool, str, list[float]]:
    """The l_inf trend test of :func:`check_direction`: ``(passed, text, q_eff)``.

    Rapidly varying f (cosh, exp(x²/2)): the sublevel sets of f at the reachable scale rho
    are l_q-like with an effective q that grows with rho (THEORY.md §3, §5: cosh is still ~1%
    off its limit at loss 1e-305), so at float64-reachable times a large finite l_q direction
    can be nearer than l_inf. What is checkable is the trend: the gap to l_inf falls at every
    checkpoint while the best-fitting exponent q_eff only grows.
    """
    q_eff = [_effective_exponent(problem, solution.theta[i]) for i in idx]
    falling = bool(np.all(np.diff(gaps) < 0))
    growing = bool(np.all(np.diff(q_eff) >= 0) and q_eff[-1] > q_eff[0])
    text = (f"; trend: q_eff {', '.join(norm_name(v) for v in q_eff)}"
            + ("" if falling else " (the l_inf gap does not fall at every checkpoint)")
            + ("" if growing else " (q_eff does not grow)"))
    return falling and growing, text, q_eff


def check_horizon_claim(problem: Problem, solution: MirrorFlowSolution, claimed: float,
                        derived: float | None, *, depth: int = 1, label: str = "") -> Check:
    """A user's horizon claim against the trajectory (THEORY.md §3-4).

    Compares the final (predictor) direction with the max-margin direction in the claimed
    norm and in the derived one (exponents divided by ``depth`` for diagonal networks). Passes
    if the claimed direction is at least as near as the derived one and as every candidate
    l1, l1.5, l2, l3, l4, l_inf, up to 1e-9.
    """
    i = len(solution.log_t) - 1
    theta = _predictor(problem, solution.theta[i])
    qs = {c / depth for c in (*CANDIDATES, claimed)}
    if derived is not None:
        qs.add(derived / depth)
    gaps = {q: _angle_gap(theta, _direction_oracle(problem.data, q)) for q in qs}
    qc = claimed / depth
    best_q = min(gaps, key=gaps.get)
    passed = gaps[qc] <= gaps[best_q] + 1e-9
    dq = None if derived is None else derived / depth
    derived_txt = "n/a" if dq is None else f"{norm_name(dq)}: {gaps[dq]:.2g}"
    return Check(
        f"horizon claim {norm_name(claimed)}{label}",
        f"nearest: {norm_name(qc)}",
        f"{norm_name(qc)}: {gaps[qc]:.2g}, derived {derived_txt}", bool(passed),
        f"THEORY.md §3-4: at log t = {solution.log_t[i]:.3g} the nearest max-margin "
        f"direction is {norm_name(best_q)} (gap {gaps[best_q]:.3g}); gaps "
        + ", ".join(f"{norm_name(q)} {g:.3g}" for q, g in sorted(gaps.items()))
        + status_note(solution))


def check_predictor_direction(problem: Problem, solution: MirrorFlowSolution, p: float, *,
                              label: str = "") -> Check:
    """Depth-L diagonal networks (THEORY.md §4, [derived]): an l_p horizon becomes l_{p/L}.

    :func:`check_direction` on the predictor β = u^L − v^L with q = p/L.
    """
    if not isinstance(problem.model, Diagonal):
        raise ValueError(f"check_predictor_direction needs a Diagonal model, got "
                         f"{type(problem.model).__name__}")
    L = problem.model.degree
    c = check_direction(problem, solution, p / L, label=label)
    return Check(c.name.replace("direction", f"predictor (p/L = {norm_name(p)}/{L})"),
                 c.predicted, c.measured, c.passed, c.detail)
