"""Diagnostics along a mirror-flow trajectory (float64, numpy; THEORY.md §2, §4, §6).

Every diagnostic is a function of ``(problem, theta)`` (one parameter vector) or of
``(problem, solution)`` (a whole :class:`MirrorFlowSolution`); :func:`diagnose` evaluates the
applicable ones at every recorded point. Nothing is re-derived here: the horizon gauge comes
from ``problem.potential.horizon.gauge(P)`` (compiled with ``sympy.lambdify``), g, f', f'' from
the :class:`Problem` (``balance_terms``, ``mirror``, ``hessian_diag``), log ℒ and the weights
w_i = -ℓ'(q_i)/ℒ from :func:`numerics.problem.log_loss_and_weights`, and the max-margin direction
from :func:`theory.max_margin`.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import NDArray

from theory import Horizon, MaxMarginResult, PerLayer, Potential, max_margin, tidy
from theory import X as _X

from ..problem import MLP, Linear, Problem, TwoLayer, log_loss_and_weights
from ..solvers import MirrorFlowSolution

__all__ = ["IdentityResidual", "diagnose", "global_identity_residual", "horizon_gauge",
           "loss_inverse", "max_margin_gap", "mirror_alignment", "norms", "q_margin",
           "q_margin_mp", "smoothed_margin", "sparsity"]

Array = NDArray[np.float64]

#: The gauge is compiled for at most this many coordinates; longer vectors are reduced chunk by
#: chunk (sympy's ``Max`` of P arguments costs ~P² to build: 20 s for P = 200).
_CHUNK = 16


# ============================================================================ helpers


def _margins(problem: Problem, theta: Array) -> Array:
    """q_i = y_i Φ(θ; x_i)."""
    return problem.data.y * problem.model.outputs(np.asarray(theta, dtype=float), problem.data.X)


def _shared_horizon(problem: Problem) -> Horizon:
    """The one horizon of the problem's potential (all layers of a PerLayer must agree)."""
    pot = problem.potential
    if isinstance(pot, PerLayer):
        horizons = [p.horizon for p in pot.potentials]
        keys = {(h.norm, h.p, h.side_ratio) for h in horizons}
        if len(keys) > 1:
            desc = ", ".join(f"layer {k}: {h.norm} (p={h.p}, side ratio {h.side_ratio})"
                             for k, h in enumerate(horizons))
            raise NotImplementedError(
                f"the PerLayer potential has layers with different horizons ({desc}); Q_∞ of a "
                "mixed-horizon potential is not implemented: use one potential for all layers, "
                "or potentials that share one horizon")
        horizon = horizons[0]
    else:
        horizon = pot.horizon
    if horizon.norm == "undetermined" or horizon.p is None:
        raise NotImplementedError(
            f"the horizon of the potential is undetermined ({horizon.reason}), so the horizon "
            "gauge Q_∞ is unknown; use a potential whose growth index theory can classify")
    return horizon


@functools.lru_cache(maxsize=64)
def _lambdified_gauge(horizon: Horizon, n: int):
    syms = sp.symbols(f"theta_1:{n + 1}", real=True)
    return sp.lambdify([syms], horizon.gauge(n), modules="numpy")


@functools.lru_cache(maxsize=64)
def _gauge_callable(horizon: Horizon, P: int):
    """φ_∞ on R^P compiled from ``horizon.gauge``.

    For P > 16 the compiled 16-dimensional gauge is applied chunk by chunk and then to the
    chunk values, recursively; zero padding is neutral. This uses
    φ_∞(a, b) = φ_∞(σ φ_∞(a), σ φ_∞(b)) for blocks a, b, with σ = -1 if the positive side
    of the horizon collapsed (κ = ∞) and σ = 1 otherwise: every gauge that ``Horizon.gauge``
    builds is an l_p / l_∞ norm of per-coordinate parts equal to |t| on the side σ t ≥ 0.
    This is checked at compile time against the 3-dimensional gauge on random points.
    """
    if P <= _CHUNK:
        fn = _lambdified_gauge(horizon, P)
        return lambda v: float(fn(v))
    g1, g2, g3, gc = (_lambdified_gauge(horizon, k) for k in (1, 2, 3, _CHUNK))
    sigma = -1.0 if horizon.side_ratio == sp.oo else 1.0
    pts = np.random.default_rng(0).standard_normal((4, 3))
    if horizon.side_ratio in (0, sp.oo):            # stay where a one-sided gauge is finite
        pts = sigma * np.abs(pts)
    for a, b, c in pts:
        direct, nested = g3([a, b, c]), g2([sigma * g2([a, b]), sigma * g1([c])])
        if not np.isclose(direct, nested, rtol=1e-12):
            raise RuntimeError(f"bug: horizon gauge {horizon.gauge(3)} does not nest")

    def gauge(v: Array) -> float:
        v = np.asarray(v, dtype=float)
        while v.size > 1:
            v = np.concatenate([v, np.zeros((-v.size) % _CHUNK)]).reshape(-1, _CHUNK)
            v = sigma * np.asarray(gc(list(v.T)), dtype=float).reshape(-1)
        return float(sigma * v[0])

    return gauge


