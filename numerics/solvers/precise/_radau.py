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
  same way, through its logarithm); past float64's range (rows ``e^36`` times their identity,
  twin units: THEORY.md §7.3) the matrix is solved in ball arithmetic
  (:mod:`._radau_newton_mp`), and a run whose Jacobians' digits run out stops asking for more
  bits (``stats["raise_bits"]``; ``solve_mirror_flow`` continues it there);
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
- ReLU and leaky ReLU make the right-hand side jump at a kink: it is compiled with switches
  (``relu(h) -> p h``, ``relup(h) -> p'``), every step integrates one activation pattern (a
  smooth field), and the pattern switches at kinks located as above (:mod:`._radau_switches`);
  where the fields on both sides push a pre-activation back onto 0 the unit slides on its kink
  (Filippov's solution: the ReLU slope ``alpha`` in ``[0, 1]`` that keeps ``h = 0``,
  :mod:`._radau_sliding`) until ``alpha`` reaches 0 or 1, on an MLP's deeper layers too (their
  gradients vary: the state is put back on the surfaces after each step,
  :mod:`._radau_surfaces`), and kinks whose surfaces coincide slide as one with a shared
  ``alpha``; kinks of one sample in two layers sliding together end the run with status
  ``"sliding"``;
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
method stalls near ``log t = 30-50`` on these cases.  cosh on the same net with ReLU / leaky ReLU
(0.1) at 140 bits (``--only rl``, session 16, one process beside another job): ``log t = 1e3``
after 76 / 170 s (662 / 1381 steps, 36 / 41 kinks cut), 33.7 / 32.8 digits of
``theta / |theta|`` against the 170-bit, tol 1e-38 run; the leaky net's float64 Newton
corrections stall from ``log t ~ 600`` at the residual's rounding (1e-3 - 3e-2 of the
tolerance), which ends Newton (``_FLOOR`` in :mod:`._radau_step`; before, each such step was
retried at ``h / 4`` and the run spent 600 s at ``log t = 920``).  Taylor is held at the first
sliding mode (``log t = -3.5 / -2.3``).

The pieces: :mod:`._radau_compile` (compilation, :func:`compile_implicit`),
:mod:`._radau_tableau` (:func:`radau_tableau`), :mod:`._radau_newton` (float64 Jacobians and
Newton matrices, MPFR work buffers), :mod:`._radau_newton_mp` (Newton matrices in ball
arithmetic), :mod:`._radau_step` (one step and one double step),
:mod:`._radau_kinks` (kink location), :mod:`._radau_switches` (activation patterns),
:mod:`._radau_sliding` (Filippov sliding modes), :mod:`._radau_surfaces` (back onto sliding
surfaces), :mod:`._radau_driver` (the run loop); here the
reusable :class:`RadauIntegrator` and :func:`integrate_implicit`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import heyoka as hy
import mpmath
import numpy as np

from .._precision import Precision
from .._status import Status
from ._compile import converter, to_mpf
from ._radau_compile import ImplicitFunctions, compile_implicit
from ._radau_driver import Cursor, RadauDriver, RadauSettings
from ._radau_kinks import KinkLocator
from ._radau_newton import WorkBuffers
from ._radau_sliding import FilippovField
from ._radau_step import RadauStep
from ._radau_surfaces import SurfaceProjection
from ._radau_switches import KinkPattern
from ._radau_tableau import RadauTableau
from ._record import RunRecord, check_target_after, output_levels, start_before
from ._system import MirrorFlowSystem

__all__ = ["RadauIntegrator", "integrate_implicit"]

#: ``(clock, parameters, log t)`` of a point to continue from (see ``start`` of
#: :func:`integrate_implicit`).
Start = tuple[Any, Sequence[Any], Any]


