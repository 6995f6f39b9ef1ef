"""The last Taylor step as a function of its offset: log t along it and θ at a point of it.

heyoka keeps the Taylor coefficients of the step just taken (``write_tc=True``) and evaluates
them anywhere inside it (``update_d_output``): what the driver needs to record an output level
in quadrature mode (:func:`step_exponent`) and to ask the stuck monitor at its check levels
(:func:`ode_level_offset`, :func:`theta_of_state`) rather than at the steps' ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
from scipy.optimize import brentq

from ._compile import to_mpf

__all__ = ["ode_level_offset", "step_exponent", "theta_of_state"]


def step_exponent(ta: Any, row: int, scale: float, log_clock: bool
                  ) -> tuple[Any, Any, list[Any], list[Any]]:
    """``(h, c0, E, dE)``: the last step, its start and its exponent ``E(sigma)`` (row ``row``
    of the Taylor coefficients, ``-log L`` times ``scale``, plus the clock itself in the
    ``u = log s`` clock) with its derivative, as mpmath coefficient lists in the offset."""
    h = to_mpf(ta.last_h)
    c0 = to_mpf(ta.time) - h
    g = [to_mpf(v) * scale for v in np.asarray(ta.tc)[row]]
    if log_clock:
        g[0] += c0
        g[1] += 1
    dg = [k * g[k] for k in range(1, len(g))] or [mpmath.mpf(0)]
    return h, c0, g, dg


def ode_level_offset(ta: Any, scale: float) -> tuple[float, Callable[[float], float]]:
    """``(log t at the start of the last step, offset_at)`` in ODE mode, where log t is the
    state's last component times ``scale``: a polynomial in the step offset, whose root
    ``offset_at(level)`` is found in float64 (the step's end if rounding puts the level past
    it).

    Examples
    --------
    >>> import heyoka as hy
    >>> x, lt = hy.make_vars("x", "lt")
    >>> ta = hy.taylor_adaptive([(x, -x), (lt, hy.expression(1.0))], [1.0, 0.0])
    >>> _ = ta.propagate_until(10.0, write_tc=True)       # the last step ends at 10
    >>> start, offset_at = ode_level_offset(ta, 1.0)
    >>> bool(abs(start + offset_at(9.99) - 9.99) < 1e-12)
    True
    """
    coefs = np.array([float(to_mpf(c)) * scale for c in np.asarray(ta.tc)[-1]])
    h = float(to_mpf(ta.last_h))
    poly = np.polynomial.Polynomial(coefs)

    def offset_at(level: float) -> float:
        f = poly - level
        if f(h) <= 0:
            return h
        return brentq(f, 0.0, h, xtol=4 * np.finfo(float).eps * h)

    return float(coefs[0]), offset_at


def theta_of_state(post: Callable[[np.ndarray], np.ndarray], state: np.ndarray,
                   n_params: int) -> np.ndarray:
    """θ (the first ``n_params`` outputs of ``post``) at the integrator state ``state``,
    rounded to float64."""
    values = np.asarray(post(state))[:n_params]
    return np.array([float(to_mpf(v)) for v in values])
