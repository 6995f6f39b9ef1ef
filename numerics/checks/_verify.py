"""The verification battery behind ``mirrorflow verify`` (THEORY.md §2-5).

Each ``check_*`` function compares one statement of THEORY.md with a quantity measured on a
float64 mirror-flow trajectory and returns a :class:`Check` (name, predicted, measured,
passed, detail). Expectations are independent of the code under test: closed-form
max-margin directions of planted data (:func:`planted_direction`) and the
LP / convex programs of :func:`theory.max_margin`, the balance law recomputed from g, the
rates derived by :meth:`theory.Potential.rates`. :func:`verify` runs the battery for one
potential; :func:`add_verify_parser` / :func:`run_verify` are the command line.

Tolerances scale with the working precision ``eps = max(rtol, 2**(1 - precision_bits))``
(float64 now: the integrator's rtol dominates); slope bands are stated in :data:`BANDS`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import NDArray

from theory import Potential, Rates, max_margin, wall_clock_limit

from ..problem import (
    Dataset,
    Diagonal,
    Linear,
    Model,
    Problem,
    TwoLayer,
    log_loss_and_weights,
    separable_gaussian,
    xor,
)
from ..solvers import MirrorFlowSolution, solve_float64
from ._diagnostics import _loss_inverse, horizon_gauge, q_margin

__all__ = [
    "BANDS",
    "Check",
    "Report",
    "add_verify_parser",
    "check_balance",
    "check_direction",
    "check_global_identity",
    "check_horizon_claim",
    "check_inverse_roundtrip",
    "check_predictor_direction",
    "check_rates",
    "check_smoothed_margin",
    "integrate",
    "parse_norm",
    "planted_dataset",
    "planted_direction",
    "run_verify",
    "slopes",
    "verify",
    "working_epsilon",
]

Array = NDArray[np.float64]

#: Tolerance factors and slope bands (measured on the built-in families and random sums; see
#: ``tests/test_properties.py``). ``balance``, ``identity`` and ``smoothed`` multiply the working
#: epsilon; ``loss`` is an absolute band on d log ℒ / d log t; ``primal`` and ``dual`` are relative
#: bands on d log ‖·‖ / d log log t, relative to max(|predicted slope|, 0.1) (so dual slopes
#: below 0.1, from log-type mirror maps such as asinh, are checked to ±0.015 absolute: ‖z‖_∞ =
#: f'(‖θ‖_∞) differs from f'(ρ) by a factor inside the log that fades only like 1/log ρ).
BANDS: dict[str, float] = {
    "balance": 100.0,
    "identity": 10.0,
    "smoothed": 1000.0,
    "loss": 0.02,
    "primal": 0.1,
    "dual": 0.15,
}

#: Default integration tolerance of the battery.
RTOL = 1e-10


# ============================================================================ results


@dataclass(frozen=True)
class Check:
    """One verified statement: what theory predicts, what the trajectory shows.

    Attributes
    ----------
    name : str
        The property and the run it was measured on.
    predicted, measured : str
        Human-readable values (numbers with their tolerance or band).
    passed : bool
    detail : str
        The THEORY.md statement, the data, and why it failed.
    """

    name: str
    predicted: str
    measured: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (keys ``name, predicted, measured, passed, detail``)."""
        return asdict(self)


@dataclass
class Report:
    """The battery's verdict: a list of checks and of skipped properties (with reasons).

    Examples
    --------
    >>> rep = Report([Check("balance", "0", "1e-12", True)])
    >>> rep.passed, rep.to_json()["passed"]
    (True, True)
    """

    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether there is at least one check and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """``{"checks": [{"name", "predicted", "measured", "passed", "detail"}], "passed",
        "skipped", "notes", "runs", "seconds"}``."""
        return {"checks": [c.as_dict() for c in self.checks], "passed": self.passed,
                "skipped": list(self.skipped), "notes": list(self.notes),
                "runs": list(self.runs),
                "seconds": round(self.seconds, 2)}

    def table(self) -> str:
        """A plain-text table: property, predicted, measured, pass/fail."""
        rows = [("property", "predicted", "measured", "")] + [
            (c.name, c.predicted, c.measured, "pass" if c.passed else "FAIL") for c in self.checks]
        w = [min(max(len(r[k]) for r in rows), cap) for k, cap in enumerate((44, 44, 44, 4))]
        lines = ["  ".join(_clip(r[k], w[k]).ljust(w[k]) for k in range(4)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        for c in self.checks:
            if not c.passed and c.detail:
                lines.append(f"FAIL {c.name}: {c.detail}")
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"note: {s}" for s in self.notes]
        lines += [f"run {r['label']}: {r['status']} at log t = {r['log_t']:.4g}, {r['steps']} "
                  f"steps, {r['seconds']:.2f} s" for r in self.runs]
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}: "
                     f"{sum(c.passed for c in self.checks)}/{len(self.checks)} checks "
                     f"in {self.seconds:.1f} s")
        return "\n".join(lines)


