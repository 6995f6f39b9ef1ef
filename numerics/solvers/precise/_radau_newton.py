"""The float64 side of Radau IIA's simplified Newton iterations on MPFR states.

Rows of the scaled Jacobian ``J~ = D^-1 J D`` (``D`` = error weights) differ by factors like
``e^3000`` late on (cosh), so MPFR Jacobian entries reach float64 through their logarithms:
row-normalised float64 Jacobians and float64 logarithms of the row maxima
(:func:`scaled_jacobians`).  The Newton matrix ``I - h A (x) J~`` is assembled in float64 with
row scales ``max(1, max_j |h A_ij| rowmax_j)`` (:func:`newton_matrix`), and the MPFR residual is
scaled the same way, through its logarithm (:func:`scaled_residual`).  The float64 solve only
sets the contraction rate, never the accuracy (iterative refinement).

heyoka's ``real`` numpy arrays leak the MPFR storage of every freshly allocated array, so the
MPFR work happens in the preallocated arrays of a :class:`WorkBuffers` pool (ufuncs with ``out=``
on contiguous operands of one shape, ``np.copyto``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import numpy as np
import scipy.linalg as sla

from ._radau_tableau import RadauTableau

__all__: list[str] = []


class SingularNewtonMatrixError(ArithmeticError):
    """The float64 Newton matrix is singular: the step is retried smaller."""


class WorkBuffers:
    """A pool of preallocated MPFR work arrays, one per ``(name, shape)``, reused across calls.

    Examples
    --------
    >>> from numerics.solvers.precise._compile import converter
    >>> pool = WorkBuffers(converter("real", 64)(0.0))
    >>> pool.get("x", (2, 3)) is pool.get("x", (2, 3)), pool.get("x", (2, 3)).shape
    (True, (2, 3))
    """

    def __init__(self, zero: Any) -> None:
        self._zero = zero
        self._arrays: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The work array ``name`` of ``shape`` (allocated on first use only)."""
        key = (name, shape)
        if key not in self._arrays:
            self._arrays[key] = np.zeros(shape).astype(hy.real) * self._zero
        return self._arrays[key]


@dataclass(frozen=True)
class Jacobians:
    """Scaled Jacobians ``D^-1 J D`` at m points: ``normalised`` (m, N, N) float64 rows of max-norm
    one (or zero), times ``exp(logrow)`` (m, N; ``-inf`` for zero rows)."""

    normalised: np.ndarray
    logrow: np.ndarray
    at: np.ndarray  # float64 clocks of the m points

    def __add__(self, other: Jacobians) -> Jacobians:
        return Jacobians(*(np.concatenate([a, b]) for a, b in
                           zip((self.normalised, self.logrow, self.at),
                               (other.normalised, other.logrow, other.at), strict=True)))


def jacobian_differences(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray], bufs: WorkBuffers, clocks: np.ndarray,
    Ys: np.ndarray, d: np.ndarray,
) -> np.ndarray:
    """``G[r, j, c] = F_r(y_j + d_jc e_c) - F_r(y_j)`` (an MPFR work array (N, m, N)), from one
    batched call of ``f`` at the m (N + 1) points."""
    m, N = Ys.shape
    pts = bufs.get("j_pts", (N, m, N + 1))  # point k + 1 of stage j moves coordinate k
    np.copyto(pts, Ys.T[:, :, None])
    moved = bufs.get("j_moved", (m, N))
    np.add(Ys, d, out=moved)
    k = np.arange(N)
    pts[k, :, k + 1] = moved.T
    cl = bufs.get("j_clock", (m, N + 1))
    np.copyto(cl, clocks[:, None])
    F = f(cl.reshape(m * (N + 1)), pts.reshape(N, m * (N + 1))).reshape(N, m, N + 1)
    # (ufunc operands contiguous and of one shape: numpy's buffered iteration would leak)
    G, G2 = bufs.get("j_diff", (N, m, N)), bufs.get("j_diff2", (N, m, N))
    np.copyto(G2, F[:, :, 1:])
    np.copyto(G, F[:, :, :1])
    np.subtract(G2, G, out=G)
    return G


