"""The potential's kinks in a Radau run: where ``theta_k = 0`` of an ``|x|`` term in ``f'`` or
``1 / f''`` (the last ``system.n_potential_kinks`` kinks, one copy per occurrence; a
coordinate's copies, :func:`~._radau_switched.twin_kinks`, switch together).

They switch nothing in the field: they are watched so that steps end on them (the flow is not
analytic there), and each takes a *side* that says where steps are cut.

* **At a switch** (:func:`potential_side`): the side its rate points to under the new pattern,
  unless ``theta_k`` does not reach 0 within :data:`~._kink_roots.AT_POINT_ULPS` units in the
  last place of the clock at that rate (the distance at which Radau switches a root at the
  current point): then it is at rest (e.g. no force is left on it) and
  takes the side it is on.  Measured: W2[1,1] of a 3/3 ReLU MLP under x²/2 + |x|^(7/2)
  stopped at +3.4e-51 as a ReLU kink switched off beside it; settled on the side of its old
  rate, the next step started on its wrong side (an error).
* **At a step start** (:func:`resting_rows`): one on its wrong side at a rounding-level value,
  not switched at this point, takes the side it is on.  ``theta_k`` at rest at 0 (decaying
  like ``e^(-c u)``) crosses it only by rounding (measured: the same W2[1,1] under
  |x|^(7/2) on all three layers, at +4.6e-57 and then -4.1e-118).
* **Along a step** (:func:`hovering_rows`): one whose values stay within rounding of 0 at
  every node of the step does not cut it.  A coordinate at rest at 0 changes sign by rounding
  only, and the field is the same on both sides (measured: x²/2 + |x|³/3 on the coverage MLP
  3/3, kinks 46 and 49 at +-1e-66 switched 700 times by log t = 18, each one cutting a step:
  log t = 68 in 300 s, where Taylor reaches 1e3 in 22 s).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import numpy as np

from ._kink_roots import AT_POINT_ULPS, root_within

__all__ = ["hovering_rows", "potential_side", "resting_rows"]


def potential_side(value: float, rate: float, clock: Any, bits: int, prefer: bool) -> bool:
    """The side (True: positive) of a potential kink at 0 to rounding, of ``value`` and
    ``rate`` (per unit of the working ``clock``), at ``bits`` working bits; ``prefer`` if it
    has no rate.

    Examples
    --------
    >>> potential_side(1e-60, -1.0, 0.5, 113, True)     # reaches 0 at once: crosses
    False
    >>> potential_side(1e-20, -1e-30, 0.5, 113, True)   # at rest: stays where it is
    True
    """
    if not root_within(value, rate, clock, 2.0 ** -bits, False, AT_POINT_ULPS):
        return value > 0
    return rate > 0 if rate != 0 else prefer


def resting_rows(start: np.ndarray, on: np.ndarray, potential: np.ndarray,
                 excluded: Container[int], tiny: float) -> list[int]:
    """The potential's kinks (mask ``potential``) that start a step on the wrong side of
    ``on`` at a value within ``tiny`` (relative to the largest kink, or to 1) of 0, not in
    ``excluded`` (held, or switched at this point).

    Examples
    --------
    >>> resting_rows(np.array([0.5, -1e-40, 2e-40]), np.array([True, True, False]),
    ...              np.array([False, True, True]), set(), 1e-30)
    [1, 2]
    """
    n = len(on)
    scale = max(1.0, float(np.max(np.abs(start[:n]))))
    return [k for k in range(n) if potential[k]
            and start[k] * (1.0 if on[k] else -1.0) < 0
            and k not in excluded and abs(float(start[k])) <= tiny * scale]


def hovering_rows(values: np.ndarray, potential: np.ndarray, tiny: float) -> list[int]:
    """The potential's kinks (mask ``potential``) whose ``values`` (``(nk, m)``, float64, at
    the nodes of a step) all lie within ``tiny`` (relative to the largest kink, or to 1) of 0.

    Examples
    --------
    >>> v = np.array([[0.5, 0.4], [1e-40, -1e-40], [1e-40, 1e-3]])
    >>> hovering_rows(v, np.array([False, True, True]), 1e-30)
    [1]
    """
    n = len(potential)
    scale = max(1.0, float(np.max(np.abs(values[:n]))))
    near = np.all(np.abs(values[:n]) <= tiny * scale, axis=1)
    return np.flatnonzero(near & potential).tolist()