def _clip(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


# ============================================================================ integration


class _Deadline(KeyboardInterrupt):
    """Raised by the wall-clock alarm; solve_float64 turns it into status 'interrupted'."""


def _deadline(seconds: float) -> Any:
    """Hard wall-clock limit raising :class:`_Deadline` (nests with theory's symbolic limits).

    ``solve_float64`` checks its budget only every 64 right-hand sides, and checks may call
    slow symbolic code; the alarm bounds both.
    """
    return wall_clock_limit(seconds, _Deadline)


def integrate(problem: Problem, log_t: float, *, rtol: float = RTOL,
              max_seconds: float = 30.0) -> MirrorFlowSolution:
    """Float64 mirror flow to ``log t = log_t`` with a hard wall-clock limit.

    :func:`numerics.solve_float64` with ``atol = rtol / 100``; the run is interrupted after
    ``1.5 max_seconds + 1`` seconds even inside one scipy call (status ``"interrupted"``).
    ``meta["rtol"]`` records the tolerance.

    Examples
    --------
    >>> from theory import Potential
    >>> prob = Problem.create(planted_dataset([1.0, 0.3]), Linear(), Potential.quadratic())
    >>> sol = integrate(prob, 20.0)
    >>> sol.status, sol.meta["rtol"]
    ('reached', 1e-10)
    """
    # compile f', f'', g and (f')^{-1} first: their sympy derivations run under
    # theory's own SIGALRM timeout, which would cancel the deadline below
    th0 = problem.theta0
    problem.mirror(th0), problem.hessian_diag(th0), problem.balance_terms(th0)
    if problem.has_closed_form_inverse:
        problem.inverse_mirror(problem.mirror(th0))
    try:
        with _deadline(1.5 * max_seconds + 1.0):
            sol = solve_float64(problem, log_t=log_t, rtol=rtol, atol=rtol * 1e-2,
                                max_seconds=max_seconds)
    except _Deadline:
        raise TimeoutError(f"mirror flow did not return within {1.5 * max_seconds + 1:.0f} s "
                           f"(log t target {log_t})") from None
    sol.meta["rtol"] = rtol
    return sol


def working_epsilon(solution: MirrorFlowSolution, rtol: float | None = None) -> float:
    """The working precision of a run: ``max(rtol, 2**(1 - precision_bits))``.

    Examples
    --------
    >>> sol = MirrorFlowSolution(*[np.zeros(1)] * 7, "", "", 53, 0, 0.0, {"rtol": 1e-10})
    >>> working_epsilon(sol), working_epsilon(sol, rtol=0.0)
    (1e-10, 2.220446049250313e-16)
    """
    if rtol is None:
        rtol = float(solution.meta.get("rtol", 0.0))
    return max(float(rtol), 2.0 ** (1 - solution.precision_bits))


def _checkpoints(solution: MirrorFlowSolution, n: int, low: float | None = None
                 ) -> NDArray[np.intp]:
    """Indices of recorded points nearest to n log-spaced values of log t in [low, end]."""
    lt = solution.log_t
    end = float(lt[-1])
    low = max(min(low if low is not None else end / 16, end), 1e-3)
    targets = np.geomspace(low, end, n)
    idx = np.searchsorted(lt, targets)
    return np.unique(np.clip(idx, 0, len(lt) - 1))


def _status_note(solution: MirrorFlowSolution) -> str:
    if solution.status in ("reached", "log_loss_target"):
        return ""
    return f" [run stopped early: status {solution.status!r} at log t = {solution.log_t[-1]:.3g}]"


def _fmt(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


# ============================================================================ planted data


def planted_dataset(x_star: Any, n: int = 4, seed: int = 0) -> Dataset:
    """A dataset whose max-margin problem has the single support vector ``x_star``.

    Point 0 is ``x_star`` with label +1; each further point is ``s (x_star + δ)`` with label
    ``s`` (random sign) and ``δ = sign(x_star) * U(0.2, 1)`` componentwise (a zero coordinate of
    ``x_star`` is treated as positive). For every l_q "norm", q in (0, inf], the maximiser
    ``u`` of ``min_i y_i <x_i, u>`` over the unit l_q ball lies in the closed orthant of
    ``x_star``, where every other point has margin ``>= <x_star, u>``; so the max-margin
    direction is that of ``x_star`` alone, given in closed form by :func:`planted_direction`.

    Parameters
    ----------
    x_star : array_like, shape (d,)
        The support vector (non-zero).
    n : int
        Number of points (>= 1).
    seed : int

    Returns
    -------
    Dataset
        ``info["x_star"]`` holds ``x_star``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import max_margin
    >>> ds = planted_dataset([1.0, -0.4], n=5, seed=1)
    >>> u = max_margin(ds.X, ds.y, 1).direction
    >>> np.allclose(u, planted_direction([1.0, -0.4], 1), atol=1e-7)
    True
    """
    xs = np.asarray(x_star, dtype=float)
    if xs.ndim != 1 or not np.any(xs) or not np.all(np.isfinite(xs)):
        raise ValueError(f"x_star must be a finite non-zero vector, got {x_star!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    orthant = np.where(xs < 0, -1.0, 1.0)
    X, y = [xs], [1.0]
    for _ in range(n - 1):
        s = float(rng.choice([-1.0, 1.0]))
        X.append(s * (xs + orthant * rng.uniform(0.2, 1.0, xs.size)))
        y.append(s)
    return Dataset(np.array(X), np.array(y), "planted",
                   {"x_star": xs.tolist(), "n": n, "seed": seed}, {"x_star": xs.tolist()})


def planted_direction(x_star: Any, q: float) -> NDArray[np.float64]:
    """Closed-form l_q max-margin direction of the single point ``x_star`` (unit l_q "norm").

    ``argmax <x_star, u>`` over ``abs(u)_q <= 1``: for q <= 1 the vertex ``sign(x_k) e_k``
    with ``k = argmax abs(x_k)`` (the l_q ball, q <= 1, has the l1 ball's vertices and lies
    inside it); for 1 < q < inf the Hölder equality case
    ``u_k ∝ sign(x_k) abs(x_k)^(1/(q-1))``; for q = inf, ``sign(x_star)``.
    Ties (several largest ``abs(x_k)`` for q <= 1, zero coordinates for q = inf) are not
    unique; :func:`planted_datasets` avoids them.

    Examples
    --------
    >>> planted_direction([1.0, 0.5], 2)
    array([0.89442719, 0.4472136 ])
    >>> planted_direction([1.0, 0.5], 0.5), planted_direction([1.0, -0.5], float("inf"))
    (array([1., 0.]), array([ 1., -1.]))
    """
    xs = np.asarray(x_star, dtype=float)
    if q <= 0:
        raise ValueError(f"q must be > 0, got {q}")
    if q <= 1:
        u = np.zeros_like(xs)
        k = int(np.argmax(np.abs(xs)))
        u[k] = np.sign(xs[k])
        return u
    if math.isinf(q):
        return np.sign(xs)
    u = np.sign(xs) * np.abs(xs / np.max(np.abs(xs))) ** (1.0 / (q - 1.0))
    return u / np.sum(np.abs(u) ** q) ** (1.0 / q)



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
        f"tolerance {factor:g} x eps {eps:.1e} x scale {scale:.3g}" + _status_note(solution))


# ============================================================================ §2 global identity


def _interval_integrals(problem: Problem, solution: MirrorFlowSolution, idx: NDArray[np.intp],
                        rtol: float) -> tuple[Array, Array]:
    """Re-integrate the flow from θ_k over [s_k, s_{k+1}] for k in ``idx``, with ∫R ds.

    An independent integration (scipy DOP853 per interval, tolerance ``rtol``) of
    dv/ds = -∇ log ℒ / (1 or f''), augmented with dI/ds = R = L Σ_i w_i q_i. Returns the
    integrals ∫R ds and the re-integrated end points θ̃_{k+1}.
    """
    from scipy.integrate import solve_ivp

    X, y, model, L = problem.data.X, problem.data.y, problem.model, problem.model.degree
    dual = problem.has_closed_form_inverse

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
        + note + _status_note(solution))


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
    from ._diagnostics import smoothed_margin

    L = problem.model.degree
    vals, lts = [], []
    for th, ll, lt in zip(solution.theta, solution.log_loss, solution.log_t, strict=True):
        num = _loss_inverse(float(ll), problem.loss)
        if num <= 0:
            continue
        vals.append(smoothed_margin(problem, th) if radius is None else num / radius(th) ** L)
        lts.append(lt)
    if len(vals) < 3:
        return Check(f"smoothed margin non-decreasing{label}", "non-decreasing",
                     f"{len(vals)} points with loss < 1", False,
                     "THEORY.md §4: the run never reached loss < 1 on enough points; integrate "
                     "longer" + _status_note(solution))
    v = np.array(vals)
    running = np.maximum.accumulate(v)
    drop = (v - running) / np.maximum(np.abs(v), 1e-300)
    i = int(np.argmin(drop))
    eps = working_epsilon(solution)
    return Check(
        f"smoothed margin non-decreasing{label}", f"rel. drop >= {-factor * eps:.2g}",
        f"{drop[i]:.2g}", bool(drop[i] >= -factor * eps),
        f"THEORY.md §4: {len(v)} points with loss < 1, from {_fmt(v[0])} to {_fmt(v[-1])}; "
        f"largest drop {drop[i]:.3g} at log t = {lts[i]:.3g}" + _status_note(solution))


# ============================================================================ §4 directions


def parse_norm(text: str) -> float:
    """Read a norm name: ``"l1"``, ``"l2"``, ``"l3"``, ``"l1.5"``, ``"linf"`` (or a number).

    Examples
    --------
    >>> parse_norm("l1"), parse_norm("linf"), parse_norm("l2.5"), parse_norm("4")
    (1.0, inf, 2.5, 4.0)
    >>> parse_norm("l0.5")
    Traceback (most recent call last):
    ...
    ValueError: horizon norm 'l0.5' must be l_p with p >= 1 (e.g. l1, l2, l3, linf)
    """
    s = str(text).strip().lower().replace("_", "")
    s = s.removeprefix("l")
    try:
        p = math.inf if s in ("inf", "∞") else float(s)
    except ValueError:
        raise ValueError(f"unknown horizon norm {text!r}; use l1, l2, l3, ..., linf") from None
    if not p >= 1:
        raise ValueError(f"horizon norm {text!r} must be l_p with p >= 1 (e.g. l1, l2, l3, linf)")
    return p


def _norm_name(p: float) -> str:
    return "linf" if math.isinf(p) else f"l{p:g}"


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


_CANDIDATES = (1.0, 1.5, 2.0, 3.0, 4.0, math.inf)


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
    idx = _checkpoints(solution, checkpoints)
    u = _direction_oracle(problem.data, q)
    gaps = _gaps(problem, solution, u, idx)
    others = {}
    for c in _CANDIDATES if compare else ():  # candidates with a different direction only
        uc = _direction_oracle(problem.data, c)
        if _angle_gap(uc, u) > 1e-9:
            others[c] = _gaps(problem, solution, uc, idx[-1:])[0]
    near_q, near_gap = min(others.items(), key=lambda kv: kv[1]) if others else (q, math.inf)
    shrinking = gaps[-1] <= max(shrink * gaps[0], converged)
    nearest = gaps[-1] < near_gap
    clear = gaps[-1] <= 0.5 * near_gap      # nearest by a factor 2: slow approach is fine
    lts = ", ".join(f"{solution.log_t[i]:.3g}" for i in idx)
    trend_txt, trend = "", False
    if math.isinf(q) and compare:
        # rapidly varying f (cosh, exp(x²/2)): the sublevel sets of f at the reachable scale
        # rho are l_q-like with an effective q that grows with rho (THEORY.md §3, §5: cosh is
        # still ~1% off its limit at loss 1e-305), so at float64-reachable times a large finite
        # l_q direction can be nearer than l_inf. What is checkable is the trend: the gap to
        # l_inf falls at every checkpoint while the best-fitting exponent q_eff only grows.
        q_eff = np.array([_effective_exponent(problem, solution.theta[i]) for i in idx])
        falling = bool(np.all(np.diff(gaps) < 0))
        growing = bool(np.all(np.diff(q_eff) >= 0) and q_eff[-1] > q_eff[0])
        trend = falling and growing
        trend_txt = (f"; trend: q_eff {', '.join(_norm_name(v) for v in q_eff)}"
                     + ("" if falling else " (the l_inf gap does not fall at every checkpoint)")
                     + ("" if growing else " (q_eff does not grow)"))
    passed = (shrinking and nearest) or (compare and clear) or trend
    return Check(
        f"direction -> {_norm_name(q)} max-margin{label}",
        (f"gap -> 0 (nearest: {_norm_name(q)}, or falling with q_eff growing)"
         if trend_txt else f"gap -> 0 (nearest: {_norm_name(q)})" if compare else "gap -> 0"),
        f"gap {gaps[0]:.2g} -> {gaps[-1]:.2g}"
        + (f" (next: {_norm_name(near_q)} {near_gap:.2g})" if others else "")
        + (f", q_eff {_norm_name(q_eff[0])} -> {_norm_name(q_eff[-1])}" if trend_txt else ""),
        bool(passed),
        f"THEORY.md §4: gaps {np.array2string(gaps, precision=3)} at log t = {lts}; oracle "
        f"direction {np.array2string(u, precision=4)}; "
        + ("" if shrinking else "the gap does not shrink; ")
        + ("" if nearest else f"the {_norm_name(near_q)} direction is nearer; ")
        + ("" if clear or not nearest else f"not nearer by a factor 2 than "
           f"{_norm_name(near_q)}; ")
        + trend_txt + _status_note(solution))


#: Exponents scanned for the effective exponent q_eff of a direction (planted data).
_Q_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, math.inf)