def scaled_jacobians(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray], bufs: WorkBuffers, clocks: np.ndarray,
    Ys: np.ndarray, sc: np.ndarray, eps: Any, one: Any,
) -> Jacobians:
    """``D^-1 J(c_m, Y_m) D`` at the rows of ``Ys`` (m, N), forward differences in one call.

    ``f(clocks, Y)`` is the right-hand side at the columns of ``Y``; the steps are
    ``eps * max(1, |y|)`` (``eps`` about half the working digits, ample for a Newton matrix).
    Returned row-normalised in float64 with the logarithms of the row maxima, since rows of
    the scaled Jacobian differ by factors such as ``e^3000`` late on (cosh): the MPFR
    differences go to float64 through their logarithms.
    """
    m, N = Ys.shape
    d = bufs.get("j_delta", (m, N))
    np.abs(Ys, out=d)
    np.maximum(d, one, out=d)
    np.multiply(d, eps, out=d)
    G = jacobian_differences(f, bufs, clocks, Ys, d)
    # G[r, j, c] * sc_c / d_jc  (= J~ * sc_r)
    G2 = bufs.get("j_diff2", (N, m, N))
    cf = bufs.get("j_colf", (m, N))
    np.copyto(cf, sc[None, :])
    np.divide(cf, d, out=cf)
    np.copyto(G2, cf[None, :, :])
    np.multiply(G, G2, out=G)
    sign = (G > 0).astype(float) - (G < 0)
    np.abs(G, out=G)
    np.log(G, out=G)
    with np.errstate(invalid="ignore"):
        L = G.astype(float)  # NaN (caught below) at wild predicted stage values
    if np.any(np.isnan(L) | np.isposinf(L)):
        raise FloatingPointError("non-finite Jacobian")
    with np.errstate(invalid="ignore"):
        lmax = L.max(axis=2)  # (N, m); -inf for zero rows
        Jn = np.exp(L - np.where(np.isfinite(lmax), lmax, 0.0)[:, :, None]) * sign
    log_sc = np.log(sc).astype(float)
    at = np.array([float(c) for c in clocks])
    return Jacobians(Jn.transpose(1, 0, 2), (lmax - log_sc[:, None]).T, at)


def mp_scaled_jacobian(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray], bufs: WorkBuffers, clock: Any,
    y: np.ndarray, sc: np.ndarray, eps: Any, one: Any,
) -> np.ndarray:
    """``D^-1 J(clock, y) D`` (N, N) at the working precision (a work buffer): the forward
    differences of :func:`scaled_jacobians` without the float64 read-out, for the Newton matrix
    beyond float64 (:mod:`._radau_newton_mp`)."""
    N = y.shape[0]
    Ys = bufs.get("jm_y", (1, N))
    np.copyto(Ys[0], y)
    clocks = bufs.get("jm_clock", (1,))
    clocks[0] = clock
    d = bufs.get("j_delta", (1, N))
    np.abs(Ys, out=d)
    np.maximum(d, one, out=d)
    np.multiply(d, eps, out=d)
    G = jacobian_differences(f, bufs, clocks, Ys, d)  # (N, 1, N)
    J = bufs.get("jm_J", (N, N))
    np.copyto(J, G[:, 0, :])
    w, cf = bufs.get("jm_w", (N, N)), bufs.get("jm_cf", (N,))
    np.divide(sc, d[0], out=cf)
    np.copyto(w, cf[None, :])  # column factor sc_c / d_c
    np.multiply(J, w, out=J)
    np.copyto(w, sc[:, None])
    np.divide(J, w, out=J)
    return J


class Float64Solve:
    """The float64 Newton correction: LU of the row-equilibrated matrix (:func:`newton_matrix`),
    the MPFR residual scaled through its logarithm (:func:`scaled_residual`)."""

    def __init__(self, lu: Any, rows: np.ndarray) -> None:
        self.lu, self.rows = lu, rows

    def __call__(self, R: np.ndarray) -> np.ndarray:
        """The correction (s N,) for the MPFR residual ``R`` (s, N; overwritten)."""
        r = scaled_residual(R, self.rows)
        if not np.all(np.isfinite(r)):
            raise FloatingPointError("non-finite Newton residual")
        return sla.lu_solve(self.lu, r, check_finite=False)

    def limit(self) -> str:
        """Why a Newton failure may be float64's (:func:`float64_limit`)."""
        return float64_limit(self.rows)


