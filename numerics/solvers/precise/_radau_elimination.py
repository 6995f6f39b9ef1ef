"""Nonlinear elimination of Radau IIA's fastest directions before each Newton correction.

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
right singular vectors ``V`` of ``J~`` at one stage point (left ones ``U``, values ``sigma``), as
far as float64 resolves them (``sigma > 1e-12 sigma_max``) and only where ``h sigma`` is large;
their equations are ``U^T R = 0`` for the scaled residual ``R = (h A F - Z) / sc``, whose
Jacobian along ``V`` is ``h A (x) diag(sigma) - I (x) U^T V``.  On the cell above, from a state
where the simplified Newton failed (its stage values off by ``7e36`` tol in residual,
``rows = 98``): one direction eliminated in 3 iterations to ``1e-18`` of its residual, after
which Newton from a matrix built there converged as ``7e4, 0.26, 1.5e-6, 1e-11, ...`` (tol units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

__all__: list[str] = []

#: Directions with ``h sigma |A|_max`` above ``e^FAST_LOG`` are eliminated (slower ones the
#: Newton matrix resolves).
FAST_LOG = 8.0
#: Directions float64 resolves: singular values within this factor of the largest.
RESOLVED = 1e-12
#: Elimination iterations at most, and the RMS correction (tol units) at which they stop.
MAX_ITERATIONS, SETTLED = 12, 1e-12


@dataclass(frozen=True)
class FastDirections:
    """The fast directions of a scaled Jacobian and the LU of their collocation Jacobian.

    Attributes
    ----------
    U, V
        (N, k) float64: left and right singular vectors of ``J~`` of the ``k`` fast directions.
    lu
        LU factors of ``I (x) U^T V - h A (x) diag(sigma)`` (``s k x s k``): the Jacobian of
        ``U^T R`` along ``V``, with the sign of a Newton matrix.
    """

    U: np.ndarray
    V: np.ndarray
    lu: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, J: np.ndarray, hA: np.ndarray) -> FastDirections | None:
        """The fast directions of the scaled Jacobian ``J`` (N, N float64) for the step's
        ``h A`` (s, s float64), or None if there are none (or ``J`` is not finite).

        Examples
        --------
        A pair relaxing towards each other at rate ``1e40`` besides a slow coordinate:

        >>> J = np.array([[-1e40, 1e40, 0.0], [1e40, -1e40, 0.0], [0.0, 0.0, -1.0]])
        >>> fast = FastDirections.of(J, np.array([[0.5]]))
        >>> fast.V.shape, bool(abs(abs(fast.V[0, 0]) - 2 ** -0.5) < 1e-12)
        ((3, 1), True)
        >>> FastDirections.of(np.diag([-1.0, -2.0, -3.0]), np.array([[0.5]])) is None
        True
        """
        if not np.all(np.isfinite(J)):
            return None
        try:
            U, S, Vt = np.linalg.svd(J)
        except np.linalg.LinAlgError:
            return None
        scale = float(np.max(np.abs(hA)))
        resolved = S / S[0] > RESOLVED
        with np.errstate(divide="ignore"):
            fast = (np.log(S * scale) > FAST_LOG) & resolved
        k = int(np.count_nonzero(fast))
        if k == 0:
            return None
        s = hA.shape[0]
        U, V = U[:, :k], Vt[:k].T
        M = np.kron(np.eye(s), U.T @ V) - np.kron(hA, np.diag(S[:k]))
        return cls(U, V, sla.lu_factor(M, check_finite=False))

    def correction(self, R: np.ndarray) -> np.ndarray:
        """The move (s, N; scaled) along the fast directions that zeroes ``U^T R`` to first
        order, for the scaled residual ``R`` (s, N float64)."""
        s, k = R.shape[0], self.U.shape[1]
        b = sla.lu_solve(self.lu, (R @ self.U).ravel(), check_finite=False).reshape(s, k)
        return b @ self.V.T


def settled(moves: list[float]) -> bool:
    """Whether elimination stops after these RMS moves (tol units): one below
    :data:`SETTLED`, a move that did not halve, or :data:`MAX_ITERATIONS` of them.

    >>> settled([1e3, 2.0]), settled([1e3, 1e-13]), settled([1.0, 0.9])
    (False, True, True)
    """
    last = moves[-1]
    return (not math.isfinite(last) or last < SETTLED or len(moves) >= MAX_ITERATIONS
            or (len(moves) > 1 and last > 0.5 * moves[-2]))
