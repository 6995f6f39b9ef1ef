"""Validation of a scalar mirror potential f: definedness, C¹/C², (strict) convexity, range.

Every check works on the parameter-bound expressions (no free symbol but ``x``) and raises
:class:`~theory.InvalidPotentialError` with a message that names the point and a remedy.
:func:`validate_potential` runs them all; :class:`theory.Potential` calls it on construction.

The checks are numeric (mpmath at 30 digits) on the grid :data:`GRID` (401 points: ±1e-4 ..
±1e4 log-spaced and a uniform grid on [-5, 5]) and at every kink of ``Abs``/``sign``/``Max``/
``Min``/``Heaviside`` (:func:`kinks`); a violation strictly between grid points is caught later
by the monotone numeric inverse, which refuses a non-increasing mirror map.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import mpmath
import sympy as sp

from ._errors import InvalidPotentialError, short
from ._numeric import mp_function, symbolic_timeout
from ._symbols import X

__all__ = [
    "GRID",
    "check_convexity",
    "check_defined",
    "check_mirror_map_range",
    "check_smoothness",
    "kinks",
    "limit_at_infinity",
    "validate_potential",
]

MpFunction = Callable[[mpmath.mpf], mpmath.mpf]

#: Grid on which convexity and definedness are checked (both signs, 1e-4 .. 1e4, plus a
#: uniform part around 0), ordered so that the violation nearest to 0 is reported first.
GRID = sorted(
    {0.0}
    | {s * 10 ** (k / 20) for k in range(-80, 81) for s in (-1.0, 1.0)}
    | {k / 20 for k in range(-100, 101)},
    key=lambda v: (abs(v), v),
)
_KINK_FUNCS = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min)


def validate_potential(f: sp.Expr, f1: sp.Expr, f2: sp.Expr, *,
                       allow_bounded_mirror_map: bool = False, grid_only: bool = False) -> None:
    """Check that ``f`` is a valid mirror potential; raise :class:`InvalidPotentialError` if not.

    Parameters
    ----------
    f, f1, f2
        f, f' and f'' in the variable ``x`` with the parameter values substituted.
    allow_bounded_mirror_map
        Warn instead of raising when the range of f' is not all of R.
    grid_only
        Only the quick numeric checks on :data:`GRID` (definedness and convexity): no kinks,
        no smoothness, no limits at infinity.

    Examples
    --------
    >>> from theory import X
    >>> validate_potential(X**2 / 2, X, sp.S.One)
    >>> validate_potential(sp.Abs(X), sp.sign(X), sp.S.Zero)
    Traceback (most recent call last):
    ...
    theory._errors.InvalidPotentialError: f = Abs(x) is not differentiable at x = 0.0: ...
    """
    fns = []
    for name, expr in (("f", f), ("f'", f1), ("f''", f2)):
        try:
            fns.append(mp_function(expr, X))
        except ValueError as exc:       # e.g. Derivative(floor(x), x): nothing to evaluate
            raise InvalidPotentialError(f"f = {short(f)}: {name}(x) = {exc}") from None
    fn, fn1, fn2 = fns
    with mpmath.workdps(30):
        check_defined(f, fn)
        if grid_only:
            check_convexity(f, fn2, [])
            return
        points = [mpmath.mpf(str(sp.N(k, 30))) for k in kinks(f)]
        check_smoothness(f, fn1, fn2, points)
        check_convexity(f, fn2, points)
    check_mirror_map_range(f1, allow_bounded_mirror_map)


def check_defined(f: sp.Expr, fn: MpFunction) -> None:
    """``f`` (compiled: ``fn``) is real and finite at every point of :data:`GRID`.

    Examples
    --------
    >>> from theory import X, mp_function
    >>> f = X * sp.log(X)
    >>> check_defined(f, mp_function(f, X))
    Traceback (most recent call last):
    ...
    theory._errors.InvalidPotentialError: f = x*log(x) is not real and finite at x = 0.0: ...
    """
    for x0 in GRID:
        try:
            val = fn(mpmath.mpf(x0))
        except (ValueError, ZeroDivisionError, TypeError):
            val = mpmath.nan
        if mpmath.isfinite(val):
            continue
        if mpmath.isinf(val) and _finite_symbolically(f, x0):
            err = InvalidPotentialError(
                f"f = {short(f)} overflows at x = {x0} (|f(x)| > 2**65536): a potential that "
                "grows this fast cannot be evaluated; use one that grows at most like "
                "exp(exp(x)), e.g. cosh(x)")
        else:
            err = InvalidPotentialError(
                f"f = {short(f)} is not real and finite at x = {x0}: potentials defined on "
                "only part of the real line (like x*log(x), which needs x > 0) are not "
                "supported yet; use one defined on all of R, e.g. the hyperbolic "
                "entropy x*asinh(x/b) - sqrt(x**2+b**2)")
        err.x0 = x0
        raise err


def _finite_symbolically(f: sp.Expr, x0: float) -> bool:
    """Whether f(x0) is finite as an exact value (exp(exp(exp(11))) is, log(0) is not): an
    infinite numeric value is then an overflow of mpmath's exponent range, not a pole."""
    try:
        with symbolic_timeout(2):
            return bool(f.subs(X, sp.nsimplify(x0, rational=True)).is_finite)
    except (TimeoutError, TypeError, ValueError, RecursionError):
        return False