def horizon_gauge(problem: Problem, theta: Any) -> float:
    """The horizon function Q_∞(θ) = φ_∞(θ) of the problem's potential (THEORY.md §3-4).

    Compiled from ``problem.potential.horizon.gauge(P)`` and evaluated as
    ``c · φ_∞(θ / c)`` with ``c = max |θ_k|`` (positive homogeneity; no overflow of ``|θ|^p``).

    Parameters
    ----------
    problem : Problem
        Its potential (or all layers of a PerLayer potential) must have one horizon.
    theta : array_like, shape (P,)

    Returns
    -------
    float
        ``inf`` off the domain of a one-sided horizon (a coordinate on the collapsed side).

    Raises
    ------
    NotImplementedError
        For a PerLayer potential whose layers have different horizons, or an undetermined one.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays([[1.0, 1.0]], [1]), Linear(),
    ...                Potential.hyperbolic_entropy(0.1), theta0=np.zeros(2))
    >>> horizon_gauge(prob, [3.0, -4.0])        # l1 horizon
    7.0
    """
    theta = np.asarray(theta, dtype=float)
    fn = _gauge_callable(_shared_horizon(problem), theta.size)
    c = float(np.max(np.abs(theta), initial=0.0))
    return 0.0 if c == 0.0 else c * fn(theta / c)


def loss_inverse(log_loss: float, loss: str) -> float:
    """ℓ^{-1}(ℒ): log(1/ℒ) for the exponential loss, -log(e^ℒ - 1) for the logistic loss.

    Parameters
    ----------
    log_loss : float
        log ℒ (the log domain: no underflow).
    loss : {"exp", "logistic"}

    Examples
    --------
    >>> loss_inverse(-3.0, "exp"), round(loss_inverse(-30.0, "logistic"), 6)
    (3.0, 30.0)
    """
    if loss == "exp":
        return -log_loss
    L = math.exp(log_loss)
    # log(e^ℒ - 1) = log ℒ + log(expm1(ℒ)/ℒ), stable for ℒ -> 0 (and ℒ = 0 after underflow)
    return -(log_loss + (math.log(math.expm1(L) / L) if L > 0 else 0.0))


# ============================================================================ margins


def q_margin(problem: Problem, theta: Any) -> float:
    """Normalised Q-margin γ_Q(θ) = min_i q_i(θ) / Q_∞(θ)^L (THEORY.md §4).

    Q_∞ is the horizon gauge of the potential in P dimensions (:func:`horizon_gauge`), L the
    model's degree of homogeneity. γ_Q is scale invariant; along mirror flow it converges to
    the margin of the limit direction, and for a linear model to the max-margin value of
    :func:`theory.max_margin` in the horizon norm.

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (P,)

    Returns
    -------
    float

    Raises
    ------
    NotImplementedError
        For a PerLayer potential unless all layers share one horizon.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> data = Dataset.from_arrays([[1.0, 0.0], [0.0, 2.0]], [1, 1])
    >>> prob = Problem(data, Linear(), Potential.quadratic(), theta0=np.zeros(2))
    >>> round(q_margin(prob, [3.0, 4.0]), 12)        # min(3, 8) / ||(3, 4)||_2 = 3/5
    0.6
    """
    theta = np.asarray(theta, dtype=float)
    return float(np.min(_margins(problem, theta))) / horizon_gauge(problem, theta) ** \
        problem.model.degree


