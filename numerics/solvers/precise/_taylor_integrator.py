"""A compiled Taylor integrator of a mirror-flow system, reusable across runs.

:class:`TaylorIntegrator` compiles ``heyoka.taylor_adaptive`` (and the cfuncs of the start-up
expansion and of the read-out) once; :meth:`TaylorIntegrator.run` resets its time, state,
runtime parameters and event cooldowns to a start and propagates one run with a
:class:`~numerics.solvers.precise._taylor_driver.TaylorDriver`.  A run that needs more output
levels (``logt_mode="ode"``) than the compiled integrator has level events recompiles it once,
with as many as that run needs.  :meth:`TaylorIntegrator.proceed` continues the last run, which
its wall-clock budget stopped, exactly as if it had not stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import heyoka as hy
import mpmath
import numpy as np

from .._precision import FpType, Precision
from .._status import Status
from ._compile import cfunc_options, compile_functions, n_pars, to_mpf
from ._native_output import capture_native_stdout
from ._record import (
    RunRecord,
    check_target_after,
    initial_state,
    output_levels,
    start_before,
    start_state,
)
from ._system import MirrorFlowSystem
from ._taylor_crossing import BranchCrossings
from ._taylor_driver import RunSetup, TaylorDriver
from ._taylor_events import EventLayout, Relay, event_pars, make_events
from ._taylor_kinks import PotentialKinks, invert_monotone
from ._taylor_meeting import MeetingWatch, PatternRates
from ._taylor_slide import SlidingModes
from ._taylor_sliding import SlidingFlow
from ._taylor_stiff import SlavedStall
from ._taylor_switches import KinkSwitches, kink_rates

__all__ = ["LOG_CLOCK_LIMIT", "S_CLOCK_LIMIT", "TaylorIntegrator"]

#: Default limit of the clock ``u = log s`` per working type.  ``s = exp(u)`` multiplies every
#: right-hand side (:func:`~numerics.solvers.precise._system_flow.time_changed_rhs`), so ``u``
#: stays below the log of the type's largest finite number (709.8 in float64, 11356.5 in
#: real128; MPFR's range is far wider, but a certificate rerun must stop where its real128 run
#: does), with room for the factors it multiplies.  The loss never increases along the flow, so
#: ``s <= L(0) t`` and a target ``log t <= limit - log L(0)`` is never cut short: 690 stopped
#: 30-digit runs whose loss stays >= l(0) (s grows like t) at log t ~ 690 (issue 10).
LOG_CLOCK_LIMIT: dict[str, float] = {"float64": 690.0, "real128": 11000.0, "real": 11000.0}
#: Default limit of the clock ``s`` (float64's range, in every type).
S_CLOCK_LIMIT = 1e300

#: Keyword arguments of ``heyoka.taylor_adaptive`` set by the integrator itself.
_OWN_OPTIONS = {"fp_type", "compact_mode", "time", "tol", "prec", "pars", "t_events", "nt_events"}


class TaylorIntegrator:
    """``heyoka.taylor_adaptive`` of a :class:`MirrorFlowSystem`, compiled once, run many times.

    Each :meth:`run` starts afresh (reset time, state, parameters, cooldowns); :meth:`proceed`
    continues the last run where its wall-clock budget stopped it, exactly as if it had not
    stopped (checkpoint segments: the wall clock decides where a segment ends, never the
    steps).

    Parameters
    ----------
    system : MirrorFlowSystem
        From :func:`numerics.solvers.precise.build_mirror_flow_system`.
    precision : Precision, optional
        Working type and bits; default ``Precision.of_type(fp_type, prec)``.
    fp_type, prec
        Working type when ``precision`` is not given (``prec``: MPFR bits of ``"real"``).
    tol : float, optional
        Taylor tolerance; default machine epsilon of the working type.
    logt_mode : {"ode", "quadrature"}
        See :func:`numerics.solvers.precise.integrate_taylor`.
    kink_events : bool
        Stop steps at sign changes of ``system.kinks`` and cross them with a tiny step.
    heyoka_options : dict, optional
        Extra keyword arguments of ``heyoka.taylor_adaptive``.

    Attributes
    ----------
    n_compiles : int
        How many times ``taylor_adaptive`` was built (the first run builds it).

    Examples
    --------
    Two segments, 0 -> log t = 50 -> 100, with one compilation (gradient flow, one point):

    >>> import mpmath, numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> X = np.array([[1.0, 1.0]])
    >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd)
    >>> integ = TaylorIntegrator(sysm, precision=Precision.of_type("real128"))
    >>> first = integ.run([0.0, 0.0], 50.0)
    >>> end = (first.clock[-1], [str(v) for v in first.states[-1][:2]], first.logt[-1])
    >>> second = integ.run(None, 100.0, start=end)
    >>> exact = mpmath.log1p(2 * mpmath.exp(100)) / 2
    >>> second.status, bool(abs(second.s[-1] / exact - 1) < 1e-30), integ.n_compiles
    ('reached', True, 1)
    >>> second.stats["compile_seconds"], second.stats["compiled"]
    (0.0, False)
    """

    def __init__(
        self,
        system: MirrorFlowSystem,
        *,
        precision: Precision | None = None,
        fp_type: FpType = "float64",
        prec: int | None = None,
        tol: float | None = None,
        logt_mode: Literal["ode", "quadrature"] = "ode",
        kink_events: bool = True,
        heyoka_options: dict[str, Any] | None = None,
    ) -> None:
        self.system = system
        self.precision = Precision.of_type(fp_type, prec) if precision is None else precision
        if logt_mode not in ("ode", "quadrature"):
            raise ValueError(f"logt_mode must be 'ode' or 'quadrature', got {logt_mode!r}")
        self.logt_mode = logt_mode
        self.quad = logt_mode == "quadrature"
        self.tol = tol
        self.tol_f = 2.0 ** (1 - self.precision.bits) if tol is None else float(tol)
        self.kink_events = kink_events
        self.heyoka_options = dict(heyoka_options or {})
        clash = sorted(set(self.heyoka_options) & _OWN_OPTIONS)
        if clash:
            raise ValueError(f"heyoka_options may not set {clash}: they are set by "
                             "integrate_taylor's own arguments")
        self.equations = system.quadrature_equations if self.quad else system.equations
        self.ta: Any = None
        self.layout: EventLayout | None = None
        self.n_compiles = 0
        self._compile_seconds = 0.0   # compilation not yet reported by a run
        self._relays: list[Relay] = []   # one per level event (ode mode)
        self._functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        self.sliding = SlidingModes(self)   # sliding flows, compiled on demand
        self.pattern_rates = PatternRates(self)   # for a unit's kinks meeting, on demand
        self.crossings = (BranchCrossings(self) if kink_events and system.crossing is not None
                          else None)          # the flow in theta_k, compiled on demand
        self._paused: tuple[TaylorDriver, float] | None = None   # a run stopped by its budget

    # ------------------------------------------------------------------ compilation
    def function(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`_function` (public: the kink handlers use these cfuncs)."""
        return self._function(name)

    def _function(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        """A cfunc of the system, compiled on first use: ``init``, ``log_loss``, ``post``,
        ``force``, ``z``, ``kinks``, ``kink_rates`` or ``kink_gradients``."""
        if name not in self._functions:
            t0 = time.perf_counter()
            sysm = self.system
            outputs, inputs = {
                "init": (sysm.init_exprs, sysm.theta_in),
                "log_loss": ([sysm.log_loss], None),
                "post": ([*sysm.theta, sysm.log_loss], None),
                "force": (list(sysm.force), None),
                "z": (list(sysm.z), None),
                "kinks": (list(sysm.kinks), None),
                "kink_rates": (kink_rates(sysm, self.equations), None),
                "kink_gradients": ([hy.diff(z, v) for z in sysm.kinks
                                    for v in sysm.variables[: sysm.n_params]], None),
            }[name]
            # None of these reads par[0] (the log t scale), so scale=1 serves every run.
            self._functions[name] = compile_functions(
                sysm, outputs, inputs, fp_type=self.precision.fp_type, prec=self.precision.prec,
                scale=1.0,
            )
            self._compile_seconds += time.perf_counter() - t0
        return self._functions[name]

    def _potential_kinks(self) -> PotentialKinks | None:
        """The compiled pieces for kinks of the potential (``None`` without them)."""
        if not (self.kink_events and self.system.n_potential_kinks):
            return None
        if "euler" not in self._functions:
            self._functions["euler"] = self._compile_euler()
        sysm = self.system
        return PotentialKinks(
            euler=self._functions["euler"], force=self._function("force"),
            sliding_slope=self._sliding_slope,
            log_loss=self._function("log_loss") if self.quad else None,
            coordinates=sysm.kink_coordinates, mask_pars=dict(sysm.mask_pars),
            n_params=sysm.n_params, tol=self.tol_f,
            lipschitz=sysm.lipschitz_kink_coordinates)

    def _stall(self, setup: RunSetup) -> SlavedStall | None:
        """The watch for a coordinate slaved to the zero of its force through a branch point
        (:mod:`._taylor_stiff`): dual state, coordinates with ``f''(0) = 0`` only."""
        sysm = self.system
        if sysm.state != "dual" or not sysm.crossing_coordinates:
            return None
        return SlavedStall(self._function("post"), self._function("force"),
                           sysm.crossing_coordinates, setup.log_clock,
                           self.precision.converter(), self.precision.mp_bits)

    def _sliding_slope(self, groups: Any) -> Callable[[np.ndarray, Any, np.ndarray], np.ndarray]:
        """``slope(state, clock, pars)``: the right-hand side of the sliding flow on ``groups``
        (compiled on first use), for a bridge taken while the flow slides."""
        key = f"sliding slope {groups}"
        if key not in self._functions:
            flow = self.sliding.flow(groups)
            assert flow is not None
            clock = hy.make_vars("bridge_clock")
            outputs = list(hy.subs([r for _, r in flow.equations], {hy.time: clock}))
            cf = hy.cfunc(outputs, [v for v, _ in flow.equations] + [clock],
                          **cfunc_options(self.precision))
            npar, dtype = n_pars(outputs), self.precision.dtype

            def slope(state: np.ndarray, clock_value: Any, pars: np.ndarray) -> np.ndarray:
                x = np.array([*state, clock_value], dtype=dtype)
                return cf(x, pars=np.array(pars[:npar], copy=True)) if npar else cf(x)

            self._functions[key] = slope       # type: ignore[assignment]
        return self._functions[key]            # type: ignore[return-value]

    def _compile_euler(self) -> Callable[[np.ndarray, Any, Any, int], np.ndarray]:
        """``euler(state, clock, delta, k)``: the state one Euler step of ``delta`` later.

        In quadrature mode the scalar component ``-log L / Lambda`` is not stepped (its
        derivative ``d log L/ds`` is infinite at a branch point) but evaluated at the new
        parameters.  In the primal state the kink's coordinate ``k`` is stepped in ``z_k``
        (``dtheta_k/ds = F_k / f''(theta_k)`` is infinite where ``f''(0) = 0``) and mapped back
        by bisection on the monotone ``f'``.  Runtime parameters (masks included) come from ``ta``.
        """
        t0 = time.perf_counter()
        prc, sysm = self.precision, self.system
        P = sysm.n_params
        stepped = self.equations[:P] if self.quad else self.equations
        clock = hy.make_vars("bridge_clock")
        outputs = list(hy.subs([r for _, r in stepped], {hy.time: clock}))  # one call: shared
        cf = hy.cfunc(outputs, [v for v, _ in self.equations] + [clock], **cfunc_options(prc))
        npar = n_pars(outputs)
        log_loss = self._function("log_loss") if self.quad else None
        primal = sysm.state == "primal"
        conv = prc.converter()
        zf, force = (self._function("z"), self._function("force")) if primal else (None, None)

        def euler(state: np.ndarray, clock_value: Any, delta: Any, k: int) -> np.ndarray:
            x = np.array([*state, clock_value], dtype=prc.dtype)
            slope = cf(x, pars=np.array(self.ta.pars[:npar], copy=True)) if npar else cf(x)
            new = np.array(state, copy=True)
            new[: len(stepped)] = state[: len(stepped)] + delta * slope
            if zf is not None and force is not None:
                speed = force(state)[k]
                if sysm.clock == "log_s":          # d/du = s d/ds with s = exp(u)
                    with mpmath.workprec(prc.mp_bits):
                        speed = speed * conv(mpmath.exp(to_mpf(clock_value)))
                new[k] = invert_monotone(lambda th: zf(_with(new, k, th))[k],
                                         zf(state)[k] + delta * speed, state[k])
            if log_loss is not None:
                new[P] = -log_loss(new)[0] / self.ta.pars[0]
            return new

        self._compile_seconds += time.perf_counter() - t0
        return euler

    def _events(self, n_levels: int, par_base: int, flow: SlidingFlow | None = None,
                ) -> tuple[list[Any], list[Any], EventLayout]:
        return make_events(self.system, self.precision, quad=self.quad,
                           kink_events=self.kink_events, par_base=par_base,
                           level_callbacks=self._relays[:n_levels],
                           exits=() if flow is None else flow.exits,
                           kinks=None if flow is None else flow.events)

    def taylor_adaptive(self, equations: list[tuple[Any, Any]], events: tuple[list, list],
                        clock: Any, state: np.ndarray, pars: np.ndarray,
                        options: dict[str, Any] | None = None) -> Any:
        """``heyoka.taylor_adaptive`` of ``equations`` with ``events`` (terminal, non-terminal)
        at this integrator's precision and tolerance, and ``options`` (default:
        ``heyoka_options``; :meth:`auxiliary_options` for the flows compiled on demand)."""
        prc = self.precision
        kw: dict[str, Any] = {"fp_type": prc.hy_type, "compact_mode": True, "time": clock}
        if prc.fp_type == "real":
            kw["prec"] = prc.bits
        if self.tol is not None:
            kw["tol"] = prc.converter()(self.tol)
        if len(pars):
            kw["pars"] = pars
        kw["t_events"], kw["nt_events"] = events
        options = self.heyoka_options if options is None else options
        return hy.taylor_adaptive(equations, state, **kw, **options)

    def _build(self, setup: RunSetup, n_levels: int) -> None:
        """Compile ``taylor_adaptive`` with ``n_levels`` level events, at the start of ``setup``."""
        t0 = time.perf_counter()
        par_base = n_pars([rhs for _, rhs in self.equations] + list(self.system.kinks))
        self._relays = [Relay() for _ in range(n_levels)]
        t_events, nt_events, layout = self._events(n_levels, par_base)
        self.ta = self.taylor_adaptive(self.equations, (t_events, nt_events),
                                        self.precision.converter()(setup.clock0), setup.state0,
                                        self._pars(layout, setup))
        self.layout = layout
        self.sliding.reset()
        self.n_compiles += 1
        self._compile_seconds += time.perf_counter() - t0
        # The cfuncs every later run needs, now rather than in a later segment (``init`` is
        # compiled by the first run from theta0, if any).
        self._function("post")
        if self.quad:
            self._function("log_loss")
        if layout.n_kinks:
            self._function("kinks")

    def compile_sliding(self, flow: SlidingFlow) -> tuple[Any, EventLayout]:
        """``taylor_adaptive`` of a sliding flow with this integrator's events plus the flow's
        exits, at the current state (a run switches to it: :class:`SlidingModes`).

        Compiled at ``opt_level=0`` in real128 and MPFR unless ``heyoka_options`` set it:
        software arithmetic gains nothing from LLVM's optimisation (measured 0.8 s against
        2.4 s per compilation, steps no slower).
        """
        assert self.layout is not None
        t_events, nt_events, layout = self._events(self.layout.n_levels, self.layout.par_base,
                                                   flow)
        ta = self.taylor_adaptive(flow.equations, (t_events, nt_events), self.ta.time,
                                  np.array(self.ta.state), np.array(self.ta.pars),
                                  self.auxiliary_options())
        return ta, layout

    def auxiliary_options(self) -> dict[str, Any]:
        """heyoka options of the flows compiled during a run (sliding flows, the flow in
        ``theta_k`` of a branch crossing): ``opt_level=0`` in real128 and MPFR, unless
        ``heyoka_options`` set it (software arithmetic gains nothing from LLVM's
        optimisation: 0.8 s against 2.4 s per compilation, steps no slower)."""
        options = {"opt_level": 0} if self.precision.fp_type != "float64" else {}
        return {**options, **self.heyoka_options}

    def _pars(self, layout: EventLayout, setup: RunSetup) -> np.ndarray:
        return event_pars(self.system, self.precision, layout, scale=setup.scale,
                          logt_target=setup.logt_target, levels=setup.levels)

    def _reset(self, setup: RunSetup) -> EventLayout:
        """Put the compiled integrator at the start of ``setup`` (compiling it if needed)."""
        n_levels = 0 if self.quad else len(setup.levels)
        if self.ta is None or self.layout is None or n_levels > self.layout.n_levels:
            self._build(setup, n_levels)
        else:
            conv = self.precision.converter()
            self.ta.time = conv(setup.clock0)
            self.ta.state[:] = setup.state0
            self.ta.pars[:] = self._pars(self.layout, setup)
            if self.ta.with_events:
                self.ta.reset_cooldowns()
        assert self.layout is not None
        return self.layout

    # ------------------------------------------------------------------ runs
    def _start(self, theta0: Sequence[Any] | None, start: tuple[Any, Sequence[Any], Any] | None,
               s0_f: float, scale: float) -> tuple[Any, np.ndarray, Any]:
        """``(clock, state, log t)`` of a run from ``theta0`` at ``t = 0`` or from ``start``."""
        prc, sysm = self.precision, self.system
        args = (prc.fp_type, prc.prec, scale, prc.mp_bits)
        if start is not None:
            ll = self._function("log_loss") if self.quad else None
            return start_state(sysm, start, self.quad, *args, log_loss_f=ll)
        if theta0 is None:
            raise ValueError("give theta0 (a run from t = 0) or start (a continued run)")
        return initial_state(sysm, theta0, s0_f, self.quad, sysm.clock == "log_s", *args,
                             init_f=self._function("init"))

    def _setup(self, theta0: Sequence[Any] | None, logt_target: float,
               start: tuple[Any, Sequence[Any], Any] | None, s0_f: float, per_decade: int,
               budget_seconds: float, max_clock: float | None,
               progress: Callable[[float], None] | None) -> RunSetup:
        # Scale of the large scalar state (log t or -log L): heyoka's error control is relative
        # to the largest state component, so an unscaled log t of 1e4 would loosen the
        # parameters' tolerance 1e4-fold; scaling by the target instead costs absolute accuracy
        # tol * scale in log t early on, hence the cap.
        scale = min(max(1.0, float(logt_target)), self.tol_f**-0.5)
        clock0, state0, logt0 = self._start(theta0, start, s0_f, scale)
        if max_clock is None:
            max_clock = (LOG_CLOCK_LIMIT[self.precision.fp_type] if self.system.clock == "log_s"
                         else S_CLOCK_LIMIT)
        return RunSetup(
            system=self.system, precision=self.precision, quad=self.quad, clock0=clock0,
            state0=state0, logt0=logt0, logt_target=float(logt_target), scale=scale,
            levels=output_levels(float(logt0), float(logt_target), per_decade),
            tol_f=self.tol_f, max_clock=max_clock, budget_seconds=budget_seconds,
            progress=progress,
        )

    def run(
        self,
        theta0: Sequence[Any] | None,
        logt_target: float,
        *,
        start: tuple[Any, Sequence[Any], Any] | None = None,
        s0: float | None = None,
        per_decade: int = 4,
        budget_seconds: float = 60.0,
        max_clock: float | None = None,
        progress: Callable[[float], None] | None = None,
        monitor: Callable[[float, np.ndarray], str | None] | None = None,
    ) -> RunRecord:
        """One run from ``theta0`` (at ``t = 0``) or from ``start`` until ``log t = logt_target``.

        ``monitor(log_t, theta)`` (θ in float64) is called at the log t levels of
        :func:`numerics.solvers.next_stuck_check`; a string it returns stops the run with status
        ``"stuck"`` and that reason.

        The arguments are those of :func:`numerics.solvers.precise.integrate_taylor`;
        ``theta0`` may be ``None`` when ``start`` is given.  ``stats["compile_seconds"]`` is the
        compilation done for this run (0 when the compiled integrator was reused) and
        ``stats["compiled"]`` says whether this run built ``taylor_adaptive``;
        ``stats["heyoka_messages"]`` counts the lines heyoka's logger wrote meanwhile
        (``{"count": N, "first": line}``; they are kept off stdout, see
        :func:`~numerics.solvers.precise._native_output.capture_native_stdout`).
        """
        P = self.system.n_params
        if theta0 is not None and len(theta0) != P:
            raise ValueError(f"theta0 has length {len(theta0)}, the system has n_params={P}")
        s0_f = 0.01 * math.sqrt(self.tol_f) if s0 is None else float(s0)
        if not s0_f > 0:
            raise ValueError(f"s0 must be positive, got {s0}")
        n_before = self.n_compiles
        self._paused = None     # a new run resets the integrator a paused one was on
        setup = self._setup(theta0, logt_target, start, s0_f, per_decade, budget_seconds,
                            max_clock, progress)
        if start is not None:
            check_target_after(setup.logt0, logt_target)
        elif (earlier := start_before(s0_f, setup.logt0, logt_target)) != s0_f:
            s0_f = earlier
            setup = self._setup(theta0, logt_target, start, s0_f, per_decade, budget_seconds,
                                max_clock, progress)
        with capture_native_stdout() as messages:
            layout = self._reset(setup)
            switches = (KinkSwitches(layout, self._function, self.precision.converter(),
                                     self.system.n_params, self.tol_f,
                                     log_clock=self.system.clock == "log_s")
                        if layout.n_kinks else None)
            driver = TaylorDriver(self.ta, setup, layout, monitor=monitor,
                                  post=self._function("post"), switches=switches,
                                  potential_kinks=self._potential_kinks(),
                                  crossings=self.crossings, stall=self._stall(setup),
                                  sliding=self.sliding if layout.n_kinks else None,
                                  meeting=(MeetingWatch(self, self.pattern_rates)
                                           if self.system.force_jumps and layout.n_kinks
                                           else None))
            self._propagate(driver)
        return self._finish(driver, s0_f, messages.summary(),
                            compiled=self.n_compiles > n_before)

    def proceed(self, *, budget_seconds: float = 60.0,
                progress: Callable[[float], None] | None = None) -> RunRecord:
        """Continue the last :meth:`run` (or :meth:`proceed`), which ended on its budget, to
        its target: the same integration as if it had never stopped, bit for bit
        (:meth:`~._taylor_driver.TaylorDriver.extend`), with ``budget_seconds`` more.

        The record starts at the point where the last one ended; its counters (``steps``,
        ``kinks_crossed``, the sliding and crossing statistics, ``seconds``) are this
        segment's, and ``stats["compiled"]`` is False.  Only the last run can be continued: a
        new :meth:`run` resets the compiled ``taylor_adaptive`` a stopped run was on.

        Raises
        ------
        ValueError
            The last run did not end on its budget (or there was none).

        Examples
        --------
        A run cut by a budget of 0 s (one step), continued to its target, ends on the bits of
        the uninterrupted run (gradient flow, one point):

        >>> import numpy as np, sympy as sp
        >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
        >>> x = sp.Symbol("x", real=True)
        >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
        >>> X = np.array([[1.0, 1.0]])
        >>> sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd)
        >>> integ = TaylorIntegrator(sysm, precision=Precision.of_type("real128"))
        >>> whole = integ.run([0.0, 0.0], 50.0)
        >>> part = integ.run([0.0, 0.0], 50.0, budget_seconds=0.0)
        >>> part.status, integ.can_proceed
        ('budget', True)
        >>> rest = integ.proceed()
        >>> same = list(rest.theta[-1]) == list(whole.theta[-1])
        >>> rest.status, rest.logt[0] == part.logt[-1], same
        ('reached', True, True)
        >>> part.stats["steps"] + rest.stats["steps"] == whole.stats["steps"]
        True
        """
        if self._paused is None:
            raise ValueError("no run to continue: the last run did not end on its budget")
        driver, s0_f = self._paused
        self._paused = None
        driver.extend(budget_seconds, progress)
        with capture_native_stdout() as messages:
            self._propagate(driver)
        return self._finish(driver, s0_f, messages.summary(), compiled=False)

    @property
    def can_proceed(self) -> bool:
        """Whether the last run ended on its budget (so :meth:`proceed` continues it)."""
        return self._paused is not None

    def _propagate(self, driver: TaylorDriver) -> None:
        """``driver.propagate()`` with the level events reporting to it."""
        for relay in self._relays[: len(driver.setup.levels)]:   # the others are parked
            relay.target = driver.on_level
        try:
            driver.propagate()
        finally:
            for relay in self._relays:
                relay.target = None

    def _finish(self, driver: TaylorDriver, s0_f: float, messages: dict[str, Any], *,
                compiled: bool) -> RunRecord:
        """The record of the run (or segment) ``driver`` propagated; keep the driver if it
        ended on its budget (:meth:`proceed`)."""
        info = self._info(driver.setup, s0_f, compiled=compiled)
        info["heyoka_messages"] = messages
        info["sliding_compile_seconds"] = self.sliding.take_seconds()
        if self.crossings is not None:
            info["crossing_compile_seconds"] = self.crossings.compile_seconds
            self.crossings.compile_seconds = 0.0
        self._compile_seconds = 0.0
        record = driver.finish(self._function("post"), info)
        if record.status == Status.BUDGET:
            self._paused = (driver, s0_f)
        return record

    def _info(self, setup: RunSetup, s0_f: float, *, compiled: bool) -> dict[str, Any]:
        """The run's stats that do not come from the driver."""
        return {
            "compile_seconds": self._compile_seconds,
            "order": int(self.ta.order),
            "tol": float(to_mpf(self.ta.tol)),
            "fp_type": self.precision.fp_type,
            "prec": self.precision.bits,
            "s0": s0_f,
            "scale": setup.scale,
            "logt_mode": self.logt_mode,
            "compiled": compiled,
        }


def _with(state: np.ndarray, k: int, value: Any) -> np.ndarray:
    out = np.array(state, copy=True)
    out[k] = value
    return out