def kinks(f: sp.Expr) -> list[sp.Expr]:
    """Real points where ``f`` may fail to be smooth: zeros of the arguments of ``Abs``,
    ``sign``, ``Heaviside``, ``Max``, ``Min``, and 0 (non-integer powers), sorted.

    Examples
    --------
    >>> from theory import X
    >>> kinks(sp.Abs(X - 1) + X**2)
    [0, 1]
    """
    points = {sp.S.Zero}
    for node in sp.preorder_traversal(f):
        if isinstance(node, _KINK_FUNCS):
            for arg in node.args:
                if arg.has(X):
                    try:
                        with symbolic_timeout(5):
                            sols = sp.solve(sp.Eq(arg, 0), X)
                    except (TimeoutError, NotImplementedError, ValueError):
                        sols = []
                    points.update(s for s in sols if s.is_real)
        if isinstance(node, sp.Pow) and node.exp.is_number and not node.exp.is_integer:
            points.add(sp.S.Zero)
    return sorted(points, key=float)


def check_smoothness(f: sp.Expr, f1: MpFunction, f2: MpFunction,
                     points: list[mpmath.mpf]) -> None:
    """C¹ and C² at the kinks: f' and f'' do not jump at any of ``points`` (f'' may tend to
    +inf there), and f' stays bounded.

    Examples
    --------
    >>> import mpmath
    >>> from theory import X, mp_function
    >>> f = X**2 / 2 + sp.Abs(X) ** 3
    >>> f1, f2 = (mp_function(sp.diff(f, X, k), X) for k in (1, 2))
    >>> with mpmath.workdps(30):
    ...     check_smoothness(f, f1, f2, [mpmath.mpf(0)])     # C²: no error
    """
    for c in points:
        for name, fn in (("f'", f1), ("f''", f2)):
            try:
                left, right = _sides(fn, c, 20)
            except (ValueError, ZeroDivisionError):
                continue
            both_finite = mpmath.isfinite(left) and mpmath.isfinite(right)
            size = 1 + abs(left) + abs(right)
            gap = abs(right - left)
            if both_finite and gap > mpmath.mpf(10) ** -6 * size:
                closer = _gap_closer(fn, c)
                if closer is not None and closer < gap / 2:
                    continue          # |x|^{5/4}: a slow approach, not a jump
                if name == "f'" and (closer is None or closer > 2 * gap):
                    both_finite = False     # |x|^{1/2}: f' grows without bound
                else:
                    what = "differentiable" if name == "f'" else "twice differentiable"
                    raise InvalidPotentialError(
                        f"f = {short(f)} is not {what} at x = {mpmath.nstr(c, 8)}: {name} "
                        f"jumps from {mpmath.nstr(left, 6)} to {mpmath.nstr(right, 6)}; mirror "
                        "flow needs f in C^2 (away from isolated points where f'' -> +inf): "
                        "smooth the kink, e.g. replace abs(x) by sqrt(x**2 + 1) - 1")
            if name == "f'" and not both_finite:
                raise InvalidPotentialError(
                    f"f = {short(f)} has an unbounded derivative near x = {mpmath.nstr(c, 8)}"
                    f" (f'({mpmath.nstr(c, 3)} ± 1e-20) = {mpmath.nstr(left, 3)}, "
                    f"{mpmath.nstr(right, 3)}): f is not differentiable there; use a power "
                    "above 1, e.g. abs(x)**(3/2)")


