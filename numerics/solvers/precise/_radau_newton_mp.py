"""Radau IIA's Newton corrections beyond float64: the Newton matrix in ball arithmetic (FLINT).

The float64 Newton matrix (:mod:`._radau_newton`) keeps ``1 / eps = e^36`` between a row's
identity and its ``h J~`` part.  Where fast coordinates relax ``e^36`` times faster than a step
(twin units of ``exp(x**2/2)`` on a ReLU net, from ``log t ~ 250``) and their rows are dependent
apart from the identity, the float64 matrix is singular along the slow direction and Newton
stalls (:func:`~._radau_newton.float64_limit`; THEORY.md §7.3).  Here the matrix
``I - h A (x) J~`` is kept in FLINT's ``arb`` / ``acb`` numbers at ``prec`` bits, wide enough for
its condition (:func:`bits_for`):

- :class:`StageNewtonSolve`: one Jacobian per stage (the predicted stage values', or the current
  iterate's), the whole ``s N x s N`` matrix inverted once (153 x 153 at 256 bits: 0.14 s), at
  the condition's bits and refined against the matrix at the working bits;
- :class:`ExtendedNewtonSolve`: one Jacobian for every stage, through the eigen-decomposition
  ``A = T diag(lambda) T^-1``: ``(I - h A (x) J~)^-1 = (T (x) I) diag_k (I - h lambda_k J~)^-1
  (T^-1 (x) I)``, ``s`` complex ``N x N`` inverses (17 x 17 at 250 bits: 2 ms each).

The correction still only sets the contraction rate: the residual stays MPFR at the working
precision, and corrections return to the MPFR state through float64.  The Jacobians come from
forward differences at the working precision and keep about half its bits: past
:func:`jacobian_rows_limit` the run asks for :func:`raised_bits`.  python-flint does the matrix
work (mpmath's ``lu_solve`` of a 51 x 51 real matrix at 400 bits takes 0.23 s and keeps no
factorisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import flint
import heyoka as hy
import mpmath
import numpy as np

__all__: list[str] = []

#: Iterative refinements of a :class:`StageNewtonSolve` whose inverse is at fewer bits than its
#: matrix: each multiplies the error by ||I - W M|| ~ e^rows 2^-inverse_bits (<= 2^-64).
_REFINEMENTS = 2


@dataclass(frozen=True)
class EigenTableau:
    """``A = T diag(lam) T^-1`` of a Radau tableau as ``acb`` numbers at ``prec`` bits."""

    prec: int
    lam: list[Any]
    T: Any  # acb_mat (s, s)
    Tinv: Any  # acb_mat (s, s)

    @classmethod
    def build(cls, A: np.ndarray, prec: int) -> EigenTableau:
        """From the MPFR tableau ``A`` (exact to its bits; decomposed at ``prec + 32``).

        Examples
        --------
        >>> from numerics.solvers.precise._radau_tableau import RadauTableau
        >>> tab = RadauTableau.build(3, 120)
        >>> eig = EigenTableau.build(tab.A, 120)
        >>> with flint.ctx.workprec(120):
        ...     back = eig.T * flint.acb_mat(3, 3, eig.lam[:1] + [0] * 3 + eig.lam[1:2] + [0] * 3
        ...                                  + eig.lam[2:]) * eig.Tinv
        ...     err = max(abs(float((back[i, j] - flint.arb(str(tab.A[i, j]))).real.mid()))
        ...               for i in range(3) for j in range(3))
        >>> err < 1e-30
        True
        """
        s = A.shape[0]
        with mpmath.workprec(prec + 32):
            M = mpmath.matrix([[mpmath.mpf(str(A[i, j])) for j in range(s)] for i in range(s)])
            lam, V = mpmath.eig(M)
            Vinv = mpmath.inverse(V)
            digits = int(prec * 0.30103) + 12

            def acb(z: Any) -> Any:
                z = mpmath.mpc(z)
                return flint.acb(flint.arb(mpmath.nstr(z.real, digits)),
                                 flint.arb(mpmath.nstr(z.imag, digits)))

            with flint.ctx.workprec(prec):
                T = flint.acb_mat([[acb(V[i, j]) for j in range(s)] for i in range(s)])
                Tinv = flint.acb_mat([[acb(Vinv[i, j]) for j in range(s)] for i in range(s)])
                lam_acb = [acb(v) for v in lam]
        return cls(prec, lam_acb, T, Tinv)


def bits_for(rows_max: float, working_bits: int) -> int:
    """Bits for a Newton matrix whose rows reach ``e^rows_max`` times their identity: the
    condition's bits, 64 more for the contraction, at least the working precision; rounded up
    to a multiple of 64 (a few precisions only: their eigen-decompositions are kept).

    >>> bits_for(36.0, 199), bits_for(150.0, 199)
    (256, 320)
    """
    return _round64(max(working_bits, math.ceil(rows_max / math.log(2)) + 64))


def _round64(bits: float) -> int:
    """``bits`` rounded up to a multiple of 64."""
    return 64 * -(-math.ceil(bits) // 64)


def jacobian_rows_limit(working_bits: int) -> float:
    """The largest Newton row scale ``e^rows`` a Jacobian by forward differences at
    ``working_bits`` resolves: its ``bits / 2`` correct bits, less ``e^12`` for the contraction.
    Measured on ``exp(x**2/2)`` / 4-unit ReLU net at 199 bits: Newton failed from rows 53-58.

    >>> round(jacobian_rows_limit(199), 1)
    57.0
    """
    return working_bits / 2 * math.log(2) - 12.0


def raised_bits(working_bits: int) -> int:
    """The working precision a run continues at when its stiffness outgrows the Jacobian's
    digits (:func:`jacobian_rows_limit`): 2.5 times the bits, rounded up to 64.

    >>> raised_bits(199), jacobian_rows_limit(raised_bits(199)) > 150
    (512, True)
    """
    return _round64(2.5 * working_bits)


def to_arb(value: Any) -> Any:
    """An ``arb`` of an MPFR ``real`` (through its full decimal string) or of a float or int
    (exactly: a float's shortest repr is not its binary value), at the context's precision.

    >>> with flint.ctx.workprec(100):
    ...     to_arb(0.1) - flint.arb("0.1") != 0
    True
    """
    if isinstance(value, float | int | np.floating | np.integer):
        return flint.arb(float(value)) if isinstance(value, float | np.floating) else \
            flint.arb(int(value))
    return flint.arb(str(value))


def to_arb_matrix(values: np.ndarray, prec: int) -> Any:
    """An ``arb_mat`` of the MPFR (or float) 2-d array ``values``, read at ``prec`` bits."""
    with flint.ctx.workprec(prec):
        return flint.arb_mat([[to_arb(v) for v in row] for row in values])


def write_arb_matrix(values: Any, out: np.ndarray, bits: int) -> None:
    """Write the midpoints of the ``arb_mat`` ``values`` into the MPFR array ``out`` (same
    shape) at ``bits`` bits, through their decimal strings (the inverse of
    :func:`to_arb_matrix`).

    >>> out = np.zeros((1, 2)).astype(hy.real)
    >>> with flint.ctx.workprec(200):
    ...     write_arb_matrix(flint.arb_mat([[1, 3]]) / 7, out, 200)
    >>> str(out[0, 1])[:12], out[0, 1].prec
    ('4.2857142857', 200)
    """
    digits = int(bits * math.log10(2.0)) + 6
    for i in range(values.nrows()):
        for j in range(values.ncols()):
            out[i, j] = hy.real(values[i, j].mid().str(digits, radius=False), bits)


class ExtendedNewtonSolve:
    """``dZ = (I - h A (x) J~)^-1 r`` in ball arithmetic, ``J~`` one scaled Jacobian (N, N).

    Parameters
    ----------
    h
        The step (an MPFR or float value; read through its decimal string).
    J
        ``arb_mat`` (N, N): the scaled Jacobian ``D^-1 J D`` at one point of the step.
    eig
        The tableau's eigen-decomposition at the matrix precision.

    Examples
    --------
    One stage (implicit Euler, ``A = [[1]]``), twin coordinates relaxing at rate ``2e40``
    towards each other: ``I - J~`` is ``1`` along ``(1, 1)``, which float64 loses in ``1e40``
    (its matrix is singular).

    >>> eig = EigenTableau.build(np.array([[1.0]]), 200)
    >>> J = to_arb_matrix(np.array([[-1e40, 1e40], [1e40, -1e40]]), 200)
    >>> solve = ExtendedNewtonSolve(1.0, J, eig)
    >>> [round(float(v), 9) for v in solve(np.array([[1.0, 1.0]]))]
    [1.0, 1.0]
    """

    def __init__(self, h: Any, J: Any, eig: EigenTableau) -> None:
        self.eig, self.N = eig, J.nrows()
        self.rows = np.zeros(0)
        with flint.ctx.workprec(eig.prec):
            hh = to_arb(h)
            eye = flint.acb_mat(flint.arb_mat(self.N, self.N, [
                1 if i == j else 0 for i in range(self.N) for j in range(self.N)]))
            Jc = flint.acb_mat(J)
            self._inv = [(eye - (hh * lam) * Jc).inv(nonstop=True) for lam in eig.lam]

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """The correction for the scaled residual ``r`` (s, N; MPFR or float), in float64."""
        s, N = r.shape
        with flint.ctx.workprec(self.eig.prec):
            R = flint.acb_mat(to_arb_matrix(r, self.eig.prec))
            W = self.eig.Tinv * R  # (s, N)
            rows = []
            for k in range(s):
                wk = flint.acb_mat(N, 1, [W[k, c] for c in range(N)])
                vk = self._inv[k] * wk
                rows.append([vk[c, 0] for c in range(N)])
            Z = self.eig.T * flint.acb_mat(rows)
            out = np.array([[float(Z[i, c].real.mid()) for c in range(N)] for i in range(s)])
        return out.ravel()

    def limit(self) -> str:
        """What bounds this solve (for a failure message)."""
        return (f" (Newton matrix in {self.eig.prec}-bit ball arithmetic; its Jacobian keeps "
                "about half the working digits: raise dps if the stiffness exceeds them)")


class StageNewtonSolve:
    """``dZ = (I - h (A (x) I) diag(J~_j))^-1 r`` in ball arithmetic, one scaled Jacobian per
    stage (the predicted stage values'): the whole ``s N x s N`` matrix, inverted once.

    Where the fast rows exceed the slow ones by ``e^rows``, the Newton matrix must resolve the
    slow direction to ``e^-rows`` of the fast entries: one Jacobian at the step start then
    misses it by the Jacobian's change across the step (measured: ``exp(x**2/2)`` on the
    4-unit ReLU net, Newton failing from ``rows = 29`` with the start's Jacobian at 599 bits).

    The matrix is built at ``prec`` bits (the working bits, or the condition's if more) and
    inverted at ``inverse_prec`` (the condition's: :func:`bits_for` of the rows alone), then
    each correction is refined :data:`_REFINEMENTS` times against the matrix, each refinement
    gaining the inverse's bits less the condition's (>= 64).  On the coverage table's
    exp(x²/2) ReLU cell at 512 working bits the inverse takes 2.5x less time at 256 bits, with
    the same steps (522 to log t = 700) and Newton failures (51 against 49).  Without the
    refinement a 256-bit inverse had made Newton fail 4x as often (session 14).

    Examples
    --------
    Implicit Euler on the twin pair of :class:`ExtendedNewtonSolve`:

    >>> J = to_arb_matrix(np.array([[-1e40, 1e40], [1e40, -1e40]]), 200)
    >>> solve = StageNewtonSolve(1.0, [J], [0], np.array([[1.0]]), 200)
    >>> [round(float(v), 9) for v in solve(np.array([[1.0, 1.0]]))]
    [1.0, 1.0]
    """

    def __init__(self, h: Any, Js: list[Any], stage_jacobian: list[int], A: np.ndarray,
                 prec: int, inverse_prec: int | None = None) -> None:
        s, N = len(stage_jacobian), Js[0].nrows()
        self.prec, self.rows = prec, np.zeros(0)
        inverse_prec = prec if inverse_prec is None else min(prec, inverse_prec)
        with flint.ctx.workprec(prec):
            hh = to_arb(h)
            hA = [[hh * to_arb(A[i, j]) for j in range(s)] for i in range(s)]
            entries = []
            for i in range(s):
                for r in range(N):
                    for j in range(s):
                        J = Js[stage_jacobian[j]]
                        entries.extend((1 if i == j and r == c else 0) - hA[i][j] * J[r, c]
                                       for c in range(N))
            M = flint.arb_mat(s * N, s * N, entries)
            eye = flint.arb_mat(s * N, s * N, [1 if i == j else 0 for i in range(s * N)
                                               for j in range(s * N)])
        with flint.ctx.workprec(inverse_prec):
            self._inv = M.solve(eye, nonstop=True, algorithm="approx")
        self._M = M if inverse_prec < prec else None

    def __call__(self, r: np.ndarray) -> np.ndarray:
        """The correction (s N,) for the scaled residual ``r`` (s, N; MPFR or float)."""
        with flint.ctx.workprec(self.prec):
            R = flint.arb_mat(r.size, 1, [to_arb(v) for v in r.ravel()])
            Z = self._inv * R
            if self._M is not None:       # an inverse at the condition's bits: refined
                for _ in range(_REFINEMENTS):
                    Z = Z + self._inv * (R - self._M * Z)
            return np.array([float(Z[i, 0].mid()) for i in range(r.size)])

    def limit(self) -> str:
        """What bounds this solve (for a failure message)."""
        return (f" (Newton matrix with stage Jacobians in {self.prec}-bit ball arithmetic; its "
                "Jacobians keep about half the working digits)")
