"""Arbitrary-precision Radau runs are reproducible to the last bit.

Two causes made identical invocations differ (measured on the coverage MLP 3/3 under
exp(x²/2) to log t = 2 at 30 digits: 3197 to 3473 Newton iterations, 24 or 26 kink crossings,
``sliding_drift_max`` apart in the 8th digit):

- the first location of a kink inside a step came from scipy's ``BarycentricInterpolator``,
  whose weights multiply the node distances in a *random* order (numpy's global random
  state): their last bits moved the float64 root, the MPFR refinement that starts from it and
  the rest of the run (now fixed weights, :mod:`numerics.solvers.precise._radau_kinks`);
- a checkpoint segment, ended by the wall clock, restarted the integrator at the point it
  stopped (first step size, no predictions, the activation pattern settled again): where the
  wall clock cut the run changed its steps (measured on the net below to log t = 10 in 0.3 s
  segments: 2e-33 from the uninterrupted run, or an error at a segment start); a segment
  now continues the stopped integration (``RadauIntegrator.proceed``).

Expected values: the same run again (different global random state; cut into segments by
a tiny wall-clock budget), compared bit for bit.  The net is the two-layer ReLU net of
``tests/test_radau_relu.py`` (two kinks crossed before log t = 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from numerics import Dataset, MirrorFlowSolution, Problem, TwoLayer
from numerics.solvers import plan_run
from numerics.solvers.precise import PreciseRun
from theory import Potential

LOG_T = 0.0
#: Wall-clock budget of one segment: a step or a few each (about 40 ms a step, measured).
SEGMENT_SECONDS = 0.02


def _problem() -> Problem:
    """The ReLU net of ``tests/test_radau_relu.py``: width 2, four points in 2-d, cosh."""
    X = np.round(np.random.default_rng(1).standard_normal((4, 2)), 3)
    y = np.where(np.arange(4) % 2 == 0, 1.0, -1.0)
    th0 = np.round(np.random.default_rng(3).standard_normal(6) * 0.5, 3)
    return Problem.create(Dataset(X, y), TwoLayer(2, "relu"), Potential.cosh(),
                          theta0=[float(v) for v in th0])


@pytest.fixture(scope="module")
def runner() -> PreciseRun:
    """The run compiled once (about 7 s), for every run below."""
    prob = _problem()
    return PreciseRun(prob, plan_run(prob, dps=30, method="radau", log_t=LOG_T))


@pytest.fixture
def global_random_state() -> Iterator[None]:
    """numpy's global random state, restored after the test."""
    saved = np.random.get_state()
    yield
    np.random.set_state(saved)


def _points(sol: MirrorFlowSolution) -> dict[float, list[Any]]:
    """θ at each recorded log t, as exact MPFR bits (mantissa, exponent)."""
    return {float(lt): [v._mpf_ for v in row] for lt, row in zip(sol.log_t, sol.theta_mp,
                                                                   strict=True)}


def _counters(solver: dict[str, Any]) -> dict[str, Any]:
    return {k: solver[k] for k in ("steps", "rejected", "newton_iterations", "kinks_cut",
                                   "kinks_refined", "kink_crossings")}


def test_same_run_twice_is_bit_identical(runner, global_random_state):
    """Nothing reads numpy's global random state: two runs after different seeds agree to
    the last bit (with scipy's randomised barycentric weights they did not)."""
    runs = []
    for seed in (1, 2):
        np.random.seed(seed)
        runs.append(runner.segment(log_t=LOG_T, max_seconds=300))
    first, second = runs
    assert first.status == second.status == "reached", first.message
    assert first.meta["solver"]["kinks_crossed"] >= 2               # kinks located on the way
    assert _points(first) == _points(second)
    assert _counters(first.meta["solver"]) == _counters(second.meta["solver"])


def test_wall_clock_segments_do_not_change_the_run(runner):
    """The run cut into segments of ``SEGMENT_SECONDS`` (as ``checkpoint_every`` cuts it)
    equals the uninterrupted run to the last bit at every level and at its end; its kink
    crossings are the same ones (none extra at a segment start), its steps add up."""
    whole = runner.segment(log_t=LOG_T, max_seconds=300)
    segments, sol = [], None
    while (sol is None or sol.status == "budget") and len(segments) < 500:
        sol = runner.segment(log_t=LOG_T, max_seconds=SEGMENT_SECONDS, start=sol)
        segments.append(sol)
    assert sol.status == whole.status == "reached", sol.message
    assert len(segments) > 1
    points = {lt: th for s in segments for lt, th in _points(s).items()}
    assert all(points.get(lt) == th for lt, th in _points(whole).items())
    solvers = [s.meta["solver"] for s in segments]
    assert sum(s["steps"] for s in solvers) == whole.meta["solver"]["steps"]
    assert [c for s in solvers for c in s["kink_crossings"]] \
        == whole.meta["solver"]["kink_crossings"]
