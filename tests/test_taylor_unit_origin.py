"""Taylor (heyoka) where a unit's incoming weights reach 0: all its kinks meet at one point.

The case of ``tests/test_radau_unit_origin.py``: x²/2 on a width-2 ReLU net,
``separable_gaussian(4, 2, seed 0)``, init scale 0.5, seed 0.  Kink 0 (unit 0 on sample 0) slides
from log t = -1.997, ``w_0`` moves along ``x_0^perp`` and reaches 0 at log t = -1.78840181645882,
where kinks 0, 2, 4, 6 (unit 0 on every sample) vanish together and the continuation is not
unique (the unit may stay dead, or leave).  heyoka stops on whichever of those kink events it
locates first, and that depended on the target: the state carries ``log t / max(1, target)``, so
the steps and their roundings differ; a run to log t = 3 stopped on kink 2 and kept the unit
dead, one to log t = 2 stopped on kink 6 and slid on it.  Now every run ends there with status
``"sliding"``, naming the kinks (``numerics/solvers/precise/_taylor_meeting.py``), as Radau does.

Expected values: the meeting is ``w_0 = 0`` (theory: the unit's pre-activations ``x_i . w_0``
all vanish only there, for data spanning the plane) and Radau IIA's stop (an independent
integrator with its own kink location).  That the two integrators agree on the flow before the
meeting (log t = -1.8, 25 digits) is checked by ``tests/test_radau_unit_origin.py``.
"""

from __future__ import annotations

from dataclasses import replace

import mpmath
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_radau_unit_origin import unit_origin_problem

from numerics import TwoLayer, agreeing_digits
from numerics.solvers import solve_mirror_flow
from numerics.testing import ALL_FAMILIES, potentials
from theory import Potential

#: What a run's reason says at a meeting of a unit's kinks (both integrators).
MEETING = "reach 0 together"


def _stop(sol) -> mpmath.mpf:
    """The log t a run ended at, to its stored digits."""
    return mpmath.mpf(sol.meta["log_t_mp"])


