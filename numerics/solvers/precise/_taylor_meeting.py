"""A unit's ReLU kinks meeting at its origin during a Taylor run: end it there (status sliding).

Where a unit's incoming weights reach 0, all its pre-activations reach 0 together, and the
flow's continuation is not unique (:mod:`._meeting`).  heyoka stops on one of their kink events,
whichever it locates first among roots that coincide to rounding, on either side of the origin;
the driver used to handle it as a crossing of that kink alone, so the run's outcome depended on
rounding, i.e. on its target log t (x²/2 on a width-2 ReLU net: a run to log t = 3 stopped on
kink 2 and left the unit dead; one to log t = 2 stopped on kink 6 and slid on it).

At every stop on a ReLU kink, :meth:`MeetingWatch.check` takes the kinks at 0 there (two or
more that do not slide: :func:`~._meeting.near_zero`) and switches *all* of those that reached
0 in the last step, each to the side opposite the one it had at the end of the step before
(:meth:`MeetingWatch.remember`): the pattern on the far side of the meeting, the same whichever
event fired first.  A kink that was at 0 already (to rounding, or within ``2^-10`` of its
value now, e.g. a dead unit's pre-activation resting at ``-2e-32``) keeps its side: measured,
flipping it too named a "meeting" of kinks 3 and 4 of two units of a width-3 net
(``separable_gaussian(4, 2, seed 1)``, init seed 0) where unit 1 merely died, which Radau
crossed.  Only a stop where some kink arrived is examined: the later stops of a cluster at a
point already examined (crossing steps, a surface left) see every kink there resting, and
their state before is itself one of the cluster's (measured: ``separable_gaussian(3, 2, seed
2)``, init seed 1, where kinks 0, 2, 4 meet at log t = 0.5834 with a pattern that leaves
consistently, found a "meeting" at the third stop of the cluster, in a run to log t = 1 only).
Where the steps shrink on the way in (a kink of the potential at the same point: every weight of
the unit is 0 there, and ``abs(x)**(5/2)`` is not analytic at 0), the step before can end within
1e-37 of the meeting; the kinks then count as arrived since the last stop examined.  Stops on a
kink of the potential are examined as well: heyoka may locate one of those first.
The sliding kinks take the Filippov ``alpha`` that holds them on their surfaces under that
pattern (:func:`held_alpha`).  :func:`~._meeting.meeting_kinks` decides with the rates of that
pattern (:class:`PatternRates`, at the stop) as Radau's switch does with its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import heyoka as hy
import numpy as np

from .._precision import Precision
from ._compile import compile_functions, to_mpf
from ._meeting import meeting_kinks, meeting_reason, near_zero
from ._system import MirrorFlowSystem
from ._taylor_switches import kink_rates

__all__ = ["MeetingWatch", "PatternRates", "held_alpha"]


class _Host(Protocol):
    """What :class:`PatternRates` and :class:`MeetingWatch` use of the compiled integrator."""

    system: MirrorFlowSystem
    equations: list[tuple[Any, Any]]
    precision: Precision

    def function(self, name: str) -> Callable[[np.ndarray], np.ndarray]: ...


class PatternRates:
    """``dz_k/ds`` of every kink under a given activation pattern of the ReLU kinks.

    The flow's ``relup(z_k)`` is replaced by a switch ``sigma_k`` and ``relu(z_k)`` by
    ``sigma_k z_k`` (each ``z_k`` already carrying the earlier kinks' switches: an MLP's deeper
    pre-activations contain the earlier layers' ``relu``), extra inputs of one cfunc compiled on
    first use: 1 is the side ``z > 0``, 0 the side ``z < 0``, a value between them a sliding
    ``alpha``.  The potential's kinks (the last ``system.n_potential_kinks``) switch nothing.

    Examples
    --------
    >>> import sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> def margins(th):  # one sample (weight 1), q = relu(w): the force is relup(w)
    ...     w, = th
    ...     return np.array([hy.relu(w)]), np.array([[hy.relup(w)]]), [w]
    >>> class Host:
    ...     system = build_mirror_flow_system(margins, 1, gd)
    ...     equations, precision = system.equations, Precision.of_type("float64")
    >>> rates = PatternRates(Host())
    >>> rates(np.array([0.0, 0.0]), [1.0]), rates(np.array([0.0, 0.0]), [0.0])
    (array([1.]), array([0.]))
    """

    def __init__(self, host: _Host) -> None:
        self.host = host
        sysm = host.system
        self.n_relu = len(sysm.kinks) - sysm.n_potential_kinks
        self._fn: Callable[[np.ndarray], np.ndarray] | None = None

    def _compile(self) -> Callable[[np.ndarray], np.ndarray]:
        sysm, prc = self.host.system, self.host.precision
        switches = [hy.expression(f"meeting_switch{k}") for k in range(self.n_relu)]
        table: dict[Any, Any] = {}
        for k, z in enumerate(sysm.kinks[: self.n_relu]):
            table[hy.relu(z)] = switches[k] * (hy.subs(z, table) if table else z)
            table[hy.relup(z)] = switches[k]
        rhs = hy.subs([r for _, r in self.host.equations], table)
        equations = list(zip([v for v, _ in self.host.equations], rhs, strict=True))
        return compile_functions(sysm, kink_rates(sysm, equations),
                                 [*sysm.variables, *switches], fp_type=prc.fp_type,
                                 prec=prc.prec, opt_level=0)

    def __call__(self, state: np.ndarray, pattern: Sequence[float]) -> np.ndarray:
        """The kinks' rates (float64) at ``state`` under the switches ``pattern``."""
        if self._fn is None:
            self._fn = self._compile()
        conv = self.host.precision.converter()
        x = np.array([*state, *(conv(float(s)) for s in pattern)], dtype=state.dtype)
        return np.array([float(to_mpf(v)) for v in self._fn(x)])


def held_alpha(rates: Callable[[Sequence[float]], np.ndarray], pattern: np.ndarray,
               groups: Sequence[Sequence[int]]) -> np.ndarray:
    """``pattern`` with each sliding group's switches set to the ``alpha`` (clipped to
    ``[0, 1]``) that keeps its first kink's rate at 0, jointly: the rates are affine in the
    switches, ``g(alpha) = g(0) + A alpha`` (THEORY.md §7.2).  ``rates(pattern)``: the kinks'
    rates under a pattern.  A singular ``A`` leaves the groups off.

    Examples
    --------
    One kink, rate ``1 - 3 sigma``: held at ``alpha = 1/3``.

    >>> held_alpha(lambda p: np.array([1 - 3 * p[0]]), np.array([1.0]), [[0]]).tolist()
    [0.3333333333333333]
    """
    out = np.array(pattern, dtype=float)
    if not groups:
        return out
    firsts = [g[0] for g in groups]
    for g in groups:
        out[list(g)] = 0.0
    g0 = rates(out)[firsts]
    A = np.empty((len(groups), len(groups)))
    for j, g in enumerate(groups):
        unit = out.copy()
        unit[list(g)] = 1.0
        A[:, j] = rates(unit)[firsts] - g0
    try:
        alpha = np.clip(np.linalg.solve(A, -g0), 0.0, 1.0)
    except np.linalg.LinAlgError:
        return out
    for a, g in zip(alpha, groups, strict=True):
        out[list(g)] = a
    return out


class MeetingWatch:
    """One run's watch for a unit's kinks meeting at its origin (see the module docstring).

    Parameters
    ----------
    host
        The compiled integrator (its ``"kinks"`` cfunc, system, precision).
    rates
        The integrator's :class:`PatternRates`.
    """

    def __init__(self, host: _Host, rates: PatternRates) -> None:
        self.host, self.rates = host, rates
        self.before: np.ndarray | None = None   # the state at the end of the step before
        self.latest: np.ndarray | None = None   # ... and of the last step
        self.last_stop: np.ndarray | None = None  # the state at the last stop examined

    def remember(self, state: Any) -> None:
        """Note the state at the end of a step (the driver's step callback)."""
        self.before, self.latest = self.latest, np.array(state, copy=True)

    def _kink_values(self, state: np.ndarray) -> np.ndarray:
        return np.array([float(to_mpf(v)) for v in self.host.function("kinks")(state)])

    def _arrived(self, earlier: np.ndarray, values: np.ndarray, near: Sequence[int]
                 ) -> tuple[np.ndarray, list[int]]:
        """The kink values at the state ``earlier`` and which of ``near`` (at 0 now) were away
        from 0 there: not at 0 to rounding, and more than ``2^10`` times their value now."""
        before = self._kink_values(earlier)
        resting = near_zero(before, self.host.precision.bits, power=1)
        return before, [k for k in near
                        if not resting[k] and abs(before[k]) > 2.0**10 * abs(values[k])]

    def check(self, state: np.ndarray, groups: Sequence[Sequence[int]],
              logt: float) -> str | None:
        """The reason to end the run at a stop on a ReLU kink at ``state`` (``groups``: the
        surfaces the flow slides on), or None: two or more kinks that do not slide at 0 there,
        which do not move with every kink at 0 off, and which the pattern with all of them
        switched moves across at once, or some other pattern leaves consistently
        (:func:`~._meeting.meeting_kinks`)."""
        n = self.rates.n_relu
        values = self._kink_values(state)
        # the switches are the ReLU kinks'; a group may also hold the potential's kinks on
        # the same surface (a pre-activation that is +-theta_c), which switch nothing
        groups = [r for r in ([int(k) for k in g if k < n] for g in groups) if r]
        held = sorted({k for g in groups for k in g})
        near = [k for k in np.flatnonzero(near_zero(values, self.host.precision.bits))
                if k < n and k not in held]
        last_stop, self.last_stop = self.last_stop, state
        if len(near) < 2 or self.before is None:
            return None
        before, arrived = self._arrived(self.before, values, near)
        if not arrived and last_stop is not None:
            # steps that shrink on the way in (a kink of the potential at the same point:
            # abs(x)**(5/2) is not analytic at 0) can end the step before within 1e-37 of the
            # meeting: then the kinks arrived since the last stop examined
            before, arrived = self._arrived(last_stop, values, near)
        if not arrived:      # a later stop at a point a stop before examined
            return None
        pattern = (values[:n] > 0).astype(float)
        for k in near:   # one that reached 0 in the last step crosses; one resting there stays
            pattern[k] = before[k] < 0 if k in arrived else before[k] > 0
        pattern = held_alpha(lambda p: self.rates(state, p), pattern, groups)
        modes = np.where(pattern > 0, 1, -1)
        modes[held] = 0

        at_zero = sorted({*(int(k) for k in near), *held})

        def with_on(turned_on: Sequence[int]) -> np.ndarray:
            other = pattern.copy()
            other[at_zero] = 0.0
            other[list(turned_on)] = 1.0
            return self.rates(state, other)

        met = meeting_kinks([int(k) for k in near], held, modes,
                            lambda: self.rates(state, pattern), with_on,
                            self.host.precision.bits)
        return None if met is None else meeting_reason(*met, logt, "the Taylor integrator")
