"""Radau IIA at a ReLU kink that is identically 0 along a step (an MLP's deeper pre-activation
with every unit feeding it off): not a crossing.

The coverage table's 3/3 ReLU MLP (init seed 18) under cosh: at log t = 1.12 kink 30 (a
second-layer pre-activation) sat at 0 along the end of a step.  The root refinement's secant met
a flat polynomial and returned ``1 - 1e-6``; six refinements shrank the step by ``1e-6`` each,
and the run ended with "kink event 30 could not be located".  Expected values come from heyoka's
Taylor integrator (its own kink events) at the same digits.
"""

from __future__ import annotations

import mpmath

from numerics import agreeing_digits, unit_direction_mp
from numerics.problem import parse_problem
from numerics.solvers import solve_mirror_flow


def test_identically_zero_deeper_kink_is_not_a_crossing():
    prob = parse_problem({"model": {"kind": "mlp", "widths": [3, 3], "activation": "relu"},
                          "potential": "cosh(x)",
                          "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
                          "init": {"scale": 0.5, "seed": 18}})
    rad = solve_mirror_flow(prob, log_t=1.2, dps=30, method="radau", certify=False,
                            max_seconds=300)
    assert rad.status == "reached", rad.meta.get("reason")
    tay = solve_mirror_flow(prob, log_t=1.2, dps=30, method="taylor", certify=False,
                            max_seconds=300)
    assert tay.status == "reached", tay.meta.get("reason")
    with mpmath.workdps(60):
        rd, td = unit_direction_mp(rad.theta_mp[-1]), unit_direction_mp(tay.theta_mp[-1])
    assert agreeing_digits(rd, td) >= 25