@functools.lru_cache(maxsize=16)
def _mp_gauge(horizon: Horizon, n: int):
    syms = sp.symbols(f"theta_1:{n + 1}", real=True)
    return sp.lambdify([syms], horizon.gauge(n), modules="mpmath")


def q_margin_mp(problem: Problem, theta: Any, min_margin: Any) -> Any:
    """γ_Q = min_i q_i / Q_∞(θ)^L in mpmath, for the working-precision state of a precise run
    (``theta_mp[-1]``, ``min_margin_mp[-1]``): the digits :func:`q_margin` would round away.

    Examples
    --------
    >>> import mpmath, numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> data = Dataset.from_arrays([[1.0, 0.0], [0.0, 2.0]], [1, 1])
    >>> prob = Problem(data, Linear(), Potential.quadratic(), theta0=np.zeros(2))
    >>> with mpmath.workdps(40):
    ...     g = q_margin_mp(prob, [mpmath.mpf(1), mpmath.mpf(1)], mpmath.mpf(1))
    ...     print(mpmath.nstr(g * mpmath.sqrt(2), 35))
    1.0
    """
    th = [mpmath.mpf(v) for v in theta]
    c = max(abs(v) for v in th)
    if c == 0:
        raise ValueError("θ = 0 has no direction; the Q-margin is undefined")
    gauge = c * _mp_gauge(_shared_horizon(problem), len(th))([v / c for v in th])
    return mpmath.mpf(min_margin) / gauge ** problem.model.degree


@functools.lru_cache(maxsize=64)
def _radius_kind(potential: Potential) -> str:
    """'lp' if f = c |x|^p (c > 0), 'hyperbolic' if g = sqrt(x² + b²), else a reason."""
    h = potential.horizon
    if h.norm == "lp" and h.side_ratio == 1:
        ratio = tidy(_X * potential.f1_bound / potential.f)       # x f'/f = p iff f = c|x|^p
        if ratio.is_number and sp.simplify(ratio - h.p) == 0:
            return "lp"
    if h.norm == "l1":
        g = potential.bind(potential.balance_function.expr)
        b2 = sp.simplify(g**2 - _X**2)
        if b2.is_number and b2.is_positive:
            return "hyperbolic"
    return (f"potential {potential.name!r} (horizon {h.norm}, p = {h.p}) is neither a power "
            "c*|x|^p (p > 1; quadratic included) nor the hyperbolic entropy")


def smoothed_margin(problem: Problem, theta: Any) -> float:
    """Smoothed margin γ̃_r(θ) = ℓ^{-1}(ℒ(θ)) / r(G(θ))^L (THEORY.md §4, [derived]).

    G = Σ_m g(θ_m) (``problem.balance_terms``), L the model degree, ℓ^{-1}(ℒ) = log(1/ℒ) for the
    exponential loss and -log(e^ℒ - 1) for the logistic loss (Lyu & Li's form). THEORY.md §4:
    if r is increasing with r(G)/r'(G) ≥ H = Σ θ_m² f''(θ_m) on level sets of G, γ̃_r is
    non-decreasing along mirror flow once ℒ < 1 (logistic: ℒ < log 2, i.e. ℓ^{-1}(ℒ) > 0).
    The supported choices satisfy it:

    * f = c|x|^p, p > 1 (quadratic = gradient flow, Lyu-Li): r = ‖θ‖_p (the horizon gauge),
      a function of G = c(p-1)‖θ‖_p^p with r/r' = pG = H;
    * hyperbolic entropy (g = sqrt(x² + b²)): r = G, and G ≥ H since g(x) ≥ x g'(x).

    Before ℒ < 1 the value is still returned but is not meaningful (it is negative when ℒ > 1).

    Parameters
    ----------
    problem : Problem
        One potential for all parameters (or a PerLayer with the same f on every layer).
    theta : array_like, shape (P,)

    Returns
    -------
    float

    Raises
    ------
    NotImplementedError
        For any other potential (no r with the property above is known to the toolkit).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays([[1.0, 0.0]], [1]), Linear(), Potential.quadratic(),
    ...                theta0=np.zeros(2))
    >>> round(smoothed_margin(prob, [3.0, 4.0]), 12)   # log(1/e^-3) / ||(3, 4)||_2
    0.6
    """
    theta = np.asarray(theta, dtype=float)
    pot = problem.potential
    if isinstance(pot, PerLayer):
        if len({p.f for p in pot.potentials}) > 1:
            raise NotImplementedError(
                "smoothed_margin needs the same potential on every layer (r must be a function "
                "of G = Σ g(θ_m)); this PerLayer potential has different ones")
        pot = pot.potentials[0]
    kind = _radius_kind(pot)
    if kind == "lp":
        r = horizon_gauge(problem, theta)
    elif kind == "hyperbolic":
        r = float(np.sum(problem.balance_terms(theta)))
    else:
        raise NotImplementedError(
            f"smoothed_margin: no radius r(G) is known for this potential: {kind}. Supported: "
            "f = |x|^p/p (p > 1, r = ||θ||_p; gradient flow is p = 2) and the hyperbolic "
            "entropy (r = G). Use q_margin for the unsmoothed margin")
    log_loss, _ = log_loss_and_weights(_margins(problem, theta), problem.loss)
    return loss_inverse(log_loss, problem.loss) / r ** problem.model.degree


