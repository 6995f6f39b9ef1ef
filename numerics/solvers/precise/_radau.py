"""Radau IIA collocation in MPFR precision for the stiff time-changed mirror-flow ODE.

The time-changed mirror flow (THEORY.md §7) is stiff: unsaturated coordinates relax quickly
while the saturated direction creeps, and ``log t`` relaxes at rate ``d log t / ds``.  Explicit
methods (heyoka's Taylor integrator included) then take steps bounded by the fastest relaxation
time; for cosh-type potentials they stall near ``log t ~ 30`` on a linear model
(``benchmarks/bench_clock.py``).  :func:`integrate_implicit` integrates the same
:class:`~numerics.solvers.precise.MirrorFlowSystem` (``system.equations``: parameters and ``log t``)
with an ``s``-stage Radau IIA method (order ``2s - 1``, L-stable, stiffly accurate):

- right-hand side compiled once (heyoka ``cfunc`` in MPFR ``real`` at the working precision) and
  evaluated for all stages in one batched call, into preallocated buffers: heyoka's ``real`` numpy
  arrays leak the MPFR storage of every freshly allocated array (about 50 bytes per element at
  140 bits; heyoka 7.13, numpy 2.4), so the hot paths only write into existing arrays (ufuncs
  with ``out=`` on contiguous operands of one shape, ``np.copyto``);
- simplified Newton iterations whose residuals are computed in MPFR, while the correction solves
  ``(I - h A (x) J~) dZ = r`` are done in float64 on the *scaled* Jacobian
  ``J~ = D^-1 J D`` (``D`` = error weights): the float64 solve only sets the contraction rate, never
  the accuracy (iterative refinement).  Rows of ``J~`` differ by factors like ``e^3000`` late on
  (cosh), so MPFR Jacobian entries reach float64 through their logarithms: row-normalised float64
  Jacobians and float64 logarithms of the row maxima, and the Newton matrix is assembled in
  float64 with row scales ``max(1, max_j |h A_ij| rowmax_j)`` (and the residual is scaled the
  same way, through its logarithm);
- the Jacobian by one batched forward difference of the compiled right-hand side at the working
  precision (half the working digits, ample for a Newton matrix);
- Newton matrices from Jacobians at the *predicted stage values* (the collocation polynomial of
  the previous step; all stages, or ``jacobian_points`` of them, each stage taking the nearest):
  ``f''`` varies by orders of magnitude across one step (cosh), and a Jacobian frozen at the
  step's start contracts too slowly;
- step-size control by step doubling (one step of ``h`` against two of ``h/2``; ``stats["steps"]``
  counts accepted double steps, three Radau solves each; the full step reuses the half steps'
  Jacobians);
- ReLU kinks (``system.kinks``): the square-ReLU force contains ``relu(h)``, so the right-hand
  side is continuous but its Jacobian jumps at a kink, and a crossing at distance ``delta`` from a
  step end costs an error ``O(delta^2)``; a step straight across a kink has a large error
  estimate, so the step size collapses there.  A double step across a sign change is therefore
  redone to end on the kink: located first on the float64 interpolant of the collocation values,
  then moved (up to six times) onto the root of the redone step's own collocation polynomial,
  found by secant iterations in MPFR, until it moves by less than ``2^(16 - bits)`` of the step
  (on the 8/8/4 net, float64 roots (~1e-13) kept only ~26 digits, stopping at 1e-18 ~29);
- two clocks: the system's clock (``s`` or ``u = log s``) while ``log t < 1``, with ``log t`` in the
  ODE (its stiff mode is harmless for an L-stable method) and output levels hit by re-stepping;
  then ``v = log log t`` as the independent variable and the system's clock as a state.  States
  grow like powers of ``log t`` (THEORY.md §5), i.e. exponentials in ``v``, so steps of about
  constant size in ``v`` suffice, the ``log t`` mode is gone, and output levels and the target are
  step ends.

Measured (2 loaded cores, one process, ``OPENBLAS_NUM_THREADS=1``): cosh on the linear model of
``bench_clock.py`` reaches ``log t = 1e4`` in about 470 steps and 20-30 s at 140 bits; cosh on the
8/8/4 square-ReLU net (P = 40, ``benchmarks/bench_implicit.py --only n``) with
``jacobian_points=3`` at 140 bits reaches ``log t = 1e2 / 1e3 / 1e4`` after 57 / 117 / 188 s
(2175 steps, 33 kinks cut), agreeing with a 170-bit, tol 1e-38 run to at least 31.6 digits in
``theta / |theta|`` and 31.8 in the minimal margin at every recorded level; heyoka's Taylor
method stalls near ``log t = 30-50`` on these cases.

Examples
--------
>>> A, b, c = radau_tableau(3, 100)
>>> [mpmath.nstr(v, 10) for v in c]
['0.1550510257', '0.6449489743', '1.0']
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import mpmath
import numpy as np
import scipy.linalg as sla
import sympy as sp
from scipy.interpolate import BarycentricInterpolator
from scipy.optimize import brentq

from ._compile import compile_functions, converter, n_pars, par_array, to_mpf
from ._record import RunRecord, output_levels
from ._system import MirrorFlowSystem

__all__ = ["ImplicitFunctions", "compile_implicit", "integrate_implicit", "radau_tableau"]


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
    dps = int(bits * 0.30103) + 20
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
class ImplicitFunctions:
    """Compiled right-hand side, start-up data and read-out of a system at ``bits`` precision.

    Build with :func:`compile_implicit`; pass to :func:`integrate_implicit` instead of the system to
    reuse the compilation across runs at the same precision.
    """

    system: MirrorFlowSystem
    bits: int
    rhs: Callable[[np.ndarray], np.ndarray]
    init: Callable[[np.ndarray], np.ndarray]
    post: Callable[[np.ndarray], np.ndarray]
    compile_seconds: float
    kinks: Callable[..., np.ndarray] | None = None  # float64, for detection
    kinks_mp: Callable[..., np.ndarray] | None = None  # MPFR, for the roots


def compile_implicit(system: MirrorFlowSystem, bits: int) -> ImplicitFunctions:
    """Compile ``system.equations`` (clock as an extra input), start-up and read-out expressions.

    Parameters
    ----------
    system : MirrorFlowSystem
        From :func:`numerics.solvers.precise.build_mirror_flow_system` (any state and clock).
    bits : int
        MPFR precision of every compiled function.

    Returns
    -------
    ImplicitFunctions
    """
    if not isinstance(system, MirrorFlowSystem):
        raise ValueError(
            f"expected a MirrorFlowSystem (build_mirror_flow_system(...)), got {type(system)}"
        )
    t0 = time.perf_counter()
    clock_var = hy.make_vars("implicit_clock")
    rhs_exprs = [hy.subs(r, {hy.time: clock_var}) for _, r in system.equations]
    kw: dict[str, Any] = {"fp_type": "real", "prec": int(bits), "scale": 1.0}
    rhs = _compile_into(system, rhs_exprs, [*system.variables, clock_var], int(bits))
    init = compile_functions(system, system.init_exprs, system.theta_in, **kw)
    post = compile_functions(system, [*system.theta, system.log_loss], **kw)
    kinks = kinks_mp = None
    if system.kinks:
        kinks = compile_functions(system, list(system.kinks), system.variables[: system.n_params])
        kinks_mp = _compile_into(system, list(system.kinks),
                                 system.variables[: system.n_params], int(bits))
    return ImplicitFunctions(system, int(bits), rhs, init, post, time.perf_counter() - t0, kinks,
                             kinks_mp)


def _compile_into(
    system: MirrorFlowSystem, outputs: Sequence[Any], inputs: Sequence[Any], bits: int
) -> Callable[..., np.ndarray]:
    """``f(x, out=None)``: as :func:`numerics.solvers.precise.compile_functions` (MPFR ``real``),
    batched inputs only, optionally writing into a preallocated ``out``.

    heyoka's ``real`` numpy arrays leak the MPFR storage of every freshly written array (about 50
    bytes per element at 140 bits, heyoka 7.13 / numpy 2.4), while writes into existing arrays
    (ufuncs with ``out=``, ``np.copyto``) reuse it: the integrator works in preallocated buffers.
    """
    cf = hy.cfunc(list(outputs), list(inputs), fp_type=hy.real, prec=bits, compact_mode=True)
    npar = n_pars(outputs)
    pars = par_array(system, npar, 1.0, "real", bits)
    batched: dict[int, np.ndarray] = {}

    def call(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        kw: dict[str, Any] = {} if out is None else {"outputs": out}
        if npar:
            b = x.shape[1]
            if b not in batched:
                batched[b] = np.repeat(pars[:, None], b, axis=1)  # read-only
            kw["pars"] = batched[b]
        return cf(x, **kw)

    return call


class _Radau:
    """One Radau IIA step with simplified Newton iterations (state: hy.real arrays)."""

    def __init__(
        self, fns: ImplicitFunctions, stages: int, tol: float, newton_tol: float, max_iter: int
    ) -> None:
        self.fns = fns
        self.bits = fns.bits
        self.s = stages
        A, _, c = radau_tableau(stages, self.bits + 16)
        conv = converter("real", self.bits)
        self.conv = conv
        self.A = np.array([[conv(a) for a in row] for row in A], dtype=hy.real)
        self.A64 = np.array([[float(a) for a in row] for row in A])
        self.c = np.array([conv(v) for v in c], dtype=hy.real)
        self.c64 = np.array([float(v) for v in c])
        self.order = 2 * stages - 1
        self.tol = tol
        self.tol_r = conv(tol)
        self.newton_tol = newton_tol
        self.max_iter = max_iter
        self.N = fns.system.n_params + 1
        self.stats = {"newton_iterations": 0, "jacobian_evaluations": 0, "rhs_evaluations": 0,
                      "lu_factorizations": 0, "newton_failures": 0}
        self.J: _Jacobians | None = None  # scaled Jacobian at the step start
        self.J_at: Any = None
        self.sc: np.ndarray | None = None
        self._lu: dict[Any, Any] = {}
        self.mapped = False
        self.stage_jacobians = True
        self.jacobian_stages = np.arange(stages)  # stages whose predicted values get Jacobians
        self.last_jacobians: _Jacobians | None = None
        with np.errstate(divide="ignore"):
            self.logA = np.log(np.abs(self.A64))
        self.sgnA = np.sign(self.A64)
        self.zero, self.one = conv(0.0), conv(1.0)
        self.eps = conv(2.0 ** (-self.bits // 2))
        self._bufs: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        self._ring = 0

    def buf(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A preallocated MPFR work array (see :func:`_compile_into`), reused across calls."""
        key = (name, shape)
        if key not in self._bufs:
            self._bufs[key] = np.zeros(shape).astype(hy.real) * self.zero
        return self._bufs[key]

    # ---------------------------------------------------------------- evaluations
    def f(self, clocks: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``F`` at the columns of ``Y`` (N, m) and clocks (m,), in a work buffer (N, m).

        The buffer is overwritten by the next call with the same ``m``: use it at once.
        """
        N, m = Y.shape
        self.stats["rhs_evaluations"] += m
        X = self.buf("f_in", (N + 1, m))
        out = self.buf("f_out", (N, m))
        if not self.mapped:
            np.copyto(X[:N], Y)
            np.copyto(X[N], clocks)
            return self.fns.rhs(X, out=out)
        # Working clock v = log log t, state (params, c): with F = (F_p, F_logt) in clock c,
        # d(params)/dv = log t F_p / F_logt and dc/dv = log t / F_logt.
        np.copyto(X[: N - 1], Y[:-1])
        np.exp(clocks, out=X[N - 1])
        np.copyto(X[N], Y[-1])
        F = self.fns.rhs(X, out=self.buf("f_sys", (N, m)))
        g = self.buf("f_g", (N, m))
        np.divide(X[N - 1], F[-1], out=out[-1])
        np.copyto(g, out[-1][None, :])
        np.multiply(F[:-1], g[:-1], out=out[:-1])
        return out

    def to_system(self, clock: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """``(system clock, system state)`` for a working clock and working state."""
        if not self.mapped:
            return clock, y
        lt = np.exp(np.array([clock], dtype=hy.real))
        return y[-1], np.concatenate([y[:-1], lt])

    def weights(self, y: np.ndarray) -> np.ndarray:
        return self.tol_r + self.tol_r * np.abs(y)

    def _scaled_jacobians(self, clocks: np.ndarray, Ys: np.ndarray, sc: np.ndarray) -> _Jacobians:
        """``D^-1 J(c_m, Y_m) D`` at the rows of ``Ys`` (m, N), forward differences in one call.

        Returned row-normalised in float64 with the logarithms of the row maxima, since rows of
        the scaled Jacobian differ by factors such as ``e^3000`` late on (cosh): the MPFR
        differences go to float64 through their logarithms.
        """
        N, m = self.N, Ys.shape[0]
        d = self.buf("j_delta", (m, N))
        np.abs(Ys, out=d)
        np.maximum(d, self.one, out=d)
        np.multiply(d, self.eps, out=d)
        pts = self.buf("j_pts", (N, m, N + 1))  # point k + 1 of stage j moves coordinate k
        np.copyto(pts, Ys.T[:, :, None])
        moved = self.buf("j_moved", (m, N))
        np.add(Ys, d, out=moved)
        k = np.arange(N)
        pts[k, :, k + 1] = moved.T
        cl = self.buf("j_clock", (m, N + 1))
        np.copyto(cl, clocks[:, None])
        F = self.f(cl.reshape(m * (N + 1)), pts.reshape(N, m * (N + 1))).reshape(N, m, N + 1)
        # G[r, j, c] = (F_r(y_j + delta_c e_c) - F_r(y_j)) / delta_c * sc_c  (= J~ * sc_r)
        # (ufunc operands contiguous and of one shape: numpy's buffered iteration would leak)
        G, G2 = self.buf("j_diff", (N, m, N)), self.buf("j_diff2", (N, m, N))
        np.copyto(G2, F[:, :, 1:])
        np.copyto(G, F[:, :, :1])
        np.subtract(G2, G, out=G)
        cf = self.buf("j_colf", (m, N))
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
        self.stats["jacobian_evaluations"] += m
        at = np.array([float(c) for c in clocks])
        return _Jacobians(Jn.transpose(1, 0, 2), (lmax - log_sc[:, None]).T, at)

    def factor(
        self, h: Any, Js: _Jacobians, clocks: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray]:
        """LU (float64) of the row-equilibrated ``I - h (A (x) I) diag(J_j)``, and the row scales.

        Rates of the primal flow differ by factors ``f''(theta_k) / f''(theta_l)`` (``e^3000``
        for cosh late on): row ``r`` of block row ``i`` is divided by
        ``max(1, max_j |h A_ij| rowmax_j[r])`` (within a factor ``s + 1`` of its largest entry),
        computed from logarithms; the matrix is assembled in float64 from the row-normalised
        Jacobians.  Stage ``j`` takes the Jacobian of ``Js`` nearest to ``clocks[j]`` (all the
        first when ``clocks`` is None).  Returns the logarithms of the row scales (s N,).
        """
        s, N = self.s, self.N
        if clocks is None:
            idx = np.zeros(s, dtype=int)
        else:
            cf = np.array([float(c) for c in clocks])
            idx = np.argmin(np.abs(cf[:, None] - Js.at[None, :]), axis=1)
        coef = (math.log(float(h)) + self.logA)[:, :, None] + Js.logrow[idx][None, :, :]
        rows = np.maximum(coef.max(axis=1), 0.0)  # (s, N)
        w = self.sgnA[:, :, None] * np.exp(coef - rows[:, None, :])  # |w| <= 1
        M = -(w[:, :, :, None] * Js.normalised[idx][None, :, :, :])  # (i, j, r, c)
        M = M.transpose(0, 2, 1, 3).reshape(s * N, s * N)
        M[np.arange(s * N), np.arange(s * N)] += np.exp(-rows).ravel()
        if not np.all(np.isfinite(M)):
            raise FloatingPointError("non-finite Newton matrix")
        self.stats["lu_factorizations"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sla.LinAlgWarning)
            lu = sla.lu_factor(M, check_finite=False)
        if not np.all(np.diag(lu[0]) != 0):
            raise _SingularNewtonMatrixError
        return lu, rows.ravel()

    def jacobian(self, clock: Any, y: np.ndarray) -> None:
        """Scaled Jacobian ``D^-1 J D`` at ``(clock, y)`` (float64) for the simplified Newton."""
        sc = self.weights(y)
        self.J = self._scaled_jacobians(np.array([clock], dtype=hy.real), y[None, :], sc)
        self.sc, self.J_at = sc, y
        self._lu.clear()

    def lu(self, h: Any) -> Any:
        key = str(h)
        if key not in self._lu:
            assert self.J is not None
            self._lu[key] = self.factor(h, self.J)
        return self._lu[key]

    # ---------------------------------------------------------------- one step
    def predict(
        self, polys: Sequence[_Poly], clock: Any, y_s: np.ndarray, h: Any
    ) -> np.ndarray | None:
        """Initial stage increments (a work buffer (s, N)) from the collocation polynomials of
        earlier steps, or None; ``y_s`` holds the step's start in every row.

        Each new node takes the polynomial (of ``polys``) whose own interval ends nearest to it.
        """
        if not polys:
            return None
        nodes = [self.zero, *self.c]
        W = self.buf("p_w", (self.s + 1,))
        out = self.buf("p_z", (self.s, self.N))
        for j, cj in enumerate(self.c):
            t = clock + h * cj
            poly = min(polys, key=lambda p: max(0.0, float((t - p.clock) / p.h) - 1.0))
            sj = (t - poly.clock) / poly.h
            for k, nk in enumerate(nodes):
                v = self.one
                for m, nm in enumerate(nodes):
                    if m != k:
                        v = v * (sj - nm) / (nk - nm)
                W[k] = v
            np.matmul(W, poly.values, out=out[j])
        np.subtract(out, y_s, out=out)
        return out if np.all(np.isfinite(out.astype(float))) else None

    def _slot(self) -> np.ndarray:
        """The next of 12 work buffers for collocation values (a ring: short-lived polys)."""
        self._ring = (self._ring + 1) % 12
        return self.buf(f"ring{self._ring}", (self.s + 1, self.N))

    def keep(self, poly: _Poly) -> _Poly:
        """A copy of ``poly`` that outlives the ring (the accepted step's, for predictions)."""
        kept = self.buf("ring_kept", (self.s + 1, self.N))
        np.copyto(kept, poly.values)
        return _Poly(poly.clock, poly.h, kept)

    def step(
        self,
        clock: Any,
        y: np.ndarray,
        h: Any,
        polys: Sequence[_Poly] = (),
        reuse: _Jacobians | None = None,
    ) -> tuple[np.ndarray, _Poly] | None:
        """One step of size ``h``: ``(y1, collocation data)`` or ``None`` if Newton failed.

        The stage Jacobians used are left in ``self.last_jacobians``; ``reuse`` gives them instead
        of new ones (each stage takes the one nearest in the clock).
        """
        try:
            return self._step(clock, y, h, polys, reuse)
        except (_SingularNewtonMatrixError, FloatingPointError):
            # singular Newton matrix, or a non-finite Jacobian at wild predicted stage values
            self.stats["newton_failures"] += 1
            return None

    def _step(
        self, clock: Any, y: np.ndarray, h: Any, polys: Sequence[_Poly], reuse: _Jacobians | None
    ) -> tuple[np.ndarray, _Poly] | None:
        assert self.sc is not None
        s, N = self.s, self.N
        sc = self.sc
        clocks = clock + h * self.c
        Zb, Yb, R, D = (self.buf(k, (s, N)) for k in ("n_z", "n_y", "n_r", "n_dz"))
        y_s, sc_s = self.buf("n_y0", (s, N)), self.buf("n_sc", (s, N))
        np.copyto(y_s, y[None, :])
        np.copyto(sc_s, sc[None, :])
        Z = self.predict(polys, clock, y_s, h)
        if Z is None:
            np.multiply(y_s, self.zero, out=Zb)
        else:
            np.copyto(Zb, Z)
        np.add(y_s, Zb, out=Yb)
        if polys and self.stage_jacobians:
            # Newton matrix from Jacobians at the predicted stage values: the flow is strongly
            # nonlinear across a step (f'' = cosh), and a Jacobian frozen at y0 contracts slowly.
            if reuse is None:
                sel = self.jacobian_stages
                reuse = self._scaled_jacobians(clocks[sel], Yb[sel], sc)
            self.last_jacobians = reuse
            lu, rows = self.factor(h, reuse, clocks)
        else:
            self.last_jacobians = None
            lu, rows = self.lu(h)
        hA = self.buf("n_ha", (s, s))
        np.multiply(self.A, h, out=hA)
        dn_prev = None
        for _it in range(self.max_iter):
            np.add(y_s, Zb, out=Yb)
            F = self.f(clocks, Yb.T)  # (N, s)
            np.matmul(hA, F.T, out=R)
            np.subtract(R, Zb, out=R)
            np.divide(R, sc_s, out=R)
            # residual / row scale, through logarithms (row scales may exceed float64)
            sign = ((R > 0).astype(float) - (R < 0)).ravel()
            np.abs(R, out=R)
            np.log(R, out=R)
            with np.errstate(invalid="ignore", over="ignore"):
                r = np.exp(R.astype(float).ravel() - rows) * sign
            if not np.all(np.isfinite(r)):
                return None
            dz = sla.lu_solve(lu, r, check_finite=False)
            self.stats["newton_iterations"] += 1
            dn = float(np.sqrt(np.mean(dz * dz)))
            np.copyto(D, dz.reshape(s, N), casting="unsafe")
            np.multiply(D, sc_s, out=D)
            np.add(Zb, D, out=Zb)
            if dn <= self.newton_tol:
                values = self._slot()
                np.copyto(values[0], y)
                np.add(y_s, Zb, out=values[1:])
                return values[-1].copy(), _Poly(clock, h, values)
            if dn_prev is not None and dn > 0.9 * dn_prev:
                break
            dn_prev = dn
        self.stats["newton_failures"] += 1
        return None


class _SingularNewtonMatrixError(ArithmeticError):
    """The float64 Newton matrix is singular: the step is retried smaller."""


class _Kinks:
    """Sign changes of ``system.kinks`` (ReLU pre-activations) along a double step."""

    def __init__(self, fns: ImplicitFunctions, rad: _Radau) -> None:
        self.fn, self.fn_mp = fns.kinks, fns.kinks_mp
        self.P = fns.system.n_params
        c = np.array([float(v) for v in rad.c])
        self.nodes = np.concatenate([[0.0], c / 2, 0.5 + c / 2])  # a: 0..s, b: s..2s
        self.conv, self.one, self.zero = rad.conv, rad.one, rad.zero
        half = rad.conv(0.5)
        self.nodes_mp = [half] + [half + half * cj for cj in rad.c]  # the second half step's
        self.eps_root = 2.0 ** (-rad.bits + 12)

    def values(self, a: _Poly, b: _Poly) -> np.ndarray:
        """Kink values (nk, 2s + 1) at the collocation nodes of the two half steps (float64)."""
        P = self.P
        pts = np.concatenate([a.values[:, :P].astype(float), b.values[1:, :P].astype(float)])
        return self.fn(np.ascontiguousarray(pts.T))

    def refine(self, a: _Poly, b: _Poly, i: int) -> Any:
        """Root of kink ``i`` near the end of a double step cut at it (an MPFR fraction, or None).

        The first cut is located on the interpolant of a step that crossed the kink, whose error
        is ``O(h^2)`` there: this root comes from the second half step of the step that (nearly)
        ends on it, by secant iterations on its collocation polynomial in MPFR (the square-ReLU
        flow is only Lipschitz at a kink: a crossing ``delta`` inside a step costs
        ``O(delta^2)``, so float64 roots would cost ~1e-26).
        """
        kv = list(np.asarray(self.fn_mp(np.ascontiguousarray(b.values[:, : self.P].T)))[i])
        x = self.nodes_mp
        n = len(x)
        wts = []
        for k in range(n):
            v = self.one
            for m in range(n):
                if m != k:
                    v = v * (x[k] - x[m])
            wts.append(self.one / v)

        def p(t: Any) -> Any:
            num = den = self.zero
            for k in range(n):
                d = t - x[k]
                if d == 0:
                    return kv[k]
                num, den = num + wts[k] * kv[k] / d, den + wts[k] / d
            return num / den

        t0, t1 = self.one, self.one - self.conv(1e-6)
        p0, p1 = p(t0), p(t1)
        for _ in range(30):
            if p1 == p0:
                break
            t0, t1 = t1, t1 - p1 * (t1 - t0) / (p1 - p0)
            p0, p1 = p1, p(t1)
            if abs(float(t1 - t0)) < self.eps_root:
                break
        return t1 if abs(float(t1 - 1)) < 1e-3 else None

    def first_crossing(self, a: _Poly, b: _Poly) -> tuple[float, int] | None:
        """Fraction of the double step where the first kink changes sign and its index, or None.

        Kink values at the 2s + 1 collocation nodes of the two half steps; a kink that starts
        within ``1e-9`` (relative) of zero is taken as just crossed.  The root is found on the
        float64 interpolant of the half step, a first location that :meth:`refine` improves.
        """
        k = self.values(a, b)
        scale = np.max(np.abs(k), axis=1)
        live = np.abs(k[:, 0]) > 1e-9 * (1.0 + scale)
        change = live[:, None] & (np.sign(k[:, 1:]) != np.sign(k[:, :1]))
        if not np.any(change):
            return None
        first = np.where(change.any(axis=1), change.argmax(axis=1), k.shape[1])
        i = int(np.argmin(first))
        j = int(first[i])  # sign change between nodes j and j + 1
        s = len(a.values) - 1
        half = slice(0, s + 1) if j < s else slice(s, 2 * s + 1)
        interp = BarycentricInterpolator(self.nodes[half], k[i, half])
        lo, hi = self.nodes[j], self.nodes[j + 1]
        sig = brentq(lambda x: float(interp(x)), lo, hi, xtol=1e-16, rtol=1e-15)
        return (sig, i) if 1e-9 < sig < 1.0 - 1e-9 else None


@dataclass(frozen=True)
class _Jacobians:
    """Scaled Jacobians ``D^-1 J D`` at m points: ``normalised`` (m, N, N) float64 rows of max-norm
    one (or zero), times ``exp(logrow)`` (m, N; ``-inf`` for zero rows)."""

    normalised: np.ndarray
    logrow: np.ndarray
    at: np.ndarray  # float64 clocks of the m points

    def __add__(self, other: _Jacobians) -> _Jacobians:
        return _Jacobians(*(np.concatenate([a, b]) for a, b in
                            zip((self.normalised, self.logrow, self.at),
                                (other.normalised, other.logrow, other.at), strict=True)))


@dataclass
class _Poly:
    """Collocation data of a step: values at ``clock + h * [0, c_1..c_s]`` (a work buffer)."""

    clock: Any
    h: Any
    values: np.ndarray


@dataclass
class _Cursor:
    clock: Any
    y: np.ndarray


def integrate_implicit(
    system_or_functions: MirrorFlowSystem | ImplicitFunctions,
    theta0: Sequence[Any],
    logt_target: float,
    *,
    dps: int = 30,
    tol: float | None = None,
    stages: int = 9,
    budget_seconds: float = 60.0,
    per_decade: int = 4,
    s0: float | None = None,
    h0: float | None = None,
    newton_tol: float = 1e-3,
    max_newton: int = 12,
    max_steps: int = 1_000_000,
    loglogt_after: float | None = 1.0,
    newton_jacobian: str = "stages",
    jacobian_points: int | None = None,
    reuse_jacobians: bool = True,
    kink_events: bool = True,
    start: tuple[Any, Sequence[Any], Any] | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunRecord:
    """Integrate mirror flow from ``theta0`` until ``log t = logt_target`` with Radau IIA.

    Parameters
    ----------
    system_or_functions : MirrorFlowSystem or ImplicitFunctions
        The system (its ``equations``: parameters and ``log t`` in the system's clock), or its
        compilation by :func:`compile_implicit` (reused across runs at the same precision).
    theta0 : sequence
        Initial parameters (floats at their binary value, strings at their decimal value).
    logt_target : float
        Stop when ``log t`` reaches this value (hit to working precision).
    dps : int
        Decimal digits wanted; the working precision is ``dps`` digits plus 40 guard bits (ignored
        when ``ImplicitFunctions`` are given: their precision is used).
    tol : float, optional
        Relative and absolute local error tolerance per step; default ``10**-(dps + 2)`` (from the
        working precision: ``dps`` digits plus 40 guard bits).
    stages : int
        Radau IIA stages ``s`` (order ``2s - 1``).
    budget_seconds : float
        Wall-clock budget of the integration (compilation excluded).
    per_decade : int
        Recorded levels of ``log t`` per decade (from ``log t = 1``), each hit exactly.
    s0 : float, optional
        Start clock ``s0 > 0``: state ``p0 + s0 p'(0)`` and
        ``log t = log s0 - log L0 - s0 (d log L/ds)(0) / 2``; default ``0.01 * sqrt(tol)``.
    h0 : float, optional
        First step in the clock; default ``1e-3`` (``u = log s`` clock) or ``s0`` (``s`` clock).
    newton_tol : float
        Newton stops when the estimated remaining error is below this fraction of ``tol``.
    max_newton : int
        Newton iterations before a step is retried (new Jacobian, then a quarter of the step).
    max_steps : int
        Safety limit on accepted steps.
    newton_jacobian : {"stages", "start"}
        Newton matrix from Jacobians at the predicted stage values (robust for strongly nonlinear
        flows such as cosh; ``stages * (P + 2)`` right-hand sides per solve) or from one Jacobian
        at the start of the step (``P + 2`` per step; for large P and mildly nonlinear flows).
    jacobian_points : int, optional
        With ``newton_jacobian="stages"``: Jacobians at this many of the predicted stage values
        (spread over the step; each stage takes the nearest), default all ``stages``.
    reuse_jacobians : bool
        The full step of the step-doubling error estimate reuses the Jacobians of its two half
        steps (nearest in the clock) instead of computing its own.
    kink_events : bool
        End steps on sign changes of ``system.kinks`` (ReLU pre-activations, located on the
        collocation polynomial, in MPFR): the square-ReLU right-hand side is only Lipschitz
        there, and a step across a kink has a large error estimate, so without events the step
        size collapses at each crossing.  Plain ReLU (a discontinuous right-hand side) is not
        supported: crossing it within ``delta`` costs ``O(delta)``.
    start : (clock, parameters, log t), optional
        Continue a previous run instead of starting at ``t = 0``, as ``start`` of
        :func:`numerics.solvers.precise.integrate_taylor`: the system's clock (``s`` or
        ``u = log s``),
        the P parameters and ``log t`` there, as mpmath numbers or decimal strings (``theta0``
        is then ignored).
    progress : callable, optional
        Called with the current ``log t`` (float) at most every 0.2 s of the ``log log t``
        phase. Ctrl-C ends the run after the last completed step (status ``"interrupted"``).
    loglogt_after : float or None
        Once ``log t`` exceeds this value, continue with ``v = log log t`` as the independent
        variable and the system's clock as a state (``d/dv = log t / (d log t / dc) d/dc``);
        ``None`` keeps the system's clock throughout.

    Returns
    -------
    RunRecord
        ``clock``, ``s``, ``logt``, ``states`` (parameters then ``log t``), ``theta``, ``log_loss``
        as mpmath numbers at the recorded points (start, every output level, the target or the
        last point); ``status`` ``"reached"``, ``"budget"``, ``"interrupted"`` (Ctrl-C) or
        ``"error"``; ``stats`` with
        ``steps``, ``rejected``, ``seconds``, ``compile_seconds``, ``newton_iterations``,
        ``jacobian_evaluations``, ``rhs_evaluations``, ``lu_factorizations``, ``kinks_cut``,
        ``record_seconds`` (wall time at each recorded level), ``order``, ``stages``, ``tol``,
        ``prec``.

    Examples
    --------
    Gradient flow, linear model, one point ``x = (1, 1)``: ``q(s) = 2 s`` and
    ``log t = log(expm1(2 s) / 2)``, so ``s = log1p(2 exp(log t)) / 2``.

    >>> import mpmath, numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 1.0]])
    >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd,
    ...                                 clock="log_s")
    >>> run = integrate_implicit(sysm, [0.0, 0.0], 50.0, dps=30)
    >>> exact = mpmath.log1p(2 * mpmath.exp(mpmath.mpf(50))) / 2
    >>> run.status, bool(abs(run.s[-1] / exact - 1) < 1e-29)
    ('reached', True)
    """
    if isinstance(system_or_functions, ImplicitFunctions):
        fns = system_or_functions
    else:
        if not isinstance(dps, int) or dps < 5:
            raise ValueError(f"dps must be an integer >= 5, got {dps!r}")
        fns = compile_implicit(system_or_functions, int(dps * 3.3219) + 40)
    system, bits = fns.system, fns.bits
    P = system.n_params
    if start is None and len(theta0) != P:
        raise ValueError(f"theta0 has length {len(theta0)}, the system has n_params={P}")
    if not (isinstance(stages, int) and 1 <= stages <= 12):
        raise ValueError(f"stages must be an integer in 1..12, got {stages!r}")
    digits_avail = (bits - 40) * 0.30103
    tol_f = 10.0 ** -(digits_avail + 2) if tol is None else float(tol)
    if not 0 < tol_f < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    log_clock = system.clock == "log_s"
    s0_f = 0.01 * math.sqrt(tol_f) if s0 is None else float(s0)
    if not s0_f > 0:
        raise ValueError(f"s0 must be positive, got {s0}")
    conv = converter("real", bits)
    wp = bits + 24
    if newton_jacobian not in ("stages", "start"):
        raise ValueError(f"newton_jacobian must be 'stages' or 'start', got {newton_jacobian!r}")
    rad = _Radau(fns, stages, tol_f, newton_tol, max_newton)
    rad.stage_jacobians = newton_jacobian == "stages"
    if jacobian_points is not None:
        if not (isinstance(jacobian_points, int) and 1 <= jacobian_points <= stages):
            raise ValueError(f"jacobian_points must be an integer in 1..stages, got "
                             f"{jacobian_points!r}")
        rad.jacobian_stages = np.unique(np.round(np.linspace(0, stages - 1, jacobian_points))
                                        .astype(int))
    switch = None if loglogt_after is None else float(loglogt_after)
    if switch is not None and not switch > 0:
        raise ValueError(f"loglogt_after must be positive or None, got {loglogt_after}")

    if start is not None:
        # Continue a run: (clock, parameters, log t) as in integrate_taylor's ``start``.
        clock_s, p, logt0 = start
        if len(p) != P:
            raise ValueError(f"start state has {len(p)} variables, the system has n_params={P}")
        with mpmath.workprec(wp):
            clock0, logt0 = mpmath.mpf(clock_s), mpmath.mpf(logt0)
            p = [mpmath.mpf(v) for v in p]
    else:
        # Start-up from the first-order expansion at s = 0 (as integrate_taylor).
        th = np.array([conv(v) for v in theta0], dtype=hy.real)
        vals = to_mpf(np.asarray(fns.init(th)))
        with mpmath.workprec(wp):
            s0_m = mpmath.mpf(s0_f)
            p = [vals[k] + s0_m * vals[P + k] for k in range(P)]
            ll0, dll0 = vals[2 * P], vals[2 * P + 1]
            logt0 = mpmath.log(s0_m) - ll0 - s0_m * dll0 / 2
            clock0 = mpmath.log(s0_m) if log_clock else s0_m
    cur = _Cursor(conv(clock0), np.array([conv(v) for v in [*p, logt0]], dtype=hy.real))
    records: list[tuple[Any, np.ndarray]] = [(cur.clock, cur.y)]
    if h0 is None:
        h0 = 1e-3 if log_clock else s0_f
    h = conv(h0)
    levels = [*output_levels(float(logt0), float(logt_target), per_decade), float(logt_target)]
    levels = sorted(set(levels))

    facmax, facmin, safety = 2.0, 0.2, 0.8
    steps = rejected = 0
    status = "error"
    t_start = time.perf_counter()
    deadline = t_start + budget_seconds
    two_p = 2.0**rad.order - 1
    kinks = _Kinks(fns, rad) if kink_events and fns.kinks is not None else None
    kinks_cut = kinks_refined = 0
    record_seconds = [0.0]

    last: dict[str, Any] = {"polys": []}

    def double_step(clock: Any, y: np.ndarray, hh: Any) -> tuple[np.ndarray, float] | None:
        """Two half steps and the error estimate against one full step."""
        half = hh / 2
        a = rad.step(clock, y, half, last["polys"])
        if a is None:
            return None
        ja = rad.last_jacobians
        b = rad.step(clock + half, a[0], half, [a[1]])
        if b is None:
            return None
        jb = rad.last_jacobians
        reuse = ja + jb if reuse_jacobians and ja is not None and jb is not None else None
        big = rad.step(clock, y, hh, [a[1], b[1]], reuse)
        if big is None:
            return None
        y1 = b[0]
        sc = rad.tol_r + rad.tol_r * np.maximum(np.abs(y), np.abs(y1))
        e = ((y1 - big[0]) / sc).astype(float)
        err = float(np.sqrt(np.mean(e * e))) / two_p
        last["candidate"] = [b[1]]
        last["halves"] = (a[1], b[1])
        return y1, err

    def hit_level(clock: Any, y: np.ndarray, H: Any, lt0: Any, lt1: Any, level: float) -> Any:
        """State at ``log t = level`` inside the accepted step ``[clock, clock + H]``."""
        lv = conv(level)
        lo, hi = conv(0.0), conv(1.0)
        sig = (lv - lt0) / (lt1 - lt0)
        best = None
        for _ in range(12):
            res = None
            for _retry in range(3):
                res = double_step(clock, y, sig * H)
                if res is not None:
                    break
                rad.jacobian(clock, y)
            if res is None:
                raise FloatingPointError("Newton failed while locating an output level")
            yl = res[0]
            f = yl[-1] - lv
            best = (clock + sig * H, yl)
            if abs(float(f)) <= 2.0 ** (-bits + 8) * max(1.0, abs(level)):
                break
            if f > 0:
                hi = sig
            else:
                lo = sig
            slope = H * rad.f(np.array([clock + sig * H], dtype=hy.real), yl[:, None])[-1, 0]
            new = sig - f / slope if float(slope) > 0 else (lo + hi) / 2
            sig = new if lo < new < hi else (lo + hi) / 2
        return best

    def to_loglogt(cur: _Cursor, h: Any) -> tuple[_Cursor, Any]:
        """Past ``log t = loglogt_after``: continue with ``v = log log t`` as the clock.

        The system's clock becomes a state: states grow like powers of log t (THEORY.md §5),
        exponentials in v, resolved with steps of about constant size; and log t is no longer a
        stiff mode.
        """
        if switch is None or rad.mapped or float(cur.y[-1]) < switch:
            return cur, h
        lt = cur.y[-1]
        rate = rad.f(np.array([cur.clock], dtype=hy.real), cur.y[:, None])[-1, 0]
        new = _Cursor(
            np.log(np.array([lt], dtype=hy.real))[0],
            np.concatenate([cur.y[:-1], np.array([cur.clock], dtype=hy.real)]),
        )
        rad.mapped = True
        last["polys"] = []
        return new, h * rate / lt

    try:
        cur, h = to_loglogt(cur, h)
        rad.jacobian(cur.clock, cur.y)
        fresh = True
        next_report = time.perf_counter()
        while True:
            if time.perf_counter() >= deadline:
                status = "budget"
                break
            if progress is not None and time.perf_counter() >= next_report:
                next_report = time.perf_counter() + 0.2
                progress(float(np.exp(float(cur.clock))) if rad.mapped else float(cur.y[-1]))
            if steps >= max_steps:
                status = "error"
                break
            h_try, level_hit = h, None
            if rad.mapped and levels:
                v_level = np.log(np.array([conv(levels[0])], dtype=hy.real))[0]
                if float(v_level - cur.clock) <= float(h) * (1 + 1e-9):
                    h_try, level_hit = v_level - cur.clock, levels[0]
            res = double_step(cur.clock, cur.y, h_try)
            cut = None if res is None or kinks is None else kinks.first_crossing(*last["halves"])
            if cut is not None:
                # A ReLU kink inside the step: end the step on it (the flow is smooth on each
                # side), then move the end onto the root of the new step's interpolant
                sig, ik = cut
                level_hit = None
                kinks_cut += 1
                for _ in range(6):
                    h_try = h_try * (conv(sig) if isinstance(sig, float) else sig)
                    res = double_step(cur.clock, cur.y, h_try)
                    sig = None if res is None else kinks.refine(*last["halves"], ik)
                    # measured on the 8/8/4 net: stopping at 1e-18 instead kept 29 digits
                    if sig is None or abs(float(sig - 1)) < 2.0 ** (16 - bits):
                        break
                    kinks_refined += 1
            if res is None:
                if not fresh:
                    rad.jacobian(cur.clock, cur.y)
                    fresh = True
                else:
                    h = h / 4
                    rejected += 1
                continue
            y1, err = res
            if not math.isfinite(err):
                h = h / 4
                rejected += 1
                continue
            fac = min(facmax, max(facmin, safety * (err + 1e-300) ** (-1.0 / (rad.order + 1))))
            if err > 1.0:
                h = h_try * conv(min(fac, 0.9))
                rejected += 1
                continue
            steps += 1
            if level_hit is not None:
                # The step ended exactly on log t = level (v = log level is the clock).
                levels.pop(0)
                cur = _Cursor(cur.clock + h_try, y1)
                records.append(rad.to_system(cur.clock, cur.y))
                record_seconds.append(time.perf_counter() - t_start)
                last["polys"] = [rad.keep(last["candidate"][0])]
                if level_hit >= float(logt_target):
                    status = "reached"
                    break
                if float(h_try) > 0.5 * float(h):  # a short step to a level keeps h
                    h = h_try * conv(fac)
                rad.jacobian(cur.clock, cur.y)
                fresh = True
                continue
            lt0, lt1 = cur.y[-1], y1[-1]
            done = False
            while not rad.mapped and levels and float(lt1) >= levels[0]:
                level = levels.pop(0)
                rec = hit_level(cur.clock, cur.y, h_try, lt0, lt1, level)
                records.append(rad.to_system(*rec))
                record_seconds.append(time.perf_counter() - t_start)
                if level >= float(logt_target):
                    done = True
                    break
            if done:
                status = "reached"
                break
            cur = _Cursor(cur.clock + h_try, y1)
            last["polys"] = [rad.keep(last["candidate"][0])]
            if cut is None:  # a step cut short at a kink keeps h
                h = h * conv(fac)
            cur, h = to_loglogt(cur, h)
            rad.jacobian(cur.clock, cur.y)
            fresh = True
    except (FloatingPointError, ZeroDivisionError, ValueError) as exc:  # non-finite state
        status = "error"
        err_msg = str(exc)
    except KeyboardInterrupt:  # Ctrl-C: keep every completed step (cur is one)
        status = "interrupted"
        err_msg = ""
    else:
        err_msg = ""
    seconds = time.perf_counter() - t_start
    if status != "reached":
        records.append(rad.to_system(cur.clock, cur.y))

    states_r = np.array([r[1] for r in records], dtype=hy.real)
    post = np.asarray(fns.post(np.ascontiguousarray(states_r.T)))
    with mpmath.workprec(wp):
        clocks = np.array([to_mpf(r[0]) for r in records], dtype=object)
        s_vals = np.array([mpmath.exp(c) if log_clock else c for c in clocks], dtype=object)
        states = to_mpf(states_r)
        logts = np.array(states[:, -1], dtype=object)
        theta = to_mpf(post[:P].T)
        log_loss = to_mpf(post[P])
    stats = {
        "steps": steps,
        "rejected": rejected,
        "seconds": seconds,
        "compile_seconds": fns.compile_seconds,
        "order": rad.order,
        "stages": stages,
        "tol": tol_f,
        "prec": bits,
        "s0": s0_f,
        "method": "radau_iia",
        "kinks_cut": kinks_cut,
        "kinks_refined": kinks_refined,
        "record_seconds": record_seconds,
        "error_message": err_msg,
        **rad.stats,
    }
    return RunRecord(
        clock=clocks,
        s=s_vals,
        logt=logts,
        states=states,
        theta=theta,
        log_loss=log_loss,
        status=status,
        stats=stats,
    )
