"""Events of the Taylor integrator: the log t target, output levels and ReLU kinks.

Everything that changes from one run to the next (the ``log t`` scale, the target, the output
levels) is a heyoka runtime parameter, so one compiled integrator serves several runs: a run
only writes ``ta.pars`` (:func:`event_pars`).  In ``logt_mode="ode"`` the state's last component
is ``log t / scale``; the target is a terminal event ``logt - par[b]`` and output level ``j`` a
non-terminal event ``logt - par[b + 1 + j]``.  In quadrature mode ``log t`` is not in the state:
levels and target are found by the driver, and only the kink events remain.

Every kink event has a switch: its function is ``kink + par[j]``, armed with ``par[j] = 0`` and
disarmed with ``par[j] = 1`` (no root) while the kink is identically zero (a dead unit, see
:mod:`~numerics.solvers.precise._taylor_switches`).  An identically zero event function would
otherwise "fire" at the same point on every step, with a zero cooldown, forever.

Level slots a run does not need are parked at the target (their callbacks are switched off).
Not anywhere "unreachable": heyoka's step size control scales its tolerance by the largest
magnitude among the state *and the event functions*, so a slot parked at ``1e300`` would make
the steps huge.  A level ``lv`` in ``[0, target]`` never adds a magnitude above those of the
state and of the target event (``|logt - lv| <= max(|logt|, |target - logt|)``), so the steps
do not depend on how many level events there are, and a reused integrator takes the same steps
as one compiled for the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import heyoka as hy
import mpmath
import numpy as np

from .._precision import Precision
from ._compile import par_array
from ._system import MirrorFlowSystem

__all__ = ["EventLayout", "Fired", "KinkStop", "Relay", "event_pars", "make_events"]

class Relay:
    """A heyoka event callback that forwards to ``target``, shared rather than copied.

    heyoka deep-copies event callbacks when events and integrators are built; a bound method
    would be copied together with its object, so a compiled integrator could not report to the
    run in progress.  A relay survives the copies (``__deepcopy__`` returns it) and the
    integrator points ``target`` at the running driver's method, or at nothing (``None``: the
    event is ignored, e.g. a parked level slot).

    Examples
    --------
    >>> import copy
    >>> relay = Relay()
    >>> relay.target = lambda *args: len(args)
    >>> copy.deepcopy(relay) is relay, relay(1, 2, 3)
    (True, 3)
    """

    def __init__(self) -> None:
        self.target: Callable[..., Any] | None = None

    def __call__(self, *args: Any) -> Any:
        return None if self.target is None else self.target(*args)

    def __deepcopy__(self, memo: dict[int, Any]) -> Relay:
        return self


@dataclass(frozen=True)
class EventLayout:
    """Where the events and their runtime parameters sit in a compiled integrator.

    ``t_events`` are ``[target] * n_target + kinks + exits``; ``nt_events`` the ``n_levels``
    level slots.  ``par_base`` is the index of the target's parameter (levels follow), after the
    system's own; the kinks' switches follow the levels (:attr:`switch_base`).  ``n_exits``: the
    exit events of a sliding flow (:mod:`~numerics.solvers.precise._taylor_sliding`).
    ``stops["last"]``: ``(kink, direction)`` of the last kink event (:class:`KinkStop`).
    """

    n_target: int
    n_kinks: int
    n_levels: int
    par_base: int
    n_exits: int = 0
    stops: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def switch_base(self) -> int:
        """Index of the runtime parameter of kink 0's switch (kink ``k``'s is ``+ k``)."""
        return self.par_base + self.n_target + self.n_levels

    def kink_index(self, outcome: Any) -> int:
        """The kink heyoka's ``outcome`` stopped on (see :meth:`is_kink`)."""
        return -int(outcome) - 1 - self.n_target

    @property
    def n_t_events(self) -> int:
        """Number of terminal events (target first, then kinks, then exits)."""
        return self.n_target + self.n_kinks + self.n_exits

    def is_kink(self, outcome: Any) -> bool:
        """True if heyoka's ``outcome`` is a stop on a kink event."""
        return -(self.n_target + self.n_kinks) <= int(outcome) < -self.n_target

    def is_exit(self, outcome: Any) -> bool:
        """True if heyoka's ``outcome`` is a stop on an exit event of a sliding flow."""
        return -self.n_t_events <= int(outcome) < -(self.n_target + self.n_kinks)

    def is_target(self, outcome: Any) -> bool:
        """True if heyoka's ``outcome`` is a stop on the log t target event."""
        return bool(self.n_target) and int(outcome) == -1