# ============================================================================ global identity


class IdentityResidual(NamedTuple):
    """Per-interval check of the global identity (see :func:`global_identity_residual`).

    Attributes
    ----------
    relative : (N-1,) array
        |ΔG - T| / scale on each interval between recorded points.
    trapezoid_error : (N-1,) array
        The estimated trapezoid error Δs³ |R''| / 12 on the same scale (R'' from divided
        differences); a residual well above it is a violation, not discretisation.
    """

    relative: Array
    trapezoid_error: Array


def global_identity_residual(problem: Problem, solution: MirrorFlowSolution) -> IdentityResidual:
    """Check the global identity dG/ds = L Σ_i w_i q_i on the recorded points (THEORY.md §2).

    THEORY.md §2: d/dt Σ_m g(θ_m) = -<θ, ∇ℒ> = L Σ_i (-ℓ'(q_i)) q_i (Euler's identity). In the
    solution's clock s (ds = ℒ dt) this is dG/ds = R := L Σ_i w_i q_i with w_i = -ℓ'(q_i)/ℒ.
    On each interval [s_k, s_{k+1}] the increment ΔG_k is compared with the trapezoid integral
    T_k = (R_k + R_{k+1}) Δs_k / 2, relative to max(|ΔG_k|, (|R_k| + |R_{k+1}|) Δs_k / 2).

    Discretisation: T_k differs from ∫R ds by -Δs_k³ R''(ξ)/12, so on the large steps of an
    adaptive high-order integrator the relative residual is ~(Δs)² |R''| / (12 |R|) (~1e-2
    on the first steps of a DOP853 run, ~1e-6 typical) even for an exact trajectory;
    ``trapezoid_error`` estimates it. On a :func:`numerics.solvers.mirror_descent`
    trajectory the residual also contains the O(η) error of the discrete steps themselves.

    Parameters
    ----------
    problem : Problem
    solution : MirrorFlowSolution
        At least 2 recorded points.

    Returns
    -------
    IdentityResidual

    Examples
    --------
    One point x = (1, 0), exponential loss, gradient flow: z(s) = θ0 + s x exactly.

    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays([[1.0, 0.0]], [1]), Linear(), Potential.quadratic(),
    ...                theta0=np.array([0.5, 0.0]))
    >>> s = np.linspace(0, 1, 101)
    >>> thetas = np.outer(0.5 + s, [1.0, 0.0])
    >>> sol = MirrorFlowSolution.from_states(prob, s=s, log_t=s, thetas=thetas, status="",
    ...     method="exact", precision_bits=53, rhs_evals=0, seconds=0.0)
    >>> res = global_identity_residual(prob, sol)   # G = q²/2, R = q: trapezoid is exact
    >>> bool(res.relative.max() < 1e-12)
    True
    """
    s = np.asarray(solution.s, dtype=float)
    thetas = np.atleast_2d(solution.theta)
    if len(s) < 2:
        raise ValueError("global_identity_residual needs a solution with at least 2 recorded "
                         f"points, got {len(s)}")
    L = problem.model.degree
    G = np.array([np.sum(problem.balance_terms(th)) for th in thetas])
    R = np.empty(len(s))
    for k, th in enumerate(thetas):
        q = _margins(problem, th)
        R[k] = L * np.sum(log_loss_and_weights(q, problem.loss)[1] * q)
    ds = np.diff(s)
    dG, trap = np.diff(G), 0.5 * (R[1:] + R[:-1]) * ds
    scale = np.maximum(np.abs(dG), 0.5 * (np.abs(R[1:]) + np.abs(R[:-1])) * ds)
    scale = np.where(scale > 0, scale, 1.0)
    if len(s) >= 3:
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = np.diff(R) / ds
            d2 = np.nan_to_num(2 * np.diff(d1) / (s[2:] - s[:-2]))
        R2 = np.concatenate([[abs(d2[0])], np.maximum(abs(d2[:-1]), abs(d2[1:])), [abs(d2[-1])]]) \
            if len(d2) > 1 else np.full(len(ds), abs(d2[0]))
    else:
        R2 = np.full(len(ds), np.nan)
    return IdentityResidual(np.abs(dG - trap) / scale, R2 * ds**3 / 12 / scale)


