"""The KKT trend check of ``verify`` on networks (numerics.checks._kkt_trend, THEORY.md §4.1).

Which horizon is right comes from theory (``Potential.horizon``, THEORY.md §3: x²/2 -> l2,
x²/2 + |x|³/3 -> l3 by its dominant growth, hyperbolic entropy -> l1); every other l_p is a
wrong claim whose margin problem does not have the limit as a KKT point. The trajectories are
the battery's own float64 runs (:func:`battery_specs`, :func:`integrate`). Wrong claims are
those THEORY.md §4.1 says the check can reject on these data: not the ones whose problem
shares the limit's KKT point (sparse diagonal limits, l2 for hyperbolic entropy on xor).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from numerics import Dataset, Diagonal, Problem
from numerics.checks import (
    KKT_TREND,
    battery_specs,
    check_kkt_trend,
    integrate,
    kkt_trend,
    parse_norm,
    planted_dataset,
    verify,
)
from theory import Potential

POTENTIALS = {"gd": "x**2/2", "mix3": "x**2/2 + abs(x)**3/3",
              "hyp": "x*asinh(x/b) - sqrt(x**2 + b**2)"}


@cache
def potential(name: str) -> Potential:
    return Potential(POTENTIALS[name], b=0.1) if name == "hyp" else Potential(POTENTIALS[name])


def derived(name: str) -> float:
    """The horizon exponent theory derives (never typed in)."""
    h = potential(name).horizon
    return math.inf if h.norm == "linf" else float(h.p)


@cache
def run(name: str, model: str):
    """The battery's run for seed 0: two_layer on xor, diagonal on gaussian n = 4 < d = 8."""
    spec = battery_specs(potential(name), model, (0,))[-1]
    assert not spec.planted
    return spec.problem, integrate(spec.problem, spec.log_t, max_seconds=60)


def test_the_derived_horizons_are_the_textbook_ones():
    # THEORY.md §3 table: quadratic l2, dominant |x|^3 -> l3, hyperbolic entropy l1
    assert [derived(n) for n in ("gd", "mix3", "hyp")] == [2.0, 3.0, 1.0]


@pytest.mark.parametrize(("name", "wrong"), [("gd", ["l1", "linf"]),
                                             ("mix3", ["l2", "linf"])])
def test_two_layer_right_horizon_falls_wrong_levels_off(name, wrong):
    prob, sol = run(name, "two_layer")
    assert sol.status == "reached"
    right = check_kkt_trend(prob, sol, derived(name), derived=derived(name))
    assert right.passed, right
    tr = kkt_trend(prob, sol, derived(name))
    assert tr.slope <= KKT_TREND["slope"] and tr.stationarity[-1] < tr.stationarity[0]
    for claim in wrong:
        c = check_kkt_trend(prob, sol, parse_norm(claim), derived=derived(name))
        assert not c.passed and "levels off" in c.detail, (claim, c)


# gradient flow and hyperbolic entropy have sparse predictor limits on the diagonal network:
# KKT points of every parameter-space l_p problem (THEORY.md §4.1), so no wrong claim is
# asserted to fail for them; x²/2 + |x|³/3 has a dense (l_{3/2}) limit
@pytest.mark.parametrize(("name", "wrong"), [("gd", []), ("mix3", ["l2", "linf"]),
                                             ("hyp", [])])
def test_diagonal_right_horizon_falls_wrong_levels_off(name, wrong):
    prob, sol = run(name, "diagonal")
    assert isinstance(prob.model, Diagonal) and sol.status == "reached"
    assert check_kkt_trend(prob, sol, derived(name)).passed
    for claim in wrong:
        assert not check_kkt_trend(prob, sol, parse_norm(claim)).passed, claim


@pytest.mark.slow       # the default suite has it via test_verify's diagonal verdict test
def test_verify_diagonal_fails_a_wrong_claim_by_the_kkt_trend():
    pot = potential("mix3")
    right = verify(pot, model="diagonal", claim_horizon="l3", budget=40, seeds=(0,))
    assert right.passed, right.table()
    assert "KKT trend l3 [diagonal, gaussian seed 0]" in [c.name for c in right.checks]
    wrong = verify(pot, model="diagonal", claim_horizon="linf", budget=40, seeds=(0,))
    failed = {c.name for c in wrong.checks if not c.passed}
    assert "KKT trend linf [diagonal, gaussian seed 0]" in failed, wrong.table()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "right", "wrong"), [("gd", "l2", "l1"), ("mix3", "l3", "l2")])
def test_verify_two_layer_fails_a_wrong_claim_only_by_the_kkt_trend(name, right, wrong):
    pot = potential(name)
    rep = verify(pot, model="two_layer", claim_horizon=right, budget=150, seeds=(0, 1))
    kkt_checks = [c for c in rep.checks if c.name.startswith("KKT trend")]
    assert len(kkt_checks) == 2 and all(c.passed for c in kkt_checks), rep.table()
    bad = verify(pot, model="two_layer", claim_horizon=wrong, budget=150, seeds=(0, 1))
    failed = {c.name for c in bad.checks if not c.passed}
    assert failed == {f"KKT trend {wrong} [two_layer, xor seed {s}]" for s in (0, 1)}, failed


def test_linf_claim_is_judged_but_a_derived_linf_is_skipped():
    prob, sol = run("mix3", "diagonal")
    c = check_kkt_trend(prob, sol, math.inf, derived=derived("mix3"))
    assert not c.passed and "derived: l3" in c.detail
    rep = verify(Potential.cosh(), model="diagonal", budget=30, seeds=(0,))
    assert any(s.startswith("KKT trend linf") for s in rep.skipped), rep.skipped
    assert not any(c.name.startswith("KKT trend") for c in rep.checks)


def test_bad_input():
    prob = Problem.create(planted_dataset([1.0, 0.3], n=3), Diagonal(2), potential("gd"))
    sol = integrate(prob, 5.0)
    with pytest.raises(ValueError, match="exponent must be >= 1"):
        kkt_trend(prob, sol, 0.5)
    # a trajectory that never separates the data (beta = u² - v² < 0 against y = +1 on one
    # point, for the short time integrated): inconclusive, not a pass
    one = Dataset.from_arrays([[1.0, 0.3]], [1])
    start = Problem(one, Diagonal(2), potential("gd"), theta0=np.array([0.01, 0.01, 1.0, 1.0]))
    assert np.all(start.model.beta(start.theta0) < 0)
    early = integrate(start, 0.05)
    c = check_kkt_trend(prob, early, 2.0)
    assert not c.passed and c.measured == "inconclusive", c
