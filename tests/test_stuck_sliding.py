"""Runs whose loss stays >= l(0): the clock u = log s and the stuck monitor (issue 10).

Along mirror flow the loss never increases, so ``s = int L dt <= L(0) t``; when a sample keeps
margin 0 the loss stays >= l(0) and ``s`` grows like ``t``: ``u = log s`` follows ``log t``.
Expectations come from closed forms of the flow (THEORY.md §7) and from the geometry of a
Filippov sliding mode (§7.2), never from a printed run.
"""
import mpmath
import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import MLP, Dataset, Problem, TwoLayer, separable_gaussian, solve_mirror_flow
from numerics.problem import MPMATH
from numerics.solvers import HELD_RTOL, held_samples, stuck_samples
from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system, integrate_taylor
from theory import Potential


def test_log_clock_follows_log_t_past_690_when_a_sample_keeps_margin_0():
    # gradient flow, linear model, x_1 = (1, 1) and x_2 = 0 (margin 0 for ever): q_1 = 2 z_1
    # with dq_1/dt = 2 exp(-q_1), so exp(q_1) = 1 + 2t and
    #   s(t) = int (exp(-q_1) + 1) dt = t + log(1 + 2t) / 2,
    # u = log s ~ log t: the old float limit u <= 690 stopped such a run at log t = 690
    x = sp.Symbol("x", real=True)
    gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    X = np.array([[1.0, 1.0], [0.0, 0.0]])
    sysm = build_mirror_flow_system(lambda th: (X @ th, X.astype(object)), 2, gd, clock="log_s")
    run = integrate_taylor(sysm, [0.0, 0.0], 800.0, fp_type="real128")
    assert run.status == "reached" and run.logt[-1] == 800
    with mpmath.workdps(40):
        for u, logt in zip(run.clock, run.logt, strict=True):
            if logt > 0:       # the start point sits at s0 (its log t is exact to O(s0^2))
                t = mpmath.exp(logt)
                assert abs(u - mpmath.log(t + mpmath.log1p(2 * t) / 2)) < 1e-28 * max(1, logt)


def _held_problem() -> tuple[Problem, np.ndarray]:
    # one ReLU unit a relu(w.x), x_1 = (1, 0) y = +1, x_2 = (1, 1) y = -1, from w = (1/2, -1/2)
    # on the kink w.x_2 = 0 with a = 1 > 0: above the kink sample 2 pushes w.x_2 down, below it
    # sample 1 pushes it up, so the flow slides with w = r (1, -1) (tests/test_mlp_precise.py
    # solves the reduced ODE): w.x_2 = 0, q_2 = 0 for ever, and a > 0 cannot give x_2 a
    # negative output
    data = Dataset.from_arrays(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0]))
    theta0 = np.array([0.5, -0.5, 1.0])
    return (Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
                           theta0=theta0), theta0)


def test_a_unit_held_at_its_kink_counts_as_off_on_either_side():
    # a 30-digit state on the sliding surface, rounded to float64, lands within an ulp of the
    # kink on either side: with relu'(0+) = 1 its gradient is O(1), with relu'(0-) = 0 it is 0;
    # the held test gives the same verdict on both sides (it used to flip with the rounding)
    prob, theta = _held_problem()
    for gap in (1e-17, -1e-17, 0.0):
        th = theta + np.array([0.0, gap, 0.0])
        assert held_samples(prob, th).tolist() == [False, True]
        assert stuck_samples(prob, th) == [1]
    assert held_samples(prob, theta + np.array([0.0, 0.25, 0.0])).tolist() == [False, False]


def test_sliding_on_a_dead_samples_side_is_stuck_not_clock_limit():
    # the flow slides for ever (above), so L >= l(0) = 1 and s >= t; sample 1 separates
    # (q_1 = a r grows), so once exp(-q_1) < 1e-2 the loss is sample 2's alone.  The monitor
    # used to stay silent while a unit slid: the run went on until u = log s met its limit
    # 690.  It must stop 'stuck' on sample 2, still sliding, long before log t = 690
    prob, _ = _held_problem()
    sol = solve_mirror_flow(prob, log_t=1e3, dps=30, method="taylor", certify=False,
                            max_seconds=60)
    assert sol.status == "stuck", (sol.status, sol.meta.get("reason"))
    assert "samples [1]" in sol.meta["reason"]
    assert float(sol.log_t[-1]) < 100
    w = sol.theta_mp[-1]
    assert abs(w[0] + w[1]) < mpmath.mpf(10) ** -28 * abs(w[0])     # still on w.x_2 = 0
    assert float(sol.log_loss[-1]) < 1e-2                            # log L ~ log l(0) = 0


def test_a_depth3_net_whose_samples_die_on_a_sliding_kink_is_stuck():
    # depth-3 ReLU MLP, hyperbolic entropy, data seed 1, init scale 0.1 seed 0: samples 0, 1, 4
    # lose every unit (one held on its kink by a slide from log t ~ 2.5): their outputs are 0
    # and the loss is 3 l(0) = 3, theirs alone.  That run used to "reach" log t = 100 with the
    # three at margin 0 (the monitor did not look while a unit slid)
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=1), MLP(widths=(3, 3)),
                          Potential.hyperbolic_entropy(1), scale=0.1, seed=0)
    sol = solve_mirror_flow(prob, log_t=100.0, dps=30, method="taylor", certify=False,
                            max_seconds=60)
    assert sol.status == "stuck", (sol.status, sol.meta.get("reason"))
    assert "samples [0, 1, 4]" in sol.meta["reason"] and float(sol.log_t[-1]) < 20
    with mpmath.workdps(40):
        outputs = prob.model.outputs(sol.theta_mp[-1], MPMATH.asarray(prob.data.X), MPMATH)
    assert all(abs(outputs[i]) < 1e-25 for i in (0, 1, 4))
    assert all(prob.data.y[i] * outputs[i] > 1 for i in (2, 3, 5))
    assert abs(float(sol.log_loss[-1]) - np.log(3)) < 1e-2


