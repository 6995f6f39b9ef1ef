"""Where a kink's root lies, counted in units in the last place of the clock: the one rule
behind the Taylor driver's kink stops (:mod:`._taylor_switches`: a double root is not a
crossing, a root at the next step's start is crossed now) and Radau's potential kinks at rest
(:mod:`._radau_potential_kinks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

from ._compile import to_mpf

__all__ = ["AT_POINT_ULPS", "CROSSING_ULPS", "dead_kinks", "root_within"]

#: How far (in units in the last place of the clock, at the kink's own rate) a stop may be
#: from a simple root of its kink.  Measured on the ReLU, leaky and square-ReLU nets and MLPs
#: of the test suite: the crossings heyoka stops on are within 10**2.2 ulps; double roots
#: (a kink touching 0) at 10**14 (30 digits) and 10**17 (45 digits).
CROSSING_ULPS = 1e6

#: Radau IIA: a root within this many units in the last place of the working clock from the
#: current point is at it (switched there, no step: ``RadauDriver._rounding``).  Its kink roots
#: are located to about ``2^16`` ulps of a step, so a potential's kink located "at 0" can be
#: 10^7 ulps before its root (measured: x²/2 + |x|³/3 on the coverage MLP 3/3, kink 41 at
#: log t = 1.2973, 1.54e7 ulps); a side rule with a tighter threshold (:data:`CROSSING_ULPS`)
#: called it at rest there, and the driver, finding the root within this distance, switched it
#: at once again (an error).
AT_POINT_ULPS = 2.0 ** 24


def root_within(z: Any, rate: Any, clock: Any, eps: float, log_clock: bool,
                ulps: float) -> bool:
    """Whether ``|z| <= ulps eps max(1, |t|) |dz/dt|`` (``dz/dt = s dz/ds``
    in the clock ``t = u = log s`` (``log_clock``), ``dz/ds`` in the clock ``s``):
    a root of ``z`` at its rate lies within ``ulps`` units in the last place of the clock."""
    z, rate, t = mpmath.mpf(to_mpf(z)), mpmath.mpf(to_mpf(rate)), mpmath.mpf(to_mpf(clock))
    if not z:
        return True
    if not rate:
        return False
    scale = mpmath.log(ulps * eps * max(1, abs(t)) * abs(rate))
    return bool(mpmath.log(abs(z)) <= scale + (t if log_clock else 0))


def dead_kinks(values: np.ndarray, candidates: Sequence[int],
               rates: Callable[[], np.ndarray]) -> set[int]:
    """The kinks identically 0 (no switching surface; THEORY.md §7.2, both integrators): the
    ``candidates`` whose value (``values``) and rate (``rates()``, computed only if a
    value is exactly 0) are both exactly 0.

    Examples
    --------
    >>> v = np.array([0.0, 0.0, 1e-60])
    >>> sorted(dead_kinks(v, [0, 1, 2], lambda: np.array([0.0, 2.0, 0.0])))
    [0]
    """
    zero = [k for k in candidates if values[k] == 0]
    if not zero:
        return set()
    r = rates()
    return {k for k in zero if r[k] == 0.0}
