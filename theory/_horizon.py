"""Horizon function of a separable potential (THEORY.md §3; Pesme et al. 2024).

The sublevel sets {Σ_k f(θ_k) <= c}, rescaled to unit size, converge as c -> ∞ to the
horizon shape S_∞, whose gauge is the horizon function φ_∞. For f regularly varying of
index p on a side, S_∞ is an l_p ball on that side; rapidly varying f (index ∞) gives
l_∞; a side growing faster than the other collapses to zero (one-sided horizon).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from ._numeric import mp_function, symbolic_timeout

__all__ = ["Horizon", "HorizonCheck", "horizon_of", "horizon_of_expr", "sample_directions",
           "sublevel_radius"]

_S = sp.Symbol("s", positive=True)
_NORMS = ("l1", "lp", "linf", "one-sided", "undetermined")


@dataclass(frozen=True)
class HorizonCheck:
    """Numeric cross-check: Hausdorff distance of rescaled sublevel sets to S_∞ (2-D)."""

    levels: tuple[float, ...]
    distances: tuple[float, ...]

    @property
    def decreasing(self) -> bool:
        """Whether the distance shrinks from the first to the last level."""
        return self.distances[-1] < self.distances[0]


@dataclass(frozen=True)
class Horizon:
    """The horizon function φ_∞ of a separable potential, side by side for x -> ±∞.

    Attributes
    ----------
    positive_index, negative_index
        Growth indices lim x f'(x)/f(x) as x -> +∞ and x -> -∞ (sympy numbers, ``oo`` for
        rapid variation), or ``None`` if undetermined.
    norm
        One of ``"l1"``, ``"lp"``, ``"linf"``, ``"one-sided"``, ``"undetermined"``.
    p
        The exponent of the gauge (1 for l1, ``oo`` for linf; for a one-sided horizon the
        index of the slower side), or ``None``.
    side_ratio
        κ = lim r_-(c)/r_+(c), the extent of S_∞ on the negative side relative to the
        positive side (1 for even f; 0 or ``oo`` when one side collapses).
    reason
        How the classification was reached (and why it failed, if undetermined).

    Examples
    --------
    >>> from theory import Potential
    >>> h = Potential.hyperbolic_entropy(0.1).horizon
    >>> h.norm, h.p
    ('l1', 1)
    >>> h.gauge(2)
    Abs(theta_1) + Abs(theta_2)
    >>> h.predictor_norm(2)
    1/2
    """

    positive_index: sp.Expr | None
    negative_index: sp.Expr | None
    norm: str
    p: sp.Expr | None
    side_ratio: sp.Expr | None
    reason: str
    method: str = "symbolic"
    _f: sp.Expr | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.norm not in _NORMS:
            raise RuntimeError(f"bug: unknown horizon norm {self.norm!r}")

    @property
    def h_inf(self) -> sp.Expr:
        """h_∞(s) = lim_R f(sR)/f(R) on the scale side: s**p, or the l_∞ indicator."""
        if self.p is None:
            return sp.nan
        if self.p == sp.oo:
            return sp.Piecewise((0, _S < 1), (1, sp.Eq(_S, 1)), (sp.oo, True))
        return _S ** self.p

    def gauge(self, d: int) -> sp.Expr:
        """φ_∞ as a sympy expression in θ_1..θ_d (the Minkowski functional of S_∞)."""
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"d must be a positive integer dimension, got {d!r}")
        if self.p is None:
            raise ValueError(f"the horizon is undetermined: {self.reason}")
        th = sp.symbols(f"theta_1:{d + 1}", real=True)
        kappa = self.side_ratio if self.side_ratio is not None else sp.S.One
        if kappa == 1:
            parts = [sp.Abs(t) for t in th]
        elif kappa == 0:      # negative side collapsed: gauge infinite for any θ_k < 0
            parts = [sp.Piecewise((t, t >= 0), (sp.oo, True)) for t in th]
        elif kappa == sp.oo:  # positive side collapsed
            parts = [sp.Piecewise((-t, t <= 0), (sp.oo, True)) for t in th]
        else:
            parts = [sp.Piecewise((t, t >= 0), (-t / kappa, True)) for t in th]
        if self.p == sp.oo:      # unevaluated: Max would compare all pairs (minutes at d = 100)
            return parts[0] if d == 1 else sp.Max(*parts, evaluate=False)
        if self.p == 1:
            return sp.Add(*parts)
        return sp.Add(*[q ** self.p for q in parts]) ** (1 / self.p)

    def predictor_norm(self, depth: int) -> sp.Expr:
        """Exponent of the predictor-space (quasi-)norm for depth-L diagonal networks.

        Balance puts equal g on each factor, so an l_p horizon becomes l_{p/L} on
        β = Π factors (THEORY.md §4, [derived]); l_∞ stays l_∞.
        """
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        if self.p is None:
            raise ValueError(f"the horizon is undetermined: {self.reason}")
        return self.p if self.p == sp.oo else self.p / depth

    def check(self, levels: tuple[float, ...] = (1e2, 1e6, 1e20, 1e100, 1e300),
              n_dirs: int = 180, dps: int = 30) -> HorizonCheck:
        """Rescale 2-D sublevel sets {f(θ_1)+f(θ_2) <= c} and measure their Hausdorff
        distance to the predicted S_∞ (both normalised to maximal radius 1).

        Boundaries are sampled in ``n_dirs`` directions (rounded up to a multiple of 8, so
        the axes and diagonals -- the corners of l1/l∞ shapes -- are always sampled); the
        distance is between these point sets, so it resolves ~2π/n_dirs at best.

        Examples
        --------
        >>> from theory import Potential
        >>> chk = Potential("abs(x)**3/3 + x**2").horizon.check(levels=(1e2, 1e8), n_dirs=96)
        >>> chk.distances[-1] < 0.03
        True
        """
        if self._f is None or self.p is None:
            raise ValueError("no potential attached or horizon undetermined: nothing to check")
        dirs = sample_directions(n_dirs)
        g = sp.lambdify(sp.symbols("theta_1:3", real=True), self.gauge(2), "math")
        pred = np.array([w / g(*w) if np.isfinite(g(*w)) and g(*w) > 0 else 0 * w
                         for w in dirs])
        pred /= np.max(np.linalg.norm(pred, axis=1))
        f = mp_function(self._f, sp.Symbol("x", real=True))
        dists = []
        with mpmath.workdps(dps):
            for c in levels:
                radii: list = []
                for w in dirs:
                    radii.append(sublevel_radius(f, w, mpmath.mpf(c), radii[-1] if radii else None))
                rmax = max(radii)
                pts = np.array([float(r / rmax) * w for r, w in zip(radii, dirs, strict=True)])
                dists.append(_hausdorff(pts, pred))
        return HorizonCheck(tuple(float(c) for c in levels), tuple(dists))


def sample_directions(n_dirs: int) -> np.ndarray:
    """Unit directions in the plane, ``n_dirs`` rounded up to a multiple of 8 so that the
    axes and diagonals (the corners of l1 / l∞ shapes) are sampled; exact zeros on axes."""
    if not isinstance(n_dirs, int) or n_dirs < 3:
        raise ValueError(f"n_dirs must be an integer >= 3, got {n_dirs!r}")
    n_dirs = 8 * -(-n_dirs // 8)
    angles = np.linspace(0, 2 * np.pi, n_dirs, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    dirs[np.abs(dirs) < 1e-12] = 0.0
    return dirs


def sublevel_radius(f, w, c, guess=None):
    """ρ > 0 with f(ρ w_1) + f(ρ w_2) = c (the sum is convex in ρ and < c at 0), to the
    working precision.

    Bracketing starts from ``guess`` (e.g. the radius in a nearby direction) and bisects
    geometrically while the bracket spans more than a factor 4; then the Illinois variant of
    regula falsi (superlinear: about 10 evaluations at 30 digits instead of about 100).

    Examples
    --------
    >>> import mpmath
    >>> with mpmath.workdps(30):
    ...     r = sublevel_radius(lambda x: x**2 / 2, (0.6, 0.8), mpmath.mpf(8))
    ...     print(mpmath.nstr(r - 4, 5))
    0.0
    """
    def F(r):
        return f(r * float(w[0])) + f(r * float(w[1])) - c

    lo, hi = mpmath.mpf(0), mpmath.mpf(guess if guess else 1)
    if guess and F(hi / 2) < 0:
        lo = hi / 2
    while F(hi) < 0:
        lo, hi = hi, hi * (2 if hi < 1e6 else hi)
    flo, fhi = F(lo), F(hi)
    tol = mpmath.mpf(2) ** (-(mpmath.mp.prec - 10))
    kept = 0                    # which end regula falsi kept last: -1 lo, +1 hi
    for _ in range(4 * mpmath.mp.prec):
        if lo > 0 and hi > 4 * lo:
            mid = mpmath.sqrt(lo * hi)
        else:
            mid = (lo * fhi - hi * flo) / (fhi - flo) if fhi != flo else (lo + hi) / 2
            if not lo < mid < hi:
                mid = (lo + hi) / 2
        fmid = F(mid)
        if fmid == 0:
            return mid
        if fmid < 0:
            lo, flo = mid, fmid
            fhi, kept = (fhi / 2 if kept == 1 else fhi), 1       # Illinois: halve a kept end
        else:
            hi, fhi = mid, fmid
            flo, kept = (flo / 2 if kept == -1 else flo), -1
        if hi - lo < hi * tol:
            break
    return (lo + hi) / 2


def _hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def _index(f: sp.Expr, x: sp.Symbol, sign: int) -> tuple[sp.Expr | None, str]:
    """Growth index lim_{x -> sign*∞} x f'(x)/f(x): sympy, else a numeric estimate."""
    ratio = x * sp.diff(f, x) / f
    try:
        with symbolic_timeout(10):
            lim = sp.limit(ratio, x, sign * sp.oo)
        if lim == sp.oo or (lim.is_number and lim.is_real and lim.is_finite):
            return lim, "symbolic"
    except (TimeoutError, NotImplementedError, ValueError, TypeError):
        pass
    fn = mp_function(ratio.replace(sp.DiracDelta, lambda *a: 0), x)
    with mpmath.workdps(50):
        try:
            vals = [fn(sign * mpmath.mpf(10) ** k) for k in (10, 20, 40, 80)]
        except (ValueError, ZeroDivisionError):
            return None, "the limit x f'(x)/f(x) could not be evaluated"
    if not all(mpmath.isfinite(v) for v in vals):
        return None, "x f'(x)/f(x) is not finite at large |x|"
    if vals[-1] > 2 * vals[-2] > 0 and vals[-2] > 2 * vals[-3]:
        return sp.oo, "numeric"
    if abs(vals[-1] - vals[-2]) < 1e-3 * abs(vals[-1]):
        return sp.nsimplify(float(vals[-1]), rational=True, tolerance=1e-3), "numeric"
    return None, (f"x f'(x)/f(x) does not settle at large |x| "
                  f"(values {[mpmath.nstr(v, 5) for v in vals]})")


