"""One precision object per run: decimal digits asked for, working bits, floating-point type.

Every formula that turns digits into bits (or back) lives here; drivers receive a
:class:`Precision` and never recompute it. The bits recorded in a solution are the bits the
driver worked at (:attr:`Precision.bits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import mpmath
import numpy as np

__all__ = ["LOG2_10", "LOG10_2", "FpType", "Precision"]

FpType = Literal["float64", "real128", "real"]

#: log2(10): bits per decimal digit.
LOG2_10 = math.log2(10)
#: log10(2): decimal digits per bit.
LOG10_2 = math.log10(2)

_FIXED_BITS = {"float64": 53, "real128": 113}
#: Guard digits kept above ``dps`` for roundoff accumulated along a Taylor run.
TAYLOR_GUARD_DIGITS = 4
#: Extra bits of Radau's MPFR arithmetic above ``dps`` (Newton residuals and stage sums).
RADAU_GUARD_BITS = 40


@dataclass(frozen=True)
class Precision:
    """Working precision of one run.

    Parameters
    ----------
    dps
        Decimal digits the user asked for (the certificate counts agreement against these).
    fp_type
        heyoka's floating-point type: ``"float64"``, ``"real128"`` (113 bits) or ``"real"``
        (MPFR, any number of bits).
    bits
        Working bits of ``fp_type`` (53, 113, or the MPFR precision).
    guard_bits
        Extra bits of mpmath work around conversions and read-outs (``workprec``).

    Examples
    --------
    >>> Precision.for_taylor(30)
    Precision(dps=30, fp_type='real128', bits=113, guard_bits=24)
    >>> Precision.for_taylor(50).prec, Precision.for_radau(30).bits
    (193, 139)
    >>> Precision.of_type("real", 128).digits
    38.5...
    """

    dps: int
    fp_type: FpType
    bits: int
    guard_bits: int = 24

    def __post_init__(self) -> None:
        if self.fp_type not in ("float64", "real128", "real"):
            raise ValueError(f"fp_type must be 'float64', 'real128' or 'real', "
                             f"got {self.fp_type!r}")
        if self.fp_type in _FIXED_BITS and self.bits != _FIXED_BITS[self.fp_type]:
            raise ValueError(f"fp_type={self.fp_type!r} has {_FIXED_BITS[self.fp_type]} bits, "
                             f"not {self.bits}")
        if self.bits < 2:
            raise ValueError("fp_type='real' needs prec=<bits>, e.g. prec=128 for about "
                             "38 digits")

    @classmethod
    def check_dps(cls, dps: Any) -> int:
        """``dps`` as an int, refused with the fix below float64's 16 digits."""
        if isinstance(dps, bool) or not isinstance(dps, int | np.integer):
            raise ValueError(f"dps must be an integer >= 16, got {dps!r}")
        if int(dps) < 16:
            raise ValueError(f"dps={int(dps)}: arbitrary precision starts above float64; use "
                             "dps=None for float64 or dps >= 16")
        return int(dps)

    @classmethod
    def for_taylor(cls, dps: int) -> Precision:
        """heyoka's Taylor method: ``real128`` while ``dps + 4 <= 34``, MPFR with
        ``ceil((dps + 8) log2 10)`` bits above (four guard digits beyond the four kept)."""
        dps = cls.check_dps(dps)
        if dps + TAYLOR_GUARD_DIGITS <= 34:
            return cls(dps, "real128", 113)
        return cls(dps, "real", math.ceil((dps + 2 * TAYLOR_GUARD_DIGITS) * LOG2_10))

    @classmethod
    def for_radau(cls, dps: int) -> Precision:
        """Radau IIA in MPFR: ``floor(dps log2 10) + 40`` bits (Newton residuals need the
        guard bits; the step-size control aims at ``bits - 40``)."""
        if isinstance(dps, bool) or not isinstance(dps, int | np.integer) or dps < 5:
            raise ValueError(f"dps must be an integer >= 5, got {dps!r}")
        return cls(int(dps), "real", int(dps * LOG2_10) + RADAU_GUARD_BITS)

    @classmethod
    def for_method(cls, method: str, dps: int) -> Precision:
        """The precision of ``method`` (``"taylor"`` or ``"radau"``) at ``dps`` digits."""
        if method == "radau":
            return cls.for_radau(dps)
        return cls.for_taylor(dps)

    @classmethod
    def of_type(cls, fp_type: FpType, prec: int | None = None) -> Precision:
        """The precision of a heyoka type as the low-level drivers take it (``prec`` is the
        MPFR bit count, needed for ``"real"`` only)."""
        if fp_type == "real":
            if prec is None or prec < 2:
                raise ValueError("fp_type='real' needs prec=<bits>, e.g. prec=128 for about "
                                 "38 digits")
            bits = int(prec)
        elif fp_type in _FIXED_BITS:
            bits = _FIXED_BITS[fp_type]
        else:
            raise ValueError(f"fp_type must be 'float64', 'real128' or 'real', got {fp_type!r}")
        return cls(int(bits * LOG10_2), fp_type, bits)

    @property
    def prec(self) -> int | None:
        """heyoka's ``prec`` argument: the MPFR bits, ``None`` for fixed-width types."""
        return self.bits if self.fp_type == "real" else None

    @property
    def digits(self) -> float:
        """Decimal digits carried by the working type (``bits log10 2``)."""
        return self.bits * LOG10_2

    @property
    def print_digits(self) -> int:
        """Decimal digits to print a working-precision number so that it reads back exactly."""
        return int(self.bits * LOG10_2) + 5

    @property
    def mp_bits(self) -> int:
        """mpmath working bits for conversions and read-outs (``bits + guard_bits``)."""
        return self.bits + self.guard_bits

    def workprec(self) -> Any:
        """``mpmath.workprec`` at :attr:`mp_bits` (a context manager)."""
        return mpmath.workprec(self.mp_bits)

    def certificate(self, method: str = "taylor") -> Precision:
        """The precision of the certificate run of ``method``: ``dps + max(10, dps // 2)``
        digits for Taylor, ``dps + max(8, dps // 4)`` for Radau IIA.

        The certificate only has to be accurate beyond the digits it certifies. Taylor's cost
        grows slowly with the digits (its order follows them); at a fixed order (17: 9 Radau
        stages) steps grow like ``10^(extra/18)``: 45 digits took 6.8x the steps of 30 on the
        8/8/4 cosh net.  Radau's stages follow the tolerance above 30 digits (the default
        ``stages`` of ``integrate_implicit``: 11 at 38 digits), which cuts that growth: one
        data point, cosh, to ``log t = 6``: 74 steps at 30 digits, 82 at 38.

        Examples
        --------
        >>> p = Precision.for_taylor(30)
        >>> p.certificate().dps, p.certificate("radau").dps
        (45, 38)
        """
        extra = max(8, self.dps // 4) if method == "radau" else max(10, self.dps // 2)
        return Precision.for_method(method, self.dps + extra)

    @property
    def hy_type(self) -> Any:
        """The heyoka scalar type (``float``, ``heyoka.real128`` or ``heyoka.real``)."""
        import heyoka as hy

        return {"float64": float, "real128": hy.real128, "real": hy.real}[self.fp_type]

    @property
    def dtype(self) -> Any:
        """The numpy dtype of heyoka arrays of this type."""
        import heyoka as hy

        return {"float64": np.float64, "real128": hy.real128, "real": hy.real}[self.fp_type]

    def converter(self) -> Callable[[Any], Any]:
        """``conv(value) -> scalar`` of the working type, from mpmath / sympy / str / float.

        A Python float is taken at its exact binary value; a string at its decimal value.

        Examples
        --------
        >>> conv = Precision.of_type("float64").converter()
        >>> conv(0.1) == 0.1, conv("0.5")
        (True, 0.5)
        """
        import heyoka as hy

        digits, fp_type, bits = int(self.bits * LOG10_2) + 8, self.fp_type, self.bits

        def conv(value: Any) -> Any:
            with mpmath.workprec(bits + 20):
                if isinstance(value, mpmath.mpf):
                    v = value
                elif isinstance(value, float | np.floating):
                    v = mpmath.mpf(float(value))
                elif isinstance(value, int | np.integer):
                    v = mpmath.mpf(int(value))
                else:  # str, sympy numbers, heyoka types: their decimal value
                    v = mpmath.mpf(str(value))
                text = mpmath.nstr(v, digits, min_fixed=1, max_fixed=0)
            if fp_type == "float64":
                return float(text)
            if fp_type == "real128":
                return hy.real128(text)
            return hy.real(text, bits)

        return conv