def _sides(fn: MpFunction, c: mpmath.mpf, digits: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """``fn(c - 10^-digits)``, ``fn(c + 10^-digits)`` at enough precision to tell them apart."""
    with mpmath.workdps(max(mpmath.mp.dps, 2 * digits + 20)):
        eps = mpmath.mpf(10) ** -digits
        return fn(c - eps), fn(c + eps)


def _gap_closer(fn: MpFunction, c: mpmath.mpf) -> mpmath.mpf | None:
    """The gap ``|fn(c + 1e-40) - fn(c - 1e-40)|``, or None where it is not finite. Compared
    with the gap at 1e-20 it tells a continuous function's slow approach (``|x|^{1/4}``: 1e-5,
    then 1e-10) from a jump (which stays) and from a pole (``|x|^{-1/2}``: which grows)."""
    try:
        left, right = _sides(fn, c, 40)
    except (ValueError, ZeroDivisionError):
        return None
    if not (mpmath.isfinite(left) and mpmath.isfinite(right)):
        return None
    return abs(right - left)


def check_convexity(f: sp.Expr, f2: MpFunction, points: list[mpmath.mpf]) -> None:
    """f'' >= 0 on :data:`GRID` and next to the kinks ``points`` (convexity), and f'' is not 0
    on two neighbouring points (strict convexity: f' must be invertible).

    Examples
    --------
    >>> import mpmath
    >>> from theory import X, mp_function
    >>> f = sp.Max(X, 0) ** 3 + X
    >>> with mpmath.workdps(30):
    ...     check_convexity(f, mp_function(6 * sp.Max(X, 0), X), [mpmath.mpf(0)])
    Traceback (most recent call last):
    ...
    theory._errors.InvalidPotentialError: f = ... is not strictly convex: f'' = 0 on [...], so ...
    """
    grid = sorted(set(GRID) | {float(c) + s * 1e-9 for c in points for s in (-1, 1)},
                  key=lambda v: (abs(v), v))      # nearest violation to 0 first
    values: dict[float, mpmath.mpf] = {}
    tiny = mpmath.mpf(10) ** -20
    for x0 in grid:
        if any(abs(x0 - float(c)) < 1e-12 for c in points):
            continue
        try:
            val = f2(mpmath.mpf(x0))
        except (ValueError, ZeroDivisionError):
            continue
        if mpmath.isnan(val) or val < -tiny:
            raise InvalidPotentialError(
                f"f = {short(f)} is not convex: f''(x) = {mpmath.nstr(val, 6)} < 0 at "
                f"x = {x0}; the mirror map must be strictly increasing. Add a convex term "
                "that dominates there (e.g. + c*x**2) or pick another f")
        values[x0] = val
    zero = {x0: _is_zero(f2, x0, v) for x0, v in values.items()}
    for left, right in itertools.pairwise(sorted(values)):
        if zero[left] and zero[right]:
            raise InvalidPotentialError(
                f"f = {short(f)} is not strictly convex: f'' = 0 on [{left}, {right}], so f' "
                "is constant there and the mirror map cannot be inverted. Add a strictly "
                "convex term, e.g. + x**2/2")


def _is_zero(fn: MpFunction, x0: float, v30: mpmath.mpf) -> bool:
    """f''(x0) == 0 up to roundoff: exactly 0, or unstable between 30 and 60 digits.

    A genuinely tiny value (exp(-10000)) is stable under a precision change; a value that
    is zero up to cancellation error is not.
    """
    if v30 == 0:
        return True
    if abs(v30) > mpmath.mpf(10) ** -20:
        return False
    with mpmath.workdps(60):
        v60 = fn(mpmath.mpf(x0))
    return v60 == 0 or abs(v30 - v60) > mpmath.mpf(10) ** -6 * abs(v60)


def check_mirror_map_range(f1: sp.Expr, allow_bounded_mirror_map: bool = False) -> None:
    """The range of the mirror map f' is all of R (f' is unbounded at both ends).

    A bounded f' raises, or only warns when ``allow_bounded_mirror_map``.

    Examples
    --------
    >>> from theory import X
    >>> check_mirror_map_range(sp.sinh(X))
    >>> check_mirror_map_range(sp.atan(X))
    Traceback (most recent call last):
    ...
    theory._errors.InvalidPotentialError: the mirror map f'(x) = atan(x) tends to pi/2 as ...
    """
    for side, sign in (("+inf", 1), ("-inf", -1)):
        lim = limit_at_infinity(f1, sign)
        if lim is not None and lim.is_finite:
            msg = (f"the mirror map f'(x) = {short(f1)} tends to {short(lim, 60)} as "
                   f"x -> {side}, so its range is not all of R and mirror flow leaves the "
                   "dual domain in finite time. Add a term of faster growth (e.g. + x**2/2), "
                   "or pass allow_bounded_mirror_map=True to accept it")
            if not allow_bounded_mirror_map:
                raise InvalidPotentialError(msg)
            # points at Potential(...): check_mirror_map_range <- validate_potential <- it
            warnings.warn(msg, stacklevel=3)


def limit_at_infinity(expr: sp.Expr, sign: int) -> sp.Expr | None:
    """lim expr as x -> sign*inf: sympy first, else a numeric estimate (or None).

    Examples
    --------
    >>> from theory import X
    >>> limit_at_infinity(sp.atan(X), -1), limit_at_infinity(X**3, 1)
    (-pi/2, oo)
    """
    try:
        with symbolic_timeout(10):
            lim = sp.limit(expr, X, sign * sp.oo)
        if lim.is_extended_real and not lim.has(sp.AccumBounds, sp.Limit):
            return lim
    except (TimeoutError, NotImplementedError, ValueError, TypeError):
        pass
    fn = mp_function(expr, X)
    with mpmath.workdps(40):
        vals = [fn(mpmath.mpf(sign) * mpmath.mpf(10) ** k) for k in (8, 16, 32, 64)]
    if all(mpmath.isfinite(v) for v in vals):
        if abs(vals[-1] - vals[-2]) <= mpmath.mpf(10) ** -8 * (1 + abs(vals[-2])):
            return sp.Float(str(vals[-1]), 15)
        if abs(vals[-1]) > 1e6 * (1 + abs(vals[0])):
            return sp.oo if vals[-1] > 0 else -sp.oo
    return None
