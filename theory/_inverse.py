"""Certified numeric inverse of a strictly increasing function at any precision.

Used for the inverse mirror map (f')^{-1} when sympy finds no verified closed form; also the
closed-form side: candidates by odd symmetry (:func:`odd_inverse_candidates`) and how many
digits a closed form loses to cancellation (:func:`digits_lost`).
Method: expand a bracket geometrically until it contains the target (f' is strictly
increasing, so the root is unique), then safeguarded Newton (a Newton step that leaves the
bracket is replaced by bisection). The result is *certified by monotonicity*: at the end
``F(x - δ) < z < F(x + δ)`` is checked with ``δ`` one unit in the requested last digit,
which, F being increasing, encloses the exact root in ``[x - δ, x + δ]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import sympy as sp

from ._errors import short
from ._numeric import GUARD_DIGITS

__all__ = ["CONDITIONING_Z", "MAX_DIGITS_LOST", "PrecisionError", "digits_lost",
           "invert_increasing", "odd_inverse_candidates"]


class PrecisionError(ArithmeticError, ValueError):
    """The requested number of digits could not be certified."""


def invert_increasing(
    F: Callable[[mpmath.mpf], mpmath.mpf],
    dF: Callable[[mpmath.mpf], mpmath.mpf],
    z: object,
    dps: int = 50,
    max_iter: int = 2000,
) -> mpmath.mpf:
    """Solve ``F(x) = z`` for a strictly increasing ``F`` to ``dps`` certified digits.

    Parameters
    ----------
    F, dF
        The function and its derivative, mpmath callables.
    z
        Target value (number or decimal string).
    dps
        Significant decimal digits wanted; the work runs at ``dps + GUARD_DIGITS``.
    max_iter
        Cap on bracket expansions plus Newton/bisection steps.

    Returns
    -------
    mpmath.mpf
        The root, computed at ``dps + GUARD_DIGITS`` digits; its first ``dps`` significant
        digits are certified (see module docstring), for roots down to
        ``1e-TINY_ROOT_DIGITS`` in size (``|x|^(3/2)`` at z = 1e-40 has x ~ 4e-81).

    Raises
    ------
    PrecisionError
        If the enclosure check fails (e.g. F is not increasing near the root, or F cannot
        be evaluated accurately enough); the message says which.
    ValueError
        If ``z`` lies outside the range of ``F`` (bounded mirror map).

    Examples
    --------
    >>> import mpmath
    >>> root = invert_increasing(mpmath.sinh, mpmath.cosh, 2, dps=40)
    >>> with mpmath.workdps(40):
    ...     print(mpmath.nstr(root - mpmath.asinh(2), 5))
    0.0
    """
    if dps < 1:
        raise ValueError(f"dps must be a positive number of digits, got {dps}")
    with mpmath.workdps(dps + GUARD_DIGITS):
        target = mpmath.mpf(z)
        if not mpmath.isfinite(target):
            raise ValueError(f"cannot invert at z = {short(z, 60)}: give a finite number")
        lo, hi = _bracket(F, target, max_iter)
        lo, hi = _split_at_zero(F, target, lo, hi)
        x = _midpoint(lo, hi)
        # relative tolerance (significant digits), down to roots of size FLOOR
        floor = mpmath.mpf(10) ** -TINY_ROOT_DIGITS
        tol = mpmath.mpf(10) ** (-(dps + GUARD_DIGITS // 2))
        for _ in range(max_iter):
            if lo == hi:
                x = lo
                break
            fx = F(x) - target
            if fx == 0:
                lo = hi = x
                break
            if fx < 0:
                lo = x
            else:
                hi = x
            d = dF(x)
            step_ok = d > 0 and mpmath.isfinite(d)
            x_new = x - fx / d if step_ok else _midpoint(lo, hi)
            if not (lo < x_new < hi):
                x_new = _midpoint(lo, hi)
            scale = max(abs(x_new), floor)
            if abs(x_new - x) <= tol * scale or hi - lo <= tol * scale:
                x = x_new
                break
            x = x_new
        else:
            raise PrecisionError(
                f"no convergence to {dps} digits after {max_iter} steps at z = {short(z, 60)}; "
                "the function may not be strictly increasing there")
        _certify(F, target, x, dps)
        return x


#: Roots smaller than 1e-TINY_ROOT_DIGITS in size are certified to that absolute accuracy
#: (times 10^-dps); larger ones to ``dps`` significant digits.
TINY_ROOT_DIGITS = 1000


def _split_at_zero(F, target, lo, hi):
    """A bracket that straddles 0 split at 0, so that a root near 0 (f' = z with |z| tiny) is
    approached by geometric, not arithmetic, bisection (|x|^(3/2): x ~ z^2 = 1e-80)."""
    if lo < 0 < hi:
        f0 = F(mpmath.mpf(0))
        if f0 == target:
            return mpmath.mpf(0), mpmath.mpf(0)
        return (mpmath.mpf(0), hi) if f0 < target else (lo, mpmath.mpf(0))
    return lo, hi


def _midpoint(lo, hi):
    """Bisection point of ``[lo, hi]``: geometric when the ends differ by more than 4x in size
    (one sign); from an end at 0, the other end times 2^-16 (about 5 decades per step)."""
    if lo == 0:
        return hi / 2**16
    if hi == 0:
        return lo / 2**16
    if lo > 0 and hi > 4 * lo:
        return mpmath.sqrt(lo * hi)
    if hi < 0 and lo < 4 * hi:
        return -mpmath.sqrt(lo * hi)
    return (lo + hi) / 2


def _bracket(F, target, max_iter):
    lo, hi = mpmath.mpf(-1), mpmath.mpf(1)
    for _ in range(max_iter):
        flo, fhi = F(lo), F(hi)
        if flo > fhi:
            raise PrecisionError(
                f"F({lo}) > F({hi}): the function is not increasing, so it has no inverse; "
                "check that the potential is convex")
        if flo <= target <= fhi:
            return lo, hi
        if target < flo:
            hi, lo = lo, lo * 2
        else:
            lo, hi = hi, hi * 2
        if abs(lo) > mpmath.mpf(10) ** 300 or abs(hi) > mpmath.mpf(10) ** 300:
            break
    raise ValueError(
        f"z = {mpmath.nstr(target, 10)} is outside the range of the mirror map (searched up to "
        "|x| = 1e300): the mirror map is bounded, so the inverse does not exist there")


def _certify(F, target, x, dps):
    delta = mpmath.mpf(10) ** (-dps) * max(abs(x), mpmath.mpf(10) ** -TINY_ROOT_DIGITS)
    below, above = F(x - delta), F(x + delta)
    if not (below <= target <= above):
        raise PrecisionError(
            f"could not certify {dps} digits of the inverse at z = {mpmath.nstr(target, 10)}: "
            "the enclosure F(x-δ) <= z <= F(x+δ) failed; raise dps or check the potential's "
            "monotonicity near x = " + mpmath.nstr(x, 10))


def odd_inverse_candidates(f1: sp.Expr, x: sp.Symbol, z: sp.Symbol) -> list[sp.Expr]:
    """Candidates ``sign(z) h(|z|)`` for (f')^{-1} when ``f'`` is odd, ``h`` solving f' = z on
    x > 0 (where ``Abs(x) = x`` and ``sign(x) = 1``, so sympy can solve forms it cannot with
    ``Abs``: ``x*Abs(x)`` from ``|x|^3/3``, ``x/sqrt(Abs(x))`` from ``|x|^{3/2}/(3/2)``).

    Only candidates to verify: the caller checks each one numerically (both signs of z).

    Examples
    --------
    >>> x, z = sp.symbols("x z", real=True)
    >>> odd_inverse_candidates(x * sp.Abs(x), x, z)
    [sqrt(Abs(z))*sign(z)]
    >>> odd_inverse_candidates(x + 1, x, z)
    []
    """
    if sp.simplify(f1.subs(x, -x) + f1) != 0:
        return []
    xp, zp = sp.Symbol("xp", positive=True), sp.Symbol("zp", positive=True)
    on_positive = sp.powsimp(f1.subs(x, xp), force=True)
    coeff, power = on_positive.as_coeff_Mul()
    if power.is_Pow and power.base == xp and power.exp.is_number and coeff > 0:
        return [sp.sign(z) * (sp.Abs(z) / coeff) ** (1 / power.exp)]   # c x^k: no solve
    try:
        roots = sp.solve(sp.Eq(on_positive, zp), xp)
    except (NotImplementedError, ValueError, TypeError):
        return []
    return [sp.sign(z) * r.subs(zp, sp.Abs(z)) for r in roots if not r.has(sp.I)]


#: A closed-form inverse that loses more digits than this (:func:`digits_lost`) is not used
#: for numbers: :meth:`theory.Potential.inverse` brackets instead, and the numeric layer keeps
#: the primal state.  The guard digits of an evaluation (theory._numeric.GUARD_DIGITS) cover it.
MAX_DIGITS_LOST = 3.0

#: Where :func:`digits_lost` evaluates a closed-form inverse: both signs, 1e-30 to 1e30.
CONDITIONING_Z = tuple(s * 10.0**e for e in (-30, -12, -6, -2, 0, 0.5, 2, 6, 12, 30)
                       for s in (1, -1))


def digits_lost(inverse: Callable[[mpmath.mpf], mpmath.mpf], dps: int = 30,
                condition: Callable[[mpmath.mpf, mpmath.mpf], mpmath.mpf] | None = None
                ) -> float:
    """The most significant digits ``inverse`` loses at ``dps`` digits against ``2 dps``, over
    :data:`CONDITIONING_Z` (inf where it fails to evaluate), beyond what the problem itself
    loses.

    A formula that cancels (Cardano's for ``x + x^3``: ``-27z/2 + sqrt(729z^2 + 108)/2``)
    loses most of its digits at large ``|z|``; ``asinh(z)`` or ``sign(z)|z|^{1/2}`` lose none.
    ``condition(z, value)``, if given, is the relative condition number of the value at z
    (for x = (f')^{-1}(z): ``|z| / (|x| f''(x))``): ``log10`` of it is what any formula loses
    from the rounding of z, and is not counted (``b sinh(z/3)`` at z = 1e30 loses 29 digits
    to the rounding of z/3, and so does the exact root: x ~ e^(z/3)).

    Examples
    --------
    >>> digits_lost(lambda v: mpmath.asinh(v)) < 1
    True
    >>> cardano = lambda v: mpmath.cbrt(-27*v/2 + mpmath.sqrt(729*v**2 + 108)/2)
    >>> digits_lost(cardano) > 20
    True
    >>> third = lambda v: mpmath.sinh(v / 3)
    >>> digits_lost(third) > 20, digits_lost(third, condition=lambda v, x: abs(v) / abs(
    ...     3 * mpmath.tanh(v / 3)))
    (True, 0.0)
    """
    worst = 0.0
    for z0 in CONDITIONING_Z:
        try:
            with mpmath.workdps(2 * dps):
                exact = inverse(mpmath.mpf(z0))
            with mpmath.workdps(dps):
                approx = inverse(mpmath.mpf(z0))
        except (ValueError, ZeroDivisionError, TypeError, OverflowError):
            return math.inf
        with mpmath.workdps(2 * dps):
            if exact == approx:
                continue
            if exact == 0 or not mpmath.isfinite(exact):
                return math.inf
            rel = abs((approx - exact) / exact)
            lost = float(mpmath.log10(rel)) + dps
            if condition is not None:
                lost -= _log10_condition(condition, mpmath.mpf(z0), exact)
            worst = max(worst, lost)
    return worst


def _log10_condition(condition, z, value) -> float:
    """``log10`` of a condition number, at least 0 (0 where it cannot be evaluated)."""
    try:
        kappa = condition(z, value)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        return 0.0
    if not (mpmath.isfinite(kappa) and kappa > 1):
        return 0.0
    return float(mpmath.log10(kappa))
