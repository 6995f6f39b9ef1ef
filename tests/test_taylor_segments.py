"""Taylor checkpoint segments continue the integration: the checkpointed run is the
uninterrupted one to the last bit.

A segment cut by the wall clock used to restart heyoka's integrator at the stopped point:
the clock and the state went through their stored digits, the event cooldowns, the sliding
state and the stuck monitor were reset, and where the wall clock cut the run changed its
steps (measured: the linear model below to log t = 3000 ended 3.5e-32 from the uninterrupted
run in 5 ms segments, 3.4e-32 and 4.9e-33 through ``solve_mirror_flow`` with
``checkpoint_every`` 2 ms and 20 ms; the coverage ReLU net of ``tests/test_taylor_resume.py``
never reached log t = 1 in 5 ms segments: 5000 of them, 25 steps).  A segment now continues
the stopped integration (``TaylorIntegrator.proceed``).

Expected values: the same run not interrupted (the same compiled integrator), compared bit
for bit at every recorded point.  The segment budget, ``SEGMENT_SECONDS``, is below one step
of either run (a few ms in real128), so every run is cut many times on any machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from numerics import Linear, MirrorFlowSolution, Problem, solve_mirror_flow, two_d
from numerics.problem import parse_problem
from numerics.solvers import plan_run
from numerics.solvers.precise import PreciseRun
from theory import Potential

#: Wall-clock budget of one segment.
SEGMENT_SECONDS = 0.002

#: The coverage net of ``tests/test_taylor_resume.py`` under x²/2: to log t = 1 it crosses
#: 8 kinks and slides on kinks 8 and 12 (three episodes).
NET = {"model": {"kind": "two_layer", "width": 4, "activation": "relu"},
       "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
       "init": {"scale": 0.5, "seed": 0}, "potential": "x**2/2"}


def _linear() -> Problem:
    return Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic())


def _points(sol: MirrorFlowSolution) -> dict[float, list[Any]]:
    """θ at each recorded log t, as exact MPFR bits (mantissa, exponent)."""
    return {float(lt): [v._mpf_ for v in row] for lt, row in zip(sol.log_t, sol.theta_mp,
                                                                   strict=True)}


def _segments(run: PreciseRun, log_t: float) -> list[MirrorFlowSolution]:
    """The run cut by ``SEGMENT_SECONDS`` budgets, as ``solve_mirror_flow`` cuts it."""
    segments: list[MirrorFlowSolution] = []
    sol = None
    while (sol is None or sol.status == "budget") and len(segments) < 2000:
        sol = run.segment(log_t=log_t, max_seconds=SEGMENT_SECONDS, start=sol)
        segments.append(sol)
    return segments


def _check_same_run(whole: MirrorFlowSolution, segments: list[MirrorFlowSolution]) -> None:
    assert len(segments) > 1
    assert segments[-1].status == whole.status == "reached", segments[-1].message
    points = {lt: th for s in segments for lt, th in _points(s).items()}
    assert all(points.get(lt) == th for lt, th in _points(whole).items())
    assert _points(segments[-1])[float(whole.log_t[-1])] == _points(whole)[float(whole.log_t[-1])]
    solvers = [s.meta["solver"] for s in segments]
    assert sum(s["steps"] for s in solvers) == whole.meta["solver"]["steps"]
    assert sum(s["kinks_crossed"] for s in solvers) == whole.meta["solver"]["kinks_crossed"]


@pytest.mark.parametrize("logt_mode", ["quadrature", "ode"])
def test_linear_segments_are_the_uninterrupted_run(logt_mode):
    """Linear model to log t = 3000 (72 steps with log t by quadrature, 484 in the ODE)."""
    prob = _linear()
    run = PreciseRun(prob, plan_run(prob, dps=30, log_t=3000.0, logt_mode=logt_mode))
    whole = run.segment(log_t=3000.0, max_seconds=300)
    assert whole.method == "taylor-real128"
    _check_same_run(whole, _segments(run, 3000.0))


def test_relu_net_segments_are_the_uninterrupted_run():
    """The coverage ReLU net to log t = 1: kinks crossed and slides entered and left inside
    the segments; the episodes add up to the uninterrupted run's."""
    prob = parse_problem(NET)
    run = PreciseRun(prob, plan_run(prob, dps=30, method="taylor", log_t=1.0))
    whole = run.segment(log_t=1.0, max_seconds=300)
    solver = whole.meta["solver"]
    assert solver["kinks_crossed"] >= 5 and solver["slides"] >= 2
    segments = _segments(run, 1.0)
    _check_same_run(whole, segments)
    episodes = {tuple(e[:2]): e for s in segments for e in s.meta["solver"]["sliding_episodes"]}
    assert sorted(episodes.values()) == sorted(solver["sliding_episodes"])


def test_checkpointed_solve_is_the_uninterrupted_run(tmp_path):
    """``solve_mirror_flow`` with ``checkpoint_every`` below one step: many segments, saved,
    and the same bits as the run without checkpoints."""
    prob = _linear()
    whole = solve_mirror_flow(prob, log_t=3000.0, dps=30, certify=False)
    ckpt = tmp_path / "run.json"
    cut = solve_mirror_flow(prob, log_t=3000.0, dps=30, certify=False, checkpoint=ckpt,
                            checkpoint_every=SEGMENT_SECONDS)
    assert cut.status == whole.status == "reached", cut.message
    assert cut.meta["segments"] > 1 and "segments" not in whole.meta
    points = _points(cut)      # and the points where segments ended
    assert all(points.get(lt) == th for lt, th in _points(whole).items())
    assert list(cut.theta_mp[-1]) == list(whole.theta_mp[-1])
    assert MirrorFlowSolution.load(ckpt).status == "reached"
    # the counters are the whole run's, not the last segment's
    assert cut.meta["solver"]["steps"] == whole.meta["solver"]["steps"] == whole.rhs_evals
