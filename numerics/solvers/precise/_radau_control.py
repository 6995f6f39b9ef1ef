"""Radau IIA's step-size control beyond the last error, and what a stop on resources says.

:func:`predictive_factor`: Gustafsson's predictive controller (as in Hairer's RADAU5), for an
error that grows from one accepted step to the next (THEORY.md §7.1, steps into a kink with a
singular f‴). :func:`stiffness_reason`: why the steps got dear, from a run's statistics
(THEORY.md §7.3).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["predictive_factor", "stiffness_reason"]


def predictive_factor(fac: float, h: float, err: float, last: tuple[Any, float] | None,
                      exponent: float, safety: float, fac_min: float) -> float:
    """The step factor after an accepted step of size ``h`` and error ``err`` (the usual one
    is ``fac``), given the last accepted step's ``(h_prev, err_prev)`` (or None).

    Where the error grows from step to step, as on the way into a kink of the potential
    (the field's derivatives grow like |θ_k|^(1/2 - k) under |x|^(5/2)), the factor follows the
    trend, ``safety (h / h_prev) (err_prev / err^2)^(1/k)`` with ``exponent = -1/k``, instead
    of overshooting into a rejection every other step (86 of 286 attempts on one coordinate
    crossing 0; 9 of 281 with it).  Never more than ``fac``; never less than ``fac_min``.

    Examples
    --------
    >>> predictive_factor(2.0, 1.0, 0.5, None, -0.25, 0.8, 0.2)        # first step: as is
    2.0
    >>> round(predictive_factor(2.0, 1.0, 0.5, (1.0, 0.05), -0.25, 0.8, 0.2), 4)  # growing
    0.535
    >>> predictive_factor(2.0, 1.0, 0.01, (1.0, 0.5), -0.25, 0.8, 0.2)  # falling: as is
    2.0
    """
    if last is None:
        return fac
    h_prev, err_prev = last
    if not (err > 0 and float(h_prev) > 0):
        return fac
    log_gus = (math.log(safety * float(h / h_prev))
               - exponent * (math.log(err_prev) - 2 * math.log(err)))
    return fac if log_gus >= math.log(fac) else max(fac_min, math.exp(log_gus))


def stiffness_reason(stats: dict[str, Any]) -> str:
    """The first words of a stop on the budget or ``max_steps``: Newton solves in ball
    arithmetic (the stiffness beyond float64's Newton matrix), else nothing.

    Examples
    --------
    >>> stiffness_reason({"extended_solves": 0, "newton_rows_max": 0.0})
    ''
    >>> stiffness_reason({"extended_solves": 3, "newton_rows_max": 91.2})[:60]
    'stiff beyond float64 (fast directions relax up to e^91 times'
    """
    if not stats["extended_solves"]:
        return ""
    return (f"stiff beyond float64 (fast directions relax up to e^{stats['newton_rows_max']:.0f} "
            "times faster than a step: Newton in ball arithmetic, its cost growing with the "
            "stiffness, THEORY.md §7.3; more steps or seconds, or a resume, go on): ")
