"""The kinks of a Radau run evaluated around one point: values, rates along the field, and
values on both sides of a surface (MPFR, at the working precision).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KinkValues"]


class KinkValues:
    """The kinks ``kinks_mp`` (``(P, m)`` parameters -> ``(nk, m)`` values, MPFR) around a
    point.

    Parameters
    ----------
    kinks_mp
        The compiled kinks.
    n_params
        ``P``: the state's first entries are the parameters.
    bits
        Working bits.
    conv
        Converter to the working type.
    """

    def __init__(self, kinks_mp: Any, n_params: int, bits: int, conv: Any) -> None:
        self._kinks_mp, self._P, self._bits, self._conv = kinks_mp, n_params, bits, conv

    def at(self, y: np.ndarray) -> np.ndarray:
        """Kink values at the state ``y`` (working precision, shape (nk,))."""
        return np.asarray(self._kinks_mp(np.ascontiguousarray(y[: self._P, None])))[:, 0]

    def beside(self, y: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kinks at the parameters of ``y`` moved by ``+ delta`` and ``- delta``."""
        P = self._P
        pts = np.stack([y[:P] + delta, y[:P] - delta], axis=1)
        kv = np.asarray(self._kinks_mp(np.ascontiguousarray(pts)))
        return kv[:, 0], kv[:, 1]

    def rates(self, y: np.ndarray, F: np.ndarray) -> np.ndarray:
        """``d h / d clock`` of every kink at ``y`` along the field ``F`` (per unit of the
        working clock): a central difference over ``2^(-bits/3)`` relative to the field's
        speed, in MPFR; float64 values (exact zeros where the kink is 0 on both sides)."""
        speed = float(np.max(np.abs(F.astype(float)) / (1.0 + np.abs(y.astype(float)))))
        if not speed > 0:
            return np.zeros(len(self.at(y)))
        eps = self._conv(2.0 ** (-self._bits / 3) / speed)
        plus, minus = self.beside(y, eps * F[: self._P])
        return ((plus - minus) / (eps + eps)).astype(float)

    def across(self, y: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kinks at ``y`` moved by ``+- 2^(-bits/3)`` (relative to the largest parameter,
        or to 1) along the unit ``normal`` (float64)."""
        step = 2.0 ** (-self._bits / 3) * max(1.0, float(np.max(np.abs(
            y[: self._P].astype(float)))))
        return self.beside(y, np.array([self._conv(step * float(v)) for v in normal],
                                       dtype=y.dtype))