def _effective_exponent(problem: Problem, theta: Array) -> float:
    """The q of :data:`_Q_GRID` whose closed-form l_q max-margin direction is nearest."""
    beta = _predictor(problem, theta)
    x_star = problem.data.info["x_star"]
    return min(_Q_GRID, key=lambda q: _angle_gap(beta, planted_direction(x_star, q)))


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
    qs = {c / depth for c in (*_CANDIDATES, claimed)}
    if derived is not None:
        qs.add(derived / depth)
    gaps = {q: _angle_gap(theta, _direction_oracle(problem.data, q)) for q in qs}
    qc = claimed / depth
    best_q = min(gaps, key=gaps.get)
    passed = gaps[qc] <= gaps[best_q] + 1e-9
    dq = None if derived is None else derived / depth
    derived_txt = "n/a" if dq is None else f"{_norm_name(dq)}: {gaps[dq]:.2g}"
    return Check(
        f"horizon claim {_norm_name(claimed)}{label}",
        f"nearest: {_norm_name(qc)}",
        f"{_norm_name(qc)}: {gaps[qc]:.2g}, derived {derived_txt}", bool(passed),
        f"THEORY.md §3-4: at log t = {solution.log_t[i]:.3g} the nearest max-margin "
        f"direction is {_norm_name(best_q)} (gap {gaps[best_q]:.3g}); gaps "
        + ", ".join(f"{_norm_name(q)} {g:.3g}" for q, g in sorted(gaps.items()))
        + _status_note(solution))


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
    return Check(c.name.replace("direction", f"predictor (p/L = {_norm_name(p)}/{L})"),
                 c.predicted, c.measured, c.passed, c.detail)


