"""Radau IIA collocation in MPFR precision for the stiff time-changed mirror-flow ODE.

The time-changed mirror flow (THEORY.md §7) is stiff: unsaturated coordinates relax quickly
while the saturated direction creeps, and ``log t`` relaxes at rate ``d log t / ds``.  Explicit
methods (heyoka's Taylor integrator included) then take steps bounded by the fastest relaxation
time; for cosh-type potentials they stall near ``log t ~ 30`` on a linear model
(``benchmarks/bench_clock.py``).  :func:`integrate_implicit` integrates the same
:class:`~numerics._system.MirrorFlowSystem` (``system.equations``: parameters and ``log t``)
with an ``s``-stage Radau IIA method (order ``2s - 1``, L-stable, stiffly accurate):

- right-hand side compiled once by :func:`numerics._taylor.compile_functions` in MPFR ``real`` at
  the working precision and evaluated for all stages in one batched call;
- simplified Newton iterations whose residuals are computed in MPFR, while the correction solves
  ``(I - h A (x) J~) dZ = r`` are done in float64 on the *scaled* Jacobian
  ``J~ = D^-1 J D`` (``D`` = error weights): the float64 solve only sets the contraction rate, never
  the accuracy (iterative refinement), and the scaling keeps entries such as ``exp(-1e4)`` or
  ``sinh(1e4)`` representable;
- the Jacobian by one batched forward difference of the compiled right-hand side at the working
  precision (half the working digits, ample for a Newton matrix);
- Newton matrices from Jacobians at the *predicted stage values* (the collocation polynomial of
  the previous step): ``f''`` varies by orders of magnitude across one step (cosh), and a Jacobian
  frozen at the step's start contracts too slowly; rows are equilibrated in MPFR before rounding,
  since rates of different coordinates differ by factors like ``e^3000`` late on;
- step-size control by step doubling (one step of ``h`` against two of ``h/2``; ``stats["steps"]``
  counts accepted double steps, three Radau solves each);
- two clocks: the system's clock (``s`` or ``u = log s``) while ``log t < 1``, with ``log t`` in the
  ODE (its stiff mode is harmless for an L-stable method) and output levels hit by re-stepping;
  then ``v = log log t`` as the independent variable and the system's clock as a state.  States
  grow like powers of ``log t`` (THEORY.md §5), i.e. exponentials in ``v``, so steps of about
  constant size in ``v`` suffice, the ``log t`` mode is gone, and output levels and the target are
  step ends.

Measured (``benchmarks/bench_implicit.py``, 2 loaded cores): cosh on the linear model of
``bench_clock.py`` reaches ``log t = 1e4`` in about 470 steps and 20-30 s at 140 bits; heyoka's
Taylor method stalls near ``log t = 30-50`` on the same case.

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

from ._system import MirrorFlowSystem
from ._taylor import TaylorRun, _converter, _out_levels, compile_functions, to_mpf

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


def compile_implicit(system: MirrorFlowSystem, bits: int) -> ImplicitFunctions:
    """Compile ``system.equations`` (clock as an extra input), start-up and read-out expressions.

    Parameters
    ----------
    system : MirrorFlowSystem
        From :func:`numerics._system.build_mirror_flow_system` (any state and clock).
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
    rhs = compile_functions(system, rhs_exprs, [*system.variables, clock_var], **kw)
    init = compile_functions(system, system.init_exprs, system.theta_in, **kw)
    post = compile_functions(system, [*system.theta, system.log_loss], **kw)
    return ImplicitFunctions(system, int(bits), rhs, init, post, time.perf_counter() - t0)


