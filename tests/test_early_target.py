"""A target before the default start of a precise run (log t of the start is about
log s0 - log L(0), s0 ~ 1e-19): the run starts earlier instead (``_record.start_before``).

Found by the slow MLP battery: a rerun to a point just before an early stop (a 3/2/2 ReLU MLP
at rest, stuck at log t = -42.9 on Taylor, whose start is lower than Radau's) asked Radau for
log t = -42.9 from its start at -42.14: it took a step of negative length ("math domain
error"), and Taylor, asked for a target below its own start, ran to its clock limit.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from numerics import (
    MLP,
    Linear,
    Problem,
    TwoLayer,
    agreeing_digits,
    make_dataset,
    separable_gaussian,
    solve_mirror_flow,
)
from numerics.solvers.precise import integrate_implicit, integrate_taylor, problem_system
from theory import Potential

PROBLEMS = {
    "linear": lambda: Problem.create(separable_gaussian(n=4, d=2, seed=3), Linear(),
                                     Potential.hyperbolic_entropy(), scale=0.5, seed=1),
    "relu": lambda: Problem.create(separable_gaussian(n=4, d=2, seed=3), TwoLayer(3, "relu"),
                                   Potential("x**2/2"), scale=0.5, seed=1),
}


def default_start(prob: Problem) -> float:
    """The earlier of the log t the two precise paths start at by default."""
    return min(float(solve_mirror_flow(prob, log_t=0.0, dps=30, method=m, certify=False,
                                       max_seconds=60).log_t[0]) for m in ("taylor", "radau"))


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
@pytest.mark.parametrize("before", [0.25, 20.0])
def test_a_target_before_the_default_start_is_reached(kind, before):
    prob = PROBLEMS[kind]()
    target = default_start(prob) - before
    runs = {m: solve_mirror_flow(prob, log_t=target, dps=30, method=m, certify=False,
                                 max_seconds=60) for m in ("taylor", "radau")}
    for m, sol in runs.items():
        assert sol.status == "reached", (m, sol.message)
        assert float(sol.log_t[0]) < target == pytest.approx(float(sol.log_t[-1]))
    with mpmath.workdps(60):
        digits = agreeing_digits(list(runs["taylor"].theta_mp[-1]),
                                 list(runs["radau"].theta_mp[-1]), 100)
    assert digits >= 25
    # the flow from t = 0: theta moves by about t |grad| (t = e^target), so theta0 itself is
    # an independent check of the first digits
    moved = np.max(np.abs(np.asarray(runs["radau"].theta[-1], dtype=float) - prob.theta0))
    assert moved <= 10 * np.exp(target) * max(1.0, float(np.max(np.abs(prob.theta0))))


def test_a_continued_run_refuses_a_target_before_its_start():
    prob = Problem.create(make_dataset("separable_gaussian", n=2, d=2, margin=0.1, seed=0),
                          MLP(widths=(2, 2), activation="relu"), Potential("x**2/2"),
                          scale=1.0, seed=0)
    sysm = problem_system(prob, state="primal", clock="log_s")
    first = integrate_implicit(sysm, prob.theta0, -30.0)
    assert first.status == "reached"
    start = (first.clock[-1], list(first.theta[-1]), first.logt[-1])
    for integrate in (integrate_implicit, integrate_taylor):
        with pytest.raises(ValueError, match="not after the start of the continued run"):
            integrate(sysm, prob.theta0, -35.0, start=start)
