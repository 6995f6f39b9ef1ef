"""Tests for numerics.solvers._mirror_descent (THEORY.md §1-2, §7).

References are independent: a gradient-descent loop written here with the linear model's
gradient by hand, closed forms of the one-point flow, the float64 flow (solve_float64) with a
first-order convergence check, and the O(η²) balance drift of THEORY.md §2.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics.problem import Dataset, Linear, Problem, SquareReLU, TwoLayer, make_dataset, two_d
from numerics.solvers import mirror_descent, solve_float64
from theory import Potential

QUAD = Potential.quadratic()
HYP = Potential.hyperbolic_entropy(0.5)


def one_point(potential, x=(0.6, -0.8), theta0=(0.05, 0.02)):
    data = Dataset.from_arrays(np.array([x]), np.array([1.0]))
    return Problem.create(data, Linear(), potential, theta0=np.array(theta0))


def test_quadratic_potential_is_gradient_descent():
    data = two_d(10, seed=1)
    prob = Problem.create(data, Linear(), QUAD, seed=0)
    eta, steps = 0.3, 50
    sol = mirror_descent(prob, eta, steps, record_every=1)
    theta, path = prob.theta0.copy(), [prob.theta0.copy()]
    for _ in range(steps):                    # ℒ = Σ exp(-y_i <x_i, θ>), by hand
        grad = -(np.exp(-data.y * (data.X @ theta)) * data.y) @ data.X
        theta = theta - eta * grad
        path.append(theta.copy())
    assert sol.status == "reached" and sol.rhs_evals == steps
    np.testing.assert_allclose(sol.theta, np.array(path), rtol=1e-12, atol=1e-15)
    with np.errstate(divide="ignore"):                  # t_k = η k from t_0 = 0: log 0 = -inf
        np.testing.assert_allclose(sol.log_t, np.log(eta * np.arange(steps + 1)), rtol=1e-15)


@pytest.mark.parametrize("model, pot, data", [
    (Linear(), HYP, two_d(10, seed=1)),
    (TwoLayer(width=4, activation=SquareReLU()), Potential.cosh(),
     make_dataset("separable_gaussian", n=8, d=3, margin=0.2, seed=0)),
])
def test_small_steps_track_the_flow_to_first_order(model, pot, data):
    prob = Problem.create(data, model, pot, seed=0, scale=0.5)
    T = 20.0                                          # compare at t = T (both start at t = 0)
    ref = solve_float64(prob, log_t=np.log(T), rtol=1e-12, atol=1e-14)
    errs = []
    for eta in (0.04, 0.02):
        sol = mirror_descent(prob, eta, round(T / eta))
        assert sol.log_t[-1] == pytest.approx(ref.log_t[-1], rel=1e-14)
        errs.append(np.linalg.norm(sol.theta[-1] - ref.theta[-1]) / np.linalg.norm(ref.theta[-1]))
    assert errs[1] < 0.01
    assert 1.6 < errs[0] / errs[1] < 2.4                # O(η): halving η halves the error


def test_normalized_steps_match_one_point_s_flow():
    # One point, exp loss: w = 1 and ∇q = y x, so dz/ds = x exactly: the Euler steps in s are
    # exact for z, θ = (f')^{-1}(z0 + s x). For GD (|x| = 1) q(s) = q0 + s and
    # t(s) = e^{q0}(e^s - 1) (t(0) = 0); Euler's t is a left Riemann sum of e^{q}: error O(η).
    x = np.array([0.6, -0.8])
    prob = one_point(HYP)
    sol = mirror_descent(prob, 0.05, 100, normalized=True, record_every=10)
    z = prob.mirror(prob.theta0) + np.outer(sol.s, x)
    np.testing.assert_allclose(sol.theta, 0.5 * np.sinh(z), rtol=1e-12)   # b sinh(z), b = 1/2
    np.testing.assert_allclose(sol.s, 0.05 * np.arange(0, 101, 10), rtol=1e-14)

    gd = one_point(QUAD)
    q0 = float(x @ gd.theta0)
    errs = []
    for eta in (0.02, 0.01):
        s_end = 3.0
        sol = mirror_descent(gd, eta, round(s_end / eta), normalized=True)
        np.testing.assert_allclose(sol.theta[-1], gd.theta0 + s_end * x, rtol=1e-12)
        exact = q0 + np.log(np.expm1(s_end))
        errs.append(abs(sol.log_t[-1] - exact))
        assert errs[-1] < eta
    assert 1.8 < errs[0] / errs[1] < 2.2


def test_balance_drift_is_second_order():
    # THEORY.md §2: one step changes C_j by ½η²[Σ_I (∂ℒ)²/f'' - k Σ_O (∂ℒ)²/f''] + O(η³)
    data = make_dataset("separable_gaussian", n=6, d=3, margin=0.2, seed=2)
    model = TwoLayer(width=3, activation=SquareReLU())
    prob = Problem.create(data, model, HYP, seed=1, scale=1.0)
    th = prob.theta0
    out, grads = model.outputs_and_grads(th, data.X)
    dL = -(np.exp(-data.y * out) * data.y) @ grads       # ∇ℒ for the exponential loss
    h = prob.hessian_diag(th)
    groups = model.neuron_groups(data.d)

    def C(theta):
        g = prob.balance_terms(theta)
        return np.array([g[list(G.incoming)].sum() - G.k * g[list(G.outgoing)].sum()
                         for G in groups])

    predicted = np.array([sum(dL[m] ** 2 / h[m] for m in G.incoming)
                          - G.k * sum(dL[m] ** 2 / h[m] for m in G.outgoing) for G in groups])
    rel = []
    for eta in (1e-2, 5e-3):
        sol = mirror_descent(prob, eta, 1)
        drift = C(sol.theta[-1]) - C(th)
        rel.append(np.max(np.abs(drift / (0.5 * eta**2 * predicted) - 1)))
    assert rel[0] < 0.02 and 0.4 < rel[1] / rel[0] < 0.6    # ratio -> 1 at rate O(η)


def test_underflow_stalls_plain_steps_but_not_normalized():
    x = np.array([1.0, 0.0])
    prob = one_point(QUAD, x=x, theta0=(30.0, 0.0))
    # first step: z += 1e20 e^{-30} x ≈ 9.4e6 x; then ℒ = e^{-9.4e6} underflows to 0
    sol = mirror_descent(prob, 1e20, 10, record_every=1)
    assert sol.status == "stalled" and sol.meta["reason"].startswith("stalled at step 1")
    assert "normalized=True" in sol.meta["reason"] and "normalized=True" in sol.message
    assert len(sol.s) == 2 and sol.meta["steps_done"] == 1
    norm = mirror_descent(prob, 2.0, 10, normalized=True)
    assert norm.status == "reached"
    np.testing.assert_allclose(norm.theta[-1], [30.0 + 20.0, 0.0], rtol=1e-14)


def test_recording_and_progress(capsys):
    prob = Problem.create(two_d(6, seed=0), Linear(), HYP, seed=0)
    sol = mirror_descent(prob, 0.1, 10, record_every=3, progress=True)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(sol.log_t, np.log(0.1 * np.array([0, 3, 6, 9, 10])))
    assert "mirror descent" in capsys.readouterr().err
    assert len(mirror_descent(prob, 0.1, 5000).s) == 1001        # default: ~1000 points
    assert mirror_descent(prob, 1e-3, 10**6, max_seconds=0.05).status == "budget"


def test_errors():
    prob = Problem.create(two_d(6, seed=0), Linear(), QUAD, seed=0)
    for eta in (0.0, -1.0, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="eta must be a finite float > 0"):
            mirror_descent(prob, eta, 10)
    for steps in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps must be an integer >= 1"):
            mirror_descent(prob, 0.1, steps)
    with pytest.raises(ValueError, match="record_every"):
        mirror_descent(prob, 0.1, 10, record_every=0)
    no_inverse = Problem.create(two_d(6, seed=0), Linear(), Potential("x**2/2 + x**4/4"))
    with pytest.raises(NotImplementedError, match=r"closed-form inverse.*solve_float64"):
        mirror_descent(no_inverse, 0.1, 10)
    blowup = Problem.create(two_d(6, seed=0), Linear(), Potential.hyperbolic_entropy(1), seed=0)
    failed = mirror_descent(blowup, 1e5, 5)
    assert failed.status == "failed" and failed.meta["reason"].startswith("non-finite")
