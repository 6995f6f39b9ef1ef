"""One run of a compiled Taylor integrator: step callback, output levels, kinks, the record.

:class:`TaylorDriver` owns everything that lives for one run (the recorded points, the pending
output levels, ``log t`` by quadrature, the stop flags, step and kink counts); the compiled
``heyoka.taylor_adaptive`` and its cfuncs belong to
:class:`~numerics.solvers.precise._taylor_integrator.TaylorIntegrator`, which builds a driver per
run.  heyoka calls the driver's bound methods :meth:`TaylorDriver.step` (after every step) and,
through a :class:`~numerics.solvers.precise._taylor_events.Relay`, :meth:`TaylorDriver.on_level`
(output levels in ``logt_mode="ode"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import heyoka as hy
import mpmath
import numpy as np

from .._precision import Precision
from .._status import Status
from .._stuck import check_stuck_levels
from ._compile import to_mpf
from ._logtime import LogTime
from ._record import RunRecord, stop_on_sigint
from ._system import MirrorFlowSystem
from ._taylor_crossing import BranchCrossings, CrossingWatch
from ._taylor_dense import ode_level_offset, step_exponent, theta_of_state
from ._taylor_events import EventLayout
from ._taylor_kinks import PotentialKinks
from ._taylor_meeting import MeetingWatch
from ._taylor_slide import SlideControl, SlidingModes
from ._taylor_stiff import SlavedStall
from ._taylor_switches import KinkSwitches

__all__ = ["RunSetup", "TaylorDriver"]


@dataclass(frozen=True)
class RunSetup:
    """What one run starts from and stops at (built by ``TaylorIntegrator.run``)."""

    system: MirrorFlowSystem
    precision: Precision
    quad: bool
    clock0: Any
    state0: np.ndarray
    logt0: Any
    logt_target: float
    scale: float
    levels: list[float]
    tol_f: float
    max_clock: float
    budget_seconds: float
    progress: Callable[[float], None] | None

    @property
    def log_clock(self) -> bool:
        """True in the clock ``u = log s``."""
        return self.system.clock == "log_s"


class TaylorDriver:
    """Propagate a reset ``taylor_adaptive`` ``ta`` for one run and record its points.

    ``layout`` says which of ``ta``'s terminal events are the target and the kinks.

    ``records`` holds ``(clock, state, log t)``: the start, every output level crossed, and the
    end point.  :meth:`propagate` runs heyoka (crossing kinks), :meth:`finish` decides the status
    and its reason and evaluates theta and log L at the recorded points.  A run that ended on
    its wall-clock budget can be given more (:meth:`extend`) and propagated on, as if it had
    not stopped.
    """

    def __init__(self, ta: Any, setup: RunSetup, layout: EventLayout, *,
                 monitor: Callable[[float, np.ndarray], str | None] | None = None,
                 post: Callable[[np.ndarray], np.ndarray] | None = None,
                 switches: KinkSwitches | None = None,
                 sliding: SlidingModes | None = None,
                 potential_kinks: PotentialKinks | None = None,
                 crossings: BranchCrossings | None = None,
                 stall: SlavedStall | None = None,
                 meeting: MeetingWatch | None = None) -> None:
        self.ta, self.setup, self.layout, self.switches = ta, setup, layout, switches
        self.meeting = meeting  # a unit's kinks meeting at its origin: the run ends there
        self.met: str | None = None   # ... and why (status "sliding")
        self.stall = stall      # a stiff approach of a slaved coordinate to 0 (p > 3)
        self.slide = (None if sliding is None
                      else SlideControl(sliding, (ta, layout)))
        self.good: tuple[Any, np.ndarray] | None = None   # last good (clock, state), sliding
        self.monitor, self.post, self.stuck = monitor, post, None
        self.potential_kinks = potential_kinks
        self.crossings = crossings
        self.watch = None if crossings is None else CrossingWatch(crossings.coordinates)
        self.bridges = 0
        self.sliding_bridges = 0     # bridges stepped with the sliding flow's slope
        self.conv = setup.precision.converter()
        self.wp = setup.precision.mp_bits
        self.records: list[tuple[Any, np.ndarray, Any]] = [
            (setup.clock0, setup.state0, setup.logt0)
        ]
        self.pending = list(setup.levels)
        self.logtime = LogTime(setup.precision.bits, setup.logt0) if setup.quad else None
        self.flags = {"reached": False, "budget": False, "interrupted": False}
        self.steps, self.kinks_crossed = 0, 0
        self.outcome: Any = None
        self.deadline = self.next_report = 0.0
        self.next_check = -math.inf      # log t of the next stuck check
        self.seconds = self.cpu_seconds = 0.0
        self.status: Status | None = None   # set by finish
        self._pausable = False     # inside the main propagate_until: the budget may stop it
        self._chunk: Any = None    # the end of the propagate_until a budget stop paused
        self._resumed = False      # the next propagate continues a paused one (extend)

    def extend(self, budget_seconds: float,
               progress: Callable[[float], None] | None = None) -> None:
        """Give a run that ended on its budget (status ``"budget"``) ``budget_seconds`` more.

        The next :meth:`propagate` continues where the budget stopped heyoka, with everything
        the steps depend on as it was: the same ``taylor_adaptive`` (base or sliding flow), its
        time (double-length in heyoka), state, parameters (masks, switches, levels) and event
        cooldowns, the ``propagate_until`` the budget cut (its end, in quadrature mode), the
        sliding state, the kinks switched off, the frozen coordinates, the output levels to
        come, ``log t`` by quadrature and the stuck monitor; so the steps are those of a run
        that was never stopped, to the last bit, wherever the wall clock cut it.  The budget
        stops heyoka only at such a point: after a step of the main ``propagate_until`` that
        ended on no event (:meth:`step`), or between two of them.  (Restarting from the
        stopped point instead put the clock and the state through their stored digits and
        reset the cooldowns, the sliding state and the monitor: measured, a linear model to
        log t = 3000 in 5 ms segments ended 3.5e-32 from the uninterrupted run, the coverage
        ReLU net of ``tests/test_taylor_resume.py`` never reached log t = 1.)

        What is new is the segment's: its record (starting at the stopped point), wall time,
        budget, progress callback and counters (steps, kinks crossed, bridges, nudges,
        switches, branch crossings count from 0, as for a restarted segment; a sliding
        episode still open is reported again, with the ``log t`` it began at).

        Raises
        ------
        ValueError
            The run did not end on its budget.
        """
        if self.status != Status.BUDGET:
            raise ValueError(f"only a run that ended on its budget can be extended, not one "
                             f"that ended {self.status}")
        self.setup = replace(self.setup, budget_seconds=budget_seconds, progress=progress)
        self.records = [self.records[-1]]
        self.flags["budget"], self.outcome, self.status = False, None, None
        self.steps = self.kinks_crossed = self.bridges = self.sliding_bridges = 0
        self.seconds = self.cpu_seconds = 0.0
        if self.switches is not None:
            self.switches.n_switched_off = self.switches.n_nudged = 0
            self.switches.n_touching = 0
        if self.watch is not None:
            w = self.watch
            w.crossings = w.steps = w.handbacks = w.fallbacks = 0
            w.seconds = 0.0
        if self.slide is not None:
            self.slide.new_segment()
        self._resumed = True

    # ------------------------------------------------------------------ heyoka callbacks
    def on_level(self, ta: Any, t: Any, d_sgn: int) -> None:
        """Non-terminal event of an output level (``logt_mode="ode"``): record the point."""
        ta.update_d_output(t)
        out = np.array(ta.d_output, copy=True)
        with mpmath.workprec(self.wp):
            self.records.append((to_mpf(t), out, to_mpf(out[-1]) * self.setup.scale))

    def step(self, ta: Any) -> bool:
        """Step callback: quadrature of log t, progress reports, budget; False stops heyoka."""
        if self.meeting is not None:
            self.meeting.remember(ta.state)
        if self.flags["interrupted"]:
            return False
        if self.setup.quad and not self._quad_step(ta):
            return False
        progress = self.setup.progress
        if progress is not None and time.perf_counter() >= self.next_report:
            self.next_report = time.perf_counter() + 0.2
            progress(self.current_logt())
        # At the log t levels of next_stuck_check, θ at each level (dense output), as on the
        # other paths: a decision about the trajectory, not about the wall clock (it was every
        # 0.5 s, so a fast run never checked) nor about where the steps fell.
        # Also while sliding: a unit held at its kink adds nothing to the margin of the sample
        # it slides on (held_samples), so a sample whose units are all off or held is stuck; it
        # used to be left alone, and s = exp(u) grew like t into the clock limit (issue 10)
        # (in quadrature mode :meth:`_quad_step` asks, before it moves log t on)
        if (not self.setup.quad and self.monitor is not None
                and self.current_logt() >= self.next_check):     # a level in this step
            lt0, offset_at = ode_level_offset(ta, self.setup.scale)
            if self._stuck_in_step(ta, lt0, self.current_logt(), offset_at):
                return False
        fired = self.layout.stops.pop("fired", False)     # the step ended on an event
        if self.slide is not None and self.slide.on:
            self.good = (ta.time, np.array(ta.state, copy=True))
        if not fired and self._watch_crossing(ta):
            return False      # a coordinate is about to cross a branch point: _branch
        if (self.stall is not None and not fired and not (self.slide is not None and self.slide.on)
                and self.stall.check(ta)):
            return False      # explicit steps cannot cross it: stop (status "stalled")
        # The budget stops heyoka only where extend can continue the run exactly: in the main
        # propagate_until (not in a kink's crossing step), and not on a step that ended on an
        # event (stopping it here would hide the event's outcome: heyoka returns cb_stop)
        if self._pausable and not fired and time.perf_counter() >= self.deadline:
            self.flags["budget"] = True
            return False
        return True

    def _watch_crossing(self, ta: Any) -> bool:
        """True if heyoka should stop for a crossing in ``theta_k`` (:class:`CrossingWatch`).

        Not asked on a step that ended on a terminal event (``layout.stops["fired"]``, see
        :class:`~numerics.solvers.precise._taylor_events.Fired`): stopping it from the step
        callback would hide the event's outcome.
        """
        if self.watch is None or self.potential_kinks is None:
            return False
        return self.watch.check(ta, self.potential_kinks.frozen)

    def _stuck_in_step(self, ta: Any, lt0: Any, lt1: Any,
                       offset_at: Callable[[float], Any]) -> bool:
        """Ask the monitor at the check levels the last step crossed, below the target
        (:func:`~numerics.solvers.check_stuck_levels`), with θ from the step's dense output at
        the offset ``offset_at(level)`` where log t equals the level; True if it is stuck."""
        if self.monitor is None:
            return False
        assert self.post is not None
        c0 = to_mpf(ta.time) - to_mpf(ta.last_h)

        def theta_at(level: float) -> np.ndarray:
            ta.update_d_output(self.conv(c0 + (offset_at(level) if level > lt0 else 0)))
            return theta_of_state(self.post, np.array(ta.d_output, copy=True),
                                  self.setup.system.n_params)

        end = min(float(lt1), self.setup.logt_target)
        self.next_check, self.stuck = check_stuck_levels(self.monitor, self.next_check,
                                                         float(lt0), end, theta_at)
        return bool(self.stuck)

    def current_logt(self) -> float:
        """``log t`` at the integrator's current time, as a float."""
        if self.logtime is not None:
            return float(self.logtime.logt)
        return float(to_mpf(self.ta.state[-1])) * self.setup.scale

    # ------------------------------------------------------------------ log t by quadrature
    def _record_level(self, ta: Any, step: tuple[Any, Any, list[Any], list[Any]],
                      level: Any) -> None:
        """Record the point of the last step where ``log t = level``."""
        assert self.logtime is not None
        h, c0, g, dg = step
        sig = self.logtime.solve(g, dg, h, level)
        ta.update_d_output(self.conv(c0 + sig))
        self.records.append((c0 + sig, np.array(ta.d_output, copy=True), level))

    def _quad_step(self, ta: Any) -> bool:
        """Advance log t over the step just taken; record crossed levels; stop at the target."""
        assert self.logtime is not None
        with mpmath.workprec(self.wp):
            step = step_exponent(ta, self.setup.system.n_params, self.setup.scale,
                                 self.setup.log_clock)
            h, _, g, dg = step
            lt1 = self.logtime.at(g, dg, h)
            if lt1 >= self.next_check and self._stuck_in_step(
                    ta, self.logtime.logt, lt1, lambda level: self.logtime.solve(g, dg, h, level)):
                self.logtime.logt = lt1
                return False
            while self.pending and self.pending[0] <= lt1:
                self._record_level(ta, step, mpmath.mpf(self.pending.pop(0)))
            if lt1 >= self.setup.logt_target:
                self._record_level(ta, step, mpmath.mpf(self.setup.logt_target))
                self.flags["reached"] = True
                return False
            self.logtime.logt = lt1
        return True

    # ------------------------------------------------------------------ propagation
    def _chunk_end(self) -> Any:
        """End of the next ``propagate_until``.

        In quadrature mode no event bounds the step: a flow that is polynomial in the clock
        (gradient flow, linear model) would be taken in one infinite step.  Propagate in chunks.
        """
        max_clock = self.setup.max_clock
        if not self.setup.quad:
            return self.conv(max_clock)
        c = float(to_mpf(self.ta.time))
        nxt = c + 2.0 if self.setup.log_clock else c + max(1.0, c)
        return self.conv(min(nxt, max_clock))

    def _potential_kink(self, outcome: Any) -> int | None:
        """The coordinate of the potential's kink heyoka stopped on, or None (a model kink)."""
        first = self.layout.n_kinks - self.setup.system.n_potential_kinks
        index = -int(outcome) - 1 - self.layout.n_target - first
        if self.potential_kinks is None or not 0 <= index < len(self.potential_kinks.coordinates):
            return None
        return self.potential_kinks.coordinates[index]

    def _bridge(self, k: int) -> Any:
        """Step off a kink of the potential by one Euler step of ``delta = 0.1 tol^(2/3)``.

        At a zero of ``z_k`` the inverse mirror map of ``|x|^p``, p > 2, has a branch point
        (``theta_k ~ |z_k|^(1/(p-1))``): no Taylor series exists there.  The right-hand side is
        Hölder-continuous with exponent ``a = min(1, 1/(p-1))``, so one Euler step has local error
        ``O(delta^(1 + a))``, below ``tol`` for ``a >= 1/2``; heyoka's steps then grow again
        geometrically with the distance from the branch point (~220 steps at 30 digits, after
        ~250 shrinking ones on the way in).  Where :meth:`_branch` applies (dual state,
        polynomial one-sided ``f''``) it crosses instead, in a few steps.
        """
        assert self.potential_kinks is not None
        ta, setup = self.ta, self.setup
        P, scale = setup.system.n_params, setup.scale
        with mpmath.workprec(self.wp):
            c0 = to_mpf(ta.time)
            delta = mpmath.mpf(0.1 * setup.tol_f ** (2.0 / 3.0)) * max(1, abs(c0))
            state = np.array(ta.state, copy=True)
            new = self._euler(state, k, self.conv(delta))
            if self.logtime is not None:     # exponent -log L (+ u), linear across the step
                g = [to_mpf(state[P]) * scale, to_mpf(new[P]) * scale]
                if setup.log_clock:
                    g = [g[0] + c0, g[1] + c0 + delta]
                slope = (g[1] - g[0]) / delta
                self.logtime.logt = self.logtime.at([g[0], slope], [slope], delta)
            ta.state[:] = new
            ta.time = self.conv(c0 + delta)
        self.bridges += 1
        self.steps += 1
        return hy.taylor_outcome.time_limit

    def _euler(self, state: np.ndarray, k: int, delta: Any) -> np.ndarray:
        """One Euler step of ``delta`` off coordinate ``k``'s kink, with the force of the flow
        the run is on.  The compiled bridge has the base flow's: while the flow slides that is
        the wrong force (the balance law drifted by 1.5e-23 on a ReLU net, issue 10's battery).
        In the dual state (``dz/ds`` is the force, finite at the kink) and for a kink of
        ``f''`` alone (no branch point) the sliding flow's own slope steps every coordinate; at a
        branch point of the primal state (``f''(0) = 0`` or ``inf``) while sliding, the base
        flow's bridge is still used (its slope of ``theta_k`` is infinite there)."""
        pk = self.potential_kinks
        assert pk is not None
        dual = self.setup.system.state == "dual"      # z steps by the force: no branch point
        if (self.slide is None or not self.slide.on or pk.sliding_slope is None
                or not (dual or k in pk.lipschitz)):
            return pk.euler(state, self.ta.time, delta, k)
        slope = pk.sliding_slope(self.slide.on)(state, self.ta.time, np.array(self.ta.pars))
        self.sliding_bridges += 1
        new = np.array(state, copy=True)
        new[: len(slope)] = state[: len(slope)] + delta * slope
        return new

    def _branch(self, k: int, *, approach: bool) -> Any:
        """Cross coordinate ``k``'s branch point in ``w = theta_k``
        (:class:`~numerics.solvers.precise._taylor_crossing.BranchCrossings`).

        Returns heyoka's ``time_limit`` (go on), a kink outcome (the crossing stopped on a kink
        of the system: the driver crosses it as its own), or ``None`` (state unchanged: not
        applicable here, or failed; the driver bridges a kink event as before).
        """
        if self.crossings is None or self.watch is None or k not in self.crossings.coordinates:
            return None
        t0 = time.perf_counter()
        outcome, kink = self.crossings.cross(self, k, approach)
        watch = self.watch
        watch.seconds += time.perf_counter() - t0
        watch.reset()
        watch.crossings += outcome == "crossed"
        watch.handbacks += outcome in ("handed back", "kink", "exit")
        watch.fallbacks += outcome == "failed"
        if outcome != "crossed":
            watch.pause[k] = 4 if outcome != "failed" else (10**9 if approach else 0)
        if outcome == "failed":
            return None
        self.ta.reset_cooldowns()
        self._update_switches()
        if self.slide is not None and self.slide.on:
            self.good = (self.ta.time, np.array(self.ta.state, copy=True))
        if outcome == "exit":          # a sliding surface's alpha reached 0 or 1
            assert kink is not None
            return hy.taylor_outcome(-(self.layout.n_target + self.layout.n_kinks + kink[0] + 1))
        if kink is None:
            return hy.taylor_outcome.time_limit
        self.layout.stops["last"] = kink
        return hy.taylor_outcome(-(self.layout.n_target + kink[0] + 1))

    def _delta(self) -> float:
        """The clock length of the tiny step across a kink."""
        return 0.1 * math.sqrt(self.setup.tol_f) * max(1.0, abs(float(to_mpf(self.ta.time))))

    def _cross_kink(self, kw: dict[str, Any], outcome: Any) -> Any:
        """Cross the switching surface heyoka stopped on with a tiny step.

        On the surface a new Taylor expansion may pick the wrong branch of the ReLU: the state
        is first put on the side the kink crosses to (:meth:`KinkSwitches.nudge`).  Kinks of
        the potential are crossed by :meth:`_bridge` (a Taylor series may not exist there) or
        are absorbing zeros, frozen (see :mod:`._taylor_kinks`).
        """
        self.kinks_crossed += 1
        last = self.layout.stops.pop("last", None)
        k = self._potential_kink(outcome)
        if k is not None:
            assert self.potential_kinks is not None
            if self.potential_kinks.absorbing(np.array(self.ta.state, copy=True), k):
                self.potential_kinks.freeze(self.ta, k, self.current_logt())
                return hy.taylor_outcome.time_limit
            crossed = self._branch(k, approach=False)
            return self._bridge(k) if crossed is None else crossed
        if last is not None:
            self.nudge(*last)
            if self.slide is not None and self.slide.at_crossing(self):
                self.nudge(*last)   # back on its new side, if leaving a surface moved it
            for other in self._pending(skip=(last[0],)):   # crossing at this stop too
                self.nudge(*other)
                self.kinks_crossed += 1
        self.good = (self.ta.time, np.array(self.ta.state, copy=True))
        res = self.ta.propagate_for(self.conv(self._delta()), **kw)
        self.steps += int(res[3])
        if self._sliding_failed(res[0]):
            res = self.ta.propagate_for(self.conv(self._delta()), **kw)
            self.steps += int(res[3])
        return res[0]

    def _sliding_failed(self, outcome: Any) -> bool:
        """A non-finite state on a sliding flow: back to the last good state, on the base flow.

        A kink can change the sliding flow's own structure (e.g. the last input of a sliding
        unit on its sample dies: its ``alpha`` becomes 0/0); every surface is then left.
        """
        if (outcome != hy.taylor_outcome.err_nf_state or self.slide is None
                or not self.slide.on or self.good is None):
            return False
        clock, state = self.good
        self.ta.time = clock
        self.ta.state[:] = state
        self.slide.drop(self)
        return True

    def _update_switches(self) -> None:
        if self.switches is not None:
            self.switches.update(self.ta)

    def switch_to(self, ta: Any, layout: EventLayout, held: set[int]) -> None:
        """Continue on ``ta`` (the base or a sliding flow) from the current time and state,
        with the events of the kinks ``held`` (sliding) off."""
        old = self.ta
        if ta is not old:
            ta.time = old.time
            ta.state[:] = np.array(old.state, copy=True)
            ta.pars[:] = np.array(old.pars, copy=True)
            ta.reset_cooldowns()
        self.ta, self.layout = ta, layout
        self.good = (ta.time, np.array(ta.state, copy=True))
        if self.switches is not None:
            self.switches.hold = set(held)
        self._update_switches()

    def nudge(self, kink: int, side: int) -> None:
        """Put the state on side ``side`` of ``kink`` (:meth:`KinkSwitches.nudge`)."""
        if self.switches is not None:
            self.switches.nudge(self.ta, kink, side)

    def _at_kink(self, outcome: Any) -> bool:
        """A stop on a kink: True if the flow now slides on it (:class:`SlideControl`)."""
        if self.slide is None or self._potential_kink(outcome) is not None:
            return False
        return self.slide.at_kink(self, self.layout.kink_index(outcome),
                                  float(to_mpf(self.ta.time)), self._delta())

    def _meets(self, outcome: Any) -> bool:
        """A stop on a ReLU kink where a unit's kinks meet at its origin (:mod:`._taylor_meeting`):
        True, with the reason in :attr:`met`, if the run ends here.

        A stop on a kink of the potential is examined too: at a unit's origin every one of its
        weights is 0, so the potential's kinks there (``abs(x)`` terms) arrive with the ReLU
        kinks, and heyoka may stop on one of them first (measured: x²/2 + abs(x)**(5/2) and
        x²/2 + 2 x² abs(x)/3 + ... on the width-2 net of ``tests/test_taylor_unit_origin.py``,
        where the crossing of the potential's kink carried the unit through its origin)."""
        if self.meeting is None:
            return False
        self.met = self.meeting.check(np.array(self.ta.state, copy=True),
                                      self.slide.on if self.slide is not None else (),
                                      self.current_logt())
        return self.met is not None

    def _kinks(self, outcome: Any, kw: dict[str, Any]) -> Any:
        """Handle a stop on a kink, and every kink the crossing step stops on in turn; the
        outcome that ends it (``None`` to go on propagating, e.g. on a sliding flow).

        A crossing step that stops on a kink is a kink stop like any other: propagating from
        there would start on a root whose event heyoka holds back (its cooldown), and a kink
        pushed straight back would be crossed unseen, its step taken on the wrong branch.
        """
        while self.layout.is_kink(outcome):
            if self._meets(outcome):
                return outcome
            if self._at_kink(outcome):
                return None
            if self.slide is not None and self.slide.chatter:
                return outcome
            outcome = self._cross_kink(kw, outcome)
            if self.slide is not None:
                self.slide.recheck(self)
            self._update_switches()
            self.ta.reset_cooldowns()   # off every root now: a quick return must be seen
            if outcome == hy.taylor_outcome.time_limit:
                pending = self._pending()
                if pending:      # a kink at 0 here too, e.g. beside a kink of the potential
                    self.layout.stops["last"] = pending[0]
                    outcome = hy.taylor_outcome(-(self.layout.n_target + pending[0][0] + 1))
        return outcome

    def _pending(self, skip: tuple[int, ...] = ()) -> list[tuple[int, int]]:
        """The ReLU kinks crossing at the current state unseen by heyoka
        (:meth:`KinkSwitches.pending`)."""
        if self.switches is None:
            return []
        n_model = self.layout.n_kinks - self.setup.system.n_potential_kinks
        return self.switches.pending(self.ta, range(n_model), skip)

    def _propagate_all(self) -> None:
        """Propagate until the target, the clock limit or a callback stop, crossing kinks.

        Kinks that are identically zero (dead units, :class:`KinkSwitches`) are switched off
        at the start and after every kink stop; a kink both of whose sides push into it is
        followed by its sliding flow until an exit event (:mod:`._taylor_sliding`).
        """
        # the Taylor coefficients of every step: log t by quadrature, and the stuck monitor's
        # θ at its check levels (dense output)
        kw = {"callback": self.step, "write_tc": self.setup.quad or self.monitor is not None}
        if not self._resumed:
            self._update_switches()
        self._resumed = False
        while True:
            # a segment takes a step at least (a resumed propagate_until may take none: the
            # step the budget stopped on ended it)
            if self.steps > 0 and time.perf_counter() >= self.deadline:
                self.flags["budget"], self.outcome = True, hy.taylor_outcome.cb_stop
                break         # between two propagate_until: extend goes on from here
            res = self._propagate_main(kw)
            if self.flags["budget"]:
                self.outcome = res[0]
                break         # within a propagate_until: extend finishes it
            outcome = self._kinks(res[0], kw)
            k = None if self.watch is None else self.watch.request
            if k is not None:      # a step stopped heyoka for a crossing
                self.watch.request = None
                crossed = self._branch(k, approach=True)
                outcome = self._kinks(hy.taylor_outcome.time_limit if crossed is None
                                      else crossed, kw)
            if self.flags["reached"]:
                self.outcome = outcome
                break
            if outcome is None or self._sliding_failed(outcome):
                continue
            if self.layout.is_exit(outcome):
                assert self.slide is not None
                self.slide.leave(self, outcome)
                continue
            self.outcome = outcome
            if self.layout.is_kink(outcome):   # chattering (SlideControl.chatter), or met
                break
            if (outcome == hy.taylor_outcome.time_limit
                    and float(to_mpf(self.ta.time)) < self.setup.max_clock):
                continue
            break

    def _propagate_main(self, kw: dict[str, Any]) -> Any:
        """One ``propagate_until`` of the main loop, the budget allowed to stop it (then its
        end is kept: :meth:`extend` continues to it); heyoka's result."""
        end = self._chunk_end() if self._chunk is None else self._chunk
        if self._chunk is not None and self._ended(end):
            # the step the budget stopped ended the propagate_until: heyoka would take a step
            # of 0 (and call the step callback) or of its double-length time's rounding
            self._chunk = None
            return hy.taylor_outcome.time_limit, None, None, 0
        self._chunk, self._pausable = None, True
        try:
            res = self.ta.propagate_until(end, **kw)
        finally:
            self._pausable = False
        self.steps += int(res[3])
        if self.flags["budget"]:
            self._chunk = end
        return res

    def _ended(self, end: Any) -> bool:
        """Whether the step the budget stopped was the last of the ``propagate_until`` to
        ``end``: heyoka ended that step on ``end`` (its time, double-length, is ``end`` up to
        the rounding of the remaining time, at most half an ulp of a chunk, whose length is
        at most ``max(|end|, 2)``, :meth:`_chunk_end`); a step it did not clip ends an ulp
        short of ``end`` at most by a chance of 2^-bits."""
        hi, lo = self.ta.dtime
        bits = self.setup.precision.bits
        with mpmath.workprec(4 * bits):
            end_mp = to_mpf(end)
            gap = abs(end_mp - to_mpf(hi) - to_mpf(lo))
            return bool(gap < max(abs(end_mp), 2) * mpmath.ldexp(1, 1 - bits) * 0.75)

    def propagate(self) -> None:
        """Run heyoka within the wall-clock budget (Ctrl-C stops after the current step); a
        run given more budget by :meth:`extend` goes on where it stopped."""
        t_i, cpu_i = time.perf_counter(), time.process_time()
        self.deadline = t_i + self.setup.budget_seconds
        self.next_report = t_i
        if self.potential_kinks is not None and not self._resumed:
            self.potential_kinks.freeze_at_start(self.ta, self.current_logt())
        with stop_on_sigint(self.flags):
            self._propagate_all()
        self.seconds = time.perf_counter() - t_i
        self.cpu_seconds = time.process_time() - cpu_i

    # ------------------------------------------------------------------ the end
    def _stop_status(self) -> Status:
        if self.flags["reached"] or self.layout.is_target(self.outcome):
            return Status.REACHED
        if self.flags["interrupted"]:
            return Status.INTERRUPTED
        if self.met:
            return Status.SLIDING
        if self.stuck:
            return Status.STUCK
        if self.stall is not None and self.stall.reason:
            return Status.STALLED
        if self.slide is not None and self.slide.chatter:
            return Status.STALLED
        if self.flags["budget"]:
            return Status.BUDGET
        if self.outcome == hy.taylor_outcome.time_limit:
            return Status.CLOCK_LIMIT
        return Status.ERROR

    def _outcome_name(self) -> str:
        code = int(self.outcome)
        if -self.layout.n_t_events <= code < 0:
            return f"stop on terminal event {-code - 1}"
        return f"taylor_outcome.{self.outcome.name}"

    def _reason(self, status: Status, finite: bool) -> str | None:
        """What happened, where (``None`` for a run that reached its target)."""
        clock, _, logt = self.records[-1]
        at = f"log t = {mpmath.nstr(logt, 8)} (clock {mpmath.nstr(clock, 8)})"
        if not finite:
            return f"non-finite state at {at}; heyoka's last outcome: {self._outcome_name()}"
        if status == Status.INTERRUPTED:
            return f"interrupted (Ctrl-C) at {at}"
        if status == Status.STUCK:
            return f"{self.stuck} (at {at})"
        if status == Status.SLIDING:
            return f"{self.met} (at {at})"
        if status == Status.STALLED and self.stall is not None and self.stall.reason:
            return f"{self.stall.reason} (at {at})"
        if status == Status.STALLED:
            assert self.slide is not None
            return f"{self.slide.chatter} (at {at})"
        if status == Status.BUDGET:
            return f"wall-clock budget of {self.setup.budget_seconds:g} s spent at {at}"
        if status == Status.CLOCK_LIMIT:
            name = "u = log s" if self.setup.log_clock else "s"
            return f"the clock {name} reached its limit {self.setup.max_clock:g} at {at}"
        if status == Status.ERROR:
            return f"heyoka stopped with {self._outcome_name()} at {at}"
        return None

    def _final_point(self) -> None:
        """Record the end point (a quadrature run that reached its target recorded it)."""
        final_state = np.array(self.ta.state, copy=True)
        with mpmath.workprec(self.wp):
            if self.logtime is not None:
                lt_final = self.logtime.logt
            else:
                lt_final = to_mpf(final_state[-1]) * self.setup.scale
        self.records.append((to_mpf(self.ta.time), final_state, lt_final))

    def finish(self, post: Callable[[np.ndarray], np.ndarray],
               info: dict[str, Any]) -> RunRecord:
        """The run record: status and reason, recorded points, theta and log L by ``post``.

        ``info``: the integrator's part of the stats (compile time, order, tol, precision...).
        """
        status = self._stop_status()
        if not self.setup.quad or status != Status.REACHED:
            self._final_point()
        finite = all(mpmath.isfinite(v) for v in to_mpf(self.records[-1][1]))
        if not finite:
            status = Status.ERROR
        reason = self._reason(status, finite)
        stats = {"steps": self.steps, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                 **info, "kinks_crossed": self.kinks_crossed, "kink_bridges": self.bridges,
                 "sliding_bridges": self.sliding_bridges,
                 **(self._crossing_stats()),
                 "frozen_coordinates": dict(self.potential_kinks.frozen)
                 if self.potential_kinks is not None else {},
                 "kinks_switched_off": 0 if self.switches is None
                 else self.switches.n_switched_off,
                 "kinks_nudged": 0 if self.switches is None else self.switches.n_nudged,
                 "kinks_touching": 0 if self.switches is None else self.switches.n_touching,
                 **(self.slide.stats() if self.slide is not None else {})}
        if reason is not None:
            stats["reason"] = reason
        self.status = status
        return self._record(post, status, stats)

    def _crossing_stats(self) -> dict[str, Any]:
        """Crossings of branch points in ``w = theta_k`` (none without such coordinates)."""
        w = self.watch
        if w is None:
            return {}
        return {"branch_crossings": w.crossings, "branch_crossing_steps": w.steps,
                "branch_handbacks": w.handbacks, "branch_fallbacks": w.fallbacks,
                "branch_seconds": w.seconds}

    def _record(self, post: Callable[[np.ndarray], np.ndarray], status: Status,
                stats: dict[str, Any]) -> RunRecord:
        P = self.setup.system.n_params
        states = np.array([r[1] for r in self.records], dtype=self.setup.precision.dtype)
        with mpmath.workprec(self.wp):
            clocks = np.array([to_mpf(r[0]) for r in self.records], dtype=object)
            s_vals = np.array([mpmath.exp(c) if self.setup.log_clock else c for c in clocks],
                              dtype=object)
            logts = np.array([mpmath.mpf(r[2]) for r in self.records], dtype=object)
        out = np.asarray(post(np.ascontiguousarray(states.T)))
        return RunRecord(clock=clocks, s=s_vals, logt=logts, states=states, theta=out[:P].T,
                         log_loss=out[P], status=status, stats=stats)

