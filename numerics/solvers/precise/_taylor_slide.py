"""Following sliding modes during a Taylor run: when to test, when to switch flows.

:class:`SlideControl` belongs to one :class:`~numerics.solvers.precise._taylor_driver.TaylorDriver`
run.  At every kink stop the driver asks :meth:`SlideControl.at_kink`: a kink whose two sides
push into its surface (its rates just below and above it, :meth:`TaylorIntegrator.kink_sides`)
is tested for sliding at once, from the point where it reached the surface.  Stops that follow
each other within ``sqrt(delta)`` of the clock (``delta``: the crossing step, ``~ 0.1 sqrt(eps)``)
form a *cluster*: a chattering kink is crossed and pushed back within a time of order ``delta``
times the ratio of its two sides' rates.  A kink that stops again within its cluster is tested
for sliding (:mod:`._taylor_sliding`): alone with the surfaces already sliding, then with the
whole cluster.  The test decides; the cluster only says when a test is worth its compilation.
A cluster of more than :data:`CHATTER_STOPS` stops with no sliding flow to follow ends the run
(status ``"stalled"``) with :attr:`SlideControl.chatter` as its reason, instead of spending the
budget at one point.

A surface is left at an exit event of its flow (``alpha`` reaching 0 or 1,
:meth:`SlideControl.leave`) or at a kink stop where ``alpha`` *jumps* out of (0, 1)
(:meth:`SlideControl.at_crossing`: the crossed kink's switch is part of ``alpha``; THEORY.md
§7.2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import mpmath
import numpy as np

from .._precision import Precision
from ._compile import compile_functions, to_mpf
from ._system import MirrorFlowSystem
from ._taylor_events import EventLayout
from ._taylor_sliding import (
    MAX_SLIDING,
    Groups,
    SlidingFlow,
    coinciding,
    normal_groups,
    sliding_alpha,
    sliding_flow,
)
from ._taylor_switches import kink_rates, side_of

__all__ = ["CHATTER_STOPS", "SlideControl", "SlidingModes"]

#: Kink stops in one cluster, with no sliding flow to follow, that end a run (status stalled).
CHATTER_STOPS = 64


class _Host(Protocol):
    """What :class:`SlidingModes` uses of the compiled integrator."""

    system: MirrorFlowSystem
    equations: list[tuple[Any, Any]]
    precision: Precision
    tol_f: float

    def function(self, name: str) -> Callable[[np.ndarray], np.ndarray]: ...

    def compile_sliding(self, flow: SlidingFlow) -> tuple[Any, EventLayout]: ...


class SlidingModes:
    """The sliding flows of a compiled integrator, built and compiled on first use, and the
    tests a run needs at a kink stop.  Flows and tests are kept for the integrator's life;
    compiled sliding integrators until it is rebuilt (:meth:`reset`).
    """

    def __init__(self, host: _Host) -> None:
        self.host = host
        self._flows: dict[Groups, SlidingFlow | None] = {}
        self._checks: dict[Groups, Callable[[np.ndarray], np.ndarray] | None] = {}
        self._rates: dict[Groups, Callable[[np.ndarray], np.ndarray]] = {}
        self._compiled: dict[Groups, tuple[Any, EventLayout, SlidingFlow] | None] = {}
        self.seconds = 0.0   # compilation not yet reported by a run

    def reset(self) -> None:
        """Forget the compiled sliding integrators (their events follow the base one's)."""
        self._compiled = {}

    def take_seconds(self) -> float:
        """Compilation time since the last call."""
        out, self.seconds = self.seconds, 0.0
        return out

    def _compile(self, outputs: list[Any]) -> Callable[[np.ndarray], np.ndarray]:
        t0, prc = time.perf_counter(), self.host.precision
        fn = compile_functions(self.host.system, outputs, fp_type=prc.fp_type, prec=prc.prec,
                               scale=1.0, opt_level=0)
        self.seconds += time.perf_counter() - t0
        return fn

    def flow(self, groups: Groups) -> SlidingFlow | None:
        """The :class:`SlidingFlow` on ``groups`` (``tau = 2**-(2 bits)``, at most 2**-1000)."""
        if groups not in self._flows:
            tau = 2.0 ** -min(2 * self.host.precision.bits, 1000)
            self._flows[groups] = sliding_flow(self.host.system, self.host.equations, groups,
                                               tau)
        return self._flows[groups]

    def integrator(self, groups: Groups) -> tuple[Any, EventLayout, SlidingFlow] | None:
        """The compiled sliding flow on ``groups``, its event layout and its flow, or None."""
        if groups not in self._compiled:
            t0 = time.perf_counter()
            flow = self.flow(groups)
            self._compiled[groups] = (None if flow is None
                                      else (*self.host.compile_sliding(flow), flow))
            self.seconds += time.perf_counter() - t0
        return self._compiled[groups]

    def alpha(self, groups: Groups, state: np.ndarray) -> list[float] | None:
        """The sliding ``alpha`` of ``groups`` at ``state`` (:func:`sliding_alpha`), or None."""
        if groups not in self._checks:
            flow = self.flow(groups)
            self._checks[groups] = None if flow is None else self._compile(flow.check)
        fn = self._checks[groups]
        return None if fn is None else sliding_alpha(fn(state), len(groups), self.host.tol_f)

    def groups(self, kinks: Sequence[int], state: np.ndarray) -> Groups:
        """``kinks`` grouped by coinciding surfaces, with the kinks on them (:func:`coinciding`)."""
        f = self.host.function
        values = np.array([float(to_mpf(v)) for v in f("kinks")(state)])
        grads = np.array([float(to_mpf(v)) for v in f("kink_gradients")(state)])
        return coinciding(values, grads.reshape(len(values), -1), kinks, self.host.tol_f)

    def project(self, groups: Groups, state: np.ndarray) -> np.ndarray | None:
        """``state`` moved onto the surfaces ``groups`` (``z = 0`` for each group's first kink):
        two Gauss-Newton steps of least change, in mpmath; ``None`` if a kink of a group is then
        not on it to ``1e3 eps |grad z| max(1, |p|)`` (its surface does not coincide), or if the
        groups' gradients are linearly dependent (``J J^T`` singular: mpmath raised
        ``ZeroDivisionError`` out of ``solve_mirror_flow`` on a depth-3 ReLU MLP).

        A chattering kink sits up to a crossing step (``~ sqrt(eps)``) off its surface when the
        sliding flow takes over, and that flow keeps it there (``dz/ds = 0``), with its
        ``relu`` read as 0: the state is put back on the surface first.
        """
        host, f = self.host, self.host.function
        P, reps = host.system.n_params, [g[0] for g in groups]
        conv, out = host.precision.converter(), np.array(state, copy=True)
        with mpmath.workprec(host.precision.mp_bits):
            for _ in range(2):
                values, grads = f("kinks")(out), f("kink_gradients")(out)
                z = mpmath.matrix([to_mpf(values[k]) for k in reps])
                J = mpmath.matrix([[to_mpf(grads[k * P + i]) for i in range(P)] for k in reps])
                try:
                    step = J.T * mpmath.lu_solve(J * J.T, z)
                except ZeroDivisionError:      # dependent surfaces: no least-change step
                    return None
                out[:P] = [conv(to_mpf(v) - step[i]) for i, v in enumerate(out[:P])]
            values, grads = f("kinks")(out), f("kink_gradients")(out)
            norm_p = max(1, mpmath.sqrt(mpmath.fsum(to_mpf(v) ** 2 for v in out[:P])))
            for k in (k for g in groups for k in g):
                norm_g = mpmath.sqrt(mpmath.fsum(to_mpf(grads[k * P + i]) ** 2
                                                 for i in range(P)))
                if abs(to_mpf(values[k])) > 1e3 * host.tol_f * norm_g * norm_p:
                    return None
        return out

    def sides(self, groups: Groups, kink: int, state: np.ndarray) -> tuple[float, float]:
        """The rates ``dz/ds`` of ``kink`` (on its surface at ``state``) just below and just
        above it, under the flow sliding on ``groups`` (the base flow for ``()``): both sides
        push into the surface when the first is positive and the second negative."""
        host = self.host
        if groups and groups not in self._rates:
            flow = self.flow(groups)
            assert flow is not None
            self._rates[groups] = self._compile(kink_rates(host.system, flow.equations))
        rates = self._rates[groups] if groups else host.function("kink_rates")
        out = []
        for side in (-1, 1):
            moved = side_of(state, kink, side, host.function, host.system.n_params,
                            host.tol_f)
            out.append(float(to_mpf(rates(state if moved is None else moved)[kink])))
        return out[0], out[1]


class _Run(Protocol):
    """What :class:`SlideControl` uses of the driver."""

    ta: Any
    layout: EventLayout

    def switch_to(self, ta: Any, layout: EventLayout, held: set[int]) -> None: ...

    def nudge(self, kink: int, side: int) -> None: ...

    def current_logt(self) -> float: ...


class SlideControl:
    """The sliding state of one run: the surfaces followed, their flow, the records.

    Parameters
    ----------
    modes : SlidingModes
        The compiled integrator's sliding flows and tests.
    base : (ta, layout)
        The base flow, to return to.
    """

    def __init__(self, modes: SlidingModes, base: tuple[Any, EventLayout]) -> None:
        self.modes, self.base = modes, base
        self.on: Groups = ()                       # the surfaces the flow slides on
        self.flow: SlidingFlow | None = None       # ... and their sliding flow
        self.records: list[list[Any]] = []         # [kink, log t in, log t out]
        self.recent: list[tuple[int, float]] = []  # (kink, clock) of the current cluster
        self.chatter = ""
        self.left_at_kinks = 0                     # surfaces left by :meth:`at_crossing`

    @property
    def held(self) -> set[int]:
        """The kinks of the surfaces the flow slides on (their events are off)."""
        return {k for g in self.on for k in g}

    @staticmethod
    def inside(alpha: float, margin: float = 0.0) -> bool:
        """``alpha`` in (margin, 1 - margin): the surface is followed (``margin``: a tie at a
        crossing, :meth:`at_crossing`)."""
        return margin < alpha < 1 - margin

    # ------------------------------------------------------------------ entering
    def at_kink(self, run: _Run, kink: int, clock: float, delta: float) -> bool:
        """A stop on ``kink`` at ``clock`` (``delta``: the crossing step): True if the flow now
        slides on it; sets :attr:`chatter` when the cluster is too long."""
        if self.recent and abs(clock - self.recent[-1][1]) >= delta**0.5:
            self.recent = []
        cluster = {k for k, _ in self.recent}
        self.recent.append((kink, clock))
        below, above = self.modes.sides(self.on, kink, np.array(run.ta.state, copy=True))
        if below > 0 > above and self._enter(run, (kink,)):
            self.recent = []
            return True
        if kink in cluster:
            for kinks in dict.fromkeys([(kink,), tuple(sorted(cluster))]):
                if self._enter(run, kinks):
                    self.recent = []
                    return True
        if len(self.recent) > CHATTER_STOPS:
            also = f" while sliding on {[list(g) for g in self.on]}" if self.on else ""
            self.chatter = (f"kinks {sorted(cluster)} were crossed back and forth "
                            f"{len(self.recent)} times{also}: a sliding mode this integrator "
                            "does not follow (kinks of one sample in two layers, or more than "
                            f"{MAX_SLIDING} surfaces at once)")
        return False

    def _enter(self, run: _Run, kinks: Sequence[int]) -> bool:
        """Slide on the surfaces of ``kinks`` (with those already sliding) if the flow does."""
        state = np.array(run.ta.state, copy=True)
        groups = self.modes.groups(sorted({*self.held, *kinks}), state)
        new = set(kinks) - self.held
        return bool(new) and self._try(run, groups, new, state)

    def _try(self, run: _Run, groups: Groups, new: set[int], state: np.ndarray) -> bool:
        """Slide on ``groups`` if every ``alpha`` is inside (:meth:`inside`).

        If the new kinks' ``alpha`` are inside but a sliding surface's is not, that surface is
        left (to the side its ``alpha`` points to) and the rest are tried again.
        """
        alpha = self.modes.alpha(groups, state)
        if alpha is None:
            return False
        inside = [self.inside(a) for a in alpha]
        if not all(inside):
            keep = tuple(g for g, ok in zip(groups, inside, strict=True) if ok)
            if not keep or not all(ok for g, ok in zip(groups, inside, strict=True)
                                   if set(g) & new):
                return False
            return self._try(run, keep, new, state)
        on_surfaces = self.modes.project(groups, state)
        compiled = None if on_surfaces is None else self.modes.integrator(groups)
        if compiled is None:
            return False
        run.ta.state[:] = on_surfaces
        self._follow(run, groups, compiled)
        return True

    # ------------------------------------------------------------------ switching, leaving
    def _follow(self, run: _Run, groups: Groups,
                compiled: tuple[Any, EventLayout, SlidingFlow] | None) -> None:
        """Continue on the sliding flow of ``groups`` (``compiled``), or on the base flow."""
        if compiled is None:
            groups, self.flow = (), None
            ta, layout = self.base
        else:
            ta, layout, self.flow = compiled
        before, logt = self.held, run.current_logt()
        self.on = groups
        for rec in self.records:
            if rec[2] is None and rec[0] not in self.held:
                rec[2] = logt
        self.records += [[k, logt, None] for k in sorted(self.held - before)]
        run.switch_to(ta, layout, self.held)

    def leave(self, run: _Run, outcome: Any) -> None:
        """An exit event of the sliding flow: its surface is left, the others slide on while
        their ``alpha`` stays inside (the exit ``D = 0`` leaves them all).  The state is put on
        the side the surface is left to (the flow there is tangent to it at first: its root
        might otherwise go unseen, and a step taken on the wrong branch)."""
        assert self.flow is not None
        layout = run.layout
        index = -int(outcome) - 1 - layout.n_target - layout.n_kinks
        done = self.flow.exit_group(index)
        rest = () if done is None else tuple(g for g in self.on if g != done)
        rest, left = self._still_inside(rest, np.array(run.ta.state, copy=True))
        if done is not None:   # alpha = 0: to the side z < 0; alpha = 1: to z > 0
            left.append((done, 1 if index % 2 else -1))
        self._switch(run, rest, left)

    def at_crossing(self, run: _Run) -> bool:
        """A kink stop while sliding, the state put on the side the kink crosses to: leave
        every surface whose ``alpha`` is no longer inside there (True if one was left).

        The switch of the crossed kink enters the sliding ``alpha`` (e.g. a sample whose
        pre-activation on the sliding unit turns on adds its force to the unit's weights):
        ``alpha`` *jumps* at the crossing, and an exit event (``alpha`` reaching 0 or 1
        continuously) cannot see it.  A flow that went on sliding would keep ``alpha`` outside
        [0, 1], a force no side of the surface has (measured: ``alpha = -0.82`` to ``-2.2`` on a
        4-unit net, whose next kink then chattered).  The surface is left to the side its
        ``alpha`` points to, before the step across the kink is taken.

        An ``alpha`` that lands within ``sqrt(tol)`` of 0 or 1 is a tie that rounding would
        decide: the surface is left to that side too, and the kink's own stop tests sliding
        again if the flow brings it back (measured: a 3/3 ReLU MLP where ``alpha`` jumped to
        0 exactly, -2e-39 at 30 digits and +8e-73 at 60; the 60-digit run slid on with another
        ``alpha`` for the other group and ended 2.3 digits from Radau at log t = 1.2).
        """
        if not self.on:
            return False
        state = np.array(run.ta.state, copy=True)
        groups = self._regrouped(state)
        rest, left = self._still_inside(groups, state, self.modes.host.tol_f ** 0.5)
        if not left and rest == self.on:
            return False
        self.left_at_kinks += len(left)
        self._switch(run, rest, left)
        return True

    def _regrouped(self, state: np.ndarray) -> Groups:
        """The sliding kinks grouped by the surfaces they share at ``state``: a group's kinks
        can part at a crossing (an input of one of their units turns on, and their gradients
        differ from then on) while their values still coincide.

        The crossing step was taken on the grouped flow before (:meth:`recheck` only then
        found the group parted and left every surface), an error of the step's size
        (``~ 0.1 sqrt(eps)``: a 3/3 ReLU MLP, hyperbolic entropy, init seed 1, where kink 27
        parted from (18, 24) at log t = 1.2666: 18.0 certified digits at 30, 25.5 at 45).
        """
        held = self.held
        found = self.modes.groups(sorted(held), state)
        return normal_groups([[k for k in grp if k in held] for grp in found])

    def _still_inside(self, groups: Groups, state: np.ndarray, margin: float = 0.0
                      ) -> tuple[Groups, list[tuple[tuple[int, ...], int]]]:
        """The surfaces of ``groups`` that go on sliding at ``state`` (every ``alpha`` of them
        inside, dropping those outside and solving again), and the others with the side each
        is left to (-1: ``alpha <= 0``, the side ``z < 0``; +1: ``alpha >= 1``; 0: no sliding
        ``alpha`` at all, :func:`sliding_alpha`); ``alpha`` within ``margin`` of 0 or 1 counts
        as outside (:meth:`at_crossing`)."""
        rest, left = tuple(groups), []
        while rest:
            alpha = self.modes.alpha(rest, state)
            if alpha is None:
                left += [(g, 0) for g in rest]
                return (), left
            keep = [self.inside(a, margin) for a in alpha]
            if all(keep):
                break
            left += [(g, -1 if a <= 0.5 else 1) for g, a, k in zip(rest, alpha, keep, strict=True)
                     if not k]
            rest = tuple(g for g, k in zip(rest, keep, strict=True) if k)
        return rest, left

    def _switch(self, run: _Run, rest: Groups,
                left: list[tuple[tuple[int, ...], int]]) -> None:
        """Slide on ``rest`` (the base flow if empty); put the kinks of the surfaces ``left``
        on their sides."""
        self._follow(run, rest, self.modes.integrator(rest) if rest else None)
        for group, side in left:
            for k in group if side else ():
                run.nudge(k, side)

    def recheck(self, run: _Run) -> None:
        """After a kink crossing: the surfaces still hold (a group's kinks can part when an
        input of one of them turns on), else every surface is left.  The state is put back on
        them (a rounding-size correction)."""
        if not self.on:
            return
        state = self.modes.project(self.on, np.array(run.ta.state, copy=True))
        if state is None:
            self.drop(run)
        else:
            run.ta.state[:] = state

    def drop(self, run: _Run) -> None:
        """Leave every surface: back to the base flow."""
        self._follow(run, (), None)

    def new_segment(self) -> None:
        """Count the statistics from 0 (a continued run's next segment reports its own): the
        episodes are those still open (reported again, with the ``log t`` they began at);
        the surfaces followed and the chattering cluster are kept."""
        self.records = [rec for rec in self.records if rec[2] is None]
        self.left_at_kinks = 0

    def stats(self) -> dict[str, Any]:
        """``slides`` (kinks that slid, counted per episode), ``sliding_kinks``,
        ``sliding_at_end``, ``sliding_episodes`` (``[kink, log t in, log t out]``, out
        ``None`` while it still slides) and ``sliding_left_at_kinks`` (surfaces left because
        their ``alpha`` jumped out of (0, 1) at a kink, :meth:`at_crossing`)."""
        return {"slides": len(self.records),
                "sliding_kinks": sorted({int(k) for k, _, _ in self.records}),
                "sliding_at_end": sorted(self.held),
                "sliding_episodes": [[int(k), a, b] for k, a, b in self.records],
                "sliding_left_at_kinks": self.left_at_kinks}