def _relative_gap(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    return abs(a - b) / abs(b)


def test_taylor_ends_at_the_meeting_whatever_the_target():
    prob = unit_origin_problem()
    runs = {target: solve_mirror_flow(prob, log_t=target, dps=30, method="taylor",
                                      certify=False)
            for target in (0, 2, 3)}
    for target, sol in runs.items():
        assert sol.status == "sliding", (target, sol.message)
        reason = sol.meta["reason"]
        assert "ReLU pre-activations [0, 2, 4, 6]" in reason and MEETING in reason, reason
    with mpmath.workdps(40):
        stops = [_stop(sol) for sol in runs.values()]
        assert max(abs(s - stops[0]) for s in stops) < 1e-10
    # the same reason word for word (it names the log t to 10 digits)
    assert len({sol.meta["reason"] for sol in runs.values()}) == 1
    # and the same point: w_0 at 0, the other weights equal to working precision
    first = runs[0].theta_mp[-1]
    for sol in runs.values():
        theta = sol.theta_mp[-1]
        assert max(abs(v) for v in theta[:2]) < 1e-25
        assert max(abs(a - b) for a, b in zip(theta[2:], first[2:], strict=True)) < 1e-25


def test_taylor_stops_where_w0_reaches_zero_as_radau_does():
    prob = unit_origin_problem()
    taylor = solve_mirror_flow(prob, log_t=3, dps=30, method="taylor", certify=False)
    radau = solve_mirror_flow(prob, log_t=3, dps=30, method="radau", certify=False)
    assert taylor.status == radau.status == "sliding", (taylor.message, radau.message)
    assert MEETING in radau.meta["reason"]
    theta = taylor.theta_mp[-1]
    # the meeting is w_0 = 0 (theory): to working precision against the other weights
    assert max(abs(v) for v in theta[:2]) < 1e-25 * max(abs(v) for v in theta)
    with mpmath.workdps(40):  # and Radau, locating its own kinks, stops at the same log t
        assert _relative_gap(_stop(taylor), _stop(radau)) < 1e-20


#: Statuses that name what stopped a run (not "error" / "failed": a crash).
NAMED = {"reached", "sliding", "stalled", "stuck"}


#: Potentials of the meeting test: every family with 0 < f''(0) < inf (Radau refuses f''(0) = 0
#: on networks, and at w_0 = 0 the mirror map is then singular), kinked ones included
#: (x²/2 + abs(x)**(5/2): the potential's own kinks sit at the unit's origin too).
MEETING_POTENTIALS = potentials(families=ALL_FAMILIES, curvatures=("positive",))


@pytest.mark.slow  # 8 examples of a Radau and a Taylor run each: ~40 s
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(width=st.integers(2, 3), data_seed=st.integers(0, 20), init_seed=st.integers(0, 20),
       potential=MEETING_POTENTIALS)
@example(width=2, data_seed=0, init_seed=0, potential=Potential.quadratic())  # the meeting above
@example(width=3, data_seed=1, init_seed=0,  # unit 1 dies beside unit 0's resting kink: no meeting
         potential=Potential.quadratic())
@example(width=2, data_seed=2, init_seed=1, potential=Potential.quadratic())  # dead or leave
def test_taylor_and_radau_meet_together_on_tiny_relu_nets(width, data_seed, init_seed, potential):
    # At w_0 = 0 every coordinate of w_0 has the same f''(0) > 0, so the rule that names a
    # meeting (which patterns are left consistently, THEORY.md §7.2) is gradient flow's, for
    # every potential: both integrators must name the same meetings at the same log t.
    prob = replace(unit_origin_problem(width, 4, data_seed, init_seed), potential=potential)
    radau = solve_mirror_flow(prob, log_t=1, dps=30, method="radau", certify=False)
    taylor = solve_mirror_flow(prob, log_t=1, dps=30, method="taylor", certify=False)
    assert radau.status in NAMED, radau.message
    assert taylor.status in NAMED, taylor.message
    radau_met = MEETING in radau.meta.get("reason", "")
    taylor_met = MEETING in taylor.meta.get("reason", "")
    assert radau_met == taylor_met, (radau.message, taylor.message)
    if radau_met:
        with mpmath.workdps(40):
            assert _relative_gap(_stop(taylor), _stop(radau)) < 1e-10


def _both_paths_to_the_meeting(prob, kinks: str) -> list:
    """Taylor's and Radau's runs to log t = 1, each ended at the meeting of ``kinks``."""
    runs = [solve_mirror_flow(prob, log_t=1, dps=30, method=m, certify=False)
            for m in ("taylor", "radau")]
    for sol in runs:
        assert sol.status == "sliding", sol.message
        reason = sol.meta["reason"]
        assert f"ReLU pre-activations {kinks}" in reason and MEETING in reason, reason
    return runs


def _assert_one_stop_at_the_origin_of_unit_0(runs) -> None:
    """Two integrators, each locating its own kinks, stop at one point: the same log t to
    1e-20, the other weights equal to 1e-25, and w_0 = 0 to 1e-25 of theta (theory: a unit's
    pre-activations all vanish only at its origin, the data spanning the plane)."""
    with mpmath.workdps(40):
        assert _relative_gap(_stop(runs[0]), _stop(runs[1])) < 1e-20
        for sol in runs:
            theta = sol.theta_mp[-1]
            assert max(abs(v) for v in theta[:2]) < 1e-25 * max(abs(v) for v in theta)
        assert max(abs(a - b) for a, b in zip(runs[0].theta_mp[-1][2:], runs[1].theta_mp[-1][2:],
                                              strict=True)) < 1e-25


def test_both_paths_stop_where_a_unit_could_stay_dead_or_leave():
    # width 2, separable_gaussian(3, 2, seed 2), init seed 1: unit 0's kinks [0, 2, 4] (its
    # pre-activations on samples 0, 1, 2) meet at w_0 = 0 at log t = 0.5834, and neither
    # integrator's own pattern is inconsistent there: Radau kept the unit dead, Taylor left,
    # and at log t = 1 they agreed to 2 digits.  Both continuations solve the flow (theory,
    # checked on the data below), so both runs now end there, named, at the same point.
    prob = unit_origin_problem(2, 3, data_seed=2, init_seed=1)
    runs = _both_paths_to_the_meeting(prob, "[0, 2, 4]")
    for sol in runs:
        assert "left consistently" in sol.meta["reason"], sol.meta["reason"]
        # the message keeps the reason's advice, not the sliding status's ("try Taylor")
        assert "method='taylor'" not in sol.message, sol.message
    _assert_one_stop_at_the_origin_of_unit_0(runs)
    # Theory (gradient flow, exp loss): at w_0 = 0 with only sample i on, w_0 moves along
    # a_0 y_i x_i.  With all off it receives no force (staying dead solves the flow); the
    # sector {sample i on} is left consistently iff a_0 y_i x_i . x_i > 0 >= a_0 y_i x_i . x_j
    X, y, a0 = prob.data.X, prob.data.y, float(runs[1].theta_mp[-1][4])
    leaving = [i for i in range(3)
               if all((a0 * y[i] * X[i] @ X[j] > 0) == (j == i) for j in range(3))]
    assert leaving, "no sector is left: the unit's staying dead would be the one solution"
    # the sector the runs name is that one: kink 2 i + 0 is unit 0 on sample i (width 2)
    named = f"the pattern with [{2 * leaving[0]}] on is left consistently"
    assert all(named in sol.meta["reason"] for sol in runs), runs[0].meta["reason"]


@pytest.mark.parametrize("potential", [
    # the potential's kinks theta_0 = theta_1 = 0 arrive with the unit's ReLU kinks (w_0 = 0),
    # and heyoka stopped on one of them first: its crossing carried the unit through its
    # origin (Taylor reached log t = 1 with w_0 = (-0.014, 0.012); Radau stopped at the meeting)
    "2*x**2*abs(x)/3 + x**2/4 + 2*cosh(x)",
    # abs(x)**(5/2) is not analytic at 0: Taylor's steps shrank on the way in, its step before
    # the stop ended 1e-37 from the meeting (no kink "arrived"), and it spun there on the
    # potential's kinks until its budget; Radau's refinements of the kink stalled at 1.6e-19 of
    # a step and the run ended in an error
    "x**2/2 + abs(x)**(5/2)",
])
def test_both_paths_stop_at_a_meeting_on_the_potentials_kinks(potential):
    prob = replace(unit_origin_problem(), potential=Potential(potential))
    _assert_one_stop_at_the_origin_of_unit_0(_both_paths_to_the_meeting(prob, "[0, 2, 4, 6]"))


@pytest.mark.slow  # 6 examples of a Radau and a Taylor run each: ~1 min
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(width=st.integers(2, 3), data_seed=st.integers(0, 20), init_seed=st.integers(0, 20),
       slope=st.sampled_from([0.05, 0.2, 0.5]), potential=MEETING_POTENTIALS)
@example(width=2, data_seed=0, init_seed=0, slope=0.2, potential=Potential.quadratic())
def test_leaky_units_never_meet_and_both_paths_agree(width, data_seed, init_seed, slope,
                                                      potential):
    # Leaky ReLU gives a unit a force with every kink off, so no continuation stays at a
    # unit's origin (THEORY.md §7.2): neither path may name a meeting, and where both reach
    # log t = 1 they agree to 25 digits (the nets of the meeting test above, leaky)
    base = unit_origin_problem(width, 4, data_seed, init_seed)
    prob = replace(base, potential=potential,
                   model=TwoLayer(width, f"leaky_relu({slope})"))
    runs = [solve_mirror_flow(prob, log_t=1, dps=30, method=m, certify=False)
            for m in ("taylor", "radau")]
    for sol in runs:
        assert sol.status in NAMED, sol.message
        assert MEETING not in sol.meta.get("reason", ""), sol.message
    if all(sol.status == "reached" for sol in runs):
        with mpmath.workdps(40):
            digits = agreeing_digits(list(runs[0].theta_mp[-1]), list(runs[1].theta_mp[-1]), 40)
        assert digits >= 25, digits
