"""Nonlinear elimination of Radau IIA's fast directions before each Newton correction.

Where the scaled Jacobian ``J~`` has a direction relaxing ``e^40`` to ``e^100`` times faster than
a step (twin units of ``exp(x**2/2)`` on a ReLU net late on, THEORY.md §7.3), the stage values
predicted from the last step are off along it by far more than the Newton matrix tolerates: a
Jacobian taken at a point ``delta`` off the slow manifold along a direction of rate
``e^rows`` misstates the slow part of the Newton matrix by ``~e^rows delta``, so Newton stalls
unless the predicted values are within ``e^-rows`` along it (measured on that cell at
``rows ~ 100``: corrections 0.1 tol, then no contraction; Jacobians rebuilt at the iterate made
it worse).

The cure is nonlinear elimination (Lanzkron, Rose and Wilkes 1996): before the Newton matrix is
built, and before each Newton correction, the collocation equations are solved along the fast
directions alone, with the rest of the stage values held.  Those directions are the leading
right singular vectors ``V`` of ``J~`` at one stage point (left ones ``U``), every one with
``h sigma`` above ``e^FAST_LOG``; their equations are ``U^T R = 0`` for the scaled residual
``R = (h A F - Z) / sc``, whose Jacobian along ``V`` is ``h A (x) U^T J~ V - I (x) U^T V``.

The spectrum is graded: on that cell ``h sigma = e^91, e^53, e^16`` and then ``O(1)`` at
``log t ~ 600`` (two pairs of twin units and a third near-pair).  Float64 resolves singular
vectors to ``1e-16`` of the largest singular value only, so the second direction's vectors
from one float64 SVD are noise, and a move along a float64 vector ``v_2`` leaks ``1e-16`` of
itself into ``v_1``, which the fastest rate amplifies past the move's own effect.  The
directions are therefore found by deflation in ball arithmetic (:func:`graded_directions`):
a float64 SVD of the (scaled) matrix finds the directions it resolves, which are
orthonormalised against the earlier ones at the working precision and projected out of
``J~`` there, and the next float64 SVD sees the rest.  The projected system and the moves are
formed at the working precision; only the small ``s k x s k`` solve is float64, with its rows
scaled by ``h sigma``.

Measured on that cell: one direction (float64 only) took the run from log t = 637 to 725 in
400 s; from a state where the simplified Newton failed (``rows = 98``) one direction was
eliminated in 3 iterations to ``1e-18`` of its residual, after which Newton converged as
``7e4, 0.26, 1.5e-6, 1e-11`` (tol units).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flint
import numpy as np
import scipy.linalg as sla

from ._radau_newton_mp import to_arb

__all__: list[str] = []

#: Directions with ``h sigma |A|_max`` above ``e^FAST_LOG`` are eliminated (slower ones the
#: Newton matrix resolves).
FAST_LOG = 8.0
#: Directions one float64 SVD resolves: singular values within this factor of its largest.
RESOLVED = 1e-12
#: Elimination iterations at most, and the RMS correction (tol units) at which they stop.
MAX_ITERATIONS, SETTLED = 12, 1e-12


def _log2_magnitude(x: Any) -> int:
    """``ceil(log2 |x|)`` of an ``arb``'s midpoint, roughly (``-10**9`` for zero)."""
    man, exp = x.mid().man_exp()
    return -10**9 if man == 0 else int(exp) + int(man).bit_length()


def float_view(P: Any) -> tuple[np.ndarray, int]:
    """``(F, e)`` with ``F`` float64 and ``P ~ F * 2**e`` (an ``arb_mat``'s midpoints, scaled
    so that its largest entry is about one; ``e = 0`` for a zero matrix).

    >>> F, e = float_view(flint.arb_mat([[flint.arb(2) ** 2000, 0], [0, 3]]))
    >>> e, float(F[0, 0]), float(F[1, 1])
    (2001, 0.5, 0.0)
    """
    entries = P.entries()
    if not all(x.mid().is_finite() for x in entries):
        return np.full((P.nrows(), P.ncols()), np.nan), 0
    e = max((_log2_magnitude(x) for x in entries), default=-10**9)
    e = 0 if e == -10**9 else e
    scaled = P * flint.arb(2) ** (-e)
    F = np.array([float(x.mid()) for x in scaled.entries()]).reshape(P.nrows(), P.ncols())
    return F, e


def _column(values: Sequence[float]) -> Any:
    return flint.arb_mat(len(values), 1, [flint.arb(float(v)) for v in values])