# ============================================================================ geometry


def norms(problem: Problem, theta: Any) -> dict[str, float]:
    """Primal and dual norms of θ (THEORY.md §4-5: primal scale ρ, dual z ≈ f'(ρ)).

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (P,)

    Returns
    -------
    dict
        ``"horizon"``: the horizon gauge Q_∞(θ) (``nan`` if the potential has no single
        horizon, see :func:`horizon_gauge`); ``"l2"``: ‖θ‖_2; ``"dual_l2"``, ``"dual_linf"``:
        ‖∇φ(θ)‖_2 and ‖∇φ(θ)‖_∞ of the dual variable z = ∇φ(θ).

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays([[1.0, 1.0]], [1]), Linear(), Potential.cosh(),
    ...                theta0=np.zeros(2))
    >>> out = norms(prob, [3.0, -4.0])
    >>> out["horizon"], out["l2"], float(round(out["dual_linf"] - np.sinh(4.0), 9))  # l_inf
    (4.0, 5.0, 0.0)
    """
    theta = np.asarray(theta, dtype=float)
    try:
        gauge = horizon_gauge(problem, theta)
    except NotImplementedError:
        gauge = math.nan
    z = problem.mirror(theta)
    return {"horizon": gauge, "l2": float(np.linalg.norm(theta)),
            "dual_l2": float(np.linalg.norm(z)), "dual_linf": float(np.max(np.abs(z)))}


def mirror_alignment(problem: Problem, theta: Any) -> float:
    """1 - cos(∇²φ(θ) θ, -∇ℒ(θ)) (THEORY.md §4, [derived]: -> 0 for smooth horizons).

    ∇²φ is diagonal (``problem.hessian_diag``); -∇ℒ = ℒ Σ_i w_i ∇q_i and the cosine does not
    see the factor ℒ, so Σ_i w_i ∇q_i is used (no underflow). ``nan`` where either vector is 0.

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (P,)

    Returns
    -------
    float
        In [0, 2].

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays([[1.0, 0.0]], [1]), Linear(), Potential.quadratic(),
    ...                theta0=np.zeros(2))
    >>> mirror_alignment(prob, [2.0, 0.0]), mirror_alignment(prob, [1.0, 1.0])  # -∇ℒ ∝ (1, 0)
    (0.0, 0.2928932188134...)
    """
    theta = np.asarray(theta, dtype=float)
    out, grads = problem.model.outputs_and_grads(theta, problem.data.X)
    _, w = log_loss_and_weights(problem.data.y * out, problem.loss)
    a = problem.hessian_diag(theta) * theta
    b = (w * problem.data.y) @ grads
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return math.nan
    return float(1.0 - np.clip(a @ b / (na * nb), -1.0, 1.0))


def _linear_horizon_p(problem: Problem) -> float:
    if not isinstance(problem.model, Linear):
        raise ValueError(
            f"max_margin_gap is for linear models (L = 1, Linear()) only, got "
            f"{type(problem.model).__name__}; for networks use q_margin and the KKT conditions")
    h = _shared_horizon(problem)
    if h.norm == "one-sided":
        raise ValueError(
            f"max_margin_gap needs a symmetric horizon (l1, l_p, l_inf); this one is one-sided "
            f"({h.reason}), which theory.max_margin does not cover")
    return math.inf if h.p == sp.oo else float(h.p)


