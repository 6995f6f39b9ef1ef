"""ReLU kinks in the Taylor driver: a dead unit's pre-activation is no switching surface, and a
crossed kink is crossed on its new side.

A ReLU kink ``z_k`` (a pre-activation of unit j on sample i) can be *identically* zero:

* a deep unit all of whose inputs are off on sample i (``z = W relu(h)`` with every ``h <= 0``:
  a sample on which every first-layer unit is off has all its second-layer pre-activations
  exactly 0, from the start or after a kink);
* a unit that died on every sample on the surface itself: ``relu'(0) = 0`` (heyoka's ``relup``,
  the usual convention) gives its incoming weights no force, so a pre-activation that reached
  exactly 0 stays there.

Such a kink has no sign to change: its unit outputs 0 and receives no gradient from sample i,
whatever its event says.  But an event function that is identically zero has a "root"
everywhere: heyoka fires it at once, deduces a zero cooldown (and logs a warning each time),
and the run stalls at one point.

**Rule.** At the start and after every kink stop, kink ``k`` is taken as identically zero when
its value and its rate ``dz_k/ds`` along the flow are both exactly 0 (in the working type):
exact zeros come from the factors ``relu(h) = 0`` and ``relu'(h) = 0`` of dead units, which
hold until a kink changes sign.  Its event is then switched off (``kink + 1``: no root) until
the next kink stop finds it nonzero, e.g. once an input unit on that sample is on again (whose
own kink event stops the integrator).  Between kink stops the flow is analytic, so a kink that
is identically zero just after one stays so until the next.

**Crossing side.** heyoka stops on a kink at its root to working precision, on either side up
to rounding; a step taken from the old side would carry the old force across for its whole
length.  :meth:`KinkSwitches.nudge` first puts the state a few units in the last place onto
the side the kink crosses to (:func:`side_of`).

**Touching is not crossing.**  A kink can reach 0 without changing sign: a square-ReLU MLP's
second-layer pre-activation ``z = w relu(h)**2`` goes to 0 like ``h**2`` when its only active
input ``h`` dies, and stays 0 after.  heyoka may stop on such a double root before the
input's own (simple) kink, and only to within about ``sqrt(eps)`` of it in the clock: the
stop is ``~h`` away from ``h = 0``.  Moving such a stop onto a "side" moves the state by
``|z| / |grad z| ~ h`` (measured: 3e-20 at 30 digits, 3e-29 at 45: the two runs then
agreed to 20 digits).  A stop is taken as a crossing only if the root it found lies within
:data:`~._kink_roots.CROSSING_ULPS` units in the last place of the clock at the kink's own rate
(:func:`is_crossing`); a touching stop is not nudged, and the crossing step goes on to the
input's kink, which the driver crosses as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import heyoka as hy
import numpy as np

from ._compile import to_mpf
from ._kink_roots import CROSSING_ULPS, dead_kinks, root_within
from ._system import MirrorFlowSystem
from ._taylor_events import EventLayout

__all__ = ["PENDING_ULPS", "KinkSwitches", "is_crossing", "kink_rates", "param_rates",
           "rate_along", "side_of"]

#: A kink approaching 0 within this many units in the last place of the clock at a stop is
#: crossed there (:meth:`KinkSwitches.pending`): heyoka does not see a root at a step's start.
PENDING_ULPS = 16.0



def param_rates(system: MirrorFlowSystem,
                equations: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """The parameters' right-hand sides by variable name, in the clock ``s`` (in the clock
    ``u = log s`` the common factor ``s`` is set to 1: it changes no sign)."""
    eqs = list(equations)[: system.n_params]
    rhs = [r for _, r in eqs]
    if system.clock == "log_s":
        rhs = hy.subs(rhs, {hy.time: hy.expression(0.0)})
    return {str(var): r for (var, _), r in zip(eqs, rhs, strict=True)}


def rate_along(z: Any, rates: dict[str, Any]) -> Any:
    """``dz/ds = sum_p (dz/dp) p'`` for an expression ``z`` of the state (``rates``: ``p'``)."""
    terms = [hy.diff(z, hy.expression(name)) * rates[name]
             for name in hy.get_variables(z) if name in rates]
    return hy.sum(terms) if terms else hy.expression(0.0)


def kink_rates(system: MirrorFlowSystem, equations: Sequence[tuple[Any, Any]]) -> list[Any]:
    """``dz_k/ds`` for every kink, as expressions of the state (see :func:`param_rates`)."""
    rates = param_rates(system, equations)
    return [rate_along(z, rates) for z in system.kinks]


def side_of(state: np.ndarray, kink: int, side: int,
            functions: Callable[[str], Callable[..., Any]], n_params: int,
            eps: float) -> np.ndarray | None:
    """``state`` moved along ``grad z`` to put kink ``kink`` on side ``side`` (+1: ``z > 0``)
    at ``16 eps |grad z| max(1, |p|)`` (a few units in the last place), or ``None`` if it is
    there already (or has no gradient)."""
    z = functions("kinks")(state)[kink]
    if (z > 0) if side > 0 else (z < 0):
        return None
    P = n_params
    grad = functions("kink_gradients")(state)[kink * P: (kink + 1) * P]
    norm2 = sum(g * g for g in grad)
    if not norm2 > 0:
        return None
    size = norm2 ** 0.5 * max(1, sum(p * p for p in state[:P]) ** 0.5)
    c = (side * 16 * eps * size - z) / norm2
    out = np.array(state, copy=True)
    out[:P] = [p + c * g for p, g in zip(state[:P], grad, strict=True)]
    return out


def is_crossing(z: Any, rate: Any, clock: Any, eps: float, log_clock: bool) -> bool:
    """Whether a kink stop with value ``z`` and rate ``rate = dz/ds`` at ``clock`` is a simple
    root located to the clock's precision: ``|z| <= CROSSING_ULPS eps max(1, |t|) |dz/dt|``,
    with ``dz/dt = s dz/ds`` in the clock ``t = u = log s`` (``log_clock``) and ``dz/ds``
    in the clock ``s``.  ``z = 0`` is a crossing; ``z != 0`` at rate 0 is not.

    Examples
    --------
    >>> is_crossing(3e-34, -0.2, 1.5, 1e-33, True)     # a root within an ulp of the clock
    True
    >>> is_crossing(9.6e-40, 1.2e-20, -1.61, 1.9e-34, True)   # z ~ h**2 touching at h ~ 1e-20
    False
    """
    return not z or root_within(z, rate, clock, eps, log_clock, CROSSING_ULPS)


class KinkSwitches:
    """Switch the events of identically zero kinks off (and on again once they are not), and
    put a crossed kink on its new side.

    Parameters
    ----------
    layout
        The compiled integrator's event layout (kink ``k``'s switch is
        ``par[layout.switch_base + k]``).
    functions : callable
        ``functions(name)``: the integrator's compiled ``"kinks"``, ``"kink_rates"`` and
        ``"kink_gradients"`` (``state -> values``, at the working precision; the last two are
        compiled on first use).
    conv : callable
        Converter to the working type.
    n_params : int
        Number of parameters (the state's first entries).
    eps : float
        The working type's epsilon.
    log_clock : bool
        Whether the integrator's clock is ``u = log s`` (else ``s``): see :func:`is_crossing`.
    """

    def __init__(self, layout: EventLayout, functions: Callable[[str], Callable[..., Any]],
                 conv: Callable[[Any], Any], n_params: int, eps: float,
                 log_clock: bool = True) -> None:
        self.layout, self.functions, self.P, self.eps = layout, functions, n_params, eps
        self.log_clock = log_clock
        self.on, self.off = conv(0.0), conv(1.0)
        self.dead = [False] * layout.n_kinks
        self.hold: set[int] = set()   # kinks kept off whatever their value (a sliding kink)
        self.n_switched_off = 0   # times a kink's event was switched off
        self.n_nudged = 0         # crossed kinks moved to their new side
        self.n_touching = 0       # kink stops at a double root, not nudged

    def identically_zero(self, state: np.ndarray) -> list[bool]:
        """Which kinks have value and rate exactly 0 at ``state`` (see the module docstring)."""
        values = self.functions("kinks")(state)
        dead = dead_kinks(values, range(len(values)),
                          lambda: self.functions("kink_rates")(state))
        return [k in dead for k in range(len(values))]

    def update(self, ta: Any) -> None:
        """Set the switches of ``ta`` from its current state."""
        if not self.layout.n_kinks:
            return
        dead = self.identically_zero(np.array(ta.state, copy=True))
        dead = [d or k in self.hold for k, d in enumerate(dead)]
        if dead == self.dead:
            return
        pars = np.array(ta.pars, copy=True)
        base = self.layout.switch_base
        for k, (now, was) in enumerate(zip(dead, self.dead, strict=True)):
            pars[base + k] = self.off if now else self.on
            self.n_switched_off += int(now and not was)
        ta.pars[:] = pars
        self.dead = dead

    def nudge(self, ta: Any, kink: int, side: int) -> None:
        """Put the state heyoka stopped at (kink ``kink`` at 0 up to rounding) on the side
        ``side`` (+1: ``z > 0``) the kink crossed to, so that the next Taylor expansion takes
        that side's branch of ``relu'`` (on the old side the first step would carry the old
        force across: an error O(step x jump)); see :func:`side_of`.  A stop where the kink
        touches 0 rather than crosses it (:func:`is_crossing`) is left where it is."""
        state = np.array(ta.state, copy=True)
        z = self.functions("kinks")(state)[kink]
        if z and not is_crossing(z, self.functions("kink_rates")(state)[kink], ta.time,
                                 self.eps, self.log_clock):
            self.n_touching += 1
            return
        state = side_of(state, kink, side, self.functions, self.P, self.eps)
        if state is not None:
            ta.state[:] = state
            self.n_nudged += 1

    def pending(self, ta: Any, kinks: Sequence[int], skip: Sequence[int] = ()
                ) -> list[tuple[int, int]]:
        """The kinks among ``kinks`` (not ``skip``, not switched off) that reach 0 within
        :data:`PENDING_ULPS` units in the last place of the clock from the state heyoka
        stopped at, with the side each crosses to: ``(kink, side)``.

        Two kinks can reach 0 at one stop to working precision (a ReLU kink and a kink of
        the potential, measured on a 3/3 ReLU MLP with |x|^(7/2) per layer, or two ReLU
        kinks).  heyoka stops on one; the other's root then lies at the start of the next
        step, where heyoka looks for none: it was crossed unseen, its steps taken on the old
        branch (the 30- and 45-digit runs, which stopped on different ones, parted at the
        1e-2 level).  ``z = 0`` exactly counts as crossing when it rises (``relu'(0) = 0``
        reads it as below)."""
        state = np.array(ta.state, copy=True)
        values = self.functions("kinks")(state)
        near = [k for k in kinks if k not in skip and not self.dead[k] and k not in self.hold
                and abs(to_mpf(values[k])) < self.eps ** 0.5]
        if not near:
            return []
        rates = self.functions("kink_rates")(state)
        out = []
        for k in near:
            z, r = to_mpf(values[k]), to_mpf(rates[k])
            if (z * r < 0 or (not z and r > 0)) and root_within(
                    z, r, ta.time, self.eps, self.log_clock, PENDING_ULPS):
                out.append((k, 1 if r > 0 else -1))
        return out

    @property
    def switched_off(self) -> list[int]:
        """The kinks whose events are off now."""
        return [k for k, d in enumerate(self.dead) if d]
