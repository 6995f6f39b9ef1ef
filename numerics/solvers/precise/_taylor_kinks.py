"""Kinks of the potential in the Taylor driver: bridge a crossing, or freeze an absorbing zero.

A potential with ``|x|`` in its mirror map (``|x|^p/p``, l_p, ``x^2/2 + |x|^(5/2)``, ...) makes
the right-hand side non-smooth where a coordinate's switching function (``z_k`` or ``theta_k``)
is 0; heyoka stops there (a kink event).  Two cases (THEORY.md §7, "kinks of the potential"):

* **crossing**: the force ``F_k`` at ``theta_k = 0`` is not 0, the coordinate passes through 0.
  With ``f''(0) = 0`` the inverse mirror map has a branch point (``theta_k ~ |z_k|^(1/(p-1))``)
  and no Taylor series exists at the kink, so the driver steps off it with one Euler step of
  ``delta = 0.1 tol^(2/3)`` (local error ``O(delta^(1+a))`` for a right-hand side that is
  Hölder-continuous with exponent ``a >= 1/2``: below ``tol``) and heyoka continues;
* **absorbing zero**: ``F_k = 0`` at ``theta_k = 0`` (e.g. ``beta = u^2 - v^2`` with
  ``F_u = 2 u g``).  With ``f''(0) = 0`` such a zero is reached in finite time
  (``d|theta_k|/dt = g`` for ``|x|^3/3``) and the field points into it from both sides: the
  coordinate is frozen at exactly 0 (its mask parameter set to 0), the solution that stays
  there.  It is never unfrozen: past an absorbing zero the flow is not unique (the ODE is not
  Lipschitz there), and staying is the solution that every run of this toolkit continues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PotentialKinks", "invert_monotone"]


@dataclass
class PotentialKinks:
    """What the driver needs at a kink of the potential, compiled at the working precision.

    ``euler(state, clock, delta, k)`` steps the state off coordinate ``k``'s kink;
    ``force(state)`` is ``-grad log L``;
    ``log_loss(state)`` is ``log L`` (quadrature mode: the state's scalar is ``-log L / Lambda``,
    else ``None``); ``coordinates[j]`` the coordinate of potential kink ``j``; ``mask_pars`` the
    mask parameter of each coordinate.  ``frozen`` records ``{coordinate: log t}``;
    ``lipschitz`` the coordinates whose kink is one of ``f''`` only (no branch point);
    ``sliding_slope(groups)`` the right-hand side of the sliding flow on ``groups``, as
    ``slope(state, clock, pars)`` (for a bridge taken while the flow slides).
    """

    euler: Callable[[np.ndarray, Any, Any, int], np.ndarray]
    force: Callable[[np.ndarray], np.ndarray]
    log_loss: Callable[[np.ndarray], np.ndarray] | None
    coordinates: tuple[int, ...]
    mask_pars: dict[int, int]
    n_params: int
    tol: float
    frozen: dict[int, float] = field(default_factory=dict)
    lipschitz: frozenset[int] = frozenset()
    sliding_slope: Callable[[Any], Callable[[np.ndarray, Any, np.ndarray], np.ndarray]] | None \
        = None

    def absorbing(self, state: np.ndarray, k: int) -> bool:
        """True if the force on coordinate ``k`` is *exactly* 0 with ``theta_k = 0``
        (``z_k = 0``).

        An absorbing zero is structural: the force carries the factor ``theta_k`` (``F_u =
        2 u g`` of ``beta = u^2 - v^2``), so it is 0 in any arithmetic.  A force that is merely
        small there is not one: with ``f''(0) = 0`` a coordinate is slaved to the zero of its
        own force (``dtheta_k/ds = F_k / f''(theta_k)`` is fast near 0) and crosses 0 slowly
        along that curve, with ``F_k`` ~ 1e-23 at the crossing (measured: ``Potential.lp(3)``,
        linear model, issue 10's battery), and must be bridged, not frozen.
        """
        at_zero = np.array(state, copy=True)
        at_zero[k] = at_zero[k] * 0      # keeps the fp type (and MPFR precision)
        return bool(self.force(at_zero)[k] == 0) and k in self.mask_pars

    def freeze(self, ta: Any, k: int, log_t: float) -> None:
        """Put coordinate ``k`` at exactly 0 and switch its mask off."""
        state = np.array(ta.state, copy=True)
        state[k] = state[k] * 0
        if self.log_loss is not None:
            state[self.n_params] = -self.log_loss(state)[0] / ta.pars[0]
        ta.state[:] = state
        pars = np.array(ta.pars, copy=True)
        pars[self.mask_pars[k]] = pars[self.mask_pars[k]] * 0
        ta.pars[:] = pars
        self.frozen.setdefault(k, log_t)

    def freeze_at_start(self, ta: Any, log_t: float) -> None:
        """Freeze every masked coordinate that starts at exactly 0 on an absorbing zero."""
        state = np.array(ta.state, copy=True)
        for k in self.mask_pars:
            if state[k] == 0 and self.absorbing(state, k):
                self.freeze(ta, k, log_t)


def invert_monotone(f: Callable[[Any], Any], target: Any, start: Any) -> Any:
    """``x`` with ``f(x) = target`` for increasing ``f``, by bracketing from ``start`` and
    bisection to the last bit of the working type (``target``'s type).

    Examples
    --------
    >>> round(float(invert_monotone(lambda x: x * abs(x), 2.0, 0.0)), 12)
    1.414213562373
    """
    step = abs(start) * 0 + 1e-30
    lo = hi = start
    for _ in range(2000):          # bracket: [lo, hi] with f(lo) <= target <= f(hi)
        if f(lo) > target:
            lo, step = lo - step, step * 2
        elif f(hi) < target:
            hi, step = hi + step, step * 2
        else:
            break
    for _ in range(4096):
        mid = (lo + hi) / 2
        if not lo < mid < hi:
            break
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