# ============================================================================ §5 rates


def slopes(x: Array, y: Array) -> float:
    """Least-squares slope of y against x.

    Examples
    --------
    >>> slopes(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    2.0
    """
    return float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])


_T = sp.Symbol("t", positive=True)
_U = sp.Symbol("u", positive=True)


def _log_of(expr: sp.Expr, gamma: float) -> Callable[[float], float]:
    """u -> log(expr(t = e^u)) at margin gamma, in mpmath (t = e^1000 is fine)."""
    free = {s for s in expr.free_symbols if s.name == "gamma"}
    e = expr.subs({s: sp.Float(gamma, 30) for s in free}).subs(_T, sp.exp(_U))
    fn = sp.lambdify(_U, sp.log(e), modules="mpmath")

    def call(u: float) -> float:
        with mpmath.workdps(30):
            return float(mpmath.re(fn(mpmath.mpf(u))))
    return call


def check_rates(problem: Problem, solution: MirrorFlowSolution, rates: Rates, *,
                gamma: float | None = None, window: float = 0.25, points: int = 12,
                bands: dict[str, float] | None = None, label: str = "") -> list[Check]:
    """Loss decay and norm growth (THEORY.md §5, [derived]) as fitted log-log slopes.

    On ``points`` log-spaced values of u = log t in ``[window · u_end, u_end]`` (diffrax-style
    order test):

    * loss: d log ℒ / d log t, measured vs the same fit of ``rates.loss``;
    * primal norm: d log ρ / d log log t with ρ = Q_∞(θ) (horizon gauge), vs ``primal_norm``;
    * dual norm: d log ‖z‖_∞ / d log log t, vs ``dual_norm`` (z ≈ f'(ρ)).

    Bands: absolute for the loss slope, relative for the norm slopes (:data:`BANDS`).
    ``gamma`` (horizon-normalised margin) defaults to the final Q-margin of the run.
    """
    bands = {**BANDS, **(bands or {})}
    lt = solution.log_t
    end = float(lt[-1])
    us = np.geomspace(max(window * end, 1e-3), end, points)
    if gamma is None:
        gamma = q_margin(problem, solution.theta[-1])
    if not (math.isfinite(gamma) and gamma > 0):
        return [Check(f"rates{label}", "margin gamma > 0", f"gamma = {gamma:.3g}", False,
                      "THEORY.md §5 needs separated data (positive normalised margin) at the "
                      "end of the run; integrate longer" + _status_note(solution))]
    theta_at = [solution.theta[min(int(np.searchsorted(lt, u)), len(lt) - 1)] for u in us]
    u_at = np.array([lt[min(int(np.searchsorted(lt, u)), len(lt) - 1)] for u in us])
    note = _status_note(solution)
    out = []
    meas_loss = np.interp(us, lt, solution.log_loss)
    loss_fn = _log_of(rates.loss, gamma)
    pred_loss = np.array([loss_fn(u) for u in us])
    m, p = slopes(us, meas_loss), slopes(us, pred_loss)
    out.append(Check(
        f"loss slope d log L/d log t{label}", f"{p:.4f} ± {bands['loss']}", f"{m:.4f}",
        bool(abs(m - p) <= bands["loss"]),
        f"THEORY.md §5 ({rates.regime}, loss ~ {rates.loss}, gamma = {gamma:.4g}): fit on "
        f"log t in [{us[0]:.3g}, {us[-1]:.3g}]" + note))
    for key, expr, fn in (
            ("primal", rates.primal_norm, lambda th: horizon_gauge(problem, th)),
            ("dual", rates.dual_norm, lambda th: float(np.max(np.abs(problem.mirror(th)))))):
        meas = np.log([fn(th) for th in theta_at])
        pred_fn = _log_of(problem_bound(problem, expr), gamma)
        pred = np.array([pred_fn(u) for u in u_at])
        x = np.log(u_at)
        m, p = slopes(x, meas), slopes(x, pred)
        band = bands[key] * max(abs(p), 0.1)
        out.append(Check(
            f"{key} norm slope d log|.|/d log log t{label}", f"{p:.3f} ± {band:.2g}",
            f"{m:.3f}", bool(abs(m - p) <= band),
            f"THEORY.md §5: {key} norm ~ {expr} ({'horizon gauge' if key == 'primal' else 'max|z|'}"
            f"), gamma = {gamma:.4g}, log t in [{u_at[0]:.3g}, {u_at[-1]:.3g}]" + note))
    return out


