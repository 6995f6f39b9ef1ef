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
import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import NDArray

from theory import Potential, Rates, max_margin

from ._data import Dataset, separable_gaussian, xor
from ._diagnostics import _loss_inverse, global_identity_residual, horizon_gauge, q_margin
from ._float64 import solve_float64
from ._loss import log_loss_and_weights
from ._models import Diagonal, Linear, Model, TwoLayer
from ._problem import Problem
from ._solution import MirrorFlowSolution

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
#: ``tests/test_properties.py``). ``balance``, ``identity_floor`` and ``smoothed`` multiply the
#: working epsilon; ``identity_trapezoid`` multiplies the trapezoid error estimate; ``loss`` is an
#: absolute band on d log ℒ / d log t; ``primal`` and ``dual`` are relative bands on
#: d log ‖·‖ / d log log t, relative to max(|predicted slope|, 0.1) (so dual slopes below 0.1,
#: from log-type mirror maps such as asinh, are checked to ±0.015 absolute: there ‖z‖_∞ =
#: f'(‖θ‖_∞) differs from f'(ρ) by a factor inside the log that fades only like 1/log ρ).
BANDS: dict[str, float] = {
    "balance": 100.0,
    "identity_floor": 1000.0,
    "identity_trapezoid": 10.0,
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
    seconds: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether there is at least one check and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """``{"checks": [{"name", "predicted", "measured", "passed", "detail"}], "passed",
        "skipped", "runs", "seconds"}``."""
        return {"checks": [c.as_dict() for c in self.checks], "passed": self.passed,
                "skipped": list(self.skipped), "runs": list(self.runs),
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


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Hard wall-clock limit (SIGALRM, main thread only; otherwise a no-op).

    ``solve_float64`` checks its budget only between scipy calls, and a trajectory that
    chatters at a kink can stay inside one call indefinitely.
    """
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is
              threading.main_thread() and seconds > 0)
    if not usable:
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise _Deadline

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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


def check_global_identity(problem: Problem, solution: MirrorFlowSolution, *,
                          factor: float = BANDS["identity_trapezoid"],
                          floor: float = BANDS["identity_floor"], label: str = "") -> Check:
    """Global identity (THEORY.md §2): d/dt Σ g(θ_m) = L Σ_i (−ℓ'(q_i)) q_i.

    Per interval between recorded points, the increment of G = Σ g(θ_m) is compared with the
    trapezoid integral of the right-hand side R = L Σ_i w_i q_i in the solver clock s
    (ds = ℒ dt, w_i = −ℓ'(q_i)/ℒ; :func:`numerics.global_identity_residual`). Passes if on
    every interval ``|ΔG − T| <= factor · (trapezoid error estimate) + floor · eps · E`` where
    ``E = Σ_m |θ_m| (|z_m| + |θ_m| f''(θ_m))`` is the change of G caused by a relative error
    eps of the state (so late steps, where ΔG is below the resolution of G, are judged fairly).
    """
    res = global_identity_residual(problem, solution)
    L = problem.model.degree
    G = np.array([np.sum(problem.balance_terms(th)) for th in solution.theta])
    R = np.array([L * float(np.sum(log_loss_and_weights(q, problem.loss)[1] * q))
                  for q in (problem.data.y * problem.model.outputs(th, problem.data.X)
                            for th in solution.theta)])
    E = np.array([float(np.sum(np.abs(th) * (np.abs(z) + np.abs(th) * problem.hessian_diag(th))))
                  for th, z in zip(solution.theta, solution.z, strict=True)])
    ds = np.diff(solution.s)
    scale = np.maximum(np.abs(np.diff(G)), 0.5 * (np.abs(R[1:]) + np.abs(R[:-1])) * ds)
    scale = np.where(scale > 0, scale, 1.0)
    eps = working_epsilon(solution)
    absolute = res.relative * scale
    allowed = (factor * np.nan_to_num(res.trapezoid_error, nan=0.0) * scale
               + floor * eps * np.maximum(E[1:], E[:-1]))
    excess = absolute / np.where(allowed > 0, allowed, 1e-300)
    i = int(np.argmax(excess))
    return Check(
        f"global identity dG/dt = L sum(-l'(q))q{label}",
        f"|ΔG - ∫R ds| <= {allowed[i]:.2g}", f"{absolute[i]:.2g}", bool(excess[i] <= 1.0),
        f"THEORY.md §2: worst interval (of {len(ds)}) log t in [{solution.log_t[i]:.3g}, "
        f"{solution.log_t[i + 1]:.3g}]: residual {absolute[i]:.3g} (relative "
        f"{res.relative[i]:.3g}), trapezoid error estimate {res.trapezoid_error[i]:.2g} "
        f"(relative), eps {eps:.1e}, state-error scale {E[i + 1]:.3g}" + _status_note(solution))


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
    of the candidates l1, l1.5, l2, l3, l4, l_inf whose direction differs from it. (On
    general data several norms can share the max-margin direction, e.g. two support vectors
    in 2-D fix it for every norm, so only the shrinking gap is checked there.)
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
    lts = ", ".join(f"{solution.log_t[i]:.3g}" for i in idx)
    return Check(
        f"direction -> {_norm_name(q)} max-margin{label}",
        f"gap -> 0 (nearest: {_norm_name(q)})" if compare else "gap -> 0",
        f"gap {gaps[0]:.2g} -> {gaps[-1]:.2g}"
        + (f" (next: {_norm_name(near_q)} {near_gap:.2g})" if others else ""),
        bool(shrinking and nearest),
        f"THEORY.md §4: gaps {np.array2string(gaps, precision=3)} at log t = {lts}; oracle "
        f"direction {np.array2string(u, precision=4)}; "
        + ("" if shrinking else "the gap does not shrink; ")
        + ("" if nearest else f"the {_norm_name(near_q)} direction is nearer; ")
        + _status_note(solution))


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
    pred_loss = np.array([_log_of(rates.loss, gamma)(u) for u in us])
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
        pred = np.array([_log_of(problem_bound(problem, expr), gamma)(u) for u in u_at])
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


def _specs(potential: Potential, model: str, seeds: Sequence[int]) -> list[_Spec]:
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
    scale, log_t = (0.1, 200.0) if model == "linear" else (0.05, 400.0)
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
      log t = 400;
    * ``two_layer``: width-4 network with activation z² (init 0.5; smooth, no dead units) on
      ``xor(n=16, gap=0.2)`` data (seeds) to log t = 3000 (feature changes end late).

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
        Wall-clock seconds for all runs together (split evenly; a run that stops early is
        reported, and its checks usually fail as inconclusive).
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
    >>> verify(Potential.hyperbolic_entropy(1), claim_horizon="l2", budget=20, seeds=()).passed
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
    specs = _specs(potential, model, seeds)
    report.checks.append(check_inverse_roundtrip(specs[0].problem))
    per_run = budget / len(specs)
    rates_cache: dict[int, Rates] = {}
    for spec in specs:
        lab, prob = f" [{spec.label}]", spec.problem
        say(f"integrating {spec.label} to log t = {spec.log_t:g} ...")
        try:
            sol = integrate(prob, spec.log_t, max_seconds=per_run)
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
        report.checks.append(check_global_identity(prob, sol, label=lab))
        if prob.model.neuron_groups(prob.d):
            report.checks.append(check_balance(prob, sol, label=lab))
        try:
            report.checks.append(check_smoothed_margin(prob, sol, label=lab))
        except NotImplementedError as exc:
            _skip(report, f"smoothed margin: {exc}")
        if derived is not None and spec.planted:
            if model == "linear":
                report.checks.append(check_direction(prob, sol, derived, label=lab))
            else:
                report.checks.append(check_predictor_direction(prob, sol, derived, label=lab))
            if claimed is not None:
                report.checks.append(check_horizon_claim(
                    prob, sol, claimed, derived, depth=prob.model.degree, label=lab))
        if spec.label.endswith("2-D") or model == "two_layer":
            L = prob.model.degree
            if L not in rates_cache:
                rates_cache[L] = potential.rates(depth=L)
            gamma = None
            if model == "linear" and derived is not None:
                gamma = float(max_margin(prob.data.X, prob.data.y, derived).margin)
            try:
                report.checks += check_rates(prob, sol, rates_cache[L], gamma=gamma, label=lab)
            except (ValueError, TypeError, NotImplementedError, ZeroDivisionError) as exc:
                _skip(report, f"rates{lab}: {type(exc).__name__}: {exc}")
    if claimed is not None and derived is None:
        report.checks.append(Check(f"horizon claim {_norm_name(claimed)}",
                                   f"nearest: {_norm_name(claimed)}", "n/a", False,
                                   "the derived horizon is not a symmetric l_p norm, so there "
                                   "is no max-margin oracle to compare the claim with"))
    report.seconds = time.perf_counter() - start
    return report


def _skip(report: Report, msg: str) -> None:
    msg = " ".join(msg.split())
    if msg not in report.skipped:
        report.skipped.append(msg)


# ============================================================================ command line


def _parse_params(items: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"--param expects NAME=VALUE (e.g. --param b=0.1), got {item!r}")
        params[name.strip()] = value.strip()
    return params


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
    """Run ``mirrorflow verify``: print the table (or JSON); 0 if every check passed, else 1.

    Bad input raises ``ValueError`` (the CLI prints one line and exits with status 2).
    """
    import sys

    pot = Potential(args.expr, **_parse_params(args.param))
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = verify(pot, model=args.model, claim_horizon=args.claim_horizon,
                    budget=args.budget, progress=progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"mirrorflow verify {pot.name!r} on a {args.model} model (float64)")
        print(report.table())
    return 0 if report.passed else 1
