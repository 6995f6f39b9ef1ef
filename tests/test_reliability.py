"""Nothing silently wrong: data a model cannot separate is refused before any work.

The expectation comes from an independent LP (scipy's HiGHS, solved here, not through the
toolkit): linear and diagonal models predict with <x, beta>, so a run has a limit direction
only if some beta has y_i <x_i, beta> >= 1 for all i.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from numerics import Dataset, Diagonal, Linear, Problem, TwoLayer, solve_mirror_flow
from numerics.solvers import plan_run
from theory import Potential


def _separable_by_lp(X: np.ndarray, y: np.ndarray) -> bool:
    """Feasibility of y_i <x_i, beta> >= 1 (box-bounded beta), independently of the toolkit."""
    A = -(y[:, None] * X)
    res = linprog(np.zeros(X.shape[1]), A_ub=A, b_ub=-np.ones(len(y)),
                  bounds=[(-1e6, 1e6)] * X.shape[1], method="highs")
    return res.status == 0


XOR = Dataset.from_arrays(np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]),
                          np.array([1.0, 1.0, -1.0, -1.0]))
ZEROS = Dataset.from_arrays(np.zeros((3, 2)), np.array([1.0, -1.0, 1.0]))


@pytest.mark.parametrize("data", [XOR, ZEROS], ids=["xor", "all-zero X"])
@pytest.mark.parametrize("model", [Linear(), Diagonal()], ids=["linear", "diagonal"])
@pytest.mark.parametrize("dps", [None, 30])
def test_non_separable_data_is_refused_before_any_work(data, model, dps) -> None:
    assert not _separable_by_lp(data.X, data.y)
    prob = Problem.create(data, model, Potential.quadratic(), seed=0)
    with pytest.raises(ValueError, match="not linearly separable"):
        solve_mirror_flow(prob, log_t=5.0, dps=dps, certify=False)
    with pytest.raises(ValueError, match="not linearly separable"):
        plan_run(prob, dps=dps)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from([Linear(), Diagonal(), Diagonal(depth=3)]))
def test_plan_accepts_exactly_the_separable_datasets(n: int, d: int, seed: int,
                                                     model) -> None:
    """Random small datasets (half of them with random labels, so often non-separable):
    the plan refuses a linear or diagonal run (both predict with <x, beta>) iff the
    independent LP finds no separator."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(float)
    y = rng.choice([-1.0, 1.0], size=n)
    if seed % 2:
        y = np.where(X @ rng.normal(size=d) >= 0, 1.0, -1.0)
    prob = Problem.create(Dataset.from_arrays(X, y), model, Potential.quadratic(), seed=0)
    if _separable_by_lp(X, y):
        assert plan_run(prob).method == "float64"
    else:
        with pytest.raises(ValueError, match="not linearly separable"):
            plan_run(prob)


@pytest.mark.parametrize("activation", ["relu", "square_relu"])
def test_a_network_that_loses_a_sample_ends_stuck_and_names_it(activation: str) -> None:
    """One unit w = (1, 0) is off on x_1 = (-1, 0) and the force of x_0 = (1, 0) only grows
    w_1 (dw/ds = a x_0 relu'(w . x_0) w_0 > 0), so x_1 keeps q_1 = 0 and zero gradient for ever:
    the loss tends to ℓ(0) = 1 (log ℒ -> 0). The run must stop early with status 'stuck' naming
    sample 1, not crawl until the budget."""
    data = Dataset.from_arrays(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0]))
    prob = Problem.create(data, TwoLayer(width=1, activation=activation),
                          Potential.quadratic(), theta0=np.array([1.0, 0.0, 1.0]))
    sol = solve_mirror_flow(prob, log_t=1e3, max_seconds=60, certify=False)
    assert sol.status == "stuck", sol.message
    assert "samples [1]" in sol.meta["reason"]
    assert np.all(sol.theta[:, 0] > 0)                    # the unit stayed off on x_1
    assert float(sol.log_t[-1]) < 1e3