class Fired:
    """Callback of a terminal event: stop, and note ``log[key] = value`` (default
    ``log["fired"] = True``: the driver's step callback reads and clears it, so a step that
    ended on an event is not stopped again for a crossing, which would hide the event's
    outcome; a branch crossing notes which of its events fired).  Shared, not copied (as
    :class:`Relay`)."""

    def __init__(self, log: dict[str, Any], key: str = "fired", value: Any = True) -> None:
        self.log, self.key, self.value = log, key, value

    def __call__(self, ta: Any, d_sgn: Any) -> bool:
        self.log[self.key] = self.value
        return False

    def __deepcopy__(self, memo: dict[int, Any]) -> Fired:
        return self


class KinkStop:
    """Callback of kink ``k``'s terminal event: stop, and note ``(k, d_sgn)`` in ``log["last"]``
    (the direction the kink crossed, +1 upwards).  Shared, not copied (as :class:`Relay`)."""

    def __init__(self, k: int, log: dict[str, Any]) -> None:
        self.k, self.log = k, log

    def __call__(self, ta: Any, d_sgn: Any) -> bool:
        self.log["last"] = (self.k, int(d_sgn))
        self.log["fired"] = True
        return False

    def __deepcopy__(self, memo: dict[int, Any]) -> KinkStop:
        return self


def make_events(
    system: MirrorFlowSystem, precision: Precision, *, quad: bool, kink_events: bool,
    par_base: int, level_callbacks: Sequence[Callable[..., Any]], exits: Sequence[Any] = (),
    kinks: Sequence[Any] | None = None,
) -> tuple[list[Any], list[Any], EventLayout]:
    """``(t_events, nt_events, layout)`` for ``heyoka.taylor_adaptive``.

    ``level_callbacks[j]`` is called as ``(ta, t, d_sgn)`` when level slot ``j`` is crossed
    (pass :class:`Relay` objects: heyoka deep-copies callbacks); ignored in quadrature mode.
    ``exits``: terminal events after the kinks (those of a sliding flow); ``kinks``: the kink
    expressions (default ``system.kinks``).
    """
    fp = precision.hy_type
    t_events: list[Any] = []
    nt_events: list[Any] = []
    n_target = 0 if quad else 1
    kinks = list(system.kinks if kinks is None else kinks) if kink_events else []
    layout = EventLayout(n_target, len(kinks), len(level_callbacks) if not quad else 0,
                         par_base, len(exits))
    if not quad:
        last_var = system.equations[-1][0]
        t_events.append(hy.t_event(last_var - hy.par[par_base], fp_type=fp,
                                   callback=Fired(layout.stops),
                                   direction=hy.event_direction.positive))
        nt_events = [hy.nt_event(last_var - hy.par[par_base + 1 + j], cb, fp_type=fp)
                     for j, cb in enumerate(level_callbacks)]
    t_events += [hy.t_event(e + hy.par[layout.switch_base + k],
                            callback=KinkStop(k, layout.stops), fp_type=fp)
                 for k, e in enumerate(kinks)]
    t_events += [hy.t_event(e, callback=Fired(layout.stops), fp_type=fp) for e in exits]
    return t_events, nt_events, layout


def _div(a: float, b: float, bits: int) -> Any:
    with mpmath.workprec(bits):
        return mpmath.mpf(a) / b


def event_pars(
    system: MirrorFlowSystem, precision: Precision, layout: EventLayout, *, scale: float,
    logt_target: float, levels: Sequence[float],
) -> np.ndarray:
    """All runtime parameters of a run: the system's (``par[0] = scale``), then the events'.

    Unused level slots are parked at the target (see the module docstring).
    """
    if len(levels) > layout.n_levels and layout.n_target:
        raise ValueError(f"{len(levels)} output levels, the integrator has {layout.n_levels}")
    conv, wp = precision.converter(), precision.mp_bits
    base = par_array(system, layout.par_base, scale, precision.fp_type, precision.bits)
    extra = []
    if layout.n_target:
        target = conv(_div(logt_target, scale, wp))
        extra = [target, *(conv(_div(lv, scale, wp)) for lv in levels)]
        extra += [target] * (layout.n_levels - len(levels))
    extra += [conv(0.0)] * layout.n_kinks     # every kink armed
    return np.array([*base, *extra], dtype=precision.dtype)