def max_margin_gap(problem: Problem, theta: Any, *,
                   reference: MaxMarginResult | None = None) -> dict[str, float]:
    """Distance of a linear model's direction to the max-margin direction (THEORY.md §4, [lit]).

    For a linear model, mirror flow converges in direction to argmin φ_∞(β) s.t.
    y_i <x_i, β> ≥ 1 (Gunasekar et al. 2018, Sun et al. 2022; Pesme et al. 2024). With
    u = ``theory.max_margin(X, y, p).direction`` (φ_∞(u) = 1) this returns

    * ``"distance"``: φ_∞(θ/φ_∞(θ) - u), in the horizon norm;
    * ``"margin_ratio"``: γ_Q(θ) / margin(u) (≤ 1, = 1 exactly at the max-margin direction).

    Parameters
    ----------
    problem : Problem
        Linear model, potential with a symmetric l_p / l1 / l_inf horizon.
    theta : array_like, shape (d,)
    reference : MaxMarginResult, optional
        A precomputed ``theory.max_margin`` result for the problem's data and horizon (saves
        re-solving the program at every point of a trajectory).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For other models, one-sided horizons, or data not separable through the origin.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> prob = Problem(Dataset.from_arrays(np.eye(2), [1, 1]), Linear(),
    ...                Potential.hyperbolic_entropy(1), theta0=np.zeros(2))
    >>> gap = max_margin_gap(prob, [2.0, 2.0])           # l1 max-margin direction (1/2, 1/2)
    >>> round(gap["distance"], 12), round(gap["margin_ratio"], 12)
    (0.0, 1.0)
    >>> round(max_margin_gap(prob, [3.0, 1.0])["distance"], 12)   # |3/4 - 1/2| + |1/4 - 1/2|
    0.5
    """
    p = _linear_horizon_p(problem)
    mm = reference if reference is not None else max_margin(problem.data.X, problem.data.y, p)
    theta = np.asarray(theta, dtype=float)
    unit = theta / horizon_gauge(problem, theta)
    return {"distance": horizon_gauge(problem, unit - np.asarray(mm.direction)),
            "margin_ratio": q_margin(problem, theta) / mm.margin}


# ============================================================================ sparsity


def sparsity(problem: Problem, theta: Any, tol: float = 1e-3) -> dict[str, float]:
    """Feature-sparsity measures of a two-layer network (THEORY.md §6).

    With w_j the incoming weights and a_j the outgoing weight of hidden neuron j, and
    p_j = ‖w_j‖_2 |a_j|:

    * ``"active_neurons"``: fraction of neurons with p_j > tol · max_j p_j;
    * ``"participation_ratio"``: (Σ_j p_j)² / Σ_j p_j², the effective number of neurons
      (1 if one neuron carries everything, m if all are equal);
    * ``"active_per_input"``: mean over inputs x_i of the fraction of neurons with w_j·x_i > 0;
    * ``"hoyer"``: Hoyer sparsity (√n - ‖v‖_1/‖v‖_2)/(√n - 1) of the n = m·d first-layer
      weights v (0 for all-equal magnitudes, 1 for a single non-zero).

    Measures with a zero denominator are ``nan``.

    Parameters
    ----------
    problem : Problem
        A :class:`TwoLayer` model (or an :class:`MLP` with one hidden layer).
    theta : array_like, shape (P,)
    tol : float
        Relative threshold in (0, 1).

    Returns
    -------
    dict

    Examples
    --------
    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset
    >>> data = Dataset.from_arrays([[1.0, 1.0], [-1.0, 2.0]], [1, -1])
    >>> prob = Problem(data, TwoLayer(width=2), Potential.quadratic(), theta0=np.zeros(6))
    >>> out = sparsity(prob, [4.0, -3.0, 0.0, 0.0, 1.0, 0.0])   # w1 = (4, -3), a1 = 1; rest 0
    >>> out["active_neurons"], out["participation_ratio"], out["active_per_input"]
    (0.5, 1.0, 0.25)
    >>> round(out["hoyer"], 12)     # v = (4, -3, 0, 0): (2 - 7/5) / (2 - 1)
    0.6
    """
    model = problem.model
    if not (isinstance(model, TwoLayer) or (isinstance(model, MLP) and len(model.widths) == 1)):
        raise ValueError(f"sparsity is for two-layer networks (TwoLayer, or MLP with one hidden "
                         f"layer), got {model!r}")
    if not (isinstance(tol, int | float) and 0 < tol < 1):
        raise ValueError(f"tol must be a float in (0, 1), got {tol!r}")
    blocks = list(model.unpack(np.asarray(theta, dtype=float), problem.d).values())
    W, a = blocks[0], blocks[1].reshape(-1)
    prod = np.linalg.norm(W, axis=1) * np.abs(a)
    top, s1, s2 = prod.max(), prod.sum(), np.sum(prod**2)
    v = W.reshape(-1)
    n, v1, v2 = v.size, np.sum(np.abs(v)), np.linalg.norm(v)
    return {
        "active_neurons": float(np.mean(prod > tol * top)) if top > 0 else math.nan,
        "participation_ratio": float(s1**2 / s2) if s2 > 0 else math.nan,
        "active_per_input": float(np.mean(problem.data.X @ W.T > 0)),
        "hoyer": float((math.sqrt(n) - v1 / v2) / (math.sqrt(n) - 1))
        if v2 > 0 and n > 1 else math.nan,
    }