class RadauIntegrator:
    """Radau IIA for one system at one precision: compiled once, run many times.

    Each :meth:`run` is independent (its own step sizes, counters and record); the
    compilation, the tableau, the kink locator and the MPFR work buffers are shared.
    :meth:`proceed` continues the last run where its wall-clock budget stopped it, exactly as
    if it had not stopped (checkpoint segments: the wall clock decides where a segment
    ends, never the steps).

    Parameters
    ----------
    system_or_functions : MirrorFlowSystem or ImplicitFunctions
        The system (compiled here), or its compilation by :func:`compile_implicit`.
    dps : int
        Decimal digits wanted, when neither ``precision`` nor ``ImplicitFunctions`` fix the
        working precision: then ``Precision.for_radau(dps)`` (``dps`` digits plus 40 guard bits).
    precision : Precision, optional
        The working precision (``fp_type="real"``); with ``ImplicitFunctions`` it must have
        their bits.
    tol, stages, s0, h0, newton_tol, max_newton, max_steps, loglogt_after
        As in :func:`integrate_implicit`.
    newton_jacobian, jacobian_points, reuse_jacobians, kink_events, eliminate_fast
        As in :func:`integrate_implicit`.

    Attributes
    ----------
    functions : ImplicitFunctions
        The compiled system (built once).
    precision : Precision
        The working precision (``precision.bits`` MPFR bits).
    settings : RadauSettings
        The validated options, defaults filled in (``tol``, ``stages``, ``s0``, the Jacobian
        stages).

    Examples
    --------
    Two segments, 0 -> log t = 20 -> 50, with one compilation (gradient flow, one point
    ``x = (1, 1)``: ``s = log1p(2 exp(log t)) / 2``):

    >>> import mpmath, numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 1.0]])
    >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd,
    ...                                 clock="log_s")
    >>> integ = RadauIntegrator(sysm, dps=30)
    >>> first = integ.run([0.0, 0.0], 20.0)
    >>> second = integ.run((first.clock[-1], first.theta[-1], first.logt[-1]), 50.0)
    >>> exact = mpmath.log1p(2 * mpmath.exp(mpmath.mpf(50))) / 2
    >>> second.status, bool(abs(second.s[-1] / exact - 1) < 1e-29), second.stats["prec"]
    ('reached', True, 139)
    >>> first.stats["compiled"], second.stats["compiled"], second.stats["compile_seconds"]
    (True, False, 0.0)
    """

    def __init__(
        self,
        system_or_functions: MirrorFlowSystem | ImplicitFunctions,
        *,
        dps: int = 30,
        precision: Precision | None = None,
        tol: float | None = None,
        stages: int | None = None,
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
        eliminate_fast: bool = True,
    ) -> None:
        self.precision = _working_precision(system_or_functions, dps, precision)
        bits = self.precision.bits
        self.settings = RadauSettings.create(
            bits, tol=tol, stages=stages, s0=s0, h0=h0, newton_tol=newton_tol,
            max_newton=max_newton, max_steps=max_steps, loglogt_after=loglogt_after,
            newton_jacobian=newton_jacobian, jacobian_points=jacobian_points,
            reuse_jacobians=reuse_jacobians, kink_events=kink_events,
            eliminate_fast=eliminate_fast)
        self._compiled = not isinstance(system_or_functions, ImplicitFunctions)
        if isinstance(system_or_functions, ImplicitFunctions):
            self.functions = system_or_functions
        else:
            self.functions = compile_implicit(system_or_functions, bits)
        self._unreported_compile = self.functions.compile_seconds
        self._tableau = RadauTableau.build(self.settings.stages, bits)
        self._buffers = WorkBuffers(converter("real", bits)(0.0))
        if self.functions.switched and not kink_events:
            raise ValueError("kink_events=False: this force jumps at its kinks (ReLU or leaky "
                             "ReLU), and Radau IIA steps it one activation pattern at a time, "
                             "switched at kink events")
        has_kinks = kink_events and self.functions.kinks is not None
        self._kinks = KinkLocator(self.functions, self._tableau) if has_kinks else None
        self._kink_gradients: np.ndarray | None = None
        self._paused: RadauDriver | None = None  # the last run, if it ended on its budget

    def kink_gradient_matrix(self) -> np.ndarray:
        """``(nk, P)`` gradients of the kinks, exact for the linear ones (the only ones read:
        the others' are compiled, ``functions.gradient_rows``): their values at the unit
        vectors (MPFR)."""
        if self._kink_gradients is None:
            fns, conv = self.functions, converter("real", self.precision.bits)
            P = self.system.n_params
            eye = np.array([[conv(1.0 if r == c else 0.0) for c in range(P)] for r in range(P)],
                           dtype=hy.real)
            assert fns.kinks_mp is not None
            self._kink_gradients = np.asarray(fns.kinks_mp(eye))
        return self._kink_gradients

    @property
    def system(self) -> MirrorFlowSystem:
        return self.functions.system

    def run(
        self,
        theta0_or_start: Sequence[Any] | Start | None,
        logt_target: float,
        *,
        start: Start | None = None,
        budget_seconds: float = 60.0,
        per_decade: int = 4,
        progress: Callable[[float], None] | None = None,
        modes: Sequence[int] | None = None,
        monitor: Callable[[float, np.ndarray], str | None] | None = None,
    ) -> RunRecord:
        """Integrate from ``theta0`` (at ``t = 0``) or from a point of an earlier run until
        ``log t = logt_target``.

        ``theta0_or_start`` is the initial parameters, or ``(clock, parameters, log t)`` (a
        3-tuple whose middle item is a list, tuple or array) as ``start`` of
        :func:`integrate_implicit`; ``start`` may be given instead (``theta0_or_start`` is
        then ignored).  ``stats["compile_seconds"]`` is the compilation not yet reported by an
        earlier run (0 when the compiled integrator is reused) and ``stats["compiled"]`` says
        whether this integrator compiled the system for this run.  ``modes``: with a start on
        a ReLU or leaky-ReLU net, the activation pattern the earlier run ended with
        (``stats["kink_modes"]``: per kink +1 active, -1 inactive, 0 sliding), so that units
        sliding there slide on (default: the kinks' signs at the start, and a kink at 0 to
        half the working digits slides if both sides push into it).  Other arguments and the
        result as in :func:`integrate_implicit`. ``monitor(log_t, theta)``: the stuck
        monitor (:class:`~._radau_driver.RadauDriver`).
        """
        if start is None:
            start = _as_start(theta0_or_start)
        st = self.settings
        if start is not None:
            clock0, params, logt0 = _start_from_state(start, self.system.n_params,
                                                      self.precision.mp_bits)
            check_target_after(logt0, logt_target)
        else:
            s0, bits = self.settings.s0, self.precision.mp_bits
            clock0, params, logt0 = _start_from_theta(self.functions, theta0_or_start, s0, bits)
            if (s0 := start_before(s0, logt0, logt_target)) != self.settings.s0:
                clock0, params, logt0 = _start_from_theta(self.functions, theta0_or_start,
                                                          s0, bits)
            st = dataclasses.replace(st, s0=s0)   # the run's own s0 (stats, first step)
        conv = converter("real", self.precision.bits)
        origin = Cursor(conv(clock0), np.array([conv(v) for v in [*params, logt0]], dtype=hy.real))
        levels = sorted({*output_levels(float(logt0), float(logt_target), per_decade),
                         float(logt_target)})
        step = RadauStep(self.functions, self._tableau, self._buffers, tol=st.tol,
                         newton_tol=st.newton_tol, max_iter=st.max_newton,
                         jacobian_stages=st.jacobian_stages, eliminate_fast=st.eliminate_fast)
        fns = self.functions
        pattern = None
        if fns.switched:
            filippov = projection = None
            if fns.sliding_rhs is not None:
                grads = self.kink_gradient_matrix()
                filippov = FilippovField(fns.sliding_rhs, fns.slope_rows, grads,
                                         self._buffers, fns.gradient_rows)
                projection = SurfaceProjection(fns.sliding_rhs, fns.kinks_mp, grads,
                                               fns.gradient_rows, fns.weight_rows,
                                               self._buffers, self.precision.bits)
            pattern = KinkPattern(step, fns.kinks_mp, filippov, fns.coupled_kinks,
                                  self.precision.bits, projection)
        driver = RadauDriver(step, self._kinks, st, self.precision, origin, levels,
                             budget_seconds=budget_seconds, progress=progress, pattern=pattern,
                             resumed=start is not None,
                             modes=None if modes is None else [int(m) for m in modes],
                             monitor=monitor)
        return self._drive(driver)

    def proceed(self, *, budget_seconds: float = 60.0,
                progress: Callable[[float], None] | None = None) -> RunRecord:
        """Continue the last :meth:`run` (or :meth:`proceed`), which ended on its budget, to
        its target: the same integration as if it had never stopped, bit for bit
        (:meth:`~._radau_driver.RadauDriver.extend`), with ``budget_seconds`` more.

        The record starts at the point where the last one ended; its counters are this
        segment's. Only the last run can be continued: a new :meth:`run` reuses the compiled
        functions and work buffers that hold a stopped run's state.

        Raises
        ------
        ValueError
            The last run did not end on its budget (or there was none).
        """
        if self._paused is None:
            raise ValueError("no run to continue: the last run did not end on its budget")
        self._paused.extend(budget_seconds, progress)
        return self._drive(self._paused)

    @property
    def can_proceed(self) -> bool:
        """Whether the last run ended on its budget (so :meth:`proceed` continues it)."""
        return self._paused is not None

    def _drive(self, driver: RadauDriver) -> RunRecord:
        """Run ``driver`` and keep it if it ends on its budget; its record."""
        self._paused = None
        driver.run()
        if driver.status == Status.BUDGET:
            self._paused = driver
        compile_seconds, self._unreported_compile = self._unreported_compile, 0.0
        compiled, self._compiled = self._compiled, False
        return driver.finish(compile_seconds, compiled=compiled)