def problem_bound(problem: Problem, expr: sp.Expr) -> sp.Expr:
    """Substitute the potential's parameter values into a rates expression."""
    pot = problem.potential
    return pot.bind(expr) if isinstance(pot, Potential) else expr


# ============================================================================ the battery


def check_inverse_roundtrip(problem: Problem, points: Sequence[float] = (0.5, 3.0, 30.0, 300.0),
                            tol: float = 1e-8) -> Check:
    """The compiled float64 inverse mirror map inverts f' (THEORY.md §1, §7).

    The float64 path integrates the dual z = f'(θ) and reads θ = (f')^{-1}(z) from the
    closed form; a formula that is exact but cancels in float64 (e.g. log(z + sqrt(z² + 1))
    for z << 0) corrupts every trajectory. Passes if ``abs((f')^{-1}(f'(x)) - x) <= tol abs(x)``
    at ``±points`` where f'(x) is finite.
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


@dataclass(frozen=True)
class _Spec:
    label: str
    problem: Problem
    log_t: float
    planted: bool


def _specs(potential: Potential, model: str, seeds: Sequence[int],
           rapid: bool = False) -> list[_Spec]:
    specs = []
    if model == "two_layer":
        net = TwoLayer(width=4, activation="power(2)")
        for s in seeds:
            ds = xor(n=16, seed=s, gap=0.2)
            specs.append(_Spec(f"two_layer, xor seed {s}",
                               Problem.create(ds, net, potential, scale=0.5, seed=s), 3000.0,
                               False))
        return specs
    m: Model = Linear() if model == "linear" else Diagonal(depth=2)
    # rapidly varying f on a diagonal net: float64 needs ~1 s to log t = 150, 30-50 s to 400
    scale, log_t = (0.1, 200.0) if model == "linear" else (0.05, 150.0 if rapid else 400.0)
    for d, (x_star, n, seed) in ((2, ([1.0, 0.3], 4, 0)), (3, ([0.4, -1.0, 0.25], 5, 1))):
        specs.append(_Spec(f"{model}, planted {d}-D",
                           Problem.create(planted_dataset(x_star, n=n, seed=seed), m, potential,
                                          scale=scale, seed=0), log_t, True))
    if model == "linear":
        for s in seeds:
            ds = separable_gaussian(n=8, d=3, margin=0.3, seed=s)
            specs.append(_Spec(f"linear, gaussian seed {s}",
                               Problem.create(ds, m, potential, scale=0.1, seed=s), 15.0, False))
    return specs


def verify(potential: Potential, *, model: str = "linear", claim_horizon: str | None = None,
           budget: float = 60.0, seeds: Sequence[int] = (0, 1),
           progress: Callable[[str], None] | None = None) -> Report:
    """Run the battery on ``potential`` (THEORY.md §2-5) and return a :class:`Report`.

    Runs (float64, exponential loss, ``rtol = 1e-10``):

    * ``linear``: planted 2-D and 3-D data (single support vector, closed-form l_q
      directions) to log t = 200, and ``separable_gaussian(n=8, d=3)`` for each seed to
      log t = 15 (l_inf-type potentials are stiff on such data: float64 stalls near
      log t = 25-50);
    * ``diagonal``: depth-2 diagonal network u⊙u − v⊙v (init 0.05) on the planted data to
      log t = 400 (150 for an l_inf horizon: cosh-type potentials are stiff beyond, and
      their direction is judged by its trend, see :func:`check_direction`);
    * ``two_layer``: width-4 network with activation z² (init 0.5; smooth, no dead units) on
      ``xor(n=16, gap=0.2)`` data (seeds) to log t = 3000 (feature changes end late).

    If the closed-form inverse mirror map cancels in float64 (round-trip check), every run
    is integrated in the primal state instead (a note says so). Completed runs are cached,
    so repeating ``verify`` on the same potential (another claim) reuses the trajectories.

    Checks: float64 inverse round-trip; global identity and smoothed margin (if a radius is
    known) on every run; balance law (two_layer); direction vs the max-margin direction of
    the derived horizon (p, or p/L in predictor space) and the horizon claim (planted data);
    loss / primal / dual slopes on the planted 2-D run (linear, diagonal) and on every
    two_layer run.

    Parameters
    ----------
    potential : theory.Potential
    model : {"linear", "diagonal", "two_layer"}
    claim_horizon : str, optional
        A horizon to check against trajectories (``"l1"``, ``"l2"``, ``"l3"``, ``"linf"``, ...).
    budget : float
        Wall-clock seconds for everything: 60% split evenly among the integrations (a run
        that stops early is reported, and its checks fail as inconclusive), the rest among
        the runs' checks (at least 10 s each; a check that runs out is reported as failed).
        Symbolic derivations (horizon, rates) come on top.
    seeds : sequence of int
        Seeds of the Gaussian datasets and their initialisations.
    progress : callable, optional
        Called with a one-line message before each run.

    Returns
    -------
    Report

    Examples
    --------
    >>> rep = verify(Potential.quadratic(), budget=20, seeds=(0,))
    >>> rep.passed, len(rep.checks) >= 10
    (True, True)
    >>> verify(Potential.quadratic(), claim_horizon="l1", budget=20, seeds=(0,)).passed
    False
    """
    if model not in ("linear", "diagonal", "two_layer"):
        raise ValueError(f"--model must be linear, diagonal or two_layer, got {model!r}")
    claimed = None if claim_horizon is None else parse_norm(claim_horizon)
    if not budget > 0:
        raise ValueError(f"--budget must be positive seconds, got {budget}")
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    report = Report()
    h = potential.horizon
    derived = None if h.p is None or h.norm == "one-sided" else (
        math.inf if h.p == sp.oo else float(h.p))
    if derived is None:
        report.skipped.append(f"directions and horizon claim: horizon {h.norm} ({h.reason})")
    specs = _specs(potential, model, seeds, rapid=derived is not None and math.isinf(derived))
    roundtrip = check_inverse_roundtrip(specs[0].problem)
    if roundtrip.passed:
        report.checks.append(roundtrip)
    else:   # the dual path would integrate garbage: fall back to the primal state
        specs = [dataclasses.replace(s, problem=_primal_state(s.problem)) for s in specs]
        report.notes.append(
            f"the closed-form inverse mirror map loses digits in float64 (round-trip error "
            f"{roundtrip.measured}): trajectories integrated in the primal state θ instead")
    per_run = 0.6 * budget / len(specs)        # the rest is for the checks
    rates_cache: dict[int, Rates] = {}
    for n_spec, spec in enumerate(specs):
        lab, prob = f" [{spec.label}]", spec.problem
        say(f"integrating {spec.label} to log t = {spec.log_t:g} ...")
        try:
            sol = _cached_run(potential, model, spec, per_run)
        except (TimeoutError, ArithmeticError, ValueError, NameError, TypeError) as exc:
            report.checks.append(Check(f"integration{lab}", f"log t = {spec.log_t:g}", "error",
                                       False, f"{type(exc).__name__}: {exc}"))
            continue
        report.runs.append({"label": spec.label, "status": sol.status,
                            "log_t": float(sol.log_t[-1]), "steps": len(sol.s) - 1,
                            "seconds": round(sol.seconds, 3)})
        if len(sol.s) < 4 or sol.status not in ("reached", "log_loss_target"):
            report.checks.append(Check(
                f"integration{lab}", f"log t = {spec.log_t:g}",
                f"log t = {sol.log_t[-1]:.3g}", False,
                f"the float64 run stopped early (status {sol.status!r}, {len(sol.s)} points); "
                "the properties cannot be checked on it: raise --budget, or the potential is "
                "too stiff for float64"))
            if len(sol.s) < 4:
                continue
        # the checks of this run get their share of what is left of the budget (at least 10 s)
        left = budget - (time.perf_counter() - start)
        share = max(10.0, left / (len(specs) - n_spec))
        if spec.label.endswith("2-D") or model == "two_layer":   # symbolic: before the alarm
            L = prob.model.degree
            if L not in rates_cache:
                rates_cache[L] = potential.rates(depth=L)
        checks: list[Check] = []
        try:
            with _deadline(share):
                _run_checks(checks, report, potential, spec, sol, derived, claimed,
                            rates_cache)
        except _Deadline:
            checks.append(Check(f"checks{lab}", f"within {share:.0f} s", "timed out", False,
                                "the checks of this run did not finish in their share of "
                                "--budget (re-integration of a stiff trajectory); raise "
                                "--budget"))
        report.checks += checks
    if claimed is not None and derived is None:
        report.checks.append(Check(f"horizon claim {_norm_name(claimed)}",
                                   f"nearest: {_norm_name(claimed)}", "n/a", False,
                                   "the derived horizon is not a symmetric l_p norm, so there "
                                   "is no max-margin oracle to compare the claim with"))
    report.seconds = time.perf_counter() - start
    return report


def _run_checks(out: list[Check], report: Report, potential: Potential, spec: _Spec,
                sol: MirrorFlowSolution, derived: float | None, claimed: float | None,
                rates_cache: dict[int, Rates]) -> None:
    """Append the checks of one battery run to ``out`` (skips go to ``report``)."""
    lab, prob, model = f" [{spec.label}]", spec.problem, spec.problem.model
    out.append(check_global_identity(prob, sol, label=lab))
    if model.neuron_groups(prob.d):
        out.append(check_balance(prob, sol, label=lab))
    try:
        out.append(check_smoothed_margin(prob, sol, label=lab))
    except NotImplementedError as exc:
        _skip(report, f"smoothed margin: {exc}")
    if derived is not None and spec.planted:
        if isinstance(model, Linear):
            out.append(check_direction(prob, sol, derived, label=lab))
        else:
            out.append(check_predictor_direction(prob, sol, derived, label=lab))
        if claimed is not None:
            out.append(check_horizon_claim(prob, sol, claimed, derived, depth=model.degree,
                                           label=lab))
    if spec.label.endswith("2-D") or isinstance(model, TwoLayer):
        L = model.degree
        if L not in rates_cache:
            rates_cache[L] = potential.rates(depth=L)
        gamma = None
        if isinstance(model, Linear) and derived is not None:
            gamma = float(max_margin(prob.data.X, prob.data.y, derived).margin)
        try:
            out.extend(check_rates(prob, sol, rates_cache[L], gamma=gamma, label=lab))
        except (ValueError, TypeError, NotImplementedError, ZeroDivisionError) as exc:
            _skip(report, f"rates{lab}: {type(exc).__name__}: {exc}")


def _primal_state(problem: Problem) -> Problem:
    """A copy of ``problem`` that the float64 path integrates in the primal state θ.

    Used when the closed-form inverse mirror map cancels in float64
    (:func:`check_inverse_roundtrip` fails): θ̇ = −∇ℒ / f''(θ) needs no inverse.
    """
    new = dataclasses.replace(problem)
    for _mask, cp in new.compiled:
        cp.__dict__["inverse"] = None      # CompiledPotential.inverse is a cached_property
    if new.has_closed_form_inverse:
        raise RuntimeError("could not switch the float64 path to the primal state")
    return new


#: Completed battery runs, keyed by potential, model, run and target: a repeated ``verify``
#: (e.g. the same potential with another ``--claim-horizon``) reuses the trajectories.
_RUNS: dict[tuple[str, ...], MirrorFlowSolution] = {}
_RUNS_MAX = 16


def _cached_run(potential: Potential, model: str, spec: _Spec, max_seconds: float
                ) -> MirrorFlowSolution:
    key = (repr(potential), str(getattr(potential, "inverse_hint", None)), model, spec.label,
           repr(spec.log_t), repr(RTOL), str(spec.problem.has_closed_form_inverse))
    if key in _RUNS:
        return _RUNS[key]
    sol = integrate(spec.problem, spec.log_t, max_seconds=max_seconds)
    if sol.status == "reached":          # an interrupted run depends on the budget: not kept
        if len(_RUNS) >= _RUNS_MAX:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = sol
    return sol


def _skip(report: Report, msg: str) -> None:
    msg = " ".join(msg.split())
    if msg not in report.skipped:
        report.skipped.append(msg)


# ============================================================================ command line


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
    import sys

    from theory import InvalidPotentialError

    from ..cli import CliError, _parse_params

    try:
        params = _parse_params(args.param)
        if not (math.isfinite(args.budget) and args.budget > 0):
            raise ValueError(f"--budget must be a positive number of seconds, got {args.budget}")
        if args.claim_horizon is not None:
            parse_norm(args.claim_horizon)
        pot = Potential(args.expr, **params)
    except (CliError, ValueError, InvalidPotentialError, TypeError, sp.SympifyError,
            NotImplementedError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"mirrorflow verify: error: {msg}", file=sys.stderr)
        return 2
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = verify(pot, model=args.model, claim_horizon=args.claim_horizon,
                    budget=args.budget, progress=progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"mirrorflow verify {pot.name!r} on a {args.model} model (float64)")
        print(report.table())
    return 0 if report.passed else 1