# ============================================================================ all at once


def diagnose(problem: Problem, solution: MirrorFlowSolution) -> dict[str, NDArray[Any]]:
    """Every applicable diagnostic at every recorded point of a trajectory.

    Keys (arrays of length N, the number of recorded points): ``log_t``, ``s``, ``log_loss``,
    ``q_margin``, ``smoothed_margin``, ``norm_horizon``, ``norm_l2``, ``norm_dual_l2``,
    ``norm_dual_linf``, ``mirror_alignment``, ``identity_residual`` and
    ``identity_trapezoid_error`` (entry k is the interval [k-1, k]; ``nan`` at k = 0),
    ``max_margin_distance`` and ``margin_ratio`` (linear models), ``sparsity_*`` (two-layer
    networks). A diagnostic that does not apply is left out and listed in ``"skipped"`` (an
    array of ``"name: reason"`` strings).

    Parameters
    ----------
    problem : Problem
    solution : MirrorFlowSolution

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import two_d
    >>> from numerics.solvers import solve_float64
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic(), seed=0)
    >>> out = diagnose(prob, solve_float64(prob, log_t=20.0))
    >>> bool(out["margin_ratio"][-1] <= 1 + 1e-12), out["skipped"][0][:9]
    (True, 'sparsity:')
    """
    thetas = np.atleast_2d(solution.theta)
    N = len(thetas)
    out: dict[str, NDArray[Any]] = {"log_t": np.asarray(solution.log_t, dtype=float),
                                    "s": np.asarray(solution.s, dtype=float),
                                    "log_loss": np.asarray(solution.log_loss, dtype=float)}
    skipped: list[str] = []

    def per_point(name: str, fn) -> None:
        try:
            first = fn(thetas[0])                      # probe: does it apply?
        except (NotImplementedError, ValueError) as exc:
            skipped.append(f"{name}: {exc}")
            return
        values = [first, *(fn(th) for th in thetas[1:])]
        if isinstance(first, dict):
            for key in first:
                out[f"{name}_{key}"] = np.array([v[key] for v in values], dtype=float)
        else:
            out[name] = np.array(values, dtype=float)

    per_point("q_margin", lambda th: q_margin(problem, th))
    per_point("smoothed_margin", lambda th: smoothed_margin(problem, th))
    per_point("norm", lambda th: norms(problem, th))
    per_point("mirror_alignment", lambda th: mirror_alignment(problem, th))
    reference: list[MaxMarginResult] = []

    def gap(th: Array) -> dict[str, float]:
        if not reference:
            reference.append(max_margin(problem.data.X, problem.data.y,
                                        _linear_horizon_p(problem)))
        return max_margin_gap(problem, th, reference=reference[0])

    per_point("max_margin", gap)
    if "max_margin_margin_ratio" in out:
        out["margin_ratio"] = out.pop("max_margin_margin_ratio")
    per_point("sparsity", lambda th: sparsity(problem, th))
    if N >= 2:
        res = global_identity_residual(problem, solution)
        out["identity_residual"] = np.concatenate([[np.nan], res.relative])
        out["identity_trapezoid_error"] = np.concatenate([[np.nan], res.trapezoid_error])
    else:
        skipped.append("identity_residual: needs at least 2 recorded points")
    out["skipped"] = np.array(skipped, dtype=str)
    return out