def _orthonormalised(w: Any, basis: list[Any]) -> Any | None:
    """``w`` (N x 1) made orthonormal to the columns ``basis`` (twice Gram-Schmidt), or None
    where little of it is left (within ``1e-8`` of their span)."""
    norm0 = (w.transpose() * w)[0, 0].sqrt()
    for _ in range(2):
        for b in basis:
            w = w - b * (b.transpose() * w)[0, 0]
    norm = (w.transpose() * w)[0, 0].sqrt()
    if not float(norm.mid()) > 1e-8 * float(norm0.mid()):
        return None
    return (w * (1 / norm)).mid()


def _deflated(J: Any, U: list[Any], V: list[Any]) -> Any:
    """``(I - U U^T) J (I - V V^T)`` for orthonormal columns ``U``, ``V``."""
    P = J
    for v in V:
        P = P - (P * v) * v.transpose()
    for u in U:
        P = P - u * (u.transpose() * P)
    return P.mid()


def graded_directions(
    J: Any, log_threshold: float, log_accuracy: float = -math.inf
) -> tuple[list[Any], list[Any], list[float]]:
    """The singular directions of ``J`` (an ``arb_mat``) with ``log sigma > log_threshold``,
    found by deflation at the context's precision: ``(U, V, log_sigma)``, the left and right
    vectors as ``N x 1`` ``arb_mat`` columns, orthonormal at that precision.  Directions with
    ``sigma`` below ``exp(log_accuracy)`` of the largest are the noise of ``J``'s own errors
    (relative ``exp(log_accuracy)``) and are not taken.

    Each round takes a float64 SVD of what is left, keeps the directions it resolves (within
    :data:`RESOLVED` of its largest value) above the threshold, orthonormalises them against
    the earlier ones and projects them out of ``J``; it stops where nothing left is above the
    threshold.  A right vector is accurate in the directions faster than itself to the
    working precision (it is orthogonal to them there), which is what the elimination needs.

    Examples
    --------
    Singular values ``e^90``, ``e^50`` and ``1``: the second is ``e^-40`` of the first, far
    below what one float64 SVD resolves, but found by the second round.

    >>> with flint.ctx.workprec(300):
    ...     big, mid = flint.arb(90).exp(), flint.arb(50).exp()
    ...     J = flint.arb_mat([[big, 0, 0], [0, 0, mid], [0, 1, 0]])
    ...     U, V, logs = graded_directions(J, 10.0)
    >>> [round(x, 6) for x in logs], abs(float(V[1][2, 0].mid()))
    ([90.0, 50.0], 1.0)
    """
    N = J.nrows()
    U: list[Any] = []
    V: list[Any] = []
    logs: list[float] = []
    P = J.mid()
    floor = -math.inf
    while len(V) < N:
        F, e = float_view(P)
        if not np.all(np.isfinite(F)):
            break
        try:
            _, S, Vt = np.linalg.svd(F)
        except np.linalg.LinAlgError:
            break
        if S[0] == 0.0:
            break
        with np.errstate(divide="ignore"):
            log_s = np.log(S) + e * math.log(2.0)
        if floor == -math.inf:
            floor = float(log_s[0]) + log_accuracy
        resolved = S / S[0] > RESOLVED
        pick = resolved & (log_s > max(log_threshold, floor))
        taken = 0
        for i in np.flatnonzero(pick):
            v = _orthonormalised(_column(Vt[i]), V)
            u = None if v is None else _orthonormalised(P * v, U)
            if v is None or u is None:
                continue
            V.append(v)
            U.append(u)
            logs.append(float(log_s[i]))
            taken += 1
        if taken == 0 or bool(np.all(resolved)):
            break  # nothing fast left, or this SVD resolved everything that was left
        P = _deflated(J.mid(), U, V)
    return U, V, logs


def _hstack(columns: list[Any]) -> Any:
    N, k = columns[0].nrows(), len(columns)
    return flint.arb_mat(N, k, [columns[j][i, 0] for i in range(N) for j in range(k)])


