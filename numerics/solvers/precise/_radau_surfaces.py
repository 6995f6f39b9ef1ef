"""Keeping a Radau run on the surfaces of sliding kinks whose gradients vary with the state.

The Filippov field (:class:`~._radau_sliding.FilippovField`) is tangent to every sliding
surface ``h_k = 0`` at every point it is evaluated at, so ``h_k`` stays 0 along the exact
solution.  A kink linear in the parameters is a linear invariant of that field, which Radau's
collocation keeps to the Newton tolerance; an MLP's deeper pre-activation ``h_k(theta)`` is not,
and every step leaves it off its surface by the local error, which adds up.
:class:`SurfaceProjection` puts the state back after each accepted step: one Newton step of
least change onto the surfaces, in the metric of the mirror map (THEORY.md §2)::

    theta <- theta - W G^T (G W G^T)^-1 h_S,    W = diag(d theta / d z)  (1 / f''(theta)),

with ``G`` the gradients ``d h_k / d theta`` of the sliding kinks.  The dual variable moves by
``-G^T c``, a combination of kink gradients; each ``h_k`` is invariant under the rescaling of
every other unit and 1-homogeneous in its own unit's incoming weights, so the balance
quantity ``C_j`` of every unit changes by ``c_j h_j``: nothing, to second order in the drift
(a Euclidean step would change ``C_j`` by the drift times ``theta f''(theta)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import heyoka as hy
import mpmath
import numpy as np

from ._compile import converter, to_mpf
from ._radau_sliding import coinciding_groups

if TYPE_CHECKING:
    from ._radau_compile import BatchedFunction
    from ._radau_newton import WorkBuffers
    from ._radau_sliding import GradientRows
    from ._system import MirrorFlowSystem

__all__: list[str] = []


def metric_weights(system: MirrorFlowSystem) -> list[Any]:
    """``(d state_c / d theta_c) (d state_c / d z_c)`` of each parameter as expressions of
    the state: ``1 / f''(theta_c)`` in the primal state, ``f''(theta_c)`` in the dual one (the
    metric of the mirror map in the state's coordinates).

    Examples
    --------
    >>> import sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> cosh = ScalarPotential(x, sp.sinh(x), sp.cosh(x), sp.asinh(x), "cosh")
    >>> def margins(th):
    ...     return np.array([th[0]]), np.array([[1.0]])
    >>> sysm = build_mirror_flow_system(margins, 1, cosh, state="primal")
    >>> metric_weights(sysm)
    [cosh(p0)**-1.0000000000000000]
    """
    out = []
    for c in range(system.n_params):
        v = system.variables[c]
        out.append(1.0 / (hy.diff(system.theta[c], v) * hy.diff(system.z[c], v)))
    return out


class SurfaceProjection:
    """One Newton step of least change (mirror metric) onto the sliding surfaces.

    Parameters
    ----------
    rhs
        The compiled sliding right-hand side (its switches set by the run's pattern): the
        gradients of the kinks that are not linear at ``gradient_rows``, the metric weights
        (:func:`metric_weights`) at ``weight_rows``.
    kinks_mp
        The kinks in MPFR: ``(P, m)`` parameters -> ``(nk, m)`` values.
    gradients
        ``(nk, P)`` constant gradients of the kinks linear in the parameters.
    gradient_rows, weight_rows
        Where ``rhs`` writes the other gradients and the weights.
    bufs, bits
        The MPFR work-buffer pool and the working bits.

    Attributes
    ----------
    count
        Projections made.
    drift_max
        The largest distance to a surface met, ``|h_k| / (|grad h_k| max(1, |theta|))``.
    """

    def __init__(self, rhs: BatchedFunction, kinks_mp: Any, gradients: np.ndarray,
                 gradient_rows: GradientRows, weight_rows: Sequence[int], bufs: WorkBuffers,
                 bits: int) -> None:
        self._rhs, self._kinks_mp, self._grads = rhs, kinks_mp, gradients
        self._rows, self._weights = gradient_rows, list(weight_rows)
        self._bufs, self._bits = bufs, bits
        self._P = gradients.shape[1]
        self._conv = converter("real", bits)
        self.count = 0
        self.drift_max = 0.0

    def needed(self, kinks: Sequence[int]) -> bool:
        """True if one of ``kinks`` has a gradient that varies with the state."""
        return any(self._rows[k] for k in kinks)

    def __call__(self, X: np.ndarray, kinks: Sequence[int]) -> np.ndarray:
        """The parameters of the point ``X`` (a column: state and clock rows, as the compiled
        right-hand side takes) moved onto the surfaces of ``kinks`` (a new array (P,))."""
        P = self._P
        theta = X[:P, 0]
        Fd = self._rhs(X, out=self._bufs.get("sp_out", (self._rhs.n_outputs, 1)))
        h = np.asarray(self._kinks_mp(np.ascontiguousarray(X[:P])))[:, 0]
        with mpmath.workprec(self._bits):
            G = mpmath.matrix([self._gradient(k, Fd) for k in kinks])
            w = [to_mpf(Fd[r, 0]) for r in self._weights]
            z = mpmath.matrix([to_mpf(h[k]) for k in kinks])
            size = max(mpmath.mpf(1), mpmath.sqrt(mpmath.fsum(to_mpf(v) ** 2 for v in theta)))
            for i in range(len(kinks)):
                norm = mpmath.sqrt(mpmath.fsum(G[i, c] ** 2 for c in range(P)))
                if norm > 0:
                    self.drift_max = max(self.drift_max, float(abs(z[i]) / (norm * size)))
            WG = mpmath.matrix([[w[c] * G[i, c] for c in range(P)] for i in range(len(kinks))])
            try:
                c = mpmath.lu_solve(G * WG.T, z)
            except ZeroDivisionError:      # dependent surfaces: leave the state as it is
                return np.array(theta, copy=True)
            step = WG.T * c
            out = np.array([self._conv(to_mpf(theta[i]) - step[i]) for i in range(P)],
                           dtype=hy.real)
        self.count += 1
        return out

    def directions(self, X: np.ndarray, kinks: Sequence[int]) -> np.ndarray:
        """``(len(kinks), P)`` float64 unit gradients of ``kinks`` at the point ``X`` (rows of
        zero gradients stay 0)."""
        Fd = self._rhs(X, out=self._bufs.get("sp_out", (self._rhs.n_outputs, 1)))
        G = np.array([[float(v) for v in self._gradient(k, Fd)] for k in kinks]).reshape(
            len(kinks), self._P)
        norms = np.linalg.norm(G, axis=1, keepdims=True)
        return np.divide(G, norms, out=np.zeros_like(G), where=norms > 0)

    def groups(self, X: np.ndarray, kinks: Sequence[int],
               near: Sequence[int]) -> list[tuple[int, ...]]:
        """``kinks`` (at 0 at the point ``X``) grouped by coinciding surfaces
        (:func:`~._radau_sliding.coinciding_groups`, float64 gradients), in their order; the
        kinks ``near`` 0 join the group whose surface they are on."""
        if len(kinks) + len(near) < 2:
            return [(k,) for k in kinks]
        order = [*kinks, *near]
        D = self.directions(X, order)
        return [tuple(order[i] for i in g) for g in coinciding_groups(D, len(kinks))]

    def on_surface(self, X: np.ndarray, first: int, near: Sequence[int]) -> list[int]:
        """The kinks ``near`` 0 at ``X`` whose gradients are parallel to kink ``first``'s
        (either way, to float64): their surfaces coincide with its surface there."""
        if not near:
            return []
        D = self.directions(X, [first, *near])
        return [j for j, d in zip(near, D[1:], strict=True) if abs(float(d @ D[0])) > 1 - 1e-12]

    def _gradient(self, k: int, Fd: np.ndarray) -> list[Any]:
        """``d h_k / d theta`` (mpmath) at the column of ``Fd``."""
        if not self._rows[k]:
            return [to_mpf(v) for v in self._grads[k]]
        g = [mpmath.mpf(0)] * self._P
        for c, r in self._rows[k]:
            g[c] = to_mpf(Fd[r, 0])
        return g
