"""Crossing a branch point of the inverse mirror map in ``w = theta_k`` (THEORY.md §7.1).

In the clock ``s`` the solution through a crossing of ``theta_k = 0`` with ``f''(0) = 0`` is a
Puiseux series in ``|s - s*|^(1/(p-1))``: every Taylor series converges only up to ``s*``, so
heyoka's steps shrink geometrically towards it (to ~1e-60 at 30 digits before the kink event
fires) and grow geometrically after the bridge (measured: ~250 + ~220 steps per crossing on the
square-ReLU net with ``|x|^3/3``).  In ``w = theta_k`` the flow is analytic on each side of 0
(:mod:`._system_crossing`), so the crossing takes a few steps:

* :class:`CrossingWatch` (one per run) asks for a crossing when a step ends with a coordinate
  heading for 0 within about :data:`AHEAD` steps (``|z_k| < AHEAD |dz_k|`` over the last
  step): from
  there the steps would be limited by the branch point.  A kink event of such a coordinate
  (``z_k = 0``) asks for one too.
* :class:`BranchCrossings` (one per compiled integrator; the base flow's system and one per
  set of sliding surfaces, :func:`~numerics.solvers.precise._system_crossing.transformed`)
  integrates the flow in ``w`` from
  ``theta_k`` to 0 and on the other side until the clock is one ordinary step (the largest of
  the last few) past the crossing, records the output levels met on the way, and hands back.
  It hands back early where ``F_k = 0`` (the coordinate turns: ``w`` stops being a clock),
  at a kink of the model or of another coordinate and at a sliding flow's exit (the driver
  then handles that event as its own), and gives up (state restored: the driver bridges as
  before) if the state is not finite, a kink changed sign unseen, or the clock ran backwards
  (the side was taken from the base flow's force, which a sliding flow may reverse).

Measured (30 digits, log t = 100, ``abs(x)**3/3``): square-ReLU net 4629 -> 482 steps, ReLU
net 7242 -> 459, the linear case of ``test_zero_curvature_linear`` (``Potential.lp(3)``)
1175 -> 656; final theta within 30-32 digits of 45-digit runs.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import heyoka as hy
import mpmath
import numpy as np

from .._precision import Precision
from ._compile import par_array, to_mpf
from ._system import MirrorFlowSystem
from ._system_crossing import transformed
from ._taylor_events import Fired

__all__ = ["BranchCrossings", "CrossingWatch"]

#: A coordinate heading for 0 is crossed in ``theta_k`` once its zero is estimated within this
#: many of the last step's lengths: near a branch point heyoka's steps are ~0.2 of the distance
#: to it (measured: each step 0.79 of the last, |x|^3/3 on the square-ReLU net), so the watch
#: asks at the first step shorter than the one before it with the zero that close.
AHEAD = 6

#: A crossing hands back once the clock is this many of its last step's lengths past the zero:
#: heyoka's steps from there (~0.2 of the distance to the branch point) are as long as the
#: flow's own [derived: the flow in ``w`` steps at the flow's own scale].
EXIT_RATIO = 5

#: Steps of the flow in ``w`` after which a crossing hands back where it is (the flow in ``w``
#: is slow where ``F_k`` is small: a coordinate slaved to the zero of its force).
MAX_CROSSING_STEPS = 40


class _Host(Protocol):
    """What :class:`BranchCrossings` uses of the compiled integrator."""

    system: MirrorFlowSystem
    precision: Precision
    tol_f: float

    def function(self, name: str) -> Callable[[np.ndarray], np.ndarray]: ...

    def taylor_adaptive(self, equations: list[tuple[Any, Any]], events: tuple[list, list],
                        clock: Any, state: np.ndarray, pars: np.ndarray,
                        options: dict[str, Any] | None = None) -> Any: ...

    def auxiliary_options(self) -> dict[str, Any]: ...


class CrossingWatch:
    """Per run: which coordinate to cross next, from the steps heyoka has taken.

    ``request``: the coordinate a step asked to cross (the driver stops heyoka and crosses);
    ``h``: the last step sizes (the exit of a crossing is one ordinary step past it).
    """

    def __init__(self, coordinates: frozenset[int]) -> None:
        self.coordinates = sorted(coordinates)
        self.prev: dict[int, float] = {}
        self.h: collections.deque[float] = collections.deque(maxlen=64)
        self.request: int | None = None
        self.pause: dict[int, int] = {}      # coordinate -> steps to wait before watching it
        self.crossings = self.steps = self.handbacks = self.fallbacks = 0
        self.seconds = 0.0

    def check(self, ta: Any, frozen: dict[int, float]) -> bool:
        """After a step: True (and :attr:`request` set) if a coordinate is about to cross 0."""
        h = abs(float(ta.last_h))
        shrinking = bool(self.h) and h < self.h[-1]
        self.h.append(h)
        for k in self.coordinates:
            z = float(ta.state[k])
            zp = self.prev.get(k)
            self.prev[k] = z
            if self.pause.get(k, 0) > 0:
                self.pause[k] -= 1
                continue
            if zp is None or k in frozen or z == 0:
                continue
            dz = z - zp
            if shrinking and z * dz < 0 and abs(z) < AHEAD * abs(dz):
                self.request = k
                return True
        return False

    def reset(self) -> None:
        """Forget the last state (after a crossing, a kink, a switch of flows)."""
        self.prev.clear()

    def window(self) -> float:
        """The clock length of an ordinary step: the largest of the last 64 (an approach to
        a branch point shrinks ~125 steps in a row, a kink event of it ends one)."""
        return max(self.h) if self.h else 0.0


class BranchCrossings:
    """The compiled flows in ``w = theta_k`` of one integrator: the base flow's and one per
    set of sliding surfaces (:func:`~numerics.solvers.precise._system_crossing.transformed`),
    each compiled on first use."""

    def __init__(self, host: _Host) -> None:
        self.host = host
        self.coordinates = host.system.crossing_coordinates
        self.cs: Any = None
        self.compiled: dict[Any, tuple[Any, int] | None] = {}    # groups -> (ta, n_kinks)
        self.compile_seconds = 0.0
        self.fired: dict[str, int] = {}     # the terminal event that stopped the last step

    def _compile(self, equations: list[tuple[Any, Any]], events: Sequence[Any]) -> Any:
        t0 = time.perf_counter()
        host, prc, cs = self.host, self.host.precision, self.cs
        # every direction, also the output level's: heyoka's directions are in the independent
        # variable, and w = theta_k runs backwards from theta_k > 0 (log t still increases):
        # "positive" missed the level there (the target log t = -5 of the |x|^4/4 square-ReLU
        # net was stepped over in a crossing from log t = -5.09 to -4.95)
        dirs = [hy.event_direction.any] * len(events)
        t_events = [hy.t_event(ev, callback=Fired(self.fired, "index", i), fp_type=prc.hy_type,
                               direction=d)
                    for i, (ev, d) in enumerate(zip(events, dirs, strict=True))]
        pars = par_array(cs, len(cs.par_values), 1.0, prc.fp_type, prc.bits)
        conv = prc.converter()
        zeros = np.array([conv(0.0)] * len(equations), dtype=prc.dtype)
        ta = host.taylor_adaptive(equations, (t_events, []), conv(0.0), zeros, pars,
                                  host.auxiliary_options())
        self.compile_seconds += time.perf_counter() - t0
        return ta

    def flow(self, drv: Any) -> tuple[Any, int] | None:
        """``(ta, n_kinks)`` of the flow the driver is on, or ``None`` (a sliding flow in
        ``logt_mode="quadrature"``: it carries ``-log L``, whose rate is infinite at 0)."""
        if self.cs is None:
            assert self.host.system.crossing is not None
            self.cs = self.host.system.crossing()
        slide = drv.slide
        groups = slide.on if slide is not None and slide.on else ()
        if groups not in self.compiled:
            cs = self.cs
            if not groups:
                self.compiled[groups] = (self._compile(cs.equations, cs.events),
                                         len(cs.events) - 3)
            elif drv.setup.quad or slide.flow is None:
                self.compiled[groups] = None
            else:
                flow = slide.flow
                eqs, events = transformed(cs, flow.equations, flow.events, flow.exits,
                                          self.host.system.n_potential_kinks)
                self.compiled[groups] = (self._compile(eqs, events), len(flow.events))
        return self.compiled[groups]

    def cross(self, drv: Any, k: int, approach: bool) -> tuple[str, tuple[int, int] | None]:
        """Cross coordinate ``k``'s zero from the driver's current state.

        ``approach``: from ``theta_k != 0`` heading for 0 (else from the kink event, ``z_k``
        at 0).  Returns ``(outcome, event)``: ``"crossed"``; ``"handed back"`` (stopped at a
        valid state before the exit: ``F_k = 0``, the target, too many steps); ``"kink"``
        (stopped on kink ``event = (index, direction)`` of the flow, for the driver to
        cross); ``"exit"`` (on exit ``event = (index, 0)`` of a sliding flow); ``"failed"``
        (state restored).
        """
        compiled = self.flow(drv)
        if compiled is None or (self.cs.powers.get(k, 1) > 1 and drv.slide is not None
                                and drv.slide.on):
            # fractional powers while a unit slides: measured to stall (|x|^(5/2)/(5/2), the
            # coverage ReLU net: 40 steps in w without progress of the clock, again and again)
            return "failed", None
        run = _CrossingRun(self, drv, k, *compiled)
        outcome = run.go(approach)
        return outcome, run.kink if outcome in ("kink", "exit") else None


class _CrossingRun:
    """One crossing: the flow in ``w`` from the driver's state, and the hand-back."""

    def __init__(self, owner: BranchCrossings, drv: Any, k: int, ta: Any, n_kinks: int) -> None:
        self.owner, self.drv, self.k = owner, drv, k
        self.ta, self.cs, self.n_kinks = ta, owner.cs, n_kinks
        host = owner.host
        self.P, self.conv = host.system.n_params, drv.conv
        self.scale = drv.setup.scale
        self.f = {name: host.function(name) for name in ("post", "kinks", "force")}
        self.log_loss = host.function("log_loss") if drv.setup.quad else None
        self.c0 = to_mpf(drv.ta.time)
        self.state0 = np.array(drv.ta.state, copy=True)
        with mpmath.workprec(drv.wp):
            self.logt0 = self.drv.logtime.logt if drv.setup.quad else (
                to_mpf(self.state0[self.P]) * self.scale)
        self.steps = 0
        sysm = host.system
        self.n_model = n_kinks - sysm.n_potential_kinks     # the flow's model kinks come first
        self.trail: collections.deque[tuple[Any, np.ndarray]] = collections.deque(maxlen=3)
        self.level = mpmath.mpf(0)     # the output level the flow in w stops at next
        self.kink: tuple[int, int] | None = None

    # ------------------------------------------------------------------ set-up
    def _pars(self, side: int) -> None:
        cs, drv, conv = self.cs, self.drv, self.conv
        pars = np.array(self.ta.pars, copy=True)
        n_sys = len(drv.setup.system.par_values)
        pars[:n_sys] = np.array(drv.ta.pars[:n_sys], copy=True)
        for j in range(self.P):
            pars[cs.onehot + j] = conv(1.0 if j == self.k else 0.0)
        pars[cs.side] = conv(float(side))
        n_kinks = self.n_kinks
        base = drv.layout.switch_base
        pars[cs.switch: cs.switch + n_kinks] = np.array(drv.ta.pars[base: base + n_kinks],
                                                        copy=True)
        with mpmath.workprec(drv.wp):
            pars[cs.clock_shift] = conv(mpmath.exp(-self.c0))
            pars[cs.clock0] = conv(self.c0)
            self.level = self._next_level(self.logt0)
            pars[cs.level] = conv(self.level / self.scale)
        self.ta.pars[:] = pars

    def _next_level(self, logt: Any) -> Any:
        """The next output level (or the target) above ``logt``."""
        setup = self.drv.setup
        levels = self.drv.pending if setup.quad else setup.levels
        above = [mpmath.mpf(lv) for lv in levels if lv > logt]
        return min([*above, mpmath.mpf(setup.logt_target)])

    def _set_exit(self, value: Any) -> None:
        pars = np.array(self.ta.pars, copy=True)
        pars[self.cs.exit] = self.conv(value)
        self.ta.pars[:] = pars

    # ------------------------------------------------------------------ the crossing
    def go(self, approach: bool) -> str:
        drv, k, P = self.drv, self.k, self.P
        with mpmath.workprec(drv.wp):
            if approach:
                theta_k = to_mpf(self.f["post"](self.state0)[k])
                side = 1 if theta_k > 0 else -1
                force = to_mpf(self.f["force"](self.state0)[k])
                if theta_k == 0 or force * side >= 0:     # not heading for 0
                    return "handed back"
                # theta_k = d (d w)^b (:func:`~._system_crossing.branch_power`)
                w0 = side * mpmath.root(abs(theta_k), self.cs.powers.get(k, 1))
            else:
                w0 = mpmath.mpf(0)
                at0 = np.array(self.state0, copy=True)
                at0[k] = at0[k] * 0
                force = to_mpf(self.f["force"](at0)[k])
                if force == 0:
                    return "failed"
                side = 1 if force > 0 else -1
            self.ta.time = self.conv(w0)
            start = [*self.state0[:P], self.conv(self.logt0 / self.scale), self.conv(0.0)]
            if not approach:
                start[k] = start[k] * 0
            self.ta.state[:] = np.array(start, dtype=drv.setup.precision.dtype)
            self.ta.reset_cooldowns()
            self._pars(side)
            window = mpmath.mpf(drv.watch.window() if drv.watch is not None else 0.0)
            outcome = "crossed"
            if approach:
                self._set_exit(max(1, 4 * window))   # out of reach: crossing first
                outcome = self._phase(mpmath.mpf(0))
                side = -side
                self._side(side)
            if outcome == "crossed":
                dclock = to_mpf(self.ta.state[P + 1])
                self._set_exit(dclock + max(4 * window, mpmath.mpf(drv.setup.tol_f) ** 0.5))
                cap = side * 1e3 * max(1, abs(float(w0)))
                outcome = self._phase(mpmath.mpf(cap), exit_ends=True)
            return self._hand_back(outcome)

    def _rewind(self, start: tuple[Any, np.ndarray] | None) -> bool:
        """Back to the last step's end, in this phase, before the model kink that stopped the
        flow in ``w`` (or to ``start``, the crossing's own start, if it stopped the first
        step); False (nothing done) where there is none: the second phase's first step.  The
        driver's integrator then meets the kink with its own event.  Handed back *on* the
        kink, its next step could find the root at once with no cooldown, again and again
        (measured: ``|x|^(5/2)/(5/2)`` on the coverage square-ReLU net, model kink 17 at 1e-35,
        65 times at one point)."""
        now = self.ta.time
        before = [(t, st) for t, st in self.trail if t != now]
        point = before[-1] if before else start
        if point is None:
            return False
        self.ta.time, self.ta.state[:] = point[0], point[1]
        return True

    def _side(self, side: int) -> None:
        pars = np.array(self.ta.pars, copy=True)
        pars[self.cs.side] = self.conv(float(side))
        self.ta.pars[:] = pars

    def _phase(self, w_end: Any, exit_ends: bool = False) -> str:
        """Propagate in ``w`` to ``w_end``: ``"crossed"`` (reached it, or the exit when
        ``exit_ends``), ``"handed back"`` (``F_k = 0``, the target, the exit, too many steps)
        or ``"failed"`` (not finite)."""
        star = float(self.ta.state[self.P + 1]) if exit_ends else None
        self.trail.clear()
        start = (self.ta.time, np.array(self.ta.state, copy=True)) if self.steps == 0 else None
        counter = _Watchdog(MAX_CROSSING_STEPS - self.steps, self.P + 1, star, self.trail)
        while True:
            self.owner.fired.clear()
            res = self.ta.propagate_until(self.conv(w_end), callback=counter)
            self.steps += int(res[3])
            # the event that ended the last step, also when the step callback stopped it
            fired = self.owner.fired.get("index")
            if fired is not None and fired >= 3 + self.n_kinks:  # a sliding flow's exit
                self.kink = (fired - 3 - self.n_kinks, 0)
                return "exit"
            if fired is not None and 3 <= fired < 3 + self.n_model and self._rewind(start):
                return "handed back"            # before a kink of the model
            if fired is not None and fired >= 3:                # a kink of the flow
                before = to_mpf(self.f["kinks"](self.state0)[fired - 3])
                self.kink = (fired - 3, -1 if before > 0 else 1)
                return "kink"
            if fired == 1:                                      # an output level or the target
                if self._level():
                    return "handed back"
                if counter.n > 0 and not counter.exited:
                    continue
            if fired == 2 or counter.exited or res[0] == hy.taylor_outcome.time_limit:
                return "crossed" if exit_ends or fired != 2 else "handed back"
            if fired == 0 or res[0] == hy.taylor_outcome.cb_stop:
                return "handed back"          # F_k = 0 (w stops being a clock), or too slow
            return "failed"

    # ------------------------------------------------------------------ output
    def _main_state(self) -> tuple[Any, np.ndarray, Any]:
        """``(clock, state, log t)`` of the driver's integrator at the crossing's point."""
        P, st = self.P, np.array(self.ta.state, copy=True)
        new = np.array(self.state0, copy=True)
        new[:P] = st[:P]
        logt = to_mpf(st[P]) * self.scale
        if self.log_loss is not None:
            new[P] = -self.log_loss(new)[0] / self.drv.ta.pars[0]
        else:
            new[P] = st[P]
        return self.c0 + to_mpf(st[P + 1]), new, logt

    def _level(self) -> bool:
        """Record the output level the flow in ``w`` stopped on; True at the target."""
        drv, cs = self.drv, self.cs
        clock, state, logt = self._main_state()
        level = self.level      # exact: read back from the parameter it rounds below itself
        if level >= drv.setup.logt_target:
            drv.flags["reached"] = True
            if drv.setup.quad:
                drv.records.append((clock, state, mpmath.mpf(drv.setup.logt_target)))
            return True
        if drv.setup.quad:
            drv.records.append((clock, state, mpmath.mpf(drv.pending.pop(0))))
        else:
            drv.records.append((clock, state, logt))
        pars = np.array(self.ta.pars, copy=True)
        self.level = self._next_level(level)
        pars[cs.level] = self.conv(self.level / self.scale)
        self.ta.pars[:] = pars
        return False

    def _hand_back(self, outcome: str) -> str:
        """Put the driver's integrator at the crossing's end (or restore it on failure)."""
        drv = self.drv
        drv.steps += self.steps
        if drv.watch is not None:
            drv.watch.steps += self.steps
        if outcome != "failed":
            clock, state, logt = self._main_state()
            backwards = not to_mpf(self.ta.state[self.P + 1]) >= 0   # the side was wrong
            if (backwards or not all(mpmath.isfinite(v) for v in to_mpf(state))
                    or self._kinks_changed(state)):
                outcome = "failed"
        if outcome == "failed":
            return outcome
        drv.ta.time = self.conv(clock)
        drv.ta.state[:] = state
        if drv.setup.quad:
            drv.logtime.logt = logt
        return outcome

    def _kinks_changed(self, state: np.ndarray) -> bool:
        """True if a kink other than coordinate ``k``'s changed sign in the window."""
        sysm = self.owner.host.system
        before, after = self.f["kinks"](self.state0), self.f["kinks"](state)
        n_model = len(sysm.kinks) - sysm.n_potential_kinks
        own = {n_model + j for j, c in enumerate(sysm.kink_coordinates) if c == self.k}
        if self.kink is not None and self.kink[1] != 0:
            own.add(self.kink[0])
        if self.drv.slide is not None:
            own |= self.drv.slide.held          # held on their surfaces, at 0 to rounding
        return any(i not in own and np.sign(float(to_mpf(a))) != np.sign(float(to_mpf(b)))
                   for i, (a, b) in enumerate(zip(before, after, strict=True)))


class _Watchdog:
    """Step callback of the flow in ``w``: stop after ``n`` steps, or (``star``: the clock of
    the crossing) once the clock is :data:`EXIT_RATIO` of its last step past the crossing;
    each step's end goes to ``trail`` (for :meth:`_CrossingRun._rewind`)."""

    def __init__(self, n: int, index: int, star: float | None,
                 trail: collections.deque[tuple[Any, np.ndarray]]) -> None:
        self.n, self.index, self.star, self.trail = n, index, star, trail
        self.prev, self.exited = star, False

    def __call__(self, ta: Any) -> bool:
        self.n -= 1
        self.trail.append((ta.time, np.array(ta.state, copy=True)))
        if self.star is not None and self.prev is not None:
            clock = float(ta.state[self.index])
            last, self.prev = abs(clock - self.prev), clock
            if abs(clock - self.star) >= EXIT_RATIO * last:
                self.exited = True
                return False
        return self.n > 0