def _working_precision(
    system_or_functions: Any, dps: int, precision: Precision | None
) -> Precision:
    """The precision of a run: given, fixed by compiled functions, or ``for_radau(dps)``."""
    if precision is not None and precision.fp_type != "real":
        raise ValueError(f"Radau IIA works in MPFR: precision.fp_type must be 'real', got "
                         f"{precision.fp_type!r} (use Precision.for_radau(dps))")
    if isinstance(system_or_functions, ImplicitFunctions):
        bits = system_or_functions.bits
        if precision is not None and precision.bits != bits:
            raise ValueError(f"precision has {precision.bits} bits, the compiled functions "
                             f"{bits}: compile them at precision.bits")
        return Precision.of_type("real", bits) if precision is None else precision
    return Precision.for_radau(dps) if precision is None else precision


def _as_start(value: Any) -> Start | None:
    """``value`` if it is a point ``(clock, parameters, log t)`` to continue from, else None."""
    if (isinstance(value, tuple) and len(value) == 3
            and isinstance(value[1], list | tuple | np.ndarray)):
        return value
    return None


def _start_from_state(start: Start, P: int, wp: int) -> tuple[Any, list[Any], Any]:
    """Clock, parameters and log t (mpmath) of a continued run, as in ``integrate_taylor``."""
    clock_s, p, logt0 = start
    if len(p) != P:
        raise ValueError(f"start state has {len(p)} variables, the system has n_params={P}")
    with mpmath.workprec(wp):
        return mpmath.mpf(clock_s), [mpmath.mpf(v) for v in p], mpmath.mpf(logt0)


