"""The Radau IIA Butcher tableau, exact to any precision, and its working forms.

Examples
--------
>>> A, b, c = radau_tableau(3, 100)
>>> [mpmath.nstr(v, 10) for v in c]
['0.1550510257', '0.6449489743', '1.0']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import heyoka as hy
import mpmath
import numpy as np
import sympy as sp

from .._precision import LOG10_2
from ._compile import converter

__all__ = ["radau_tableau"]


def radau_tableau(stages: int, bits: int) -> tuple[list[list[Any]], list[Any], list[Any]]:
    """Butcher tableau ``(A, b, c)`` of the ``stages``-stage Radau IIA method, as mpmath numbers.

    Nodes are the roots of ``P_s(2x - 1) - P_{s-1}(2x - 1)`` (``c_s = 1``), and
    ``A_ij = int_0^{c_i} l_j``, ``b = A[-1]`` with ``l_j`` the Lagrange basis on the nodes.

    Examples
    --------
    The order conditions ``sum_j b_j c_j^(k-1) = 1/k`` hold for ``k <= 2s - 1``:

    >>> A, b, c = radau_tableau(4, 200)
    >>> with mpmath.workprec(200):
    ...     quad = [mpmath.fsum(bj * cj ** (k - 1) for bj, cj in zip(b, c)) for k in range(1, 8)]
    ...     err = max(abs(q - mpmath.mpf(1) / k) for k, q in enumerate(quad, start=1))
    >>> bool(err < mpmath.mpf(2) ** -190)
    True
    """
    if stages < 1:
        raise ValueError(f"stages must be a positive integer, got {stages}")
    x = sp.Symbol("x")
    poly = sp.Poly(sp.legendre(stages, 2 * x - 1) - sp.legendre(stages - 1, 2 * x - 1), x)
    dps = int(bits * LOG10_2) + 20
    with mpmath.workdps(dps):
        coeffs = [mpmath.mpf(int(k.p)) / int(k.q) for k in poly.all_coeffs()]
        roots = mpmath.polyroots(coeffs, maxsteps=400, extraprec=4 * bits)
        c = sorted(mpmath.re(r) for r in roots)
        c[-1] = mpmath.mpf(1)
        # Lagrange basis coefficients: solve V a = e_j with V_ik = c_i^k.
        V = mpmath.matrix([[ci**k for k in range(stages)] for ci in c])
        A = [[mpmath.mpf(0)] * stages for _ in range(stages)]
        for j in range(stages):
            e = mpmath.matrix([1 if i == j else 0 for i in range(stages)])
            a = mpmath.lu_solve(V, e)
            for i in range(stages):
                A[i][j] = mpmath.fsum(a[k] * c[i] ** (k + 1) / (k + 1) for k in range(stages))
        b = list(A[-1])
    return A, b, c


@dataclass(frozen=True)
class RadauTableau:
    """The ``s``-stage tableau at ``bits`` (MPFR arrays) and in float64, with the logarithms and
    signs of ``A`` the float64 Newton matrix is assembled from.

    Examples
    --------
    >>> tab = RadauTableau.build(3, 100)
    >>> tab.order, tab.c64.round(4).tolist()
    (5, [0.155, 0.6449, 1.0])
    """

    stages: int
    bits: int
    A: np.ndarray  # (s, s) hy.real
    c: np.ndarray  # (s,) hy.real
    A64: np.ndarray
    c64: np.ndarray
    log_abs_a: np.ndarray  # log |A_ij| (-inf where A_ij = 0)
    sign_a: np.ndarray

    @classmethod
    def build(cls, stages: int, bits: int) -> RadauTableau:
        """The tableau computed at ``bits + 16`` and rounded to ``bits``."""
        A, _, c = radau_tableau(stages, bits + 16)
        conv = converter("real", bits)
        A64 = np.array([[float(a) for a in row] for row in A])
        with np.errstate(divide="ignore"):
            log_abs_a = np.log(np.abs(A64))
        return cls(
            stages=stages,
            bits=bits,
            A=np.array([[conv(a) for a in row] for row in A], dtype=hy.real),
            c=np.array([conv(v) for v in c], dtype=hy.real),
            A64=A64,
            c64=np.array([float(v) for v in c]),
            log_abs_a=log_abs_a,
            sign_a=np.sign(A64),
        )

    @property
    def order(self) -> int:
        """Classical order ``2 s - 1``."""
        return 2 * self.stages - 1
