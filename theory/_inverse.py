"""Certified numeric inverse of a strictly increasing function at any precision.

Used for the inverse mirror map (f')^{-1} when sympy finds no verified closed form.
Method: expand a bracket geometrically until it contains the target (f' is strictly
increasing, so the root is unique), then safeguarded Newton (a Newton step that leaves the
bracket is replaced by bisection). The result is *certified by monotonicity*: at the end
``F(x - δ) < z < F(x + δ)`` is checked with ``δ`` one unit in the requested last digit,
which, F being increasing, encloses the exact root in ``[x - δ, x + δ]``.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath

from ._errors import short
from ._numeric import GUARD_DIGITS

__all__ = ["PrecisionError", "invert_increasing"]


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
        digits are certified (see module docstring).

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
        x = (lo + hi) / 2
        tol = mpmath.mpf(10) ** (-(dps + GUARD_DIGITS // 2))
        for _ in range(max_iter):
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
            x_new = x - fx / d if step_ok else (lo + hi) / 2
            if not (lo < x_new < hi):
                x_new = (lo + hi) / 2
            scale = max(abs(x_new), mpmath.mpf(1))
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
    delta = mpmath.mpf(10) ** (-dps) * max(abs(x), mpmath.mpf(10) ** (-dps))
    below, above = F(x - delta), F(x + delta)
    if not (below <= target <= above):
        raise PrecisionError(
            f"could not certify {dps} digits of the inverse at z = {mpmath.nstr(target, 10)}: "
            "the enclosure F(x-δ) <= z <= F(x+δ) failed; raise dps or check the potential's "
            "monotonicity near x = " + mpmath.nstr(x, 10))
