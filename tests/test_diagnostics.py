"""Tests for numerics.checks._diagnostics (THEORY.md §2, §4, §6).

Expectations come from hand computations, from numpy norms written out here, from
theory.max_margin (an LP / NNLS oracle tested on its own), or from the theorems themselves
(monotonicity of the smoothed margin, the global identity), never from the code's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics.checks import (
    diagnose,
    global_identity_residual,
    horizon_gauge,
    max_margin_gap,
    mirror_alignment,
    norms,
    q_margin,
    smoothed_margin,
    sparsity,
)
from numerics.problem import (
    MLP,
    Dataset,
    Linear,
    Problem,
    SquareReLU,
    TwoLayer,
    make_dataset,
    two_d,
)
from numerics.solvers import MirrorFlowSolution, solve_float64
from theory import PerLayer, Potential, max_margin

QUAD = Potential.quadratic()
HYP = Potential.hyperbolic_entropy(0.1)
COSH = Potential.cosh()


def linear_problem(potential, X=((1.0, 0.0), (0.0, 2.0)), y=(1, 1), loss="exp"):
    X = np.asarray(X, dtype=float)
    return Problem(Dataset.from_arrays(X, y), Linear(), potential, loss, np.zeros(X.shape[1]))


def square_relu_problem(potential):
    data = make_dataset("separable_gaussian", n=8, d=4, margin=0.1, seed=0)
    return Problem.create(data, TwoLayer(width=6, activation=SquareReLU()), potential,
                          seed=0, scale=0.5)


# ----------------------------------------------------------------------------- gauge and norms


def test_gauges_by_hand():
    theta = [3.0, -4.0]
    assert horizon_gauge(linear_problem(HYP), theta) == pytest.approx(7.0, rel=1e-15)     # l1
    assert horizon_gauge(linear_problem(QUAD), theta) == pytest.approx(5.0, rel=1e-15)    # l2
    assert horizon_gauge(linear_problem(COSH), theta) == pytest.approx(4.0, rel=1e-15)    # linf
    assert horizon_gauge(linear_problem(Potential.lp(3)), theta) == pytest.approx(91 ** (1 / 3))
    assert horizon_gauge(linear_problem(QUAD), [0.0, 0.0]) == 0.0
    # no overflow: positive homogeneity is used (|1e200|^3 alone would overflow)
    assert horizon_gauge(linear_problem(Potential.lp(3)), [3e200, -4e200]) == pytest.approx(
        91 ** (1 / 3) * 1e200)


@pytest.mark.parametrize("P", [17, 40, 300])
def test_chunked_gauge_matches_numpy_norms(P):
    rng = np.random.default_rng(P)
    v = rng.standard_normal(P)
    X = np.ones((1, P))
    for pot, ref in ((QUAD, np.linalg.norm(v)), (Potential.lp(3), np.linalg.norm(v, 3)),
                     (HYP, np.abs(v).sum()), (COSH, np.abs(v).max())):
        assert horizon_gauge(linear_problem(pot, X, [1]), v) == pytest.approx(ref, rel=1e-13)


def test_one_sided_gauge():
    # f = e^x - x + x²/2: index ∞ at +inf, 2 at -inf -> l2 on the negative side only
    pot = Potential("exp(x) - x + x**2/2")
    X = np.ones((1, 30))
    v = -np.abs(np.random.default_rng(0).standard_normal(30))
    prob = linear_problem(pot, X, [1])
    assert horizon_gauge(prob, v) == pytest.approx(np.linalg.norm(v), rel=1e-13)
    w = v.copy()
    w[7] = 0.5
    assert horizon_gauge(prob, w) == math.inf
    with pytest.raises(ValueError, match="one-sided"):
        max_margin_gap(linear_problem(pot), [-1.0, -1.0])


def test_norms_by_hand():
    out = norms(linear_problem(HYP), [3.0, -4.0])
    assert out["horizon"] == pytest.approx(7.0)
    assert out["l2"] == pytest.approx(5.0)
    z = np.arcsinh(np.array([3.0, -4.0]) / 0.1)                  # f' = asinh(x/b)
    assert out["dual_l2"] == pytest.approx(np.linalg.norm(z))
    assert out["dual_linf"] == pytest.approx(np.arcsinh(40.0))


def test_q_margin_by_hand_and_scale_invariance():
    # q = (3, 8); l1 gauge 7 -> 3/7; l2 -> 3/5
    assert q_margin(linear_problem(HYP), [3.0, 4.0]) == pytest.approx(3 / 7)
    assert q_margin(linear_problem(QUAD), [3.0, 4.0]) == pytest.approx(3 / 5)
    prob = square_relu_problem(HYP)                                # L = 3
    th = prob.theta0 + 0.3
    assert q_margin(prob, 7.0 * th) == pytest.approx(q_margin(prob, th), rel=1e-12)
    gauge = np.abs(th).sum()
    q = prob.data.y * prob.model.outputs(th, prob.data.X)
    assert q_margin(prob, th) == pytest.approx(q.min() / gauge**3, rel=1e-12)


def test_per_layer_potentials():
    data = make_dataset("separable_gaussian", n=5, d=3, seed=1)
    th0 = TwoLayer(width=2).init(3, rng=0)
    same = Problem(data, TwoLayer(width=2), PerLayer((HYP, Potential.hyperbolic_entropy(1))),
                   theta0=th0)
    assert horizon_gauge(same, th0) == pytest.approx(np.abs(th0).sum())    # both l1
    with pytest.raises(NotImplementedError, match="same potential on every layer"):
        smoothed_margin(same, th0)
    mixed = Problem(data, TwoLayer(width=2), PerLayer((QUAD, COSH)), theta0=th0)
    with pytest.raises(NotImplementedError, match="different horizons"):
        q_margin(mixed, th0)
    assert math.isnan(norms(mixed, th0)["horizon"])


# ----------------------------------------------------------------------------- smoothed margin


def test_smoothed_margin_by_hand():
    theta = np.array([3.0, 4.0])
    loss = np.exp(-3.0) + np.exp(-8.0)
    assert smoothed_margin(linear_problem(QUAD), theta) == pytest.approx(-np.log(loss) / 5)
    assert smoothed_margin(linear_problem(Potential.lp(3)), theta) == pytest.approx(
        -np.log(loss) / 91 ** (1 / 3))
    G = np.sum(np.sqrt(theta**2 + 0.01))                         # hyperbolic entropy: r = G
    assert smoothed_margin(linear_problem(HYP), theta) == pytest.approx(-np.log(loss) / G)
    # logistic loss: numerator l^{-1}(L) = -log(e^L - 1)
    ll = np.log1p(np.exp(-3.0)) + np.log1p(np.exp(-8.0))
    assert smoothed_margin(linear_problem(QUAD, loss="logistic"), theta) == pytest.approx(
        -np.log(np.expm1(ll)) / 5)
    # tiny loss (exp(-1000)): stays finite, = 1000/5 to rounding
    big = linear_problem(QUAD, X=[[1.0, 0.0]], y=[1])
    assert smoothed_margin(big, [1000.0, 0.0]) == pytest.approx(1.0, rel=1e-12)
    assert smoothed_margin(linear_problem(QUAD, X=[[1.0, 0.0]], y=[1], loss="logistic"),
                           [1000.0, 0.0]) == pytest.approx(1.0, rel=1e-12)


def test_smoothed_margin_unsupported_potential():
    with pytest.raises(NotImplementedError, match="hyperbolic"):
        smoothed_margin(linear_problem(COSH), [1.0, 1.0])
    with pytest.raises(NotImplementedError, match="neither a power"):
        smoothed_margin(linear_problem(Potential("x**2/2 + x**4/4")), [1.0, 1.0])


@pytest.fixture(scope="module")
def runs():
    """float64 runs: (GD, hyperbolic entropy) x (linear, two-layer square ReLU)."""
    out = {}
    for pname, pot in (("gd", QUAD), ("hyp", HYP)):
        lin = Problem.create(two_d(12, seed=3), Linear(), pot, seed=0, scale=0.5)
        out[pname, "linear"] = (lin, solve_float64(lin, log_t=200.0))
        net = square_relu_problem(pot)
        out[pname, "net"] = (net, solve_float64(net, log_t=60.0))
    return out


@pytest.mark.parametrize("key", [("gd", "linear"), ("gd", "net"), ("hyp", "linear"),
                                 ("hyp", "net")])
def test_smoothed_margin_non_decreasing_once_loss_below_one(runs, key):
    # THEORY.md §4: r(G)/r'(G) >= H  =>  d/dt γ̃_r >= 0 once ℒ < 1
    prob, sol = runs[key]
    assert sol.status == "reached"
    late = sol.log_loss < 0
    assert late.sum() > 50
    gam = np.array([smoothed_margin(prob, th) for th in sol.theta[late]])
    assert np.all(np.diff(gam) >= -1e-9 * np.abs(gam[1:]))
    assert gam[-1] > gam[0]


def test_wrong_radius_is_not_monotone():
    # The check can fail: for GD, r = ||θ||_1 violates r/r' >= H. Start on the l1 max-margin
    # direction (large scale, ℒ < 1): GD turns to the l2 direction, whose l1-normalised margin
    # is smaller (LP values below), so log(1/ℒ)/||θ||_1 must come down; ||θ||_2 stays monotone.
    data = make_dataset("separable_gaussian", n=10, d=4, margin=0.2, seed=0)
    m1, m2 = max_margin(data.X, data.y, 1), max_margin(data.X, data.y, 2)
    l1_margin_of_l2_dir = m2.margin / np.abs(m2.direction).sum()
    assert l1_margin_of_l2_dir < m1.margin - 0.02
    prob = Problem.create(data, Linear(), QUAD, theta0=40.0 * m1.direction)
    sol = solve_float64(prob, log_t=100.0)
    assert sol.log_loss[0] < 0
    right = np.array([smoothed_margin(prob, th) for th in sol.theta])
    wrong = -sol.log_loss / np.abs(sol.theta).sum(axis=1)
    assert np.all(np.diff(right) >= -1e-9 * right[1:])
    assert wrong.max() - wrong[-1] > 0.01 * wrong.max()
    assert wrong[-1] < m1.margin


# ----------------------------------------------------------------------------- global identity


def test_global_identity_residual_small_on_float64_run(runs):
    for key in (("gd", "linear"), ("hyp", "net")):
        prob, sol = runs[key]
        res = global_identity_residual(prob, sol)
        assert res.relative.shape == (len(sol.s) - 1,)
        assert res.relative.max() < 0.05
        assert np.median(res.relative) < 1e-3
        # what is left is the trapezoid error, estimated from second differences of R
        assert np.all(res.relative <= 3 * res.trapezoid_error + 1e-9)


def test_global_identity_residual_detects_perturbation(runs):
    prob, sol = runs["hyp", "net"]
    k = len(sol.s) // 2
    theta = sol.theta.copy()
    theta[k] *= 1.01                                   # Σg off at one point
    bad = MirrorFlowSolution.from_states(prob, s=sol.s, log_t=sol.log_t, thetas=theta,
                                         status="", method="", precision_bits=53,
                                         rhs_evals=0, seconds=0.0)
    res = global_identity_residual(prob, bad)
    assert res.relative[k - 1] > 0.3 and res.relative[k] > 0.3
    assert res.relative[k - 1] > 100 * res.trapezoid_error[k - 1]
    # the GD trajectory read with a different potential's g: the identity fails everywhere
    gd_prob, gd_sol = runs["gd", "linear"]
    wrong = Problem(gd_prob.data, gd_prob.model, HYP, theta0=gd_prob.theta0)
    assert np.median(global_identity_residual(wrong, gd_sol).relative) > 0.1


# ----------------------------------------------------------------------------- alignment


def test_mirror_alignment_vanishes_late_for_linear_gd(runs):
    # GD: ∇²φ = I, so this is 1 - cos(θ, -∇ℒ). θ(t) = û log t / γ + O(1) (Soudry et al.) and
    # -∇ℒ = Σ e^{-q_i} y_i x_i is dominated by the support vectors, whose weights make it
    # parallel to û = Σ λ_i y_i x_i up to O(1/log t) (non-support terms decay like t^{-δ});
    # so 1 - cos = O(1/log² t) -> 0.
    prob, sol = runs["gd", "linear"]
    al = np.array([mirror_alignment(prob, th) for th in sol.theta])
    assert al[-1] < 1e-5
    assert al[-1] < 1e-2 * al[len(al) // 10]
    assert math.isnan(mirror_alignment(prob, np.zeros(2)))         # ∇²φ θ = 0: undefined


def test_mirror_alignment_by_hand():
    prob = linear_problem(HYP, X=[[1.0, 0.0]], y=[1])
    # ∇²φ θ = θ / sqrt(θ² + b²) = (3/sqrt(9.01), 0) ∥ (1, 0) = -∇ℒ direction
    assert mirror_alignment(prob, [3.0, 0.0]) == pytest.approx(0.0, abs=1e-15)
    a = np.array([1.0, 1.0]) / np.sqrt(1.01)
    assert mirror_alignment(prob, [1.0, 1.0]) == pytest.approx(1 - a[0] / np.linalg.norm(a))


# ----------------------------------------------------------------------------- max margin


def test_max_margin_gap_zero_at_direction_positive_elsewhere():
    data = two_d(12, seed=3)
    for pot, p in ((QUAD, 2), (HYP, 1), (COSH, np.inf)):
        prob = Problem(data, Linear(), pot, theta0=np.zeros(2))
        mm = max_margin(data.X, data.y, p)
        at = max_margin_gap(prob, 3.0 * mm.direction)
        assert at["distance"] == pytest.approx(0.0, abs=1e-9)
        assert at["margin_ratio"] == pytest.approx(1.0, abs=1e-9)
        off = max_margin_gap(prob, 3.0 * mm.direction + [0.2, 0.1])
        assert off["distance"] > 1e-3
        assert off["margin_ratio"] < 1.0


def test_max_margin_gap_shrinks_along_gd(runs):
    prob, sol = runs["gd", "linear"]
    d = [max_margin_gap(prob, th)["distance"] for th in sol.theta[[len(sol.s) // 4, -1]]]
    assert d[1] < d[0] and d[1] < 0.05


def test_max_margin_gap_rejects_networks():
    with pytest.raises(ValueError, match="linear models"):
        max_margin_gap(square_relu_problem(QUAD), np.ones(30))


# ----------------------------------------------------------------------------- sparsity


def _net(width, X, theta, model=None):
    data = Dataset.from_arrays(X, np.ones(len(X)))
    return Problem(data, model or TwoLayer(width=width), QUAD, theta0=np.asarray(theta, float))


def test_sparsity_by_hand():
    W = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [-1.0, -1.0]])
    a = np.array([1.0, 1.0, 5.0, 0.0])
    X = np.array([[1.0, 1.0], [-1.0, 1.0]])
    theta = np.concatenate([W.ravel(), a])
    out = sparsity(_net(4, X, theta), theta)
    # products ||w_j|| |a_j| = (1, 2, 0, 0)
    assert out["active_neurons"] == 0.5
    assert out["participation_ratio"] == pytest.approx(9 / 5)
    # w_j·x: x1 -> (1, 2, 0, -2): 2 of 4 active; x2 -> (-1, 1, 0, 0): 1 of 4
    assert out["active_per_input"] == pytest.approx(3 / 8)
    # v = (1, 0, 0, 2, 0, 0, -1, -1): ||v||_1 = 5, ||v||_2 = sqrt(7), n = 8
    assert out["hoyer"] == pytest.approx((np.sqrt(8) - 5 / np.sqrt(7)) / (np.sqrt(8) - 1))
    # same theta as an MLP with one hidden layer
    assert sparsity(_net(4, X, theta, MLP(widths=(4,))), theta) == out


def test_sparsity_extremes():
    X = np.array([[1.0, 2.0, 3.0]])
    one = np.zeros(3 * 3 + 3)
    one[0], one[9] = 2.0, 1.0                     # a single weight, a single neuron
    out = sparsity(_net(3, X, one), one, tol=1e-3)
    assert out["hoyer"] == pytest.approx(1.0)
    assert out["participation_ratio"] == pytest.approx(1.0)
    assert out["active_neurons"] == pytest.approx(1 / 3)
    dense = np.concatenate([np.ones(9), np.ones(3)])
    out = sparsity(_net(3, X, dense), dense)
    assert out["hoyer"] == pytest.approx(0.0, abs=1e-15)
    assert out["participation_ratio"] == pytest.approx(3.0)
    assert out["active_neurons"] == 1.0 and out["active_per_input"] == 1.0
    with pytest.raises(ValueError, match="two-layer"):
        sparsity(linear_problem(QUAD), [1.0, 1.0])
    with pytest.raises(ValueError, match="tol"):
        sparsity(_net(3, X, dense), dense, tol=2.0)


# ----------------------------------------------------------------------------- diagnose


def test_diagnose_linear_and_network(runs):
    prob, sol = runs["gd", "linear"]
    out = diagnose(prob, sol)
    N = len(sol.s)
    for key in ("q_margin", "smoothed_margin", "norm_horizon", "norm_dual_linf",
                "mirror_alignment", "max_margin_distance", "margin_ratio", "identity_residual"):
        assert out[key].shape == (N,), key
    assert out["q_margin"][-1] == pytest.approx(q_margin(prob, sol.theta[-1]))
    assert np.isnan(out["identity_residual"][0])
    assert [s.split(":")[0] for s in out["skipped"]] == ["sparsity"]

    net = square_relu_problem(COSH)
    nsol = solve_float64(net, log_t=5.0)
    out = diagnose(net, nsol)
    skipped = {s.split(":")[0]: s for s in out["skipped"]}
    assert set(skipped) == {"smoothed_margin", "max_margin"}
    assert "linear models" in skipped["max_margin"]
    assert out["sparsity_hoyer"].shape == (len(nsol.s),)
    assert out["norm_horizon"][-1] == pytest.approx(np.abs(nsol.theta[-1]).max())