def _last_hidden(Ws: list[np.ndarray], X: np.ndarray, act: str) -> np.ndarray:
    """Pre-activations (n, h) of the last hidden layer: a forward pass written here."""
    sigma = {"relu": lambda z: np.maximum(z, 0.0), "square_relu": lambda z: np.maximum(z, 0.0)**2,
             "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z)}[act]
    H = X
    for W in Ws[:-2]:
        H = sigma(H @ W.T)
    return H @ Ws[-2].T


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       act=st.sampled_from(["relu", "square_relu", "leaky_relu"]),
       d=st.integers(1, 3), n=st.integers(1, 4), seed=st.integers(0, 2**16),
       plant=st.sampled_from(["none", "off", "tiny"]))
def test_held_samples_matches_the_last_hidden_layer(widths, act, d, n, seed, plant):
    """``held_samples`` on drawn nets, data and states, against a forward pass written here:
    a sample is held iff every unit of the last hidden layer is at most HELD_RTOL of the
    layer's largest pre-activation, for activations flat on their negative side (never for
    leaky ReLU).  Planted: sample 0 with every first-layer unit off (``off``: deeper layers
    then have pre-activation exactly 0), or one unit's pre-activation 1e-17 of its scale
    (``tiny``: a sliding unit rounded to float64).  Held samples have output at most
    ``|a|_1 sigma(HELD_RTOL M)`` (the output is linear in the last hidden layer)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[0] += np.sign(X[0]) + (X[0] == 0)                        # |x_0| >= 1
    model = TwoLayer(widths[0], act) if len(widths) == 1 else MLP(tuple(widths), act)
    shapes = [s for _, s in model.layout(d)]
    if len(shapes[-1]) == 1:                                   # TwoLayer: a is a vector
        shapes[-1] = (1, shapes[-1][0])
    Ws = [rng.standard_normal(s) for s in shapes]
    x0 = X[0] / np.dot(X[0], X[0])
    if plant == "off":                                         # W1 x_0 = -|r| < 0
        Ws[0] = Ws[0] - np.outer(Ws[0] @ X[0] + np.abs(rng.standard_normal(len(Ws[0]))) + 0.1,
                                 x0)
    elif plant == "tiny" and len(widths) == 1:                 # unit 0 on its kink at x_0
        Ws[0][0] -= (Ws[0][0] @ X[0] - 1e-17 * np.abs(Ws[0][0]).sum()) * x0
    theta = np.concatenate([W.ravel() for W in Ws])
    data = Dataset.from_arrays(X, np.where(rng.random(n) < 0.5, 1.0, -1.0))
    prob = Problem.create(data, model, Potential.quadratic(), theta0=theta)
    got = held_samples(prob, theta)
    Z = _last_hidden(Ws, X, act)
    M = float(np.max(np.abs(Z)))
    expected = (np.all(Z <= HELD_RTOL * M, axis=1) if act != "leaky_relu"
                else np.zeros(n, dtype=bool))
    assert got.tolist() == expected.tolist()
    if plant == "off" and act != "leaky_relu" and M > 0:
        assert got[0]
    out = model.outputs(theta, X)
    sig = HELD_RTOL * M if act == "relu" else (HELD_RTOL * M) ** 2
    bound = np.abs(Ws[-1]).sum() * sig * (1 + 1e-12) + 1e-300
    assert np.all(np.abs(out[got]) <= bound)


def test_a_run_and_its_certificate_rerun_decide_stuck_at_one_level():
    # 3 x²/2 on a width-2 ReLU net, 2 samples: from log t ~ 3.7 both units are off on sample 1
    # (a state, checked below on theta).  The monitor compared the log t of the first step past
    # each check level: the run (rtol 1e-10) checked at 3.766, so it was due at 7.53 and
    # reached log t = 8 'reached'; its certificate's rerun (rtol 3e-14) checked at 3.674, was
    # due at 7.35 and stopped 'stuck', so the float64 run had no certificate (found by the
    # slow cross-path battery).  Checks now count at their grid level.
    from numerics.problem import make_dataset
    from numerics.solvers import stuck_check_level

    prob = Problem.create(make_dataset("separable_gaussian", n=2, d=2, margin=0.1, seed=2),
                          TwoLayer(width=2, activation="relu"), Potential("3*x**2/2"),
                          scale=1.0, seed=28)
    runs = [solve_mirror_flow(prob, log_t=8.0, certify=False, rtol=rtol)
            for rtol in (1e-10, 3e-14)]
    for sol in runs:
        assert sol.status == "stuck", sol.message
        W = sol.theta[-1][:4].reshape(2, 2)
        assert np.all(prob.data.X[1] @ W.T < 0)  # both units off on sample 1: no force on it
    levels = {stuck_check_level(float(sol.log_t[-1])) for sol in runs}
    assert len(levels) == 1, [float(sol.log_t[-1]) for sol in runs]
