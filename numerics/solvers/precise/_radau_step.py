"""One Radau IIA step (and one step-doubling double step) in MPFR arithmetic.

The collocation equations are solved by simplified Newton iterations whose residuals are
computed in MPFR while the corrections come from float64 solves on the scaled Jacobian
(:mod:`._radau_newton`), or, past float64's range, from the Newton matrix in ball arithmetic
(:mod:`._radau_newton_mp`).  Newton matrices are built from Jacobians at the *predicted stage
values* (the collocation polynomial of the previous step): ``f''`` varies by orders of magnitude
across one step (cosh), and a Jacobian frozen at the step's start contracts too slowly.

The right-hand side is evaluated for all stages in one batched call, into preallocated buffers:
heyoka's ``real`` numpy arrays leak the MPFR storage of every freshly allocated array, so the hot
paths only write into existing arrays (a :class:`~._radau_newton.WorkBuffers` pool).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import numpy as np
from scipy.optimize import brentq

from ._compile import converter, to_mpf
from ._radau_compile import ImplicitFunctions
from ._radau_elimination import FastDirections, settled
from ._radau_newton import (
    FLOAT64_LOG_RANGE,
    Float64Solve,
    Jacobians,
    SingularNewtonMatrixError,
    WorkBuffers,
    lu_factor,
    mp_scaled_jacobian,
    newton_matrix,
    scaled_jacobians,
)
from ._radau_newton_mp import (
    EigenTableau,
    ExtendedNewtonSolve,
    StageNewtonSolve,
    bits_for,
    jacobian_rows_limit,
    to_arb_matrix,
    write_arb_matrix,
)
from ._radau_tableau import RadauTableau

__all__: list[str] = []

#: Newton matrices rebuilt at the current iterate (ball-arithmetic stage solves) per step.
_REFRESHES = 6
#: ``log(1 / eps)`` of float64: rows past it are solved in ball arithmetic at once (between
#: :data:`~._radau_newton.FLOAT64_LOG_RANGE` and it, after a float64 failure).
_FLOAT64_HARD = 52 * math.log(2)
#: A Newton correction that stops shrinking (above 0.9 times the one before) at this size, in
#: units of the error tolerance, has reached the floor of the residual's rounding (amplified
#: by the Newton matrix's rows, ~e^22 on the leaky-ReLU 8/8/4 net from log t ~ 600, where the
#: corrections stalled at 1e-3 - 3e-3 after a contraction from 1e3): the step is taken, as
#: its stage values are within a few percent of the tolerance (the cap of RADAU5's Newton
#: tolerance, min(0.03, sqrt(rtol))).
_FLOOR = 0.03
#: Collocation values live in a ring of this many work buffers (the latest few steps' polys).
_RING = 12
#: Farthest step end, in lengths of a polynomial from its start, that it predicts (an unchanged
#: ``h`` after a full step ends at 3 lengths of its second half step, a doubled one at 5).
_MAX_EXTRAPOLATION = 8.0


def stalled_below_floor(dn: float, dn_prev: float | None) -> bool:
    """Whether a Newton correction ``dn`` (in units of the step tolerance) that no longer
    shrinks (above 0.9 of the one before) is small enough to end Newton: both at most
    :data:`_FLOOR`.  Corrections stall at the residual's rounding amplified by the Newton
    matrix (measured: 1e-3 - 3e-2 on the leaky 8/8/4 net from log t ~ 600); retrying with a
    smaller step does not lower that floor.

    >>> stalled_below_floor(0.02, 0.021), stalled_below_floor(0.05, 0.05)
    (True, False)
    >>> stalled_below_floor(0.01, 0.1), stalled_below_floor(0.01, None)  # still contracting
    (False, False)
    """
    return dn_prev is not None and dn > 0.9 * dn_prev and max(dn, dn_prev) <= _FLOOR


def _too_slow(dn: float, dn_prev: float, left: int, tol: float) -> bool:
    """Whether Newton contracting as from ``dn_prev`` to ``dn`` misses ``tol`` within ``left``
    more iterations (the estimate of Hairer & Wanner's RADAU5: ``dn theta^left / (1 - theta)``).

    >>> _too_slow(0.13, 0.28, 2, 1e-3), _too_slow(1e-2, 1e-1, 3, 1e-3)
    (True, False)
    """
    theta = dn / dn_prev
    return theta >= 1.0 or dn * theta**left / (1.0 - theta) > tol


@dataclass(frozen=True)
class Poly:
    """Collocation data of a step: values at ``clock + h * [0, c_1..c_s]`` (a work buffer)."""

    clock: Any
    h: Any
    values: np.ndarray


@dataclass(frozen=True)
class StepResult:
    """An accepted Newton solve: the end state, the collocation data and the stage Jacobians
    used (``None`` when the Newton matrix came from the Jacobian at the step start)."""

    y1: np.ndarray
    poly: Poly
    jacobians: Jacobians | None


@dataclass(frozen=True)
class DoubleStep:
    """Two half steps and the error estimate (a weighted RMS norm) against one full step."""

    y1: np.ndarray
    err: float
    first: Poly
    second: Poly

    @property
    def halves(self) -> tuple[Poly, Poly]:
        return self.first, self.second


def lagrange_weights(frac: Any, nodes: Sequence[Any], one: Any, out: np.ndarray) -> np.ndarray:
    """Weights of a polynomial's values at ``nodes`` for its value at ``frac``, into ``out``,
    in the number type of ``frac``, ``nodes`` and ``one`` (MPFR or float).

    >>> lagrange_weights(0.5, [0.0, 1.0], 1.0, np.empty(2)).tolist()
    [0.5, 0.5]
    """
    for k, nk in enumerate(nodes):
        v = one
        for m, nm in enumerate(nodes):
            if m != k:
                v = v * (frac - nm) / (nk - nm)
        out[k] = v
    return out


class RadauStep:
    """Radau IIA steps with simplified Newton iterations (states: ``hy.real`` arrays).

    One object per run: it owns the run's counters (:attr:`stats`), the Jacobian at the last
    accepted point with its LU cache, and the working clock (the system's, or ``v = log log t``
    after :meth:`use_loglogt_clock`).

    Parameters
    ----------
    fns, tab, bufs
        Compiled functions, tableau at ``fns.bits`` and the MPFR work-buffer pool.
    tol
        Error weights ``tol (1 + |y|)``.
    newton_tol, max_iter
        Newton stops when the RMS of the scaled correction is below ``newton_tol``; it fails
        after ``max_iter`` iterations or when a correction shrinks by less than 0.9.
    jacobian_stages
        Stages whose predicted values get Jacobians for the Newton matrix, or ``None`` for the
        Jacobian at the step start.
    eliminate_fast
        Before each Newton correction in ball arithmetic, settle the stage values along the
        Jacobian's fastest directions (:mod:`._radau_elimination`; the default is
        ``RadauSettings``').
    """

    def __init__(
        self, fns: ImplicitFunctions, tab: RadauTableau, bufs: WorkBuffers, *, tol: float,
        newton_tol: float, max_iter: int, jacobian_stages: Sequence[int] | None,
        eliminate_fast: bool,
    ) -> None:
        self.fns, self.tab, self._bufs = fns, tab, bufs
        self.rhs: Any = fns.rhs  # the right-hand side (a Filippov field while kinks slide)
        self.bits = fns.bits
        self.s, self.N = tab.stages, fns.system.n_params + 1
        conv = converter("real", self.bits)
        self.tol_r = conv(tol)
        self.zero, self.one = conv(0.0), conv(1.0)
        self._eps = conv(2.0 ** (-self.bits // 2))
        self._two_p = 2.0**tab.order - 1
        self.newton_tol, self.max_iter = newton_tol, max_iter
        self._stage_points = (None if jacobian_stages is None
                              else np.array(list(jacobian_stages), dtype=int))
        self.stats = {"newton_iterations": 0, "jacobian_evaluations": 0, "rhs_evaluations": 0,
                      "lu_factorizations": 0, "newton_failures": 0, "extended_solves": 0,
                      "jacobian_refreshes": 0, "fast_eliminations": 0, "newton_rows_max": 0.0}
        self.mapped = False
        self.last_failure = ""  # why the last step returned None
        self._J: Jacobians | None = None  # scaled Jacobian at the last accepted point
        self._sc: np.ndarray | None = None
        self._lu: dict[str, Float64Solve] = {}
        self._ring = 0
        self._eig: dict[int, EigenTableau] = {}
        #: the row scale (log) of the last Newton failure beyond :func:`jacobian_rows_limit`
        #: (the Jacobian's digits, not the step size, are short), else None
        self.precision_short: float | None = None
        #: the step's fast directions, eliminated before each ball-arithmetic Newton correction
        #: (:mod:`._radau_elimination`), or None
        self._fast: FastDirections | None = None
        self._eliminate_fast = eliminate_fast

    # ---------------------------------------------------------------- evaluations
    def f(self, clocks: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``F`` at the columns of ``Y`` (N, m) and clocks (m,), in a work buffer (N, m).

        The buffer is overwritten by the next call with the same ``m``: use it at once.
        """
        N, m = Y.shape
        self.stats["rhs_evaluations"] += m
        X = self._bufs.get("f_in", (N + 1, m))
        out = self._bufs.get("f_out", (N, m))
        if not self.mapped:
            np.copyto(X[:N], Y)
            np.copyto(X[N], clocks)
            return self.rhs(X, out=out)
        # Working clock v = log log t, state (params, c): with F = (F_p, F_logt) in clock c,
        # d(params)/dv = log t F_p / F_logt and dc/dv = log t / F_logt.
        np.copyto(X[: N - 1], Y[:-1])
        np.exp(clocks, out=X[N - 1])
        np.copyto(X[N], Y[-1])
        F = self.rhs(X, out=self._bufs.get("f_sys", (N, m)))
        g = self._bufs.get("f_g", (N, m))
        np.divide(X[N - 1], F[-1], out=out[-1])
        np.copyto(g, out[-1][None, :])
        np.multiply(F[:-1], g[:-1], out=out[:-1])
        return out

    def logt_rate(self, clock: Any, y: np.ndarray) -> Any:
        """The last component of ``F`` at one point (``d log t / dc`` in the system clock)."""
        return self.f(np.array([clock], dtype=hy.real), y[:, None])[-1, 0]

    def use_loglogt_clock(self) -> None:
        """From now on the working clock is ``v = log log t`` and the system clock a state."""
        self.mapped = True

    def to_system(self, clock: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """``(system clock, system state)`` for a working clock and working state."""
        if not self.mapped:
            return clock, y
        lt = np.exp(np.array([clock], dtype=hy.real))
        return y[-1], np.concatenate([y[:-1], lt])

    # ---------------------------------------------------------------- Newton matrices
    def jacobian(self, clock: Any, y: np.ndarray) -> None:
        """Scaled Jacobian ``D^-1 J D`` at ``(clock, y)`` (float64) for the simplified Newton."""
        sc = self.tol_r + self.tol_r * np.abs(y)
        self._J = self._jacobians_at(np.array([clock], dtype=hy.real), y[None, :], sc)
        self._sc = sc
        self._lu.clear()

    def _jacobians_at(self, clocks: np.ndarray, Ys: np.ndarray, sc: np.ndarray) -> Jacobians:
        J = scaled_jacobians(self.f, self._bufs, clocks, Ys, sc, self._eps, self.one)
        self.stats["jacobian_evaluations"] += Ys.shape[0]
        return J

    def _factor(self, M: np.ndarray, rows: np.ndarray) -> Float64Solve:
        """The float64 solve, or one without LU (``lu is None``: the ball-arithmetic solve
        takes over) where float64 cannot hold the matrix: rows past ``1 / eps = e^36``, or a
        singular LU past :data:`FLOAT64_LOG_RANGE`."""
        top = float(np.max(rows))
        if top >= _FLOAT64_HARD:
            return Float64Solve(None, rows)
        self.stats["lu_factorizations"] += 1
        try:
            return Float64Solve(lu_factor(M), rows)
        except SingularNewtonMatrixError:
            if top < FLOAT64_LOG_RANGE:
                raise
            return Float64Solve(None, rows)

    def _lu_at(self, h: Any) -> Float64Solve:
        """LU and row scales from the Jacobian at the last accepted point (cached per ``h``)."""
        key = str(h)
        if key not in self._lu:
            assert self._J is not None
            M, rows = newton_matrix(h, self._J, self.tab)
            self._lu[key] = self._factor(M, rows)
        return self._lu[key]

    def _newton_matrix(
        self, clocks: np.ndarray, Yb: np.ndarray, h: Any, predicted: bool,
        reuse: Jacobians | None,
    ) -> tuple[Jacobians | None, Float64Solve]:
        """``(stage Jacobians or None, float64 solve)`` of the step's Newton matrix."""
        if not (predicted and self._stage_points is not None):
            return None, self._lu_at(h)
        if reuse is None:
            sel = self._stage_points
            assert self._sc is not None  # set by jacobian() before the first step
            reuse = self._jacobians_at(clocks[sel], Yb[sel], self._sc)
        M, rows = newton_matrix(h, reuse, self.tab, clocks)
        return reuse, self._factor(M, rows)

    def _mp_jacobian(self, clock: Any, y: np.ndarray, prec: int) -> Any:
        assert self._sc is not None
        J = mp_scaled_jacobian(self.f, self._bufs, clock, y, self._sc, self._eps, self.one)
        self.stats["jacobian_evaluations"] += 1
        return to_arb_matrix(J, prec)

    def _extended(self, clock: Any, y: np.ndarray, h: Any, rows: np.ndarray,
                  clocks: np.ndarray, Yb: np.ndarray, predicted: bool
                  ) -> ExtendedNewtonSolve | StageNewtonSolve:
        """The Newton solve in ball arithmetic (:mod:`._radau_newton_mp`): with Jacobians at
        the predicted stage values (as the float64 matrix), else the step start's; the stage
        values (``n_z``, ``n_y``) are first settled along the fast directions."""
        prec = bits_for(float(np.max(rows)), self.bits)
        self.stats["extended_solves"] += 1
        self.stats["newton_rows_max"] = max(self.stats["newton_rows_max"], float(np.max(rows)))
        self._fast = self._fast_directions(clocks, h) if self._eliminate_fast else None
        self._eliminate(clocks, h)  # the Jacobians of the matrix at stage values settled along them
        if predicted and self._stage_points is not None:
            sel = self._stage_points
            Js = [self._mp_jacobian(clocks[k], Yb[k], prec) for k in sel]
            cf = np.array([float(c) for c in clocks])
            idx = np.argmin(np.abs(cf[:, None] - cf[sel][None, :]), axis=1)
            solve: ExtendedNewtonSolve | StageNewtonSolve = StageNewtonSolve(
                h, Js, [int(i) for i in idx], self.tab.A, prec,
                bits_for(float(np.max(rows)), 0))
        else:
            if prec not in self._eig:
                self._eig[prec] = EigenTableau.build(self.tab.A, prec)
            solve = ExtendedNewtonSolve(h, self._mp_jacobian(clock, y, prec), self._eig[prec])
        solve.rows = rows
        return solve

    def _residual(self, clocks: np.ndarray) -> np.ndarray:
        """The scaled collocation residual ``(h A F - Z) / sc`` at the stage values (work
        buffer ``n_r`` (s, N); ``n_y`` set from ``n_z``, ``n_ha`` holding ``h A``)."""
        s, N = self.s, self.N
        Zb, Yb, R = (self._bufs.get(k, (s, N)) for k in ("n_z", "n_y", "n_r"))
        np.add(self._bufs.get("n_y0", (s, N)), Zb, out=Yb)
        F = self.f(clocks, Yb.T)  # (N, s)
        np.matmul(self._bufs.get("n_ha", (s, s)), F.T, out=R)
        np.subtract(R, Zb, out=R)
        np.divide(R, self._bufs.get("n_sc", (s, N)), out=R)
        return R

    def _fast_directions(self, clocks: np.ndarray, h: Any) -> FastDirections | None:
        """The fast directions of the scaled Jacobian at the middle stage's values."""
        s, N = self.s, self.N
        mid = s // 2
        assert self._sc is not None
        J = mp_scaled_jacobian(self.f, self._bufs, clocks[mid], self._bufs.get("n_y", (s, N))[mid],
                               self._sc, self._eps, self.one)
        self.stats["jacobian_evaluations"] += 1
        hA = np.asarray(self.tab.A, dtype=float) * float(h)
        # forward differences with steps 2^(-bits/2) keep about half the bits (the margin
        # 2^16: at 199 bits, noise directions at e^-66 of the largest were taken otherwise)
        return FastDirections.of(to_arb_matrix(J, self.bits), hA, self.bits,
                                 accuracy=2.0 ** (16 - self.bits / 2))

    def _eliminate(self, clocks: np.ndarray, h: Any) -> None:
        """Settle the stage values (``n_z``, ``n_y``) along the step's fast directions, the
        others held (nonlinear elimination, :mod:`._radau_elimination`)."""
        if self._fast is None:
            return
        s, N = self.s, self.N
        Zb, D = self._bufs.get("n_z", (s, N)), self._bufs.get("n_dz", (s, N))
        sc_s = self._bufs.get("n_sc", (s, N))
        np.multiply(self.tab.A, h, out=self._bufs.get("n_ha", (s, s)))
        moves: list[float] = []
        while not moves or not settled(moves):
            size, move = self._fast.correction(self._residual(clocks))
            moves.append(size)
            if move is None or (len(moves) > 1 and moves[-1] > moves[-2]):
                break  # a move that grew is not taken (Newton's own correction follows)
            write_arb_matrix(move, D, self.bits)
            np.multiply(D, sc_s, out=D)
            np.add(Zb, D, out=Zb)
            self.stats["fast_eliminations"] += 1
        np.add(self._bufs.get("n_y0", (s, N)), Zb, out=self._bufs.get("n_y", (s, N)))

    # ---------------------------------------------------------------- one step
    def predict(
        self, polys: Sequence[Poly], clock: Any, y_s: np.ndarray, h: Any
    ) -> np.ndarray | None:
        """Initial stage increments (a work buffer (s, N)) from the collocation polynomials of
        earlier steps, or None; ``y_s`` holds the step's start in every row.

        Each new node takes the polynomial (of ``polys``) whose own interval ends nearest to it.
        None as well where a node lies more than :data:`_MAX_EXTRAPOLATION` of its polynomial's
        length past its start: after a step cut short at a kink (1e-12 of ``h`` where a sliding
        mode exits at the step start), the degree-``s`` extrapolation over ``1e12`` lengths gave
        non-finite Jacobians for every ``h`` down to 0 (measured: 2-layer ReLU width 3, gradient
        flow, ``separable_gaussian(n=4, d=3, seed=1)``).
        """
        if not polys:
            return None
        if all(float((clock + h - p.clock) / p.h) > _MAX_EXTRAPOLATION for p in polys):
            return None
        W = self._bufs.get("p_w", (self.s + 1,))
        out = self._bufs.get("p_z", (self.s, self.N))
        for j, cj in enumerate(self.tab.c):
            t = clock + h * cj
            poly = min(polys, key=lambda p: max(0.0, float((t - p.clock) / p.h) - 1.0))
            np.matmul(self._lagrange_weights((t - poly.clock) / poly.h, W), poly.values,
                      out=out[j])
        np.subtract(out, y_s, out=out)
        return out if np.all(np.isfinite(out.astype(float))) else None

    def _lagrange_weights(self, frac: Any, out: np.ndarray) -> np.ndarray:
        """Weights of a collocation polynomial's values (:class:`Poly`) for its value at the
        fraction ``frac`` of its step, into ``out`` (MPFR)."""
        return lagrange_weights(frac, [self.zero, *self.tab.c], self.one, out)

    def interpolate(self, res: DoubleStep, clock: Any, component: int | None = None) -> Any:
        """The double step ``res`` at ``clock`` (the collocation polynomial of the half it
        lies in, the dense output of order ``s``): the state, or only its ``component``."""
        poly = res.first if clock <= res.second.clock else res.second
        W = self._lagrange_weights((clock - poly.clock) / poly.h,
                                   self._bufs.get("i_w", (self.s + 1,)))
        values = poly.values if component is None else poly.values[:, component]
        return np.matmul(W, values)

    def clock_at_logt(self, res: DoubleStep, level: float) -> Any:
        """The working clock in the double step ``res`` where log t is ``level`` (clipped to
        the step): ``log level`` in the ``log log t`` clock, else the root of the half step's
        interpolated log t, found in float64 (what the stuck monitor's θ needs; in MPFR it
        cost ~0.1 s a level)."""
        start, end = res.first.clock, res.second.clock + res.second.h
        if self.mapped:
            at = np.log(np.array([self.one * level], dtype=hy.real))[0]
            return min(max(at, start), end)
        poly = res.first if level <= float(res.first.values[-1, -1]) else res.second
        nodes = [0.0, *(float(c) for c in self.tab.c)]
        values = np.array([float(v) for v in poly.values[:, -1]])
        if level >= values[-1]:
            return poly.clock + poly.h
        if level <= values[0]:
            return poly.clock
        weights = np.empty(len(nodes))

        def gap(frac: float) -> float:       # the interpolated log t, less the level, in float64
            return float(lagrange_weights(frac, nodes, 1.0, weights) @ values) - level

        return poly.clock + poly.h * self.one * brentq(gap, 0.0, 1.0, xtol=1e-15)

    def theta_at(self, res: DoubleStep, clock: Any) -> np.ndarray:
        """θ at ``clock`` in the double step ``res``, rounded to float64."""
        state = self.to_system(clock, self.interpolate(res, clock))[1]
        post = np.asarray(self.fns.post(np.ascontiguousarray(
            np.array([state], dtype=hy.real).T)))
        return np.array([float(to_mpf(v)) for v in post[:self.fns.system.n_params, 0]])

    def _slot(self) -> np.ndarray:
        """The next of the ring's work buffers for collocation values (short-lived polys)."""
        self._ring = (self._ring + 1) % _RING
        return self._bufs.get(f"ring{self._ring}", (self.s + 1, self.N))

    def keep(self, poly: Poly) -> Poly:
        """A copy of ``poly`` that outlives the ring (the accepted step's, for predictions)."""
        kept = self._bufs.get("ring_kept", (self.s + 1, self.N))
        np.copyto(kept, poly.values)
        return Poly(poly.clock, poly.h, kept)

    def step(
        self, clock: Any, y: np.ndarray, h: Any, polys: Sequence[Poly] = (),
        reuse: Jacobians | None = None,
    ) -> StepResult | None:
        """One step of size ``h``, or ``None`` if Newton failed (the cause in
        :attr:`last_failure`).

        ``polys`` predict the stage values; ``reuse`` gives the stage Jacobians instead of new
        ones (each stage takes the one nearest in the clock).
        """
        try:
            return self._step(clock, y, h, polys, reuse)
        except (SingularNewtonMatrixError, FloatingPointError) as exc:
            # singular Newton matrix, or a non-finite Jacobian at wild predicted stage values
            self.stats["newton_failures"] += 1
            self.last_failure = str(exc)
            return None

    def _step(
        self, clock: Any, y: np.ndarray, h: Any, polys: Sequence[Poly], reuse: Jacobians | None
    ) -> StepResult | None:
        assert self._sc is not None
        s, N = self.s, self.N
        self.precision_short, self._fast = None, None
        clocks = clock + h * self.tab.c
        Zb, Yb = self._bufs.get("n_z", (s, N)), self._bufs.get("n_y", (s, N))
        y_s, sc_s = self._bufs.get("n_y0", (s, N)), self._bufs.get("n_sc", (s, N))
        np.copyto(y_s, y[None, :])
        np.copyto(sc_s, self._sc[None, :])
        Z = self.predict(polys, clock, y_s, h)
        if Z is None:
            np.multiply(y_s, self.zero, out=Zb)
        else:
            np.copyto(Zb, Z)
        np.add(y_s, Zb, out=Yb)
        jac, solve = self._newton_matrix(clocks, Yb, h, bool(polys), reuse)
        if solve.lu is None:
            solve = self._extended(clock, y, h, solve.rows, clocks, Yb, bool(polys))
        else:
            np.copyto(self._bufs.get("n_z_start", (s, N)), Zb)
        values = self._newton(clocks, y, h, solve)
        if values is None and isinstance(solve, Float64Solve) and solve.limit():
            # float64 kept under three digits of the identity: the same step in ball arithmetic
            np.copyto(Zb, self._bufs.get("n_z_start", (s, N)))
            np.add(y_s, Zb, out=Yb)
            solve = self._extended(clock, y, h, solve.rows, clocks, Yb, bool(polys))
            values = self._newton(clocks, y, h, solve)
        if values is None:
            return None
        return StepResult(values[-1].copy(), Poly(clock, h, values), jac)

    def _newton(
        self, clocks: np.ndarray, y: np.ndarray, h: Any,
        solve: Float64Solve | ExtendedNewtonSolve | StageNewtonSolve,
    ) -> np.ndarray | None:
        """Simplified Newton on the stage increments (work buffer ``n_z``, predicted on entry):
        the collocation values (a ring buffer (s + 1, N)), or None."""
        s, N = self.s, self.N
        Zb, Yb, D = (self._bufs.get(k, (s, N)) for k in ("n_z", "n_y", "n_dz"))
        y_s, sc_s = self._bufs.get("n_y0", (s, N)), self._bufs.get("n_sc", (s, N))
        np.multiply(self.tab.A, h, out=self._bufs.get("n_ha", (s, s)))
        dn_prev, refreshed, it = None, 0, 0
        while it < self.max_iter:
            it += 1
            self._eliminate(clocks, h)  # no-op unless a ball-arithmetic solve found directions
            R = self._residual(clocks)
            try:
                dz = solve(R)
            except FloatingPointError as exc:
                self.last_failure = str(exc)
                return None
            self.stats["newton_iterations"] += 1
            with np.errstate(over="ignore"):     # a diverging iterate: refused just below
                dn = float(np.sqrt(np.mean(dz * dz)))
            if not (math.isfinite(dn) and dn < 1e150):
                self.last_failure = "diverging Newton iteration"
                return None
            np.copyto(D, dz.reshape(s, N), casting="unsafe")
            np.multiply(D, sc_s, out=D)
            np.add(Zb, D, out=Zb)
            if dn <= self.newton_tol:
                return self._converged(y)
            if stalled_below_floor(dn, dn_prev):
                return self._converged(y)  # stalled at the residual's rounding, far below tol
            refreshable = isinstance(solve, StageNewtonSolve) and refreshed < _REFRESHES
            if dn_prev is not None and (dn > 0.9 * dn_prev or (
                    refreshable and _too_slow(dn, dn_prev, self.max_iter - it, self.newton_tol))):
                if not refreshable:
                    break
                # Jacobians at the current iterate: the slow direction needs them within
                # ~e^-rows, and the predicted stage values can be farther off (by ~tol at
                # best: exp(x**2/2) on the 4-unit ReLU net at 512 bits failed from rows 80 =
                # log(1e35) without this, from ~100 with it)
                np.add(y_s, Zb, out=Yb)
                solve = self._extended(clocks[0], y, h, solve.rows, clocks, Yb, True)
                self.stats["jacobian_refreshes"] += 1
                refreshed, it, dn = refreshed + 1, 0, math.inf
            dn_prev = dn
        self.stats["newton_failures"] += 1
        self.last_failure = "Newton iterations did not converge" + solve.limit()
        top = float(np.max(solve.rows)) if solve.rows.size else 0.0
        if not isinstance(solve, Float64Solve) and top > jacobian_rows_limit(self.bits) - 6:
            self.precision_short = top
        return None

    def _converged(self, y: np.ndarray) -> np.ndarray:
        """The collocation values (a ring buffer (s + 1, N)) of the step from ``y`` with the
        stage increments now in ``n_z``."""
        values = self._slot()
        np.copyto(values[0], y)
        np.add(self._bufs.get("n_y0", (self.s, self.N)),
               self._bufs.get("n_z", (self.s, self.N)), out=values[1:])
        return values

    # ---------------------------------------------------------------- step doubling
    def double_step(
        self, clock: Any, y: np.ndarray, hh: Any, polys: Sequence[Poly], reuse_jacobians: bool
    ) -> DoubleStep | None:
        """Two half steps of ``hh / 2`` and the error estimate against one full step (which
        reuses the half steps' stage Jacobians when ``reuse_jacobians``), or None."""
        half = hh / 2
        a = self.step(clock, y, half, polys)
        if a is None:
            return None
        b = self.step(clock + half, a.y1, half, [a.poly])
        if b is None:
            return None
        both = reuse_jacobians and a.jacobians is not None and b.jacobians is not None
        reuse = a.jacobians + b.jacobians if both else None
        big = self.step(clock, y, hh, [a.poly, b.poly], reuse)
        if big is None:
            return None
        return DoubleStep(b.y1, self._error(y, b.y1, big.y1), a.poly, b.poly)

    def _error(self, y: np.ndarray, y1: np.ndarray, y_big: np.ndarray) -> float:
        """Weighted RMS of the two-half-steps minus one-step difference, over ``2^p - 1``."""
        sc = self.tol_r + self.tol_r * np.maximum(np.abs(y), np.abs(y1))
        e = ((y1 - y_big) / sc).astype(float)
        return float(np.sqrt(np.mean(e * e))) / self._two_p