@dataclass(frozen=True)
class FastDirections:
    """The fast directions of a scaled Jacobian and the LU of their collocation Jacobian.

    Attributes
    ----------
    U, V
        ``arb_mat`` (N, k): left and right singular vectors of ``J~`` of the ``k`` fast
        directions, orthonormal at the working precision.
    log_sigma
        (k,) float64: their singular values' logarithms.
    row_log2
        (k,) int: row ``a`` of the collocation Jacobian is scaled by ``2^-row_log2[a]``.
    lu
        LU factors (float64) of the row-scaled ``I (x) U^T V - h A (x) U^T J~ V``
        (``s k x s k``): the Jacobian of ``U^T R`` along ``V``, with a Newton matrix's sign.
    prec
        The working precision (bits) of the vectors.
    """

    U: Any
    V: Any
    log_sigma: np.ndarray
    row_log2: np.ndarray
    lu: tuple[np.ndarray, np.ndarray]
    prec: int

    @classmethod
    def of(cls, J: Any, hA: np.ndarray, prec: int = 128,
           accuracy: float = 0.0) -> FastDirections | None:
        """The fast directions of the scaled Jacobian ``J`` (``arb_mat``, or an (N, N) float or
        MPFR array) for the step's ``h A`` (s, s float64) at ``prec`` bits, or None if there
        are none.  ``accuracy`` is ``J``'s relative error (0: exact): directions below it
        relative to the largest are its noise (:func:`graded_directions`).

        Examples
        --------
        A pair relaxing towards each other at rate ``1e40`` besides a slow coordinate:

        >>> J = np.array([[-1e40, 1e40, 0.0], [1e40, -1e40, 0.0], [0.0, 0.0, -1.0]])
        >>> fast = FastDirections.of(J, np.array([[0.5]]))
        >>> U, V = fast.vectors()
        >>> V.shape, bool(abs(abs(V[0, 0]) - 2 ** -0.5) < 1e-12)
        ((3, 1), True)
        >>> FastDirections.of(np.diag([-1.0, -2.0, -3.0]), np.array([[0.5]])) is None
        True
        """
        scale = float(np.max(np.abs(hA)))
        if not scale > 0.0:
            return None
        with flint.ctx.workprec(prec):
            if isinstance(J, np.ndarray):
                if J.dtype.kind == "f" and not np.all(np.isfinite(J)):
                    return None
                J = flint.arb_mat([[to_arb(v) for v in row] for row in J])
            if not all(x.mid().is_finite() for x in J.entries()):
                return None
            Us, Vs, logs = graded_directions(
                J, FAST_LOG - math.log(scale), math.log(accuracy) if accuracy > 0 else -math.inf)
            if not Vs:
                return None
            U, V = _hstack(Us), _hstack(Vs)
            k, s = len(Vs), hA.shape[0]
            row_log2 = np.array([max(0, math.floor((ls + math.log(scale)) / math.log(2)))
                                 for ls in logs])
            Ut = U.transpose()
            scales = [flint.arb(2) ** (-int(r)) for r in row_log2]
            E = Ut * V
            G = Ut * (J * V)
            E64 = np.array([[float((E[a, b] * scales[a]).mid()) for b in range(k)]
                            for a in range(k)])
            G64 = np.array([[float((G[a, b] * scales[a]).mid()) for b in range(k)]
                            for a in range(k)])
        M = np.kron(np.eye(s), E64) - np.kron(hA, G64)
        if not np.all(np.isfinite(M)):
            return None
        return cls(U, V, np.array(logs), row_log2, sla.lu_factor(M, check_finite=False), prec)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``U`` and ``V`` in float64 (N, k), for inspection."""
        def f64(M: Any) -> np.ndarray:
            return np.array([[float(M[i, j].mid()) for j in range(M.ncols())]
                             for i in range(M.nrows())])
        return f64(self.U), f64(self.V)

    def correction(self, R: np.ndarray) -> tuple[float, Any]:
        """The move along the fast directions that zeroes ``U^T R`` to first order, for the
        scaled residual ``R`` (s, N; an MPFR or float array, or an ``arb_mat``): its RMS size
        (tol units) and the move itself, an ``arb_mat`` (s, N) at the working precision."""
        s, N = (R.nrows(), R.ncols()) if isinstance(R, flint.arb_mat) else R.shape
        k = len(self.log_sigma)
        with flint.ctx.workprec(self.prec):
            Ra = R if isinstance(R, flint.arb_mat) else \
                flint.arb_mat(s, N, [to_arb(v) for v in R.ravel()])
            RU = Ra * self.U
            r = np.array([[float((RU[i, a] * flint.arb(2) ** (-int(self.row_log2[a]))).mid())
                           for a in range(k)] for i in range(s)])
            if not np.all(np.isfinite(r)):
                return math.inf, None
            b = sla.lu_solve(self.lu, r.ravel(), check_finite=False).reshape(s, k)
            if not np.all(np.isfinite(b)):
                return math.inf, None
            move = (flint.arb_mat(s, k, [flint.arb(float(x)) for x in b.ravel()])
                    * self.V.transpose()).mid()
        with np.errstate(over="ignore"):  # a wild iterate's move: inf, refused by the caller
            return float(np.sqrt(np.sum(b * b) / (s * N))), move


def settled(moves: list[float]) -> bool:
    """Whether elimination stops after these RMS moves (tol units): one below
    :data:`SETTLED`, a move that did not halve, or :data:`MAX_ITERATIONS` of them.

    >>> settled([1e3, 2.0]), settled([1e3, 1e-13]), settled([1.0, 0.9])
    (False, True, True)
    """
    last = moves[-1]
    return (not math.isfinite(last) or last < SETTLED or len(moves) >= MAX_ITERATIONS
            or (len(moves) > 1 and last > 0.5 * moves[-2]))
