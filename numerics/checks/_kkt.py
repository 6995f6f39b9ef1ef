"""KKT residuals of the horizon's margin problem (THEORY.md §4).

Mirror flow on an L-homogeneous model converges in direction to a KKT point of

    min Q_∞(θ)   subject to   q_i(θ) = y_i Φ(θ; x_i) >= 1,   i = 1..n,

with Q_∞ the horizon of the potential (THEORY.md §3-4; gradient flow: Lyu & Li's l2 problem).
:func:`kkt` measures how far a parameter vector is from being such a KKT point after the
normalisation θ̃ = θ / (min_i q_i(θ))^{1/L} that makes the smallest margin exactly 1:

* stationarity ``ε = dist(∂G(θ̃), cone{∇q_i(θ̃)}) / dist(0, ∂G(θ̃))`` in the Euclidean norm,
  with multipliers ``λ >= 0`` (an NNLS, or a bounded least-squares problem when ∂G is a set);
* complementarity ``δ = Σ_i λ_i (q_i(θ̃) - 1)`` at the minimising ``λ`` (the least such δ
  when several λ attain ε).

G is the horizon written as a function whose KKT points are those of ``min Q_∞``:
``Σ_k |θ_k|^p / p`` for l_p (1 < p < ∞), ``‖θ‖_1`` and ``‖θ‖_∞`` (Clarke subdifferentials) for
l_1 and l_∞. :func:`kkt_along` evaluates it along a :class:`numerics.MirrorFlowSolution`, and
:func:`fit_decay` fits the log-log slope of ε against log t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from theory import PerLayer, Potential, mp_function

from ..problem import Problem
from ..solvers import MirrorFlowSolution
from ._kkt_multipliers import solve_multipliers, subdifferential
from ._norms import norm_name, parse_norm

__all__ = [
    "ZERO_TOL",
    "KKTHorizon",
    "KKTResult",
    "KKTTrajectory",
    "fit_decay",
    "kkt",
    "kkt_along",
    "kkt_horizon",
]

#: Default τ: for l_1, coordinates with ``|θ̃_k| <= τ max|θ̃|`` count as zero; for l_∞,
#: coordinates with ``|θ̃_k| >= (1 - τ) max|θ̃|`` count as maximal (weights as in
#: :class:`KKTHorizon`). Not used for smooth l_p horizons.
ZERO_TOL = 1e-3
#: λ_i > SUPPORT_TOL · max λ puts sample i in :attr:`KKTResult.support`.
SUPPORT_TOL = 1e-8
#: Sublevel values at which PerLayer radii are compared (f_ℓ(r) = c, THEORY.md §3).
_LEVELS = (mpmath.mpf(10) ** 200, mpmath.mpf(10) ** 2000)


# ================================================================== the horizon used


@dataclass(frozen=True)
class KKTHorizon:
    """The horizon G of the KKT problem: its exponent and the relative size of each layer.

    Attributes
    ----------
    name : str
        ``"l1"``, ``"l2"``, ``"l1.5"``, ..., ``"linf"``.
    p : float
        The exponent (``math.inf`` for l_∞).
    layer_scales : tuple of float
        κ_ℓ, the radius of layer ℓ's part of the horizon ball relative to layer 0. The gauge is
        ``(Σ_ℓ Σ_{k in ℓ} |θ_k/κ_ℓ|^p)^{1/p}`` (``max |θ_k|/κ_ℓ`` for l_∞), so
        ``G = Σ |θ_k/κ_ℓ|^p / p``, ``Σ |θ_k|/κ_ℓ`` or ``max |θ_k|/κ_ℓ``. All 1 for one potential
        and for an explicit ``horizon=`` override.
    source : str
        ``"potential"`` (derived from the problem's potentials) or ``"override"``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import PerLayer, Potential
    >>> from numerics.problem import Dataset, Problem, TwoLayer
    >>> data = Dataset.from_arrays([[1.0, 0.0]], [1])
    >>> pl = PerLayer((Potential.quadratic(), Potential.quadratic().scaled(4)))
    >>> prob = Problem(data, TwoLayer(width=1), pl, theta0=np.ones(3))
    >>> kkt_horizon(prob)
    KKTHorizon(name='l2', p=2.0, layer_scales=(1.0, 0.5), source='potential')
    >>> kkt_horizon(prob, "linf").layer_scales
    (1.0, 1.0)
    """

    name: str
    p: float
    layer_scales: tuple[float, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``p`` as ``"inf"`` for l_∞)."""
        return {"name": self.name, "p": "inf" if math.isinf(self.p) else self.p,
                "layer_scales": list(self.layer_scales), "source": self.source}


def kkt_horizon(problem: Problem, horizon: str | float | None = None) -> KKTHorizon:
    """The horizon whose margin problem :func:`kkt` checks (THEORY.md §3-4).

    Parameters
    ----------
    problem : Problem
        Its potential, or every layer's potential of a :class:`theory.PerLayer`, gives the
        horizon (``Potential.horizon``): l_1, l_p or l_∞, symmetric (side ratio 1).
    horizon : str or float, optional
        Override, to check a claim (right or wrong): ``"l1"``, ``"l2"``, ``"l3"``, ``"l1.5"``,
        ``"linf"`` or the exponent ``p >= 1`` as a number. All layers then weigh the same.

    Returns
    -------
    KKTHorizon

    Raises
    ------
    ValueError
        An unknown horizon name; a one-sided, asymmetric or undetermined horizon; PerLayer
        layers with different exponents, or whose sublevel sets grow at different rates
        (the joint horizon then collapses a layer: pass ``horizon=`` to check with equal weights).

    Notes
    -----
    **PerLayer weights.** For ``φ = Σ_ℓ Σ_{k in ℓ} f_ℓ(θ_k)`` the rescaled sublevel sets
    ``{φ <= c}`` converge to a product of the layers' l_p balls with radii ``r_ℓ(c)``,
    ``f_ℓ(r_ℓ(c)) = c``. The weights are ``κ_ℓ = lim r_ℓ(c)/r_0(c)``, measured in mpmath at
    ``c = 1e200`` and ``c = 1e2000``: the two must agree within 5 % (else the ratio tends to
    0 or ∞, the joint horizon is degenerate and the problem is refused); a ratio within 1 % of 1
    at ``1e2000`` is taken as exactly 1 (slowly varying corrections such as the ``log(1/b)`` of
    the hyperbolic entropy). ``c·f`` against ``f`` gives ``κ = c^{-1/p}``, so
    ``G = Σ c_ℓ |θ_k|^p / p``: the potential's own leading term.
    """
    if horizon is not None:
        p = parse_norm(str(horizon))
        n_layers = len(set(problem.layer_index.tolist()))
        return KKTHorizon(norm_name(p), p, (1.0,) * n_layers, "override")
    layers = sorted(set(problem.layer_index.tolist()))
    pots = [problem.potential_of_layer(k) for k in layers]
    exps = []
    for k, pot in zip(layers, pots, strict=True):
        h = pot.horizon
        if h.norm not in ("l1", "lp", "linf") or h.p is None:
            raise ValueError(f"kkt: the potential of layer {k} ({pot.name}) has a {h.norm} "
                             "horizon; pass horizon='l1', 'l2', ..., 'linf' to check a claim")
        if h.side_ratio != 1:
            raise ValueError(f"kkt: the horizon of layer {k} ({pot.name}) is asymmetric (side "
                             f"ratio {h.side_ratio}); pass horizon='l1', 'l2', ..., 'linf'")
        exps.append(math.inf if h.p == sp.oo else float(h.p))
    if len(set(exps)) > 1:
        names = ", ".join(norm_name(p) for p in exps)
        raise ValueError(f"kkt: the layers have different horizons ({names}), so there is no "
                         "joint horizon; pass horizon='l2' (or another norm) to check one")
    p = exps[0]
    scales = (1.0,) * len(layers)
    if isinstance(problem.potential, PerLayer):
        scales = _layer_scales(pots)
    return KKTHorizon(norm_name(p), p, scales, "potential")


def _radius(f: Any, c: mpmath.mpf) -> mpmath.mpf:
    """r > 1 with f(r) = c (f increasing on [1, ∞)), by geometric bisection."""
    lo, hi = mpmath.mpf(1), mpmath.mpf(2)
    while f(hi) < c:
        lo, hi = hi, hi * hi
    for _ in range(200):
        mid = mpmath.sqrt(lo * hi)
        lo, hi = (mid, hi) if f(mid) < c else (lo, mid)
        if hi / lo - 1 < mpmath.mpf(10) ** -15:
            break
    return mpmath.sqrt(lo * hi)


def _layer_scales(pots: list[Potential]) -> tuple[float, ...]:
    x = sp.Symbol("x", real=True)
    with mpmath.workdps(30):
        fns = [mp_function(pot.f, x) for pot in pots]
        radii = {}
        out = [1.0]
        for k in range(1, len(pots)):
            if pots[k].f == pots[0].f:
                out.append(1.0)
                continue
            for j in (0, k):
                if j not in radii:
                    radii[j] = [_radius(fns[j], c) for c in _LEVELS]
            ratios = [float(a / b) for a, b in zip(radii[k], radii[0], strict=True)]
            if not abs(ratios[1] - ratios[0]) <= 0.05 * ratios[1]:
                raise ValueError(
                    f"kkt: the sublevel radii of layer {k} ({pots[k].name}) and layer 0 "
                    f"({pots[0].name}) grow at different rates (ratio {ratios[0]:.3g} at "
                    f"c = 1e200, {ratios[1]:.3g} at 1e2000): the joint horizon collapses a "
                    "layer; pass horizon='l2' (or another norm) to check with equal weights")
            out.append(1.0 if abs(ratios[1] - 1) < 1e-2 else ratios[1])
    return tuple(out)


# ================================================================== one point


@dataclass(frozen=True)
class KKTResult:
    """KKT residuals of ``min G(θ) s.t. q_i(θ) >= 1`` at a normalised θ̃; see :func:`kkt`.

    Attributes
    ----------
    stationarity : float
        ε in [0, 1]: ``min ‖g - Σ_i λ_i ∇q_i(θ̃)‖_2`` over ``g in ∂G(θ̃)`` and ``λ >= 0``,
        divided by ``dist(0, ∂G(θ̃))`` (``‖∇G(θ̃)‖_2`` for smooth l_p). 0 at a KKT point.
    complementarity : float
        δ = ``Σ_i λ_i (q_i(θ̃) - 1) >= 0`` at the minimising λ (in the units of G); when
        several λ attain ε, the least δ among them.
    relative_complementarity : float
        ``δ / Σ_i λ_i q_i(θ̃)`` in [0, 1): the share of the multipliers' weight on samples off
        the margin (0 if λ = 0).
    multipliers : ndarray, shape (n,)
        λ >= 0.
    support : ndarray of int
        Samples with ``λ_i > 1e-8 max λ``.
    horizon : str
        The horizon checked (``"l2"``, ``"l1"``, ``"linf"``, ...).
    normalized_theta : ndarray, shape (P,)
        θ̃ = θ / (min_i q_i(θ))^{1/L} (float64; rounded from mpmath for mpmath input).
    subgradient : ndarray, shape (P,)
        The element g of ∂G(θ̃) at the minimum (``∇G(θ̃)`` for smooth l_p).
    margins : ndarray, shape (n,)
        q_i(θ̃) (min exactly 1 up to rounding).
    method : str
        ``"nnls"`` (one subgradient), ``"bvls"`` (l_1 with coordinates at zero: bounded least
        squares) or ``"nnls-simplex"`` (l_∞ with several maximal coordinates); ``"+lp"`` when
        the linear program for the least δ changed the multipliers.
    min_margin : float
        min_i q_i(θ) of the θ given.
    degree : int
        The homogeneity degree L of the model (``model.degree``).
    zero_tol : float
        The τ used (l_1 / l_∞ only).
    precision : str
        ``"float64"``, or ``"mpmath(<bits>)+float64"``: margins, gradients and θ̃ at that
        precision, the least-squares problem in float64.
    """

    stationarity: float
    complementarity: float
    relative_complementarity: float
    multipliers: NDArray[np.float64]
    support: NDArray[np.intp]
    horizon: str
    normalized_theta: NDArray[np.float64]
    subgradient: NDArray[np.float64]
    margins: NDArray[np.float64]
    method: str
    min_margin: float
    degree: int
    zero_tol: float
    precision: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists of floats / ints).

        Examples
        --------
        >>> import json, numpy as np
        >>> from theory import Potential
        >>> from numerics.problem import Dataset, Linear, Problem
        >>> prob = Problem(Dataset.from_arrays([[1.0, 0.0]], [1]), Linear(),
        ...                Potential.quadratic(), theta0=np.zeros(2))
        >>> d = kkt(prob, [2.0, 0.0]).to_dict()
        >>> d["stationarity"], d["multipliers"], d["support"]
        (0.0, [1.0], [0])
        >>> len(json.dumps(d)) > 0
        True
        """
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
            elif isinstance(value, np.generic):
                out[key] = value.item()
            else:
                out[key] = value
        return out


def kkt(problem: Problem, theta: ArrayLike, horizon: str | float | None = None, *,
        zero_tol: float = ZERO_TOL) -> KKTResult:
    """KKT residuals of θ's direction for ``min Q_∞ s.t. q_i >= 1`` (THEORY.md §4).

    Parameters
    ----------
    problem : Problem
        Data, model (any :class:`numerics.Model`: ``Linear``, ``Diagonal``, ``TwoLayer``,
        ``MLP``) and potential(s); the horizon comes from :func:`kkt_horizon`.
    theta : array_like, shape (P,)
        float64, or an object array of mpmath numbers (``MirrorFlowSolution.theta_mp``): then
        margins, gradients and θ̃ are computed in mpmath at the precision of the numbers (the
        largest mantissa, at least 53 bits) and rounded to float64 for the least squares.
    horizon : str or float, optional
        Override the horizon: ``"l1"``, ``"l2"``, ``"l3"``, ``"linf"``, a float ``p >= 1``.
    zero_tol : float, optional
        τ for non-smooth horizons. l_1: coordinates with ``|θ̃_k|/κ_k <= τ max |θ̃|/κ`` are
        at zero (their subgradient ranges over ``[-1/κ_k, 1/κ_k]``). l_∞: coordinates with
        ``|θ̃_k|/κ_k >= (1 - τ) max |θ̃|/κ`` are maximal. This is a Goldstein-type enlargement:
        ε then measures stationarity over the subgradients at points within ``τ max|θ̃|`` of θ̃.

    Returns
    -------
    KKTResult

    Raises
    ------
    ValueError
        If ``min_i q_i(θ) <= 0`` (θ does not separate the data), θ is not finite, or the
        horizon is unknown or not handled (see :func:`kkt_horizon`).

    Notes
    -----
    With ``J`` the (n, P) matrix of ``∇q_i(θ̃)`` (``problem.model.outputs_and_grads`` times
    ``y_i``; the model's gradient is used at ReLU kinks, not the Clarke set of q_i):

    * **l_p, 1 < p < ∞**: ``g = ∇G(θ̃)``, ``g_k = sign(θ̃_k) |θ̃_k/κ_k|^{p-1} / κ_k``;
      ``λ = argmin_{λ >= 0} ‖g - J^T λ‖_2`` by ``scipy.optimize.nnls``;
      ``ε = ‖g - J^T λ‖_2 / ‖g‖_2``.
    * **l_1**: ``∂G = {g : g_k = sign(θ̃_k)/κ_k off Z, g_k in [-1/κ_k, 1/κ_k] on Z}`` (Z: the
      coordinates at zero). ``min ‖g - J^T λ‖_2`` over ``(λ >= 0, g_Z)`` is a box-constrained
      least-squares problem (``scipy.optimize.lsq_linear``, ``method="bvls"``); ε divides by
      the smallest subgradient, ``‖g_{Z=0}‖_2 = (Σ_{k not in Z} κ_k^{-2})^{1/2}``.
    * **l_∞**: ``∂G = conv{sign(θ̃_k) e_k / κ_k : k in A}`` (A: maximal coordinates), so
      ``g = Σ_A μ_k sign(θ̃_k) e_k / κ_k`` with μ in the simplex. ``(μ, λ) >= 0`` come from one
      NNLS with the row ``M (Σμ - 1)`` appended (``M = 1e4 max_A 1/κ_k``), then are divided by
      Σμ, so the point is exactly feasible and ε is an upper bound, above the exact value by
      at most the factor ``1 + r*/M`` (r* the exact residual). ε divides by the smallest
      subgradient, ``(Σ_A κ_k²)^{-1/2}``.

    The normalisation by ``dist(0, ∂G(θ̃))`` makes ε scale-free and ``<= 1`` (λ = 0 gives 1),
    and equal to the smooth formula when ∂G is one point. Since θ̃ depends only on the direction
    of θ, ``kkt(c θ)`` equals ``kkt(θ)`` for ``c > 0``. ``Σ|θ_k|^p/p`` and ``‖θ‖_p`` have the
    same KKT points and the same ε; their multipliers differ by a positive factor, so δ is in
    the units of this G, and :attr:`KKTResult.relative_complementarity` is free of that choice.

    **Which λ.** The residual vector ``g - J^T λ`` at the minimum is unique, but λ (and g) are
    not when the ``∇q_i`` are linearly dependent (more samples than parameters, a linear model)
    or ∂G is a set. δ is then the least ``Σ λ_i (q_i - 1)`` over that optimal face: a linear
    program (HiGHS, ``scipy.optimize.linprog``, feasibility 1e-10), then the least-squares step
    again on the samples it keeps, accepted if the residual grows by at most ``1e-9 ‖g‖``.
    With full-rank ``J`` and smooth G, λ is unique and this is skipped.

    Examples
    --------
    Two samples on the axes; ``(1, 0.5)`` is the l2 max-margin point, ``(1, 1)`` has the second
    sample off the margin (stationary, but λ_2 > 0 there: δ > 0):

    >>> import numpy as np
    >>> from theory import Potential
    >>> from numerics.problem import Dataset, Linear, Problem
    >>> data = Dataset.from_arrays([[1.0, 0.0], [0.0, 2.0]], [1, 1])
    >>> prob = Problem(data, Linear(), Potential.quadratic(), theta0=np.zeros(2))
    >>> r = kkt(prob, [0.8, 0.4])
    >>> r.horizon, r.normalized_theta, r.multipliers, float(r.stationarity)
    ('l2', array([1. , 0.5]), array([1.  , 0.25]), 0.0)
    >>> r = kkt(prob, [3.0, 3.0])
    >>> float(r.stationarity), float(r.complementarity), r.support
    (0.0, 0.5, array([0, 1]))

    One sample ``x = (1, 2)``: the l2 max-margin direction is x itself, the l_1 one ``e_2`` and
    the l_∞ one ``(1, 1)``; the l2 direction checked against the wrong horizons:

    >>> one = Problem(Dataset.from_arrays([[1.0, 2.0]], [1]), Linear(), Potential.quadratic(),
    ...               theta0=np.zeros(2))
    >>> [round(kkt(one, [1.0, 2.0], h).stationarity, 4) for h in (None, "l1", "linf")]
    [0.0, 0.3162, 0.4472]
    >>> round(kkt(one, [0.0, 1.0], "l1").stationarity, 12), kkt(one, [0.0, 1.0], "l1").method
    (0.0, 'bvls')
    >>> kkt(prob, [1.0, -1.0])
    Traceback (most recent call last):
    ...
    ValueError: kkt: min_i q_i(theta) = -2 <= 0: theta does not separate the data, ...
    """
    gauge = kkt_horizon(problem, horizon)
    result = _kkt_at(problem, theta, gauge, zero_tol)
    if isinstance(result, float):
        raise ValueError(f"kkt: min_i q_i(theta) = {result:.3g} <= 0: theta does not separate "
                         "the data, so no direction to normalise; pass a separating theta")
    return result


def _margins(problem: Problem, theta: Any, mp: bool) -> tuple[Any, Any]:
    """q_i(θ) (n,) and ∇q_i(θ) (n, P) in the backend of θ."""
    X, y = problem.data.X, problem.data.y
    out, grads = problem.model.outputs_and_grads(theta, X, "mpmath" if mp else "float64")
    return y * out, y[:, None] * grads


def _kkt_at(problem: Problem, theta: Any, gauge: KKTHorizon, zero_tol: float
            ) -> KKTResult | float:
    """The residuals, or the (non-positive) min margin when θ does not separate the data."""
    if not 0 <= zero_tol < 1:
        raise ValueError(f"kkt: zero_tol must be in [0, 1), got {zero_tol!r}")
    L = int(problem.model.degree)
    arr = np.asarray(theta)
    mp = arr.dtype == object
    if mp:
        bits = max([53] + [int(v.bc) for v in arr.ravel() if isinstance(v, mpmath.mpf)])
        with mpmath.workprec(bits):
            theta = np.array([mpmath.mpf(v) for v in arr.ravel()], dtype=object)
            if not all(mpmath.isfinite(v) for v in theta):
                raise ValueError("kkt: theta has non-finite entries")
            q, _ = _margins(problem, theta, True)
            m = min(q)
            if not m > 0:
                return float(m)
            th = theta / m ** (mpmath.mpf(1) / L)
            qt, J = _margins(problem, th, True)
            slack = np.array([float(v - 1) for v in qt])
            J = np.array([[float(v) for v in row] for row in J])
            th = np.array([float(v) for v in th])
        precision, m = f"mpmath({bits})+float64", float(m)
    else:
        theta = np.asarray(arr, dtype=float).ravel()
        if not np.all(np.isfinite(theta)):
            raise ValueError("kkt: theta has non-finite entries")
        q, _ = _margins(problem, theta, False)
        m = float(np.min(q))
        if not m > 0:
            return m
        th = theta / m ** (1.0 / L)
        qt, J = _margins(problem, th, False)
        slack, precision = qt - 1.0, "float64"
    w = 1.0 / np.asarray(gauge.layer_scales)[problem.layer_index]      # 1/κ per parameter
    sd = subdifferential(th, w, gauge.p, zero_tol)
    lam, g, resid, method = solve_multipliers(J, sd, slack)
    delta = float(lam @ slack)
    mass = float(lam @ (slack + 1.0))
    support = np.flatnonzero(lam > SUPPORT_TOL * lam.max()) if lam.size and lam.max() > 0 \
        else np.zeros(0, dtype=np.intp)
    return KKTResult(
        stationarity=float(resid / sd.norm0), complementarity=delta,
        relative_complementarity=delta / mass if mass > 0 else 0.0, multipliers=lam,
        support=support.astype(np.intp), horizon=gauge.name, normalized_theta=th,
        subgradient=g, margins=slack + 1.0, method=method, min_margin=m, degree=L,
        zero_tol=float(zero_tol), precision=precision)


# ================================================================== along a trajectory


@dataclass(frozen=True)
class KKTTrajectory:
    """:func:`kkt` at the recorded points of a trajectory; see :func:`kkt_along`.

    Attributes
    ----------
    log_t, stationarity, complementarity : ndarray
        log t, ε and δ at the points used.
    indices : ndarray of int
        Their positions in the solution's recorded points.
    skipped : ndarray of int
        Recorded points left out because ``min_i q_i(θ) <= 0``.
    horizon : KKTHorizon
        The horizon checked.
    results : tuple of KKTResult
        Everything :func:`kkt` returned, point by point.
    """

    log_t: NDArray[np.float64]
    stationarity: NDArray[np.float64]
    complementarity: NDArray[np.float64]
    indices: NDArray[np.intp]
    skipped: NDArray[np.intp]
    horizon: KKTHorizon
    results: tuple[KKTResult, ...]

    def fit_decay(self, lo: float | None = None, hi: float | None = None
                  ) -> tuple[float, tuple[float, float]]:
        """:func:`fit_decay` of the stationarity."""
        return fit_decay(self.log_t, self.stationarity, lo, hi)

    def to_dict(self, results: bool = False) -> dict[str, Any]:
        """JSON-ready dict; the per-point :class:`KKTResult` dicts only if ``results``."""
        out: dict[str, Any] = {
            "log_t": self.log_t.tolist(), "stationarity": self.stationarity.tolist(),
            "complementarity": self.complementarity.tolist(), "indices": self.indices.tolist(),
            "skipped": self.skipped.tolist(), "horizon": self.horizon.to_dict()}
        if results:
            out["results"] = [r.to_dict() for r in self.results]
        return out


def kkt_along(problem: Problem, solution: MirrorFlowSolution,
              horizon: str | float | None = None, *, zero_tol: float = ZERO_TOL,
              max_points: int | None = None) -> KKTTrajectory:
    """:func:`kkt` at the recorded points of a :class:`numerics.MirrorFlowSolution`.

    Parameters
    ----------
    problem : Problem
        The problem the solution integrates.
    solution : MirrorFlowSolution
        Its ``theta_mp`` (mpmath, a precise run) is used when present, else ``theta``.
    horizon, zero_tol
        As for :func:`kkt`; the horizon is resolved once.
    max_points : int, optional
        Use at most this many recorded points, evenly spread over the record (all by default).

    Returns
    -------
    KKTTrajectory
        Points with ``min_i q_i(θ) <= 0`` (early times) are skipped and listed.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, solve_mirror_flow, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.quadratic())
    >>> sol = solve_mirror_flow(prob, log_t=100.0, certify=False)
    >>> tr = kkt_along(prob, sol, max_points=20)

    In 2-D two support vectors' gradients span every direction, so ε = 0 all along; the approach
    to the max-margin point shows in δ (the multiplier left on the second-closest sample):

    >>> tr.horizon.name, bool(max(tr.stationarity) < 1e-12)
    ('l2', True)
    >>> d0, d1 = tr.complementarity[[0, -1]]        # measured: 0.17 and 0.007
    >>> bool(d1 < 0.1 * d0)
    True
    """
    if solution.theta.ndim != 2 or solution.theta.shape[1] != problem.n_params:
        raise ValueError(f"kkt_along: the solution's theta has shape {solution.theta.shape}, "
                         f"the problem has {problem.n_params} parameters")
    gauge = kkt_horizon(problem, horizon)
    thetas = solution.theta_mp if solution.theta_mp is not None else solution.theta
    n = len(solution.log_t)
    idx = np.arange(n)
    if max_points is not None and max_points < n:
        if max_points < 1:
            raise ValueError(f"kkt_along: max_points must be >= 1, got {max_points!r}")
        idx = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.intp))
    used, skipped, results = [], [], []
    for k in idx:
        r = _kkt_at(problem, thetas[k], gauge, zero_tol)
        if isinstance(r, float):
            skipped.append(k)
        else:
            used.append(k)
            results.append(r)
    used_a = np.asarray(used, dtype=np.intp)
    return KKTTrajectory(
        log_t=np.asarray(solution.log_t, dtype=float)[used_a],
        stationarity=np.array([r.stationarity for r in results]),
        complementarity=np.array([r.complementarity for r in results]),
        indices=used_a, skipped=np.asarray(skipped, dtype=np.intp), horizon=gauge,
        results=tuple(results))


def fit_decay(log_t: ArrayLike, eps: ArrayLike, lo: float | None = None,
              hi: float | None = None) -> tuple[float, tuple[float, float]]:
    """Log-log slope of ε against log t: ``ε ≈ C (log t)^slope`` on ``lo <= log t <= hi``.

    Parameters
    ----------
    log_t, eps : array_like
        Same length; points with ``log t <= 0``, ``ε <= 0`` or non-finite values are ignored.
    lo, hi : float, optional
        The range of log t to fit (all usable points by default).

    Returns
    -------
    slope : float
        Least-squares slope of ``log ε`` against ``log(log t)``.
    (lo, hi) : tuple of float
        The smallest and largest log t actually used.

    Raises
    ------
    ValueError
        Fewer than two usable points in the range.

    Examples
    --------
    >>> import numpy as np
    >>> lt = np.array([10.0, 100.0, 1000.0, 1e4])
    >>> slope, used = fit_decay(lt, 0.5 / np.sqrt(lt), lo=50)
    >>> round(slope, 12), used
    (-0.5, (100.0, 10000.0))
    """
    x = np.asarray(log_t, dtype=float).ravel()
    y = np.asarray(eps, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"fit_decay: log_t and eps differ in length ({x.size} vs {y.size})")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if lo is not None:
        ok &= x >= lo
    if hi is not None:
        ok &= x <= hi
    if ok.sum() < 2:
        raise ValueError(f"fit_decay: fewer than 2 points with log t > 0 and eps > 0 in "
                         f"[{lo}, {hi}]; widen the range or record more points")
    slope = float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
    return slope, (float(x[ok].min()), float(x[ok].max()))
