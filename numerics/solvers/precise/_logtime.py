"""``log t`` by quadrature over Taylor steps (the ``logt_mode="quadrature"`` of the Taylor driver).

In quadrature mode the ODE carries ``-log L`` instead of ``log t``; after every step
``t = int exp(-log L) ds`` is advanced in the log domain by composite Gauss-Legendre quadrature of
that step's Taylor polynomial (see :func:`numerics.solvers.precise.integrate_taylor`).
The quadrature's inner loop (Horner, exp, sums: ~200 polynomial evaluations per step) runs in
gmpy2's MPFR numbers, about 9x faster than mpmath's Python-level mpf arithmetic at 137 bits;
values cross over exactly (mantissa and exponent).
"""

from __future__ import annotations

import math
from typing import Any

import gmpy2
import mpmath

__all__ = ["LogTime"]


class LogTime:
    """Advance ``log t = log int exp(E(c)) dc`` over Taylor steps, in the log domain.

    ``E`` on a step is a polynomial in the step offset ``sigma`` (from the step's Taylor
    coefficients of ``-log L``, plus ``c`` itself in the ``u = log s`` clock).  The integral is
    composite Gauss-Legendre from the right end leftwards, on pieces over which ``E`` drops by at
    most ``_DROP``, stopping once the drop exceeds the working precision (older contributions are
    carried by ``log t`` of the previous step).

    Examples
    --------
    ``E(sigma) = sigma`` from ``log t = -inf``: ``log int_0^1 exp(sigma) d sigma = log(e - 1)``.

    >>> lt = LogTime(113, mpmath.mpf("-inf"))
    >>> with mpmath.workprec(137):
    ...     v = lt.at([mpmath.mpf(0), mpmath.mpf(1)], [mpmath.mpf(1)], mpmath.mpf(1))
    ...     bool(abs(v - mpmath.log(mpmath.e - 1)) < mpmath.mpf(2) ** -110)
    True
    """

    _DROP = 8

    def __init__(self, bits: int, logt0: Any) -> None:
        self.bits = bits
        self.wp = bits + 24
        with mpmath.workprec(self.wp):
            self.logt = mpmath.mpf(logt0)
            self.cut = mpmath.mpf(bits + 24) * mpmath.ln2
            half = self._DROP / 2
            n = 4
            while (2 * n) * math.log(half) - math.lgamma(2 * n + 1) > -(bits + 12) * math.log(2):
                n += 1
            xs, ws = mpmath.mp.gauss_quadrature(n, "legendre")
            self.nodes = [((mpmath.mpf(1) + xs[i]) / 2, ws[i] / 2) for i in range(n)]

    @staticmethod
    def _horner(coef: list[Any], x: Any) -> Any:
        acc = coef[-1]
        for c in reversed(coef[:-1]):
            acc = acc * x + c
        return acc

    def log_integral(self, E: list[Any], dE: list[Any], a: Any, b: Any) -> Any:
        """``log int_a^b exp(E(sigma)) d sigma`` for polynomials ``E`` (coefficients) and ``dE``."""
        with gmpy2.context(gmpy2.get_context(), precision=max(self.wp, mpmath.mp.prec)):
            E, dE = [mpf_to_mpfr(c) for c in E], [mpf_to_mpfr(c) for c in dE]
            a, b, cut = mpf_to_mpfr(a), mpf_to_mpfr(b), mpf_to_mpfr(self.cut)
            nodes = self._mpfr_nodes()
            ev = self._horner
            Eb = ev(E, b)
            total = gmpy2.mpfr(0)
            right = b
            for _ in range(100_000):
                if right <= a:
                    break
                Er = ev(E, right)
                if Eb - Er > cut:
                    break
                slope = ev(dE, right)
                w = right - a
                if slope * w > self._DROP:
                    w = self._DROP / slope
                while Er - ev(E, right - w) > 1.5 * self._DROP:
                    w /= 2
                left = right - w
                total += w * gmpy2.fsum([wt * gmpy2.exp(ev(E, left + x * w) - Eb)
                                         for x, wt in nodes])
                right = left
            else:
                raise RuntimeError(
                    "log-time quadrature did not converge (exponent not resolvable)")
            if not total > 0:
                return mpmath.mpf("-inf")
            return mpfr_to_mpf(Eb + gmpy2.log(total))

    def _mpfr_nodes(self) -> list[tuple[Any, Any]]:
        if not hasattr(self, "_nodes_mpfr"):
            self._nodes_mpfr = [(mpf_to_mpfr(x), mpf_to_mpfr(w)) for x, w in self.nodes]
        return self._nodes_mpfr

    def at(self, E: list[Any], dE: list[Any], sigma: Any) -> Any:
        """``log t`` at offset ``sigma`` into the current step."""
        if sigma <= 0:
            return self.logt
        li = self.log_integral(E, dE, mpmath.mpf(0), sigma)
        hi, lo = (li, self.logt) if li > self.logt else (self.logt, li)
        return hi + mpmath.log1p(mpmath.exp(lo - hi))

    def solve(self, E: list[Any], dE: list[Any], h: Any, level: Any) -> Any:
        """Offset ``sigma`` in ``[0, h]`` with ``log t(sigma) = level`` (safeguarded Newton)."""
        lo, hi = mpmath.mpf(0), h
        sig = h
        for _ in range(200):
            lt = self.at(E, dE, sig)
            f = lt - level
            if abs(f) <= mpmath.mpf(2) ** (-self.bits) * max(1, abs(level)):
                break
            if f > 0:
                hi = sig
            else:
                lo = sig
            step = f * mpmath.exp(lt - self._horner(E, sig))  # f / (d log t / d sigma)
            new = sig - step
            sig = new if lo < new < hi else (lo + hi) / 2
            if hi - lo <= mpmath.mpf(2) ** (-self.bits) * max(1, abs(hi)):
                break
        return sig


def mpf_to_mpfr(value: Any) -> Any:
    """An mpmath mpf (or int) as a gmpy2 mpfr, exactly (the context must hold its bits)."""
    if not isinstance(value, mpmath.mpf):
        value = mpmath.mpf(value)
    sign, man, exp, bc = value._mpf_
    if not man:
        return gmpy2.mpfr(str(mpmath.nstr(value))) if exp else gmpy2.mpfr(0)  # inf, nan
    r = gmpy2.mul_2exp(gmpy2.mpfr(man, max(bc, 2)), exp)
    return -r if sign else r


def mpfr_to_mpf(value: Any) -> mpmath.mpf:
    """A finite gmpy2 mpfr as an mpmath mpf, exactly."""
    man, exp = value.as_mantissa_exp()
    return mpmath.mpf((int(man), int(exp)))
