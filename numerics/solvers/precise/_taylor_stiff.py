"""A coordinate slaved to the zero of its own force through ``theta_k = 0`` (THEORY.md §7.1).

With ``f''(0) = 0`` the coordinate ``theta_k`` is fast near 0: ``theta_k' = F_k / f''(theta_k)``
(clock ``s``) relaxes onto the zero of its force at the rate
``lambda = |dF_k/dtheta_k| / f''(theta_k)``.  Where that zero moves through ``theta_k = 0`` at a
speed ``alpha`` the coordinate follows it (``F_k = f''(theta_k) alpha``, tiny) and the flow is
stiff with ``lambda ~ |theta_k|^-(p-2)`` for ``f = |x|^p/p``.  An explicit Taylor step of order
``n`` is then ``~ (n/e) / lambda`` (the exact solution through a state off the slow solution by
one rounding error grows like ``e^(lambda s)``: measured ``lambda h ~ 16`` at order 39), so the
steps to come grow like ``|theta_k|^-(p-3)`` for ``p > 3``: the crossing is never reached
(measured on the 4-unit square-ReLU net with ``|x|^4/4``: ``N ~ 0.057/|theta_0|``, 14296 steps in
120 s to ``theta_0 = 5.7e-5``, 0.1 ms of ``log t``).  For ``p = 3`` the count grows like
``log(1/|theta_k|)`` with a small factor and the crossing is reached.  No explicit method does
better: the rate is the flow's, not the formulation's (in ``w = theta_k`` as in ``s``).

:class:`SlavedStall` recognises this from the state after every :data:`EVERY` steps and stops
the run (status ``"stalled"``) with the numbers, instead of spending the whole budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from ._compile import to_mpf

__all__ = ["EVERY", "SlavedStall"]

#: Steps between two looks at the state (a look costs four evaluations of compiled functions).
EVERY = 50

#: Consecutive looks that must agree (the same coordinate, ``|theta_k|`` decreasing) to stop.
CONFIRM = 3

#: A look counts when halving ``|theta_k|`` at the current step length takes more steps than
#: this (the count only grows as ``theta_k -> 0`` when ``p > 3``).
HALVING_STEPS = 200


class SlavedStall:
    """Per run (dual state): stop when a coordinate with ``f''(0) = 0`` and ``p > 3`` is slaved
    to the zero of its force on its way through ``theta_k = 0``.

    ``post`` and ``force`` are the system's compiled functions (``theta``, and ``F = dz/ds``);
    ``coordinates`` the coordinates whose potential has ``f''(0) = 0``; ``log_clock`` whether
    the integrator's clock is ``u = log s``.  :attr:`reason` is set when the run should stop.
    """

    def __init__(self, post: Callable[[np.ndarray], np.ndarray],
                 force: Callable[[np.ndarray], np.ndarray],
                 coordinates: frozenset[int], log_clock: bool, conv: Callable[[Any], Any],
                 bits: int) -> None:
        self.post, self.force, self.conv, self.bits = post, force, conv, bits
        self.coordinates, self.log_clock = sorted(coordinates), log_clock
        self.count = 0
        self.hits: list[tuple[int, float]] = []     # (k, |theta_k|) of the agreeing looks
        self.reason: str | None = None

    def check(self, ta: Any) -> bool:
        """After a step: True (and :attr:`reason` set) if the run should stop here."""
        self.count += 1
        if self.count % EVERY or not self.coordinates:
            return False
        look = self._look(np.array(ta.state, copy=True), to_mpf(ta.time), to_mpf(ta.last_h))
        if look is None:
            self.hits.clear()
            return False
        k, theta_k, text = look
        if self.hits and (self.hits[-1][0] != k or not abs(theta_k) < self.hits[-1][1]):
            self.hits.clear()
        self.hits.append((k, abs(theta_k)))
        if len(self.hits) >= CONFIRM:
            self.reason = text
            return True
        return False

    def _look(self, state: np.ndarray, clock: Any, h: Any) -> tuple[int, float, str] | None:
        """``(k, theta_k, reason)`` if the state shows a stiff slaved approach, else None."""
        with mpmath.workprec(self.bits):
            theta = [to_mpf(v) for v in self.post(state)]
            k = min(self.coordinates, key=lambda j: abs(theta[j]))
            th, z = theta[k], to_mpf(state[k])
            if th == 0:
                return None
            force = to_mpf(self.force(state)[k])
            slopes = []      # (theta, f'', dF/dtheta): secants from z to z (1 + e)
            for eps in (mpmath.mpf("1e-4"), mpmath.mpf("2e-4")):
                moved = np.array(state, copy=True)
                moved[k] = self.conv(z * (1 + eps))
                th2 = to_mpf(self.post(moved)[k])
                slopes.append((th2, z * eps / (th2 - th),
                               (to_mpf(self.force(moved)[k]) - force) / (th2 - th)))
            (t1, c1, b), (t2, c2, _) = slopes
            q = mpmath.log(c2 / c1) / mpmath.log((th + t2) / (th + t1))    # f'' ~ |theta|^q
            h_s = abs(h) * (mpmath.exp(clock) if self.log_clock else 1)
            speed = abs(force / c1)            # |theta_k'| on the slow solution
            lam = abs(b) / c1
            halving = abs(th) / 2 / (speed * h_s) if speed * h_s > 0 else mpmath.inf
            slaved = b < 0 and force * th < 0 and abs(force) < 1e-2 * abs(b * th)
            if not (slaved and lam * h_s > 1 and float(q) > 1.05
                    and halving > HALVING_STEPS):
                return None
            return k, float(th), _reason(k, float(th), float(force), float(b), float(lam),
                                         float(lam * h_s), float(q) + 2, float(halving))


def _reason(k: int, theta: float, force: float, b: float, lam: float, lam_h: float, p: float,
            halving: float) -> str:
    """The stalled run's reason, with the numbers of the last look."""
    return (f"coordinate {k} is slaved to the zero of its force through theta_k = 0, where "
            f"f''(0) = 0 (f'' ~ |theta|^{p - 2:.2f}): theta_k = {theta:.3g}, "
            f"F_k = {force:.3g}, dF_k/dtheta_k = {b:.3g}; the flow is stiff there "
            f"(rate |dF_k/dtheta_k|/f''(theta_k) = {lam:.3g} per unit s, step x rate "
            f"{lam_h:.3g}) and halving theta_k takes ~{_round(halving)} more steps, growing "
            f"like |theta_k|^-{p - 3:.2f}: explicit Taylor steps cannot cross it "
            f"(THEORY.md §7.1)")


def _round(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.2g}"