def newton_matrix(
    h: Any, Js: Jacobians, tab: RadauTableau, clocks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The row-equilibrated ``I - h (A (x) I) diag(J_j)`` (float64) and the row scales.

    Rates of the primal flow differ by factors ``f''(theta_k) / f''(theta_l)`` (``e^3000``
    for cosh late on): row ``r`` of block row ``i`` is divided by
    ``max(1, max_j |h A_ij| rowmax_j[r])`` (within a factor ``s + 1`` of its largest entry),
    computed from logarithms; the matrix is assembled in float64 from the row-normalised
    Jacobians.  Stage ``j`` takes the Jacobian of ``Js`` nearest to ``clocks[j]`` (all the
    first when ``clocks`` is None).  Returns the logarithms of the row scales (s N,).

    Raises
    ------
    FloatingPointError
        A non-finite entry.
    """
    s, N = tab.stages, Js.normalised.shape[1]
    if clocks is None:
        idx = np.zeros(s, dtype=int)
    else:
        cf = np.array([float(c) for c in clocks])
        idx = np.argmin(np.abs(cf[:, None] - Js.at[None, :]), axis=1)
    coef = (math.log(float(h)) + tab.log_abs_a)[:, :, None] + Js.logrow[idx][None, :, :]
    rows = np.maximum(coef.max(axis=1), 0.0)  # (s, N)
    w = tab.sign_a[:, :, None] * np.exp(coef - rows[:, None, :])  # |w| <= 1
    M = -(w[:, :, :, None] * Js.normalised[idx][None, :, :, :])  # (i, j, r, c)
    M = M.transpose(0, 2, 1, 3).reshape(s * N, s * N)
    M[np.arange(s * N), np.arange(s * N)] += np.exp(-rows).ravel()
    if not np.all(np.isfinite(M)):
        raise FloatingPointError("non-finite Newton matrix")
    return M, rows.ravel()


def lu_factor(M: np.ndarray) -> Any:
    """LU factors of the Newton matrix ``M`` (scipy's ``lu_factor``).

    Raises
    ------
    SingularNewtonMatrixError
        A zero pivot.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu = sla.lu_factor(M, check_finite=False)
    if not np.all(np.diag(lu[0]) != 0):
        raise SingularNewtonMatrixError("singular Newton matrix")
    return lu


def scaled_residual(R: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The MPFR residual ``R`` (s, N; overwritten) divided by the row scales ``exp(rows)``, in
    float64 (through logarithms: row scales may exceed float64)."""
    sign = ((R > 0).astype(float) - (R < 0)).ravel()
    np.abs(R, out=R)
    np.log(R, out=R)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.exp(R.astype(float).ravel() - rows) * sign


#: ``log(1e-3 / eps)`` of float64: a Newton row scaled by more than this keeps under three
#: digits of its identity (none past ``1 / eps = e^36``).
FLOAT64_LOG_RANGE = 52 * math.log(2) - 3 * math.log(10)


def float64_limit(rows: np.ndarray) -> str:
    """Why a Newton failure may be float64's, not the step size's (empty if it is not).

    Row ``r`` of the Newton matrix is ``e_r - h (A (x) J~)_r``, divided by ``exp(rows_r)``;
    past ``exp(rows_r) = 1 / eps`` float64 keeps only its ``h J~`` part (flagged from
    ``1e-3 / eps``, :data:`FLOAT64_LOG_RANGE`).  If fast rows are dependent apart from their
    identity parts (a slow direction among fast coordinates), the float64 matrix is then
    singular along it and Newton stalls.  Measured: ``exp(x**2/2)`` on the 4-unit ReLU net of
    the coverage table, where units 2 and 4 merge (twin units): the difference of their
    unsaturated weights is such a direction; from ``log t = 270`` the rows reached ``e^36``,
    the condition 3e17, and the step size shrank like ``1 / s`` (the stiffness
    ``s / f''(theta_int)`` grows with the clock ``s``, which for this potential grows almost
    like ``t``).  100 more bits of MPFR did not move the stall (the limit is the float64 solve).

    Examples
    --------
    >>> float64_limit(np.array([0.0, 12.0]))
    ''
    >>> float64_limit(np.array([0.0, 36.0]))[:48]
    ' (the Newton matrix has rows e^36 times their id'
    """
    top = float(np.max(rows)) if rows.size else 0.0
    if top < FLOAT64_LOG_RANGE:
        return ""
    return (f" (the Newton matrix has rows e^{top:.0f} times their identity, near float64's "
            "1/eps = e^36: the stiffness exceeds what the float64 Newton solve resolves)")