class _Radau:
    """One Radau IIA step with simplified Newton iterations (state: hy.real arrays)."""

    def __init__(
        self, fns: ImplicitFunctions, stages: int, tol: float, newton_tol: float, max_iter: int
    ) -> None:
        self.fns = fns
        self.bits = fns.bits
        self.s = stages
        A, _, c = radau_tableau(stages, self.bits + 16)
        conv = _converter("real", self.bits)
        self.conv = conv
        self.A = np.array([[conv(a) for a in row] for row in A], dtype=hy.real)
        self.A64 = np.array([[float(a) for a in row] for row in A])
        self.c = np.array([conv(v) for v in c], dtype=hy.real)
        self.order = 2 * stages - 1
        self.tol = tol
        self.tol_r = conv(tol)
        self.newton_tol = newton_tol
        self.max_iter = max_iter
        self.N = fns.system.n_params + 1
        self.stats = {"newton_iterations": 0, "jacobian_evaluations": 0, "rhs_evaluations": 0,
                      "lu_factorizations": 0, "newton_failures": 0}
        self.J: np.ndarray | None = None  # scaled float64 Jacobian
        self.J_at: Any = None
        self.sc: np.ndarray | None = None
        self._lu: dict[Any, Any] = {}
        self.mapped = False
        self.stage_jacobians = True

    # ---------------------------------------------------------------- evaluations
    def f(self, clocks: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``F`` at the columns of ``Y`` (N, m) and clocks (m,)."""
        self.stats["rhs_evaluations"] += Y.shape[1]
        if not self.mapped:
            X = np.vstack([Y, clocks[None, :]])
            return np.asarray(self.fns.rhs(np.ascontiguousarray(X)))
        # Working clock v = log log t, state (params, c): with F = (F_p, F_logt) in clock c,
        # d(params)/dv = log t F_p / F_logt and dc/dv = log t / F_logt.
        lt = np.exp(clocks)
        X = np.vstack([Y[:-1], lt[None, :], Y[-1:]])
        F = np.asarray(self.fns.rhs(np.ascontiguousarray(X)))
        G = lt / F[-1]
        return np.vstack([F[:-1] * G[None, :], G[None, :]])

    def to_system(self, clock: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """``(system clock, system state)`` for a working clock and working state."""
        if not self.mapped:
            return clock, y
        lt = np.exp(np.array([clock], dtype=hy.real))
        return y[-1], np.concatenate([y[:-1], lt])

    def weights(self, y: np.ndarray) -> np.ndarray:
        return self.tol_r + self.tol_r * np.abs(y)

    def _scaled_jacobians(self, clocks: np.ndarray, Ys: np.ndarray, sc: np.ndarray) -> np.ndarray:
        """``D^-1 J(c_m, Y_m) D`` (m, N, N) in float64, forward differences, one batched call."""
        N, m = self.N, Ys.shape[0]
        one = self.conv(1.0)
        E = np.zeros((N, N + 1))
        E[np.arange(N), np.arange(1, N + 1)] = 1.0
        E = E.astype(hy.real)
        cols, cl, deltas = [], [], []
        for j in range(m):
            y = Ys[j]
            delta = self.conv(2.0 ** (-self.bits // 2)) * np.maximum(np.abs(y), one)
            # Never assign into hy.real arrays: numpy copies of them share the MPFR objects.
            cols.append(y[:, None] + E * delta[:, None])
            cl.append(np.repeat(np.array([clocks[j]], dtype=hy.real), N + 1))
            deltas.append(delta)
        F = self.f(np.concatenate(cl), np.ascontiguousarray(np.hstack(cols)))
        out = []
        for j in range(m):
            Fj = F[:, j * (N + 1) : (j + 1) * (N + 1)]
            J = (Fj[:, 1:] - Fj[:, :1]) / deltas[j][None, :]
            out.append(J * sc[None, :] / sc[:, None])
        self.stats["jacobian_evaluations"] += m
        return np.array(out, dtype=hy.real)

    def factor(self, h: Any, Js: np.ndarray) -> tuple[Any, np.ndarray]:
        """LU (float64) of the row-equilibrated ``I - h (A (x) I) diag(J_j)``, and the row scales.

        Rates of the primal flow differ by factors ``f''(theta_k) / f''(theta_l)`` (``e^3000``
        for cosh late on): rows are divided by their largest entry in MPFR before rounding.
        """
        s, N = self.s, self.N
        one = self.conv(1.0)
        hA = h * self.A
        blocks = [[-hA[i, j] * Js[j % len(Js)] for j in range(s)] for i in range(s)]
        M = np.block(blocks) + np.eye(s * N).astype(hy.real) * one
        rows = np.maximum(np.max(np.abs(M), axis=1), one)
        M64 = (M / rows[:, None]).astype(float)
        if not np.all(np.isfinite(M64)):
            raise FloatingPointError("non-finite Newton matrix")
        self.stats["lu_factorizations"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sla.LinAlgWarning)
            lu = sla.lu_factor(M64)
        if not np.all(np.diag(lu[0]) != 0):
            raise _SingularNewtonMatrixError
        return lu, rows

    def jacobian(self, clock: Any, y: np.ndarray) -> None:
        """Scaled Jacobian ``D^-1 J D`` at ``(clock, y)`` (float64) for the simplified Newton."""
        sc = self.weights(y)
        self.J = self._scaled_jacobians(np.array([clock], dtype=hy.real), y[None, :], sc)[0]
        self.J_at = y
        self.sc, self.J_at = sc, y
        self._lu.clear()

    def lu(self, h: Any) -> Any:
        key = str(h)
        if key not in self._lu:
            assert self.J is not None
            self._lu[key] = self.factor(h, self.J[None])
        return self._lu[key]

    # ---------------------------------------------------------------- one step
    def predict(
        self, polys: Sequence[_Poly], clock: Any, y: np.ndarray, h: Any
    ) -> np.ndarray:
        """Initial stage increments from the collocation polynomials of earlier steps.

        Each new node takes the polynomial (of ``polys``) whose own interval ends nearest to it.
        """
        zero = np.zeros((self.s, self.N)).astype(hy.real) * self.conv(0.0)
        if not polys:
            return zero
        nodes = [self.conv(0.0), *self.c]
        rows = []
        for cj in self.c:
            t = clock + h * cj
            poly = min(polys, key=lambda p: max(0.0, float((t - p.clock) / p.h) - 1.0))
            sj = (t - poly.clock) / poly.h
            w = []
            for k, nk in enumerate(nodes):
                v = self.conv(1.0)
                for m, nm in enumerate(nodes):
                    if m != k:
                        v = v * (sj - nm) / (nk - nm)
                w.append(v)
            rows.append(np.array(w, dtype=hy.real) @ poly.values)
        guess = np.array(rows, dtype=hy.real) - y[None, :]
        return guess if np.all(np.isfinite(guess.astype(float))) else zero

    def step(
        self, clock: Any, y: np.ndarray, h: Any, polys: Sequence[_Poly] = ()
    ) -> tuple[np.ndarray, _Poly] | None:
        """One step of size ``h``: ``(y1, collocation data)`` or ``None`` if Newton failed."""
        try:
            return self._step(clock, y, h, polys)
        except _SingularNewtonMatrixError:
            self.stats["newton_failures"] += 1
            return None

    def _step(
        self, clock: Any, y: np.ndarray, h: Any, polys: Sequence[_Poly]
    ) -> tuple[np.ndarray, _Poly] | None:
        assert self.sc is not None
        s, N = self.s, self.N
        sc = self.sc
        clocks = clock + h * self.c
        Z = self.predict(polys, clock, y, h)
        if polys and self.stage_jacobians:
            # Newton matrix from Jacobians at the predicted stage values: the flow is strongly
            # nonlinear across a step (f'' = cosh), and a Jacobian frozen at y0 contracts slowly.
            lu, rows = self.factor(h, self._scaled_jacobians(clocks, y[None, :] + Z, sc))
        else:
            lu, rows = self.lu(h)
        dn_prev = None
        for _it in range(self.max_iter):
            Y = y[None, :] + Z
            F = self.f(clocks, np.ascontiguousarray(Y.T))  # (N, s)
            R = -Z + h * (self.A @ F.T)
            with np.errstate(invalid="ignore", over="ignore"):
                r = ((R / sc[None, :]).ravel() / rows).astype(float)
            if not np.all(np.isfinite(r)):
                return None
            dz = sla.lu_solve(lu, r, check_finite=False)
            self.stats["newton_iterations"] += 1
            dn = float(np.sqrt(np.mean(dz * dz)))
            Z = Z + dz.reshape(s, N).astype(hy.real) * sc[None, :]
            if dn <= self.newton_tol:
                Yf = y[None, :] + Z
                return Yf[-1], _Poly(clock, h, np.concatenate([y[None, :], Yf]))
            if dn_prev is not None and dn > 0.9 * dn_prev:
                break
            dn_prev = dn
        self.stats["newton_failures"] += 1
        return None


class _SingularNewtonMatrixError(ArithmeticError):
    """The float64 Newton matrix is singular: the step is retried smaller."""


@dataclass
class _Poly:
    """Collocation data of a step: values at ``clock + h * [0, c_1..c_s]``."""

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
) -> TaylorRun:
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
    loglogt_after : float or None
        Once ``log t`` exceeds this value, continue with ``v = log log t`` as the independent
        variable and the system's clock as a state (``d/dv = log t / (d log t / dc) d/dc``);
        ``None`` keeps the system's clock throughout.

    Returns
    -------
    TaylorRun
        ``clock``, ``s``, ``logt``, ``states`` (parameters then ``log t``), ``theta``, ``log_loss``
        as mpmath numbers at the recorded points (start, every output level, the target or the
        last point); ``status`` ``"reached"``, ``"budget"`` or ``"error"``; ``stats`` with
        ``steps``, ``rejected``, ``seconds``, ``compile_seconds``, ``newton_iterations``,
        ``jacobian_evaluations``, ``rhs_evaluations``, ``order``, ``stages``, ``tol``, ``prec``.

    Examples
    --------
    Gradient flow, linear model, one point ``x = (1, 1)``: ``q(s) = 2 s`` and
    ``log t = log(expm1(2 s) / 2)``, so ``s = log1p(2 exp(log t)) / 2``.

    >>> import mpmath, numpy as np, sympy as sp
    >>> from numerics._system import ScalarPotential, build_mirror_flow_system
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
    if len(theta0) != P:
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
    conv = _converter("real", bits)
    wp = bits + 24
    if newton_jacobian not in ("stages", "start"):
        raise ValueError(f"newton_jacobian must be 'stages' or 'start', got {newton_jacobian!r}")
    rad = _Radau(fns, stages, tol_f, newton_tol, max_newton)
    rad.stage_jacobians = newton_jacobian == "stages"
    switch = None if loglogt_after is None else float(loglogt_after)
    if switch is not None and not switch > 0:
        raise ValueError(f"loglogt_after must be positive or None, got {loglogt_after}")

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
    levels = [*_out_levels(float(logt0), float(logt_target), per_decade), float(logt_target)]
    levels = sorted(set(levels))

    facmax, facmin, safety = 2.0, 0.2, 0.8
    steps = rejected = 0
    status = "error"
    t_start = time.perf_counter()
    deadline = t_start + budget_seconds
    two_p = 2.0**rad.order - 1

    last: dict[str, Any] = {"polys": []}

    def double_step(clock: Any, y: np.ndarray, hh: Any) -> tuple[np.ndarray, float] | None:
        """Two half steps and the error estimate against one full step."""
        half = hh / 2
        a = rad.step(clock, y, half, last["polys"])
        if a is None:
            return None
        b = rad.step(clock + half, a[0], half, [a[1]])
        if b is None:
            return None
        big = rad.step(clock, y, hh, [a[1], b[1]])
        if big is None:
            return None
        y1 = b[0]
        sc = rad.tol_r + rad.tol_r * np.maximum(np.abs(y), np.abs(y1))
        e = ((y1 - big[0]) / sc).astype(float)
        err = float(np.sqrt(np.mean(e * e))) / two_p
        last["candidate"] = [b[1]]
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

    try:
        rad.jacobian(cur.clock, cur.y)
        fresh = True
        while True:
            if time.perf_counter() >= deadline:
                status = "budget"
                break
            if steps >= max_steps:
                status = "error"
                break
            h_try, level_hit = h, None
            if rad.mapped and levels:
                v_level = np.log(np.array([conv(levels[0])], dtype=hy.real))[0]
                if float(v_level - cur.clock) <= float(h) * (1 + 1e-9):
                    h_try, level_hit = v_level - cur.clock, levels[0]
            res = double_step(cur.clock, cur.y, h_try)
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
                last["polys"] = last["candidate"]
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
                rec = hit_level(cur.clock, cur.y, h, lt0, lt1, level)
                records.append(rad.to_system(*rec))
                if level >= float(logt_target):
                    done = True
                    break
            if done:
                status = "reached"
                break
            cur = _Cursor(cur.clock + h, y1)
            last["polys"] = last["candidate"]
            h = h * conv(fac)
            if switch is not None and not rad.mapped and float(cur.y[-1]) >= switch:
                # Continue with v = log log t as the clock (the system's clock becomes a state):
                # states grow like powers of log t (THEORY.md §5), exponentials in v, resolved
                # with steps of about constant size; and log t is no longer a stiff mode.
                lt = cur.y[-1]
                rate = rad.f(np.array([cur.clock], dtype=hy.real), cur.y[:, None])[-1, 0]
                h = h * rate / lt
                cur = _Cursor(
                    np.log(np.array([lt], dtype=hy.real))[0],
                    np.concatenate([cur.y[:-1], np.array([cur.clock], dtype=hy.real)]),
                )
                rad.mapped = True
                last["polys"] = []
            rad.jacobian(cur.clock, cur.y)
            fresh = True
    except (FloatingPointError, ZeroDivisionError, ValueError) as exc:  # non-finite state
        status = "error"
        err_msg = str(exc)
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
        "error_message": err_msg,
        **rad.stats,
    }
    return TaylorRun(
        clock=clocks,
        s=s_vals,
        logt=logts,
        states=states,
        theta=theta,
        log_loss=log_loss,
        status=status,
        stats=stats,
    )