def _side_ratio(f: sp.Expr, x: sp.Symbol, p: sp.Expr) -> tuple[sp.Expr | None, str]:
    """κ = lim r_-(c)/r_+(c), the relative extent of the negative side of S_∞."""
    try:
        with symbolic_timeout(5):
            if sp.simplify(f.subs(x, -x) - f) == 0:
                return sp.S.One, "f is even"
    except TimeoutError:
        pass
    if p != sp.oo:
        try:
            with symbolic_timeout(10):
                lim = sp.limit(f.subs(x, -x) / f, x, sp.oo)
            if lim == 0:
                return sp.oo, "f(-R)/f(R) -> 0"
            if lim == sp.oo:
                return sp.S.Zero, "f(-R)/f(R) -> oo"
            if lim.is_positive and lim.is_finite:
                return sp.nsimplify(lim ** (-1 / p)), "kappa = (lim f(-R)/f(R))^(-1/p)"
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            pass
    fn = mp_function(f, x)
    with mpmath.workdps(60):
        ks = []
        for c in (mpmath.mpf(10) ** 50, mpmath.mpf(10) ** 500, mpmath.mpf(10) ** 5000):
            rp = sublevel_radius(fn, (1.0, 0.0), c + fn(mpmath.mpf(0)))
            rm = sublevel_radius(fn, (-1.0, 0.0), c + fn(mpmath.mpf(0)))
            ks.append(rm / rp)
    if abs(ks[-1] - ks[-2]) < 1e-3 * ks[-1]:
        return sp.nsimplify(float(ks[-1]), rational=True, tolerance=1e-3), "numeric r_-/r_+"
    if ks[-1] < ks[-2] < ks[-3] and ks[-1] < 1e-2:
        return sp.S.Zero, "numeric r_-/r_+ -> 0"
    if ks[-1] > ks[-2] > ks[-3] and ks[-1] > 1e2:
        return sp.oo, "numeric r_-/r_+ -> oo"
    return sp.nsimplify(float(ks[-1]), rational=True, tolerance=1e-2), (
        f"numeric r_-/r_+ (not yet settled: {[mpmath.nstr(k, 5) for k in ks]})")


