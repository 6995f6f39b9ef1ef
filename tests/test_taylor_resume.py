"""A Taylor run saved while units slide on their ReLU kinks resumes exactly.

The saved state is rounded to its stored digits, so a sliding kink is a zero there only up to
rounding (a Radau run lost 13 of 30 digits that way, tests/test_radau_resume.py).  A Taylor run
needs no saved pattern: it starts on the base flow, whose two sides push into the sliding
kink, so the kink's event stops it at once (a clock ~1e-36 on) and :class:`SlideControl`
tests the stop's two sides and enters the slide there (no crossing, no chattering cluster);
``meta["solver"]["sliding_at_end"]`` is a record only.  Measured on the coverage net at 30
digits (real128): 32 agreeing digits, one kink stop and two steps more than one run.

Expected values: the same run not interrupted (the same compiled integrator, so the two agree
to working precision) and the balance law of the units (THEORY.md §2).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from numerics import agreeing_digits, unit_direction_mp
from numerics.problem import parse_problem
from numerics.solvers import plan_run
from numerics.solvers.precise import PreciseRun
from numerics.testing import save_and_resume

#: The coverage net: a width-4 ReLU net on 6 points in 3 dimensions.
NET = {"model": {"kind": "two_layer", "width": 4, "activation": "relu"},
       "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
       "init": {"scale": 0.5, "seed": 0}}

#: (log t saved at, log t resumed to, the kink sliding there): with x²/2 at 30 digits, kink
#: 12 slides from log t = -0.23 to 0.43, kink 0 from 4.71 on (``sliding_episodes``).  The
#: module takes ~6 s with the first case (mostly compilation), ~8 s with both.
CASES = [pytest.param((0.0, 1.0, 12), id="kink12"),
         pytest.param((5.5, 6.5, 0), id="kink0", marks=pytest.mark.slow)]


def _direction(theta) -> list:
    with mpmath.workdps(80):
        return unit_direction_mp(theta)


@pytest.fixture(scope="module")
def run():
    """One compiled Taylor integrator for every case (~7 s of compilation)."""
    prob = parse_problem({**NET, "potential": "x**2/2"})
    return PreciseRun(prob, plan_run(prob, dps=30, method="taylor", log_t=6.5))


@pytest.fixture(scope="module", params=CASES)
def runs(request, run, tmp_path_factory):
    """(saved mid-slide and loaded, resumed from it, not interrupted, the sliding kink)."""
    saved_at, target, kink = request.param
    saved, resumed, whole = save_and_resume(run, saved_at, target,
                                            tmp_path_factory.mktemp("resume"))
    return saved, resumed, whole, kink


def test_saved_mid_slide(runs):
    saved, _, _, kink = runs
    assert saved.status == "reached", saved.message
    assert saved.method == "taylor-real128"
    assert saved.meta["solver"]["sliding_at_end"] == [kink]


def test_resumed_agrees_with_one_run(runs):
    _, resumed, whole, _ = runs
    assert resumed.status == whole.status == "reached", resumed.message
    assert agreeing_digits(_direction(resumed.theta_mp[-1]), _direction(whole.theta_mp[-1]),
                           99) >= 28
    assert agreeing_digits([resumed.log_loss_mp[-1]], [whole.log_loss_mp[-1]], 99) >= 28
    assert float(np.max(resumed.balance_residual_max)) < 1e-25     # THEORY.md §2


def test_slides_on_from_the_resume_point(runs):
    """The kink slides on at once: its first stop enters the slide, nothing is crossed there."""
    saved, resumed, _, kink = runs
    episodes = resumed.meta["solver"]["sliding_episodes"]
    assert episodes[0][0] == kink
    assert abs(episodes[0][1] - float(saved.log_t[-1])) < 1e-9
    assert resumed.meta["solver"]["kinks_crossed"] == 0
