"""Activation patterns: Radau IIA steps on ReLU and leaky-ReLU nets, one smooth field per step.

A ReLU or leaky-ReLU force jumps where a pre-activation ``h_k`` (one of ``system.kinks``)
changes sign, and a Radau step straight across such a jump is only first-order accurate.  So
the right-hand side is compiled with two switches per kink
(:func:`~._radau_switched.switched_equations`): ``relu(h_k) -> q_k h_k`` and
``relup(h_k) -> p_k``, runtime parameters equal to the pattern bit.
For a fixed pattern the field is analytic (it extends smoothly past the kinks), every step
integrates one pattern, and :class:`KinkPattern` keeps the pattern equal to the signs of the
kinks: a step whose kinks leave the pattern's signs is cut at the first crossing
(:class:`~._radau_kinks.KinkLocator`, to working precision), and the crossing kink's switches
are flipped there.

Where the flipped field points back into the surface ``h_k = 0`` from both sides (a Filippov
sliding mode: a unit held at its kink), the kink slides: the Filippov field of
:class:`~._radau_sliding.FilippovField` holds it there, with the slope ``alpha`` in ``[0, 1]``
that keeps ``h_k = 0``, until ``alpha`` reaches 0 or 1 (two more events per sliding kink).
Every switch settles the kinks at 0 there together with the sliding ones
(:func:`~._radau_sliding.filippov_modes`: each active, inactive or sliding, consistently), as
a crossing moves the ``alpha`` of the sliding kinks of its unit.  An MLP's deeper
pre-activations slide the same way (their gradients vary with the state: the run is put back on
their surfaces after each step, :mod:`._radau_surfaces`), unless they couple bilinearly with a
sliding kink (one sample, two layers: :func:`~._radau_sliding.coupled_kinks`); there
:class:`SlidingModeError` ends the run with status ``"sliding"``, naming both.  Kinks at 0 whose
surfaces coincide (parallel gradients: :func:`~._radau_sliding.coinciding_groups`) are settled
as one, and slide with one shared ``alpha`` and one pair of exits; the groups are formed again
at every joint switch, so a group whose surfaces part there (an input of one of its kinks
turns on) is settled again kink by kink.

The potential's kinks (``theta_k = 0`` of ``|x|`` terms) switch nothing in the field; they are
watched so that steps end on them (:mod:`._radau_potential_kinks`).  Kinks identically 0 and
kinks at 0 only because an input is are set aside (:mod:`._radau_aside`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import heyoka as hy
import numpy as np

from ._compile import converter
from ._kink_roots import dead_kinks
from ._meeting import meeting_kinks
from ._radau_aside import input_pairs, slaved_sides
from ._radau_errors import MeetingKinksError, SlidingModeError
from ._radau_kink_values import KinkValues
from ._radau_potential_kinks import hovering_rows, potential_side, resting_rows
from ._radau_sliding import MAX_JOINT, filippov_modes
from ._radau_switched import twin_kinks

if TYPE_CHECKING:
    from ._radau_sliding import FilippovField
    from ._radau_surfaces import SurfaceProjection

__all__: list[str] = []


class KinkPattern:
    """The activation pattern of a run: switch ``k`` is 1 where kink ``k`` is positive, and
    the kinks held on their surfaces (Filippov sliding, :class:`~._radau_sliding.FilippovField`).

    Events for :class:`~._radau_kinks.KinkLocator` are the ``nk`` kinks (each must keep the
    sign of :attr:`sides`; sliding kinks have side 0 and are not watched), then two rows per
    sliding surface, ``alpha`` and ``1 - alpha``, which must stay positive.  Kinks whose
    surfaces coincide slide as one group (:meth:`group`): its first kink is in :attr:`sliding`
    and carries the surface, its exits and the projection; the others follow it.

    Parameters
    ----------
    step
        The run's Radau step: its ``f`` (working clock) and its ``rhs`` (swapped for the
        Filippov field while kinks slide).
    kinks_mp
        The kinks compiled in MPFR: ``(P, m)`` parameters -> ``(nk, m)`` values.
    filippov
        The sliding field, or None (every sliding mode ends the run).
    coupled
        For each kink: the kinks it couples with bilinearly (they never slide together).
    bits
        Working bits.
    projection
        Puts the state back onto the surfaces of sliding kinks whose gradients vary, or None.

    Attributes
    ----------
    sliding
        The first kink of each group held on its surface, in the order of the exit rows.
    fresh
        Kinks switched at the current point (their values there are rounding-level zeros of
        either sign); cleared by :meth:`advanced`.
    crossings
        ``[log t, kink, |h_k| / max_j |h_j|, side]`` of every switch: side +1 / -1 (now
        active / inactive), 0 (now sliding).
    dead
        ReLU kinks identically 0 from the last switch point on (:meth:`identically_zero`):
        no switching surfaces, so not watched and never settled, grouped or met.
    slaved
        Kink -> the kink at 0 it follows, at the last switch point (:meth:`slave_to_inputs`):
        its side is that of the input's active side, and it is never settled, grouped or met
        on its own.
    """

    def __init__(self, step: Any, kinks_mp: Any, filippov: FilippovField | None,
                 coupled: Sequence[frozenset[int]], bits: int,
                 projection: SurfaceProjection | None = None) -> None:
        self._step, self._fil = step, filippov
        self._plain = step.rhs
        self._coupled = list(coupled)
        self._projection = projection
        system = step.fns.system
        self._P, self._bits = system.n_params, bits
        self._conv = converter("real", bits)
        self._kv = KinkValues(kinks_mp, self._P, bits, self._conv)
        self._tiny = 2.0 ** (24 - bits)  # a kink this close to 0 (relative) is on it
        self.n_kinks = len(system.kinks)
        # the potential's kinks (the last n_potential_kinks) switch nothing in the compiled
        # field: their side is the sign of theta_k, and a coordinate's identical copies (from
        # f' and 1 / f'') switch together
        self._potential = np.arange(self.n_kinks) >= self.n_kinks - system.n_potential_kinks
        self._twins = twin_kinks(system.kinks)
        self.on = np.zeros(self.n_kinks, dtype=bool)
        self.sliding: list[int] = []
        self._followers: dict[int, tuple[int, ...]] = {}  # the rest of each sliding group
        self.fresh: set[int] = set()
        self.dead: set[int] = set()
        self.slaved: dict[int, int] = {}
        self._pushed_back: set[int] = set()  # kinks settled again at this point
        self.crossings: list[list[float]] = []

    # ---------------------------------------------------------------- the pattern
    def group(self, k: int) -> tuple[int, ...]:
        """The kinks sliding with the sliding kink ``k`` on its surface (``k`` first)."""
        return (k, *self._followers.get(k, ()))

    @property
    def held(self) -> list[int]:
        """Every kink held on a surface (the groups of :attr:`sliding`)."""
        return [j for k in self.sliding for j in self.group(k)]

    def _set_groups(self, groups: Sequence[Sequence[int]]) -> None:
        """Slide on ``groups`` (each a kink, then the kinks on its surface)."""
        self.sliding = [int(g[0]) for g in groups]
        self._followers = {int(g[0]): tuple(int(j) for j in g[1:]) for g in groups if len(g) > 1}

    def potential_coordinate(self, k: int) -> int | None:
        """The coordinate of kink ``k`` if it is a kink of the potential, else None."""
        if not self._potential[k]:
            return None
        system = self._step.fns.system
        return int(system.kink_coordinates[k - (self.n_kinks - system.n_potential_kinks)])

    def resting_potential_kinks(self, start: np.ndarray) -> list[int]:
        """Put the potential's kinks that start a step on their wrong side at rest (``start``:
        the kinks' values there, float64; :func:`~._radau_potential_kinks.resting_rows`) on
        the side they are on, and return them."""
        rows = resting_rows(start, self.on, self._potential, {*self.held, *self.fresh},
                            self._tiny)
        for k in rows:
            for t in self._twins[k]:
                self.on[t] = start[k] > 0
        return rows

    def hovering_potential_kinks(self, values: np.ndarray) -> list[int]:
        """The potential's kinks whose ``values`` (``(nk, m)`` at a step's nodes) stay within
        rounding of 0 (:func:`~._radau_potential_kinks.hovering_rows`): not crossings."""
        return hovering_rows(values, self._potential, self._tiny)

    @property
    def sides(self) -> np.ndarray:
        """+1 / -1 / 0 (sliding) for each kink, then +1 for each exit row."""
        s = np.where(self.on, 1.0, -1.0)
        s[self.held] = 0.0
        return np.concatenate([s, np.ones(2 * len(self.sliding))])

    def _apply(self) -> None:
        """Write the pattern into the compiled functions (sliding kinks: both switches 0, the
        Filippov field adds ``alpha`` times the slope derivative)."""
        one, zero = self._conv(1.0), self._conv(0.0)
        on = self.on.copy()
        on[self.held] = False
        bits = [one if b else zero for b in on]
        self._plain.set_switches(bits + bits)
        if self._fil is not None:
            self._fil.set_sliding([self.group(k) for k in self.sliding], bits + bits)
        self._step.rhs = self._fil if self.sliding else self._plain

    def values(self, y: np.ndarray) -> np.ndarray:
        """Kink values at the state ``y`` (working precision, shape (nk,))."""
        return self._kv.at(y)

    def _relative(self, kv: np.ndarray) -> np.ndarray:
        """``|h_k|`` relative to the largest kink, or to 1 if every kink is smaller (kinks at
        0 together: e.g. ``u`` and ``2 u`` at ``u = 1e-60`` are both within rounding of 0,
        not half and all of the largest)."""
        mags = np.abs(kv.astype(float))
        return mags / max(float(np.max(mags)), 1.0)

    def start(self, clock: Any, y: np.ndarray, logt: float) -> None:
        """The pattern at the start ``(clock, y)``: the kinks' signs; a kink at 0 takes the side
        its own field moves it to, or slides."""
        kv = self.values(y)
        self.on = kv.astype(float) > 0
        self._set_groups([])
        self.fresh = set()
        self._apply()
        self._set_aside(clock, y, logt)
        at_zero = [k for k in np.flatnonzero(self._relative(kv) <= self._tiny).tolist()
                   if k not in self._aside]
        self._switch(clock, y, {k: 1 if self.on[k] else -1 for k in at_zero}, logt,
                     np.zeros(self.n_kinks))
        self._switched_here(clock, y)

    @property
    def modes(self) -> list[int]:
        """Per kink: +1 active, -1 inactive, 0 sliding (what a continued run needs,
        :meth:`resume`)."""
        m = np.where(self.on, 1, -1)
        m[self.held] = 0
        return [int(v) for v in m]

    def resume(self, clock: Any, y: np.ndarray, logt: float,
               modes: Sequence[int] | None) -> None:
        """The pattern at the start ``(clock, y)`` of a continued run: the ``modes`` it was
        saved with (:attr:`modes`), checked there, or (None: a run saved without them) the
        kinks' signs.

        The saved state is rounded to its stored digits, so a kink that slid (or had just
        switched) there is a zero only to about half the working digits: every kink that close
        to 0 is settled again with the sliding ones, expecting its saved mode
        (:meth:`_switch`), and may start a step at a rounding-level value of either sign.
        """
        kv = self.values(y)
        rel = self._relative(kv)
        signs = np.where(kv.astype(float) > 0, 1, -1)
        saved = signs if modes is None else np.asarray(modes, dtype=int)
        if saved.shape != (self.n_kinks,):
            raise ValueError(f"the saved activation pattern has {saved.size} kinks, the "
                             f"system {self.n_kinks}: continue the run on the same problem")
        near = rel <= self._tiny ** 0.5
        off = np.flatnonzero((saved != 0) & (saved != signs) & ~near).tolist()
        if off:
            raise ValueError(f"kinks {off} are on the other side of the saved activation "
                             "pattern: the saved run does not belong to this problem")
        self.on, self.fresh = saved > 0, set()
        self._set_groups(self._coinciding(clock, y, np.flatnonzero(saved == 0).tolist(),
                                          extras=False))
        self._apply()
        self._set_aside(clock, y, logt)
        events = {k: int(saved[k]) for k in np.flatnonzero(near & (saved != 0)).tolist()
                  if k not in self._aside}
        before = len(self.crossings)
        self._switch(clock, y, events, logt, rel)
        if self.sliding:
            self._release(clock, y, logt)
        # a kink settled in its saved mode did not switch here
        self.crossings[before:] = [c for c in self.crossings[before:]
                                   if self.modes[int(c[1])] != saved[int(c[1])]]
        self.fresh |= set(np.flatnonzero(near).tolist())
        self._switched_here(clock, y)

    def cross(self, clock: Any, y: np.ndarray, row: int, logt: float) -> None:
        """Switch at the event ``row`` located at ``(clock, y)``: a kink crossing (and any other
        kink on its wrong side there within rounding: simultaneous crossings), or the end of a
        sliding mode.

        Kinks within rounding of 0 on their own side are marked :attr:`fresh` as well: the
        float64 values the next step is watched with may put them on either side (measured:
        the coverage MLP 3/3 under exp(x²/2) at log t = 1.056, kink 10 at +1e-53 where the
        ``alpha`` of kink 34, proportional to ``relu`` of kink 10, reached 0; -5e-17 in
        float64).  One that the next step then finds on its wrong side twice is settled again
        (:meth:`pushed_back`).

        Where ReLU kinks meet at 0 (a unit's ``w_j = 0``) the run ends if the continuation is
        not unique (:func:`~._meeting.meeting_kinks`); else (a leaky unit's origin: its force
        does not vanish with every kink off) the ones on their wrong side within ``sqrt`` of
        rounding cross here too: they are at 0 only to the accuracy of the located root
        (measured: leaky ReLU, kinks 1 and 3 at 1e-52 where kink 7 was located, 140 bits)."""
        kv = self.values(y)
        rel = self._relative(kv)
        self._set_aside(clock, y, logt)
        # kinks on their wrong side within rounding cross here too (also at the exit of a
        # sliding mode: measured on a width-3 net, a crossing 1e-53 after an exit)
        # (the potential's at any distance: the field is the same on both sides, their side
        # is the sign of theta_k; measured, theta_k crossed from -1e-55 to +3.4e-51 in a step
        # cut at a sliding exit, unseen, and the next step started on its wrong side)
        wrong = (kv.astype(float) * self.sides[: self.n_kinks] < 0) & (
            (rel <= self._tiny) | self._potential)
        events = {k: -1 if self.on[k] else 1 for k in np.flatnonzero(wrong).tolist()
                  if k not in self._aside}
        if row >= self.n_kinks:  # alpha reached 1: the unit is active; 0: inactive
            events[self.sliding[(row - self.n_kinks) // 2]] = (
                1 if (row - self.n_kinks) % 2 == 1 else -1)
        elif row not in self._aside:  # a slaved kink took its side above
            events[row] = -1 if self.on[row] else 1
        before = self.modes
        # the potential's kinks last: their sides follow their rates under the new pattern
        # (a ReLU kink switched here, or just below, may stop theta_k at 0; see _switch)
        ordered = dict(sorted(events.items()))
        self._switch(clock, y, {k: v for k, v in ordered.items() if not self._potential[k]},
                     logt, rel)
        near = self.relu_kinks_at_zero(y)
        held = [k for k in self.held if not self._potential[k]]
        at_zero = sorted({*near, *held})
        met = meeting_kinks(near, held, self.modes, lambda: self._rates(clock, y),
                            lambda on: self._rates_with_on(clock, y, at_zero, on), self._bits)
        if met is not None:  # kinks at 0 together: a unit's w_j = 0
            raise MeetingKinksError(*met, logt)
        # no meeting (e.g. a leaky unit's origin: it has a force with every kink off): the
        # kinks at 0 with the located one are there only to the location's accuracy, and
        # those on their wrong side beyond rounding (within it they are fresh) cross here too
        late = [k for k in near if k not in events and self.modes[k] == before[k]
                and rel[k] > self._tiny and float(kv[k]) * self.sides[k] < 0]
        if late:
            self._switch(clock, y, {k: -1 if self.on[k] else 1 for k in late}, logt, rel)
        self._switch(clock, y, {k: v for k, v in ordered.items() if self._potential[k]},
                     logt, rel)
        self.fresh |= set(np.flatnonzero(rel <= self._tiny).tolist()) - set(self.held)
        self._switched_here(clock, y)

    def identically_zero(self, clock: Any, y: np.ndarray) -> set[int]:
        """The ReLU kinks, other than held ones, identically 0 at ``(clock, y)`` under the
        current pattern (:func:`~._kink_roots.dead_kinks`: value and rate exactly 0)."""
        held = set(self.held)
        relu = [k for k in range(self.n_kinks) if not self._potential[k] and k not in held]
        return dead_kinks(self.values(y), relu, lambda: self._rates(clock, y))

    def _set_aside(self, clock: Any, y: np.ndarray, logt: float) -> None:
        """Before the switches at ``(clock, y)``: find the :attr:`dead` and :attr:`slaved`
        kinks there."""
        self.dead = self.identically_zero(clock, y)
        self.slave_to_inputs(clock, y, logt)

    def _switched_here(self, clock: Any, y: np.ndarray) -> None:
        """After the switches at ``(clock, y)``: the kinks identically 0 from here on (under
        the new pattern) are not watched (:attr:`dead`) nor fresh."""
        self.dead = self.identically_zero(clock, y)
        self.fresh -= self.dead

    @property
    def _aside(self) -> set[int]:
        """Kinks at 0 that take no part in settling, grouping or meetings: :attr:`dead` and
        :attr:`slaved` (:mod:`._radau_aside`)."""
        return self.dead | set(self.slaved)

    def slave_to_inputs(self, clock: Any, y: np.ndarray, logt: float) -> None:
        """Find the ReLU kinks at 0 at ``(clock, y)`` that are 0 only because an input kink at
        0 there is (:attr:`slaved`, :func:`~._radau_aside.slaved_sides`), and put each on the
        side it has where that input is active."""
        self.slaved = {}
        if self._projection is None:
            return
        rel = self._relative(self.values(y))
        pairs = input_pairs(self._relu_near(y), self._coupled, set(self.held))
        if not pairs:
            return
        inputs = sorted({k for k, _ in pairs})
        D = self._projection.directions(self._column(clock, y), inputs)
        sides = slaved_sides(pairs, dict(zip(inputs, D, strict=True)),
                             lambda normal: self._kv.across(y, normal))
        self.slaved = {j: k for j, (k, _) in sides.items()}
        moved = [(j, side) for j, (_, side) in sides.items() if side != bool(self.on[j])]
        for j, side in moved:
            self.on[j] = side
            self.fresh.add(j)
            self.crossings.append([logt, float(j), float(rel[j]), 1.0 if side else -1.0])
        if moved:
            self._apply()

    def is_potential_kink(self, row: int) -> bool:
        """Whether the kink event ``row`` is one of the potential's (``theta_k = 0`` of an
        ``abs(x)`` term: it switches nothing, and the field is continuous across it)."""
        return row < self.n_kinks and bool(self._potential[row])

    def relu_kinks_at_zero(self, y: np.ndarray) -> list[int]:
        """The ReLU kinks (not the potential's) at 0 at ``y`` to about half the working digits,
        other than the held ones: where two or more of a unit's are, its weights are at 0 (a
        meeting, :func:`~._meeting.meeting_kinks`).  Not the ones exactly 0 or set aside
        (:mod:`._radau_aside`: measured, a 3/3 ReLU MLP under cosh, dead kinks 9-11 beside
        kink 0 reaching 0 were read as a "meeting" of [0, 9, 10, 11] and ended the run)."""
        kv = self.values(y)
        return [j for j in self._relu_near(y, self.held) if kv[j] != 0]

    def _relu_near(self, y: np.ndarray, exclude: Sequence[int] = ()) -> list[int]:
        """The ReLU kinks within ``sqrt`` of rounding of 0 at ``y`` (relative), other than the
        ones set aside (:attr:`dead`, :attr:`slaved`) and ``exclude``."""
        rel = self._relative(self.values(y))
        aside = self._aside | set(exclude)
        return [j for j in np.flatnonzero(rel <= self._tiny ** 0.5).tolist()
                if not self._potential[j] and j not in aside]

    def _rates_with_on(self, clock: Any, y: np.ndarray, kinks: Sequence[int],
                       turned_on: Sequence[int]) -> np.ndarray:
        """The kinks' rates at ``(clock, y)`` with ``kinks`` switched off except
        ``turned_on``, and nothing sliding (the pattern is restored after)."""
        on, groups = self.on.copy(), [self.group(k) for k in self.sliding]
        self._set_groups([])
        self.on[list(kinks)] = False
        self.on[list(turned_on)] = True
        self._apply()
        try:
            return self._rates(clock, y)
        finally:
            self.on = on
            self._set_groups(groups)
            self._apply()

    def _switch(self, clock: Any, y: np.ndarray, events: dict[int, int], logt: float,
                rel: np.ndarray) -> None:
        """Settle the kinks ``events`` (kink -> the side it is expected on) at ``(clock, y)``:
        the ReLU kinks jointly with the sliding ones (:meth:`_settle_jointly`) when no two of
        them couple (their rates are jointly affine in the switches), else one at a time, then
        release sliding kinks whose ``alpha`` left ``[0, 1]``; then the potential's, under the
        new pattern (:func:`~._radau_potential_kinks.potential_side`)."""
        relu = {k: side for k, side in events.items() if not self._potential[k]}
        if relu:
            self._switch_relu(clock, y, relu, logt, rel)
            self._resettle_potential(clock, y, logt)
        done: set[int] = set()
        for k, side in events.items():
            if self._potential[k] and k not in done:  # twins settle together
                self._settle(clock, y, k, prefer=side > 0, logt=logt, rel=float(rel[k]))
                done.update(self._twins[k])

    def _switch_relu(self, clock: Any, y: np.ndarray, relu: dict[int, int], logt: float,
                     rel: np.ndarray) -> None:
        """The ReLU part of :meth:`_switch`."""
        joint = {**{k: 0 for k in self.held}, **relu}
        groups = self._coinciding(clock, y, list(joint))
        kinks = {k for g in groups for k in g}
        if (self._fil is not None and len(groups) <= MAX_JOINT
                and not any(self._coupled[k] & kinks for k in kinks)):
            self._settle_jointly(clock, y, groups, joint, set(relu), logt, rel)
            return
        for k, side in relu.items():
            if k in self.sliding:  # the exit of a sliding mode: its group leaves together
                members = self.group(k)
                self._set_groups([self.group(j) for j in self.sliding if j != k])
                for j in members:
                    self.on[j] = side > 0
                    self.fresh.add(j)
                    self.crossings.append([logt, float(j), float(rel[j]), float(side)])
                self._apply()
            else:
                self._settle(clock, y, k, prefer=side > 0, logt=logt, rel=float(rel[k]))
        if self._followers:
            self._regroup(clock, y, logt, rel)
        if self.sliding:  # a switch moves the slopes alpha of sliding kinks of the same unit
            self._release(clock, y, logt)

    def _coinciding(self, clock: Any, y: np.ndarray, kinks: Sequence[int], *,
                    extras: bool = True) -> list[tuple[int, ...]]:
        """The ReLU ``kinks`` (at 0 at ``(clock, y)``) grouped by coinciding surfaces, in their
        order; with ``extras``, the other ReLU kinks within ``sqrt`` of rounding of 0 there
        join the group whose surface they are on
        (:meth:`~._radau_surfaces.SurfaceProjection.groups`)."""
        kinks = [int(k) for k in kinks]
        if self._projection is None or len(kinks) + extras < 2:
            return [(k,) for k in kinks]
        return self._projection.groups(self._column(clock, y), kinks,
                                       self._relu_near(y, kinks) if extras else [])

    def _column(self, clock: Any, y: np.ndarray) -> np.ndarray:
        """The point ``(clock, y)`` as a column of the compiled sliding functions (system
        state, then system clock)."""
        sys_clock, state = self._step.to_system(clock, y)
        X = np.concatenate([state, np.array([sys_clock], dtype=hy.real)])[:, None]
        return np.ascontiguousarray(X)

    def _regroup(self, clock: Any, y: np.ndarray, logt: float, rel: np.ndarray) -> None:
        """After a switch of kinks one at a time: if the surfaces of a sliding group no longer
        coincide (an earlier layer's input of one of its kinks switched), settle every sliding
        kink again (jointly, as they never couple; expected to slide)."""
        held = self.held
        groups = self._coinciding(clock, y, held, extras=False)
        if sorted(groups) == sorted(self.group(k) for k in self.sliding):
            return
        if len(groups) > MAX_JOINT:
            k = next(j for j in self.sliding if self.group(j) not in groups)
            raise SlidingModeError(k, separated=self._followers[k])
        self._settle_jointly(clock, y, groups, {k: 0 for k in held}, set(), logt, rel)

    def _settle_jointly(self, clock: Any, y: np.ndarray, groups: Sequence[tuple[int, ...]],
                        expected: dict[int, int], events: set[int], logt: float,
                        rel: np.ndarray) -> None:
        """Modes of the kinks of ``groups`` (kinks on one surface, :meth:`_coinciding`; each
        group switches as one kink) at 0 together (:func:`~._radau_sliding.filippov_modes`):
        the rates of the groups' first kinks are affine in the groups' slope switches,
        ``g(H) = g(0) + A H``, measured here with every other switch fixed.  ``expected``:
        kink -> expected mode (+1 / -1, 0 sliding), ``events`` switched here (a group takes
        the mode its event kink expects; a kink found on a group's surface, its own mode).

        One at a time, a kink switched on with the sliding kinks' old ``alpha`` can release a
        sliding kink of its unit whose new side then pushes it back (measured: x²/2, 2-layer
        ReLU width 4, kinks 12 and 8 at log t = -2.07)."""
        Z = [g[0] for g in groups]
        members = [k for g in groups for k in g]
        held = set(self.held)
        before = {k: 0 if k in held else (1 if self.on[k] else -1) for k in members}
        self._set_groups([self.group(k) for k in self.sliding
                          if not set(self.group(k)) & set(members)])
        self.on[members] = False
        self._apply()
        g0 = self._rates(clock, y)[Z]
        A = np.empty((len(Z), len(Z)))
        for j, g in enumerate(groups):
            self.on[list(g)] = True
            self._apply()
            A[:, j] = self._rates(clock, y)[Z] - g0
            self.on[list(g)] = False
        want = [next((expected[k] for k in g if k in events),
                     expected.get(g[0], before[g[0]])) for g in groups]
        modes = filippov_modes(g0, A, want, 2.0 ** (-self._bits / 2))
        if modes is None:
            raise FloatingPointError(f"no Filippov mode of the kinks {list(groups)} at 0 is "
                                     f"consistent (rates {g0.tolist()} inactive, slopes "
                                     f"{A.tolist()})")
        new_groups = [self.group(k) for k in self.sliding]
        for g, mode in zip(groups, modes, strict=True):
            self.on[list(g)] = mode > 0
            if mode == 0:
                if any(before[k] != 0 for k in g):
                    self._alone_on_surface(clock, y, g)
                new_groups.append(g)
            for k in g:
                if mode != before[k] or k in events:
                    self.fresh.add(k)
                    self.crossings.append([logt, float(k), float(rel[k]), float(mode)])
        self._set_groups(new_groups)
        self._apply()

    def advanced(self) -> None:
        """The run left the point of the last switch."""
        self.fresh = set()
        self._pushed_back = set()

    def may_settle_again(self, k: int) -> bool:
        """True if :meth:`pushed_back` would settle kink ``k`` again at this point (a fresh
        ReLU kink not settled again here yet)."""
        return k in self.fresh and k not in self._pushed_back and not self._potential[k]

    def pushed_back(self, clock: Any, y: np.ndarray, k: int, logt: float) -> bool:
        """Kink ``k``, at 0 at ``(clock, y)`` (:attr:`fresh`), was on its wrong side at the first
        two nodes of the next step (or at the second: it crosses at once, tangent at the
        start): settle it again there, expecting it to slide (once per
        point; it crosses instead where sliding is not consistent).  True if it switched."""
        if not self.may_settle_again(k):
            return False
        self._pushed_back.add(k)
        before = self.modes[k]
        self.slave_to_inputs(clock, y, logt)
        if k in self._aside:
            return False
        self._switch(clock, y, {k: 0}, logt, self._relative(self.values(y)))
        self._switched_here(clock, y)
        return self.modes[k] != before

    def onto_surfaces(self, clock: Any, y: np.ndarray) -> np.ndarray:
        """The working state ``y`` at ``clock`` (the end of an accepted step), put back onto
        the surfaces of the sliding kinks if one of them has a gradient that varies with the
        state (:class:`~._radau_surfaces.SurfaceProjection`); else ``y`` itself."""
        proj = self._projection
        if proj is None or not self.sliding or not proj.needed(self.sliding):
            return y
        out = np.concatenate([proj(self._column(clock, y), self.sliding), y[self._P:]])
        if self._followers:
            self._still_together(out)
        return out

    def _still_together(self, y: np.ndarray) -> None:
        """Raise :class:`SlidingModeError` if a kink of a sliding group is off the surface of
        its first kink at ``y`` (put back onto it) by more than ``sqrt`` of rounding: the
        surfaces parted within the step (only a switch of an earlier layer parts them in an
        MLP, and switches end steps; this guards against coincidences of another kind)."""
        rel = self._relative(self.values(y))
        for k, rest in self._followers.items():
            off = [j for j in rest if rel[j] > self._tiny ** 0.5]
            if off:
                raise SlidingModeError(k, separated=off)

    def new_segment(self) -> None:
        """Count :attr:`crossings` and the sliding statistics from 0 (a continued run's next
        segment reports its own); the pattern itself is kept."""
        self.crossings = []
        if self._projection is not None:
            self._projection.count, self._projection.drift_max = 0, 0.0

    def surface_stats(self) -> dict[str, Any]:
        """``sliding_projections`` (steps put back onto sliding surfaces whose gradients vary)
        and ``sliding_drift_max`` (the largest distance to them met, relative)."""
        proj = self._projection
        if proj is None:
            return {}
        return {"sliding_projections": proj.count, "sliding_drift_max": proj.drift_max}

    # ---------------------------------------------------------------- sides of a kink
    def _settle(self, clock: Any, y: np.ndarray, k: int, *, prefer: bool, logt: float,
                rel: float = 0.0) -> None:
        """Put kink ``k`` (at 0) on the side its own field moves it to (``prefer`` first), or
        hold it on its surface if both fields push it back (Filippov).  A kink of the
        potential (with its twins) takes the side its rate points to: the field is the same on
        both sides."""
        if self._potential[k]:
            self._set_potential_side(k, self._potential_side(clock, y, k, prefer), logt, rel)
            return
        rates = {}
        for on in (prefer, not prefer):
            self.on[k] = on
            self._apply()
            rates[on] = self._rate(clock, y, k)
            if rates[on] * (1.0 if on else -1.0) > 0:
                self.fresh.add(k)
                self.crossings.append([logt, float(k), rel, 1.0 if on else -1.0])
                return
        if rates[True] == rates[False] == 0.0:  # stationary (kinks identically 0 are set
            self.on[k] = prefer                  # aside before: :attr:`dead`)
            self._apply()
            self.crossings.append([logt, float(k), rel, 1.0 if prefer else -1.0])
            return
        coupled = self._coupled[k] & set(self.held)
        if self._fil is None or coupled:
            raise SlidingModeError(k, (rates[True], rates[False]), coupled)
        self._alone_on_surface(clock, y, (k,))
        self.on[k] = False
        self._set_groups([*(self.group(j) for j in self.sliding), (k,)])
        self._apply()
        self.crossings.append([logt, float(k), rel, 0.0])

    def _potential_side(self, clock: Any, y: np.ndarray, k: int, prefer: bool) -> bool:
        """The side of the potential's kink ``k`` under the current pattern
        (:func:`~._radau_potential_kinks.potential_side`)."""
        return potential_side(float(self.values(y)[k]), self._rate(clock, y, k), clock,
                              self._bits, prefer)

    def _resettle_potential(self, clock: Any, y: np.ndarray, logt: float) -> None:
        """After ReLU switches at ``(clock, y)``: the potential's kinks at 0 there (to
        rounding) take their sides again under the new pattern (:meth:`_potential_side`)."""
        kv = self.values(y)
        rel = self._relative(kv)
        done: set[int] = set()
        for k in np.flatnonzero(self._potential & (rel <= self._tiny)).tolist():
            if k in done:
                continue
            done.update(self._twins[k])
            on = self._potential_side(clock, y, k, bool(self.on[k]))
            if on != bool(self.on[k]):
                self._set_potential_side(k, on, logt, float(rel[k]))

    def _set_potential_side(self, k: int, on: bool, logt: float, rel: float) -> None:
        """Put the potential's kink ``k`` and its twins on side ``on`` (switched here)."""
        for t in self._twins[k]:
            self.on[t] = on
            self.fresh.add(t)
        self.crossings.append([logt, float(k), rel, 1.0 if on else -1.0])

    def _alone_on_surface(self, clock: Any, y: np.ndarray, group: tuple[int, ...]) -> None:
        """Raise :class:`SlidingModeError` if a ReLU kink at 0 at ``(clock, y)`` outside the
        sliding ``group`` has its surface there (its gradient parallel to the group's, to
        float64): a kink settled alone (:meth:`_settle`) or one whose gradient points the
        other way, so that it cannot share the group's Filippov switch (THEORY.md §7.2).

        Measured: exp(x²/2) on the coverage MLP 3/3, kinks 31 and 34 (samples 4 and 5, unit 1
        of the second layer, whose only active input on both is unit 1 of the first: both are
        ``W_11 relu(h_i1)``) reach 0 together at log t = 1.649; settled jointly they form one
        group (:meth:`_coinciding`)."""
        if self._projection is None:
            return
        same = self._projection.on_surface(self._column(clock, y), group[0],
                                           self._relu_near(y, group))
        if same:
            raise SlidingModeError(group[0], coinciding=same)

    def _release(self, clock: Any, y: np.ndarray, logt: float) -> None:
        """Let go, one at a time, of sliding kinks whose joint ``alpha`` left ``[0, 1]`` at a
        switch of another kink (the farthest first): ``alpha < 0`` means the inactive
        field already moves the kink down, ``alpha > 1`` the active one up."""
        for _ in range(len(self.sliding)):
            alpha = self._alpha_at(clock, y)
            out = np.maximum(-alpha, alpha - 1)
            i = int(np.argmax(out))
            if out[i] <= self._tiny:
                return
            members = self.group(self.sliding[i])
            self._set_groups([self.group(j) for n, j in enumerate(self.sliding) if n != i])
            for k in members:
                self.on[k] = bool(alpha[i] > 1)
                self.fresh.add(k)
                self.crossings.append([logt, float(k), 0.0, 1.0 if self.on[k] else -1.0])
            self._apply()
            if not self.sliding:
                return

    def _rates(self, clock: Any, y: np.ndarray) -> np.ndarray:
        """``d h / d clock`` of every kink under the current pattern
        (:meth:`~._radau_kink_values.KinkValues.rates`)."""
        F = np.array(self._step.f(np.array([clock], dtype=hy.real), y[:, None])[:, 0])
        return self._kv.rates(y, F)

    def _rate(self, clock: Any, y: np.ndarray, k: int) -> float:
        """``d h_k / d clock`` under the current pattern (only its sign is used)."""
        return float(self._rates(clock, y)[k])

    # ---------------------------------------------------------------- sliding exits
    def _alpha_at(self, clock: Any, y: np.ndarray) -> np.ndarray:
        """Float64 ``alpha`` of the sliding kinks at one point."""
        self._step.f(np.array([clock], dtype=hy.real), y[:, None])
        assert self._fil is not None
        return self._fil.alpha[:, 0].astype(float)

    def exit_values(self, poly: Any) -> np.ndarray:
        """``(2 |S|, s + 1)``: ``alpha`` and ``1 - alpha`` of the sliding kinks at the nodes of
        a collocation polynomial (working precision)."""
        nodes = [poly.clock + poly.h * cj for cj in [self._conv(0.0), *self._step.tab.c]]
        self._step.f(np.array(nodes, dtype=hy.real), poly.values.T)
        assert self._fil is not None
        alpha = np.array(self._fil.alpha)
        rows = []
        for a in alpha:
            rows += [a, 1 - a]
        return np.array(rows, dtype=hy.real)
