"""Conservation laws and monotone quantities along a run (THEORY.md §2, §4, §7).

:func:`check_balance` (the balance law), :func:`check_global_identity` (dG/dt recomputed by
an independent re-integration), :func:`check_smoothed_margin` (γ̃ non-decreasing) and
:func:`check_inverse_roundtrip` (the float64 inverse mirror map inverts f').
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from ..problem import Problem, log_loss_and_weights
from ..solvers import MirrorFlowSolution, choose_state
from ._diagnostics import loss_inverse, smoothed_margin
from ._integrate import BANDS, fmt, status_note, working_epsilon
from ._results import Check

__all__ = ["check_balance", "check_global_identity", "check_inverse_roundtrip",
           "check_smoothed_margin"]

Array = NDArray[np.float64]


# ============================================================================ §2 balance law


def check_balance(problem: Problem, solution: MirrorFlowSolution, *,
                  g: Callable[[Array], Array] | None = None, k: float | None = None,
                  factor: float = BANDS["balance"], label: str = "") -> Check:
    """Balance law (THEORY.md §2): C_j = Σ_{I_j} g − k Σ_{O_j} g is constant along mirror flow.

    Recomputed here from the recorded θ(t) (not from ``solution.balance_residual_max``).
    Passes if ``max_{j,t} |C_j(t) − C_j(0)| <= factor · eps · S`` with ``eps`` the working
    precision (:func:`working_epsilon`) and ``S = max_{j,t} (Σ_I |g| + k Σ_O |g|)``.

    Parameters
    ----------
    problem, solution
        A model with hidden neurons (``problem.model.neuron_groups``) and its trajectory.
    g : callable, optional
        Replace g = x f' − f (a deliberately wrong law, to show that the check can fail).
    k : float, optional
        Replace the activation degree of every neuron (same purpose).
    factor : float
        Tolerance factor (default ``BANDS["balance"]``).

    Returns
    -------
    Check

    Raises
    ------
    ValueError
        If the model has no neurons (linear and diagonal models have no balance law).
    """
    groups = problem.model.neuron_groups(problem.d)
    if not groups:
        raise ValueError(f"{type(problem.model).__name__} has no hidden neurons, hence no "
                         "balance law; use a TwoLayer or MLP model")
    gfun = problem.balance_terms if g is None else g
    G = np.array([np.asarray(gfun(th), dtype=float) for th in solution.theta])
    worst, scale, where = 0.0, 0.0, (0, 0)
    for j, gr in enumerate(groups):
        kj = gr.k if k is None else k
        inc, out = G[:, list(gr.incoming)], G[:, list(gr.outgoing)]
        C = inc.sum(1) - kj * out.sum(1)
        dev = np.abs(C - C[0])
        scale = max(scale, float(np.max(np.abs(inc).sum(1) + abs(kj) * np.abs(out).sum(1))))
        if dev.max() > worst:
            worst, where = float(dev.max()), (j, int(np.argmax(dev)))
    eps = working_epsilon(solution)
    tol = factor * eps * scale
    j, i = where
    return Check(
        f"balance law C_j conserved{label}", f"|ΔC_j| <= {tol:.2g}", f"{worst:.2g}",
        bool(worst <= tol),
        f"THEORY.md §2: max over {len(groups)} neurons and {len(solution.log_t)} points of "
        f"|C_j(t) - C_j(0)| = {worst:.3g} (neuron {j}, log t = {solution.log_t[i]:.3g}); "
        f"tolerance {factor:g} x eps {eps:.1e} x scale {scale:.3g}" + status_note(solution))


# ============================================================================ §2 global identity


def _interval_integrals(problem: Problem, solution: MirrorFlowSolution, idx: NDArray[np.intp],
                        rtol: float) -> tuple[Array, Array]:
    """Re-integrate the flow from θ_k over [s_k, s_{k+1}] for k in ``idx``, with ∫R ds.

    An independent integration (scipy DOP853 per interval, tolerance ``rtol``) of
    dv/ds = -∇ log ℒ / (1 or f''), augmented with dI/ds = R = L Σ_i w_i q_i, in the state
    v = z or θ that :func:`numerics.solvers.choose_state` picks for the float64 path (never
    through an inverse mirror map that path avoids). Returns the integrals ∫R ds and the
    re-integrated end points θ̃_{k+1}.
    """
    X, y, model, L = problem.data.X, problem.data.y, problem.model, problem.model.degree
    dual = choose_state(problem) == "dual"      # the state the float64 path integrates

    def rhs(_s: float, state: Array) -> Array:
        v = state[:-1]
        theta = problem.inverse_mirror(v) if dual else v
        out, grads = model.outputs_and_grads(theta, X)
        q = y * out
        _, w = log_loss_and_weights(q, problem.loss)
        g = (w * y) @ grads
        return np.append(g if dual else g / problem.hessian_diag(theta), L * np.sum(w * q))

    integrals, ends = np.empty(len(idx)), np.empty((len(idx), problem.n_params))
    for n, k in enumerate(idx):
        th = solution.theta[k]
        v0 = problem.mirror(th) if dual else th
        res = solve_ivp(rhs, (solution.s[k], solution.s[k + 1]), np.append(v0, 0.0),
                        method="DOP853", rtol=rtol, atol=rtol * 1e-2)
        integrals[n] = res.y[-1, -1]
        v1 = res.y[:-1, -1]
        ends[n] = problem.inverse_mirror(v1) if dual else v1
    return integrals, ends


def _suspicious_intervals(problem: Problem, solution: MirrorFlowSolution, count: int
                          ) -> NDArray[np.intp]:
    """``count`` intervals to re-integrate: half log-spaced, half the most suspicious.

    Suspicion is a coarse residual: ΔG against the trapezoid rule for ∫R ds on the recorded
    points alone (too coarse to judge, good enough to find an interval where the recorded
    trajectory jumps).
    """
    X, y, model, L = problem.data.X, problem.data.y, problem.model, problem.model.degree
    R, G = [], []
    for th in solution.theta:
        q = y * model.outputs_and_grads(th, X)[0]
        R.append(L * float(np.sum(log_loss_and_weights(q, problem.loss)[1] * q)))
        G.append(float(np.sum(problem.balance_terms(th))))
    with np.errstate(all="ignore"):
        coarse = np.abs(np.diff(G) - 0.5 * (np.array(R[1:]) + np.array(R[:-1]))
                        * np.diff(solution.s)) / (np.abs(np.diff(G)) + 1e-300)
    coarse = np.where(np.isfinite(coarse), coarse, np.inf)     # non-finite: most suspicious
    N = len(solution.s) - 1
    logs = np.round(np.geomspace(1, N, count - count // 2)).astype(int) - 1
    worst = np.argsort(-coarse, kind="stable")[: count // 2]
    return np.unique(np.concatenate([logs, worst]).astype(np.intp))


def check_global_identity(problem: Problem, solution: MirrorFlowSolution, *,
                          factor: float = BANDS["identity"], max_intervals: int = 40,
                          label: str = "") -> Check:
    """Global identity (THEORY.md §2): d/dt Σ g(θ_m) = L Σ_i (−ℓ'(q_i)) q_i.

    In the solver clock s (ds = ℒ dt) the identity reads dG/ds = R with G = Σ_m g(θ_m) and
    R = L Σ_i w_i q_i, w_i = −ℓ'(q_i)/ℒ (as in :func:`numerics.global_identity_residual`).
    For each interval between recorded points (at most ``max_intervals``: half log-spaced,
    half those with the largest coarse trapezoid residual), the
    recorded increment G(θ_{k+1}) − G(θ_k) is compared with ∫R ds computed by an independent
    re-integration from θ_k (:func:`_interval_integrals`, tolerance eps/100): a quadrature of
    R on the recorded points alone is too coarse for the large steps of an 8th-order solver.
    Passes if ``|ΔG − ∫R ds| <= factor · eps · E`` on every interval, with
    ``E = Σ_m |θ_m| (|z_m| + (|θ_m| + 1/100) f''(θ_m) + 1/100)`` the change of G caused by a
    state error of eps (|state| + 1/100), the solver's rtol and atol. Intervals in which a
    coordinate with f''(0) = 0 changes sign (and their neighbours) are reported but not
    judged: (f')^{-1} is not Lipschitz there and the float64 step's local error exceeds its
    tolerance.
    """
    N = len(solution.s) - 1
    if N < 1:
        raise ValueError("the global identity needs >= 2 recorded points")
    idx = np.arange(N) if max_intervals >= N else _suspicious_intervals(
        problem, solution, max_intervals)
    eps = working_epsilon(solution)
    integrals, _ = _interval_integrals(problem, solution, idx, rtol=max(eps * 1e-2, 3e-14))
    th = solution.theta
    G = np.array([np.sum(problem.balance_terms(th[k])) for k in np.union1d(idx, idx + 1)])
    Gmap = dict(zip(np.union1d(idx, idx + 1).tolist(), G, strict=True))
    dG = np.array([Gmap[k + 1] - Gmap[k] for k in idx])

    def scale(theta: Array) -> float:      # δG for δz = eps (|z| + 1/100) (rtol, atol)
        z, h = problem.mirror(theta), problem.hessian_diag(theta)
        return float(np.sum(np.abs(theta) * (np.abs(z) + (np.abs(theta) + 0.01) * h + 0.01)))

    E = np.array([max(scale(th[k]), scale(th[k + 1])) for k in idx])
    degenerate = problem.hessian_diag(np.full(problem.n_params, 1e-8)) < 1e-6
    crossing = np.array([bool(np.any(degenerate & (np.sign(th[k]) != np.sign(th[k + 1]))))
                         for k in range(N)] + [False])
    near = crossing | np.roll(crossing, 1) | np.roll(crossing, -1)   # and its neighbours
    kink = near[idx]
    resid = np.abs(dG - integrals)
    allowed = factor * eps * E
    excess = np.where(kink, 0.0, resid / np.where(allowed > 0, allowed, 1e-300))
    i = int(np.argmax(excess))
    k = int(idx[i])
    note = "" if not kink.any() else (
        f"; {int(kink.sum())} interval(s) at a zero crossing of a coordinate with f''(0) = 0 "
        f"not judged (largest residual there {resid[kink].max():.2g})")
    return Check(
        f"global identity dG/dt = L sum(-l'(q))q{label}",
        f"|ΔG - ∫R ds| <= {allowed[i]:.2g}", f"{resid[i]:.2g}", bool(excess[i] <= 1.0),
        f"THEORY.md §2: worst of {len(idx)} intervals: log t in [{solution.log_t[k]:.3g}, "
        f"{solution.log_t[k + 1]:.3g}], ΔG = {dG[i]:.6g}, ∫R ds = {integrals[i]:.6g} "
        f"(re-integrated), tolerance {factor:g} x eps {eps:.1e} x state scale {E[i]:.3g}"
        + note + status_note(solution))


# ============================================================================ §4 smoothed margin


def check_smoothed_margin(problem: Problem, solution: MirrorFlowSolution, *,
                          radius: Callable[[Array], float] | None = None,
                          factor: float = BANDS["smoothed"], label: str = "") -> Check:
    """Smoothed margin (THEORY.md §4, [derived]): γ̃_r is non-decreasing once ℒ < 1.

    γ̃_r = ℓ^{-1}(ℒ) / r(G)^L with the radius of :func:`numerics.smoothed_margin` (or
    ``radius``, e.g. a deliberately wrong one). Passes if, on the recorded points with
    ℓ^{-1}(ℒ) > 0, every decrease γ̃_k − max_{j<k} γ̃_j is at least −factor · eps · |γ̃_k|.

    Raises
    ------
    NotImplementedError
        For potentials without a known radius (see :func:`numerics.smoothed_margin`).
    """
    L = problem.model.degree
    vals, lts = [], []
    for th, ll, lt in zip(solution.theta, solution.log_loss, solution.log_t, strict=True):
        num = loss_inverse(float(ll), problem.loss)
        if num <= 0:
            continue
        vals.append(smoothed_margin(problem, th) if radius is None else num / radius(th) ** L)
        lts.append(lt)
    if len(vals) < 3:
        return Check(f"smoothed margin non-decreasing{label}", "non-decreasing",
                     f"{len(vals)} points with loss < 1", False,
                     "THEORY.md §4: the run never reached loss < 1 on enough points; integrate "
                     "longer" + status_note(solution))
    v = np.array(vals)
    running = np.maximum.accumulate(v)
    drop = (v - running) / np.maximum(np.abs(v), 1e-300)
    i = int(np.argmin(drop))
    eps = working_epsilon(solution)
    return Check(
        f"smoothed margin non-decreasing{label}", f"rel. drop >= {-factor * eps:.2g}",
        f"{drop[i]:.2g}", bool(drop[i] >= -factor * eps),
        f"THEORY.md §4: {len(v)} points with loss < 1, from {fmt(v[0])} to {fmt(v[-1])}; "
        f"largest drop {drop[i]:.3g} at log t = {lts[i]:.3g}" + status_note(solution))


# ============================================================================ §7 float64 inverse


def check_inverse_roundtrip(problem: Problem, points: Sequence[float] = (0.5, 3.0, 30.0, 300.0),
                            tol: float = 1e-8) -> Check:
    """The compiled float64 inverse mirror map inverts f' (THEORY.md §1, §7).

    In the dual state (:func:`numerics.solvers.choose_state`) the float64 path integrates
    z = f'(θ) and reads θ = (f')^{-1}(z) from the closed form; a formula that is exact but
    cancels in float64 (e.g. log(z + sqrt(z² + 1)) for z << 0) corrupts every trajectory.
    Passes if ``abs((f')^{-1}(f'(x)) - x) <= tol abs(x)`` at ``±points`` where f'(x) is
    finite; passes as "n/a" if there is no closed-form inverse to evaluate.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear
    >>> from numerics.checks import planted_dataset
    >>> prob = Problem.create(planted_dataset([1.0, 0.3]), Linear(), Potential.cosh())
    >>> check_inverse_roundtrip(prob).passed
    True
    """
    if not problem.has_closed_form_inverse:
        return Check("float64 inverse mirror map round-trip", "n/a (primal state)",
                     "n/a", True, "no closed-form inverse: the float64 path integrates θ")
    x = np.array([s * p for p in points for s in (1.0, -1.0)])
    P = problem.n_params
    worst, at = 0.0, 0.0
    with np.errstate(all="ignore"):
        for xv in x:
            th = np.full(P, xv)
            z = problem.mirror(th)
            if not np.all(np.isfinite(z)):
                continue
            err = float(np.max(np.abs(problem.inverse_mirror(z) - th))) / abs(xv)
            err = err if math.isfinite(err) else math.inf
            if err > worst:
                worst, at = err, float(xv)
    return Check("float64 inverse mirror map round-trip", f"rel. error <= {tol:.0e}",
                 f"{worst:.2g}", bool(worst <= tol),
                 f"THEORY.md §7: (f')^-1(f'(x)) vs x at x = ±{list(points)}; worst at x = {at:g}"
                 + ("" if worst <= tol else "; the closed-form inverse loses its digits in "
                    "float64 there (cancellation), so float64 trajectories are unreliable: "
                    "rewrite f so that sympy finds a stable form (e.g. asinh instead of log)"))