def _start_from_theta(
    fns: ImplicitFunctions, theta0: Any, s0: float, wp: int
) -> tuple[Any, list[Any], Any]:
    """Clock, parameters and log t at ``s0`` from the first-order expansion at ``s = 0`` (as
    ``integrate_taylor``)."""
    P = fns.system.n_params
    if len(theta0) != P:
        raise ValueError(f"theta0 has length {len(theta0)}, the system has n_params={P}")
    conv = converter("real", fns.bits)
    th = np.array([conv(v) for v in theta0], dtype=hy.real)
    vals = to_mpf(np.asarray(fns.init(th)))
    with mpmath.workprec(wp):
        s0_m = mpmath.mpf(s0)
        p = [vals[k] + s0_m * vals[P + k] for k in range(P)]
        ll0, dll0 = vals[2 * P], vals[2 * P + 1]
        logt0 = mpmath.log(s0_m) - ll0 - s0_m * dll0 / 2
        clock0 = mpmath.log(s0_m) if fns.system.clock == "log_s" else s0_m
    return clock0, p, logt0


def integrate_implicit(
    system_or_functions: MirrorFlowSystem | ImplicitFunctions,
    theta0: Sequence[Any],
    logt_target: float,
    *,
    dps: int = 30,
    precision: Precision | None = None,
    tol: float | None = None,
    stages: int | None = None,
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
    eliminate_fast: bool = True,
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
        Decimal digits wanted; the working precision is ``dps`` digits plus 40 guard bits
        (``Precision.for_radau(dps)``; ignored when ``precision`` or ``ImplicitFunctions`` are
        given).
    precision : Precision, optional
        The working precision (``fp_type="real"``; its ``bits`` and ``mp_bits`` are used) instead
        of ``Precision.for_radau(dps)``; with ``ImplicitFunctions`` it must have their bits.
    tol : float, optional
        Relative and absolute local error tolerance per step; default ``10**-(dps + 2)`` (from the
        working precision: ``dps`` digits plus 40 guard bits).
    stages : int, optional
        Radau IIA stages ``s`` (order ``2s - 1``); default from ``tol``
        (:func:`~._radau_driver.default_stages`: 9 down to ``tol = 1e-32``, then more, up to 12).
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
        size collapses at each crossing.  ReLU and leaky ReLU (a right-hand side that jumps)
        are stepped one activation pattern at a time, switched at each kink
        (:mod:`._radau_switches`), and units held on a kink slide on it (Filippov,
        :mod:`._radau_sliding`); they need kink events (``False`` is refused).
    eliminate_fast : bool
        Settle the stage values along the Jacobian's fastest directions before each Newton
        correction in ball arithmetic (nonlinear elimination, :mod:`._radau_elimination`,
        THEORY.md §7.3).  Measured on the ``exp(x**2/2)`` ReLU cell of the coverage table:
        log t = 725 in 400 s (637 without); the other l_inf Radau cells keep their digits,
        but ``exp(x**2/2)`` on ``diagonal(2)`` raised its bits to 960 and reached log t = 627
        in 400 s (1e3 in 10 s without): ``solve_mirror_flow`` turns it on for networks only
        (twin units, THEORY.md §7.3).
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
        last point); ``status`` (a :class:`~numerics.solvers.Status` value) ``"reached"``,
        ``"budget"``, ``"interrupted"`` (Ctrl-C) or ``"error"`` (an exception, or
        ``max_steps``); ``stats`` with ``steps``, ``rejected``, ``seconds``,
        ``compile_seconds``, ``compiled``, ``newton_iterations``, ``jacobian_evaluations``,
        ``rhs_evaluations``, ``lu_factorizations``, ``newton_failures``, ``kinks_cut``,
        ``kinks_refined``, ``kinks_loose`` (kinks of the potential whose location stalled above
        half the working digits, taken as cut), ``record_seconds`` (wall time at each recorded
        level), ``order``,
        ``stages``, ``tol``, ``s0``, ``prec`` (the working bits), ``fp_type`` (``"real"``),
        ``error_message`` (the exception's text, or ``""``) and, for every status but
        ``"reached"``, ``reason`` (what ended the run, where: log t, steps, step size, and the
        last Newton failure).

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
    integrator = RadauIntegrator(
        system_or_functions, dps=dps, precision=precision, tol=tol, stages=stages, s0=s0, h0=h0,
        newton_tol=newton_tol, max_newton=max_newton, max_steps=max_steps,
        loglogt_after=loglogt_after, newton_jacobian=newton_jacobian,
        jacobian_points=jacobian_points, reuse_jacobians=reuse_jacobians, kink_events=kink_events,
        eliminate_fast=eliminate_fast)
    if start is not None:
        clock, params, logt = start
        start = (clock, list(params), logt)
    return integrator.run(theta0, logt_target, start=start, budget_seconds=budget_seconds,
                          per_decade=per_decade, progress=progress)
