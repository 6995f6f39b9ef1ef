"""A coordinate slaved to the zero of its force through theta_k = 0 with f''(0) = 0, p > 3
(THEORY.md §7.1, ``numerics.solvers.precise._taylor_stiff``).

On the 4-unit square-ReLU net, ``|x|^4/4`` and ``|x|^(7/2)/(7/2)`` drive the first weight to
such a crossing near log t = -4.9 and -3.8: the flow is stiff there (rate ``|dF_k/dtheta_k| /
f''(theta_k)`` growing like ``|theta_k|^-(p-2)``) and heyoka's steps (~16 / rate) shrink so
that the steps to come grow like ``|theta_k|^-(p-3)``: the run used to spend its whole budget
(14296 steps in 120 s for ``|x|^4/4``, 0.1 ms of log t short of the crossing).  It now stops
after a few hundred steps with status ``"stalled"`` and the numbers in its reason; ``|x|^3/3``
(count ~ log(1/|theta_k|)) on the same net still reaches log t = 10.
"""

from __future__ import annotations

import mpmath
import pytest

from numerics.problem import parse_problem
from numerics.solvers import solve_mirror_flow

NET = {"kind": "two_layer", "width": 4, "activation": "square_relu"}


def _solve(potential: str, log_t: float, dps: int = 30, max_seconds: float = 30.0):
    prob = parse_problem({"data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
                          "model": NET, "init": {"scale": 0.5, "seed": 0},
                          "potential": potential})
    return solve_mirror_flow(prob, log_t=log_t, dps=dps, method="taylor", certify=False,
                             max_seconds=max_seconds)


@pytest.mark.parametrize("potential, p", [("abs(x)**4/4", 4.0),
                                          pytest.param("abs(x)**(7/2)/(7/2)", 3.5,
                                                       marks=pytest.mark.slow)])
def test_stiff_slaved_crossing_stops_with_its_reason(potential, p):
    """Stalled within ~1100 steps (the old code: budget, thousands of steps), at the first
    weight, with the measured exponent of f'' in the reason (~6 s for |x|^4/4)."""
    sol = _solve(potential, log_t=0.0)
    solver = sol.meta["solver"]
    assert sol.status == "stalled", solver.get("reason")
    assert solver["steps"] < 1500
    reason = solver["reason"]
    assert reason.startswith("coordinate 0 is slaved to the zero of its force")
    assert f"f'' ~ |theta|^{p - 2:.2f}" in reason
    assert -5.0 < float(sol.log_t[-1]) < -3.8


def test_cube_is_not_stopped():
    """|x|^3/3 on the same net (slaved steps ~ log(1/|theta_k|)): reaches log t = 10 (~4 s)."""
    sol = _solve("abs(x)**3/3", log_t=10.0)
    assert sol.status == "reached", sol.meta["solver"].get("reason")
    assert sol.meta["solver"]["steps"] < 1000


def test_crossing_in_decreasing_w_stops_at_the_target():
    """A crossing of theta_0 > 0 (w = theta_0 runs backwards) from log t = -5.09 to -4.95
    stops at the target -5 (it used to step over it: heyoka's event directions are in w)."""
    sol = _solve("abs(x)**4/4", log_t=-5.0)
    assert sol.status == "reached", sol.meta["solver"].get("reason")
    assert float(sol.log_t[-1]) == -5.0


@pytest.mark.slow
def test_run_up_to_the_stall_agrees_with_45_digits():
    """Short of the stall (log t = -5, the crossing is near -4.92) the 30-digit run agrees
    with a 45-digit run to >= 28 digits: the watch changes no step it does not stop."""
    lo, hi = _solve("abs(x)**4/4", log_t=-5.0), _solve("abs(x)**4/4", log_t=-5.0, dps=45,
                                                        max_seconds=240.0)
    assert lo.status == "reached" and hi.status == "reached"
    with mpmath.workdps(50):
        a, b = lo.theta_mp[-1], hi.theta_mp[-1]
        err = max(abs(mpmath.mpf(x) - mpmath.mpf(y)) for x, y in zip(a, b, strict=True))
        scale = max(abs(mpmath.mpf(y)) for y in b)
        assert err <= 1e-28 * scale, float(err / scale)
