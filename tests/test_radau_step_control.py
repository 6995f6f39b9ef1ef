"""Radau IIA's step-size control on the way into a kink of the potential.

Approaching ``θ_k = 0`` under ``x²/2 + |x|^(5/2)`` the solution's higher derivatives grow like
``|θ_k|^(1/2 - k)``: the error of a step of fixed size grows from one step to the next, and
the steps must shrink geometrically.  The standard controller (the last error alone) then
overshot every other step (86 of 286 attempts rejected on the system below); Gustafsson's
predictive controller follows the trend.  The expected value is independent: heyoka's
Taylor method at 160 bits on the same system.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from numerics.solvers.precise import (
    ScalarPotential,
    build_mirror_flow_system,
    integrate_implicit,
    integrate_taylor,
)
from numerics.solvers.precise._compile import to_mpf


def one_coordinate_system():
    """One coordinate, margin ``q = θ``, from ``θ = -0.5``: it crosses the kink at 0."""
    x = sp.Symbol("x", real=True)
    pot = ScalarPotential(x, x + sp.Rational(5, 2) * sp.Abs(x) ** sp.Rational(3, 2) * sp.sign(x),
                          1 + sp.Rational(15, 4) * sp.sqrt(sp.Abs(x)), None, "x²/2 + |x|^(5/2)")

    def margins(th):
        return np.array([th[0]], dtype=object), np.array([[1]], dtype=object)

    return build_mirror_flow_system(margins, 1, pot, state="primal", clock="log_s")


def test_steps_into_a_kink_of_the_potential_follow_the_error_trend():
    system = one_coordinate_system()
    run = integrate_implicit(system, [-0.5], 3.0, dps=30)
    assert run.status == "reached", run.stats.get("reason")
    assert float(run.theta[0][0]) < 0 < float(run.theta[-1][0])      # the kink was crossed
    assert run.stats["rejected"] <= 0.1 * run.stats["steps"], run.stats
    ref = integrate_taylor(system, [-0.5], 3.0, fp_type="real", prec=160)
    assert ref.status == "reached"
    with mpmath.workdps(50):
        assert abs(to_mpf(ref.theta[-1][0]) - run.theta[-1][0]) <= 1e-26