def horizon_of_expr(f: sp.Expr, x: sp.Symbol | None = None) -> Horizon:
    """Classify the horizon of a scalar convex function f (parameters already bound).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> h = horizon_of_expr(sp.Piecewise((x**2, x >= 0), (x**4, True)))
    >>> h.norm, h.positive_index, h.negative_index, h.side_ratio
    ('one-sided', 2, 4, 0)
    """
    x = x or sp.Symbol("x", real=True)
    p_pos, how_pos = _index(f, x, 1)
    p_neg, how_neg = _index(f, x, -1)
    method = "symbolic" if how_pos == how_neg == "symbolic" else "numeric"
    if p_pos is None or p_neg is None:
        why = how_pos if p_pos is None else how_neg
        return Horizon(p_pos, p_neg, "undetermined", None, None, why, method, f)
    if p_pos != p_neg:
        slow = min(p_pos, p_neg)
        kappa = sp.S.Zero if p_neg > p_pos else sp.oo
        side = "negative" if p_neg > p_pos else "positive"
        return Horizon(p_pos, p_neg, "one-sided", slow, kappa,
                       f"indices differ ({p_pos} at +inf, {p_neg} at -inf): the slower side "
                       f"sets the scale and the {side} side collapses to zero", method, f)
    p = p_pos
    kappa, how = _side_ratio(f, x, p)
    if kappa in (0, sp.oo):
        return Horizon(p, p, "one-sided", p, kappa,
                       f"equal index {p} but {how}: one side collapses", method, f)
    norm = "l1" if p == 1 else "linf" if p == sp.oo else "lp"
    return Horizon(p, p, norm, p, kappa, f"growth index {p} on both sides; {how}", method, f)


def horizon_of(potential) -> Horizon:
    """The horizon of a :class:`theory.Potential` (parameters bound)."""
    return horizon_of_expr(potential.f, sp.Symbol("x", real=True))
