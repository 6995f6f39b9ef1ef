"""Property tests: THEORY.md statements checked on drawn potentials, data and initialisations.

Each test's docstring names the THEORY.md statement it checks; each compares a trajectory with
an independent quantity: the balance law recomputed from g, the global identity's right-hand
side re-integrated separately, closed-form max-margin directions of planted data
(cross-checked against the LP / convex programs of ``theory.max_margin``), and the rates of
``Potential.rates``. Domains are the documented strategies of ``numerics.testing``; the checks
are those of ``mirrorflow verify`` (``numerics.checks._verify``), whose failure messages give the
predicted and the measured value (hypothesis adds the shrunk example).
``tests/test_verify.py`` shows that every check can fail.

Profiles (``tests/conftest.py``): the default ``dev`` profile runs a few examples per property
(``examples(n)``: n examples in ``dev`` and ``ci``, 12·n in ``thorough``); the long
versions (log t = 400 on diagonal networks for every family, two-layer rates for three
potentials, cosh on tied data) are marked ``slow``. Float64 throughout (rtol 1e-10); bands in
``numerics.checks.BANDS``.

Not checkable in float64 here: ``gaussian_exp`` (its LambertW inverse does not compile to
numpy), cosh on data with several l_inf support vectors beyond log t ≈ 25-50 (stiff), l_p with
fractional p < 3 (f', f'' compile to NaN at x < 0), the paper's exponentially slow regime
(log t ~ 1e15), and the *limit* of rapidly varying potentials: cosh on a depth-2 diagonal
network is still nearer a finite l_q direction (q ≈ 4-8) than the l_inf one at log t = 400
(THEORY.md §5), so for it the trend is checked: the l_inf gap falls at every checkpoint and the
best-fitting exponent q_eff only grows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from numerics import Diagonal, Linear, Problem, TwoLayer, separable_gaussian, xor
from numerics.checks import (
    Check,
    check_balance,
    check_direction,
    check_global_identity,
    check_predictor_direction,
    check_rates,
    check_smoothed_margin,
    integrate,
    planted_dataset,
    planted_direction,
)
from numerics.testing import (
    init_scales,
    planted_datasets,
    potential_cases,
    separable_datasets,
    two_layer_models,
)
from theory import Potential, max_margin


def examples(n: int) -> settings:
    """``n`` examples in the dev and ci profiles (CI's time share), 12 n in ``thorough``.

    Each example integrates mirror flow (0.3-6 s in float64), so the fast profiles run a few
    examples per property; ``HYPOTHESIS_PROFILE=thorough`` multiplies them by
    ``max_examples // 25`` (300 // 25 = 12).
    """
    base = settings.default
    return settings(base, max_examples=max(1, n * max(1, base.max_examples // 25)),
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


def ensure(check: Check) -> None:
    """Assert a check, with the predicted and measured values in the message."""
    assert check.passed, (f"{check.name}: predicted {check.predicted}, measured "
                          f"{check.measured}. {check.detail}")


def run(problem: Problem, log_t: float, max_seconds: float = 20.0):
    """A float64 run that must reach ``log_t`` (statements about the limit need it)."""
    sol = integrate(problem, log_t, max_seconds=max_seconds)
    assert sol.status == "reached", (
        f"float64 run stopped at log t = {sol.log_t[-1]:.3g} of {log_t} ({sol.status}); the "
        "drawn case is outside what float64 integrates in the time budget")
    return sol


def segment(problem: Problem, log_t: float, max_seconds: float = 3.0):
    """A float64 run, possibly cut short: identities hold on every piece of a trajectory.

    A network stuck at a non-separating stationary point makes float64 step counts explode;
    what was integrated within ``max_seconds`` is still checked.
    """
    sol = integrate(problem, log_t, max_seconds=max_seconds)
    assert len(sol.s) >= 3, f"only {len(sol.s)} points integrated ({sol.status})"
    return sol


def _unit(v):
    return np.asarray(v) / np.linalg.norm(v)


# Potentials for networks: f''(0) > 0 (l_p with p > 2 has a non-Lipschitz inverse at 0)
NETWORK_FAMILIES = ("quadratic", "hyperbolic_entropy", "cosh", "sum")


# ----------------------------------------------------------------------------- §3 strategies


@examples(2)
@given(potential_cases(families=("sum",)))
def test_sum_horizon_is_the_dominant_term(case):
    """THEORY.md §3 (mixtures: "by the dominant growth"): a random sum of convex terms has the
    horizon of its fastest-growing term. Expected: fixed by the strategy's construction;
    measured: ``Potential.horizon`` derived by theory from the expression."""
    h = case.potential.horizon
    expected = "linf" if math.isinf(case.horizon_p) else "lp"
    assert h.norm == expected, f"{case}: predicted {expected}, theory derives {h.norm} (p={h.p})"
    if expected == "lp":
        assert float(h.p) == case.horizon_p, (
            f"{case}: predicted p = {case.horizon_p}, theory derives p = {h.p}")


@examples(10)
@given(planted_datasets(d=3), st.sampled_from([1.0, 1.5, 2.0, 3.0, math.inf]))
def test_planted_direction_matches_max_margin_program(data, q):
    """THEORY.md §4 (the linear oracle argmin φ_∞ s.t. y_i<x_i,β> >= 1): the closed-form l_q
    direction of planted data equals the direction of the LP / convex program solved
    independently by ``theory.max_margin``."""
    u = planted_direction(data.info["x_star"], q)
    res = max_margin(data.X, data.y, q)
    np.testing.assert_allclose(res.direction, u, atol=1e-6,
                               err_msg=f"planted x* = {data.info['x_star']}, q = {q}: "
                                       f"predicted (closed form) vs measured (program)")


@pytest.mark.parametrize("p", ["1.5", "2.5"])
def test_fractional_lp_compiles_in_float64(p):
    """THEORY.md §1 table (l_p power, p > 1): f' and f'' are finite for x < 0 in float64
    (sympy's x/Abs(sqrt(x)) and |x**(-1/2)| forms were NaN there; theory.tidy rewrites them)."""
    prob = Problem(separable_gaussian(n=2, d=2, seed=0), Linear(), Potential.lp(p),
                   theta0=np.array([-0.5, 0.5]))
    x = np.array([-2.0, 2.0])
    assert np.all(np.isfinite(prob.mirror(x))) and np.all(np.isfinite(prob.hessian_diag(x)))


# ----------------------------------------------------------------------------- §2 balance law


@examples(2)
@given(potential_cases(families=NETWORK_FAMILIES),
       two_layer_models(width=(4, 6), activations=("power(2)",)),
       st.integers(8, 16), st.integers(0, 999), init_scales(0.05, 1.0))
def test_balance_law_conserved(case, model, n, seed, scale):
    """THEORY.md §2 (balance equation): C_j = Σ_in g − k Σ_out g is constant along mirror
    flow (k = 2 for the activation z²). C_j(t) is recomputed from the recorded θ(t) and
    compared with C_j(0) to 100 eps S (eps = rtol, S = Σ|g| of the neuron)."""
    prob = Problem.create(xor(n=n, seed=seed, gap=0.2), model, case.potential, scale=scale,
                          seed=seed)
    ensure(check_balance(prob, segment(prob, 10.0)))


def test_balance_residual_scales_with_working_precision():
    """THEORY.md §2 (balance equation, exact in continuous time): the measured residual is
    integration error, so tightening rtol by 1e4 shrinks it by at least 100."""
    prob = Problem.create(xor(n=16, seed=2, gap=0.2), TwoLayer(width=4, activation="power(2)"),
                          Potential.hyperbolic_entropy(0.1), scale=0.5, seed=1)
    coarse = integrate(prob, 15.0, rtol=1e-6)
    fine = integrate(prob, 15.0, rtol=1e-10)
    r_coarse, r_fine = (float(np.max(s.balance_residual_max)) for s in (coarse, fine))
    assert r_fine * 100 <= r_coarse, (
        f"predicted residual ratio >= 100, measured {r_coarse:.3g} at rtol 1e-6 vs "
        f"{r_fine:.3g} at rtol 1e-10")
    ensure(check_balance(prob, coarse))
    ensure(check_balance(prob, fine))


# ----------------------------------------------------------------------------- §2 identity


@st.composite
def problems(draw):
    """A linear, depth-2 diagonal or two-layer problem with a drawn potential and data."""
    kind = draw(st.sampled_from(["linear", "diagonal", "two_layer"]))
    if kind == "linear":
        case = draw(potential_cases())
        data = draw(planted_datasets(d=draw(st.integers(2, 3))))
        model = Linear()
    else:
        case = draw(potential_cases(families=NETWORK_FAMILIES))
        data = draw(planted_datasets(d=2)) if kind == "diagonal" else xor(
            n=12, seed=draw(st.integers(0, 99)), gap=0.2)
        model = Diagonal(2) if kind == "diagonal" else draw(
            two_layer_models(width=(4, 6), activations=("power(2)",)))
    scale = draw(init_scales(0.05, 0.5))
    return case, Problem.create(data, model, case.potential, scale=scale,
                                seed=draw(st.integers(0, 99)))


@examples(3)
@given(problems())
def test_global_identity_along_trajectories(drawn):
    """THEORY.md §2 (global identity): d/dt Σ g(θ_m) = L Σ (−ℓ'(q_i)) q_i. The recorded
    increments of G = Σ g are compared with ∫R ds re-integrated independently from each
    recorded point, within 10 eps E (E: the change of G caused by a state error of eps), on
    20 intervals: 10 log-spaced, 10 with the largest coarse (trapezoid) residual."""
    _case, prob = drawn
    ensure(check_global_identity(prob, segment(prob, 20.0, max_seconds=2.0), max_intervals=20))


# ----------------------------------------------------------------------------- §4 smoothed margin


@examples(2)
@given(st.sampled_from(["quadratic", "lp", "hyperbolic_entropy"]).flatmap(
           lambda f: potential_cases(families=(f,))),
       st.sampled_from(["linear", "two_layer"]), st.integers(0, 99), init_scales(0.05, 0.5))
def test_smoothed_margin_non_decreasing_once_loss_below_one(case, kind, seed, scale):
    """THEORY.md §4 (smoothed margin, [derived]): γ̃_r = log(1/ℒ) / r(G)^L is non-decreasing
    once ℒ < 1 (r = ‖θ‖_p for f = |x|^p/p, r = G for the hyperbolic entropy); every drop
    below the running maximum is compared with 1000 eps."""
    if kind == "linear":
        prob = Problem.create(separable_gaussian(n=8, d=3, margin=0.2, seed=seed), Linear(),
                              case.potential, scale=scale, seed=seed)
    else:
        pot = Potential.quadratic() if case.family == "lp" else case.potential  # p > 2: slow
        prob = Problem.create(xor(n=12, seed=seed, gap=0.2), TwoLayer(4, "power(2)"), pot,
                              scale=scale, seed=seed)
    # a monotonicity statement holds on every piece of the trajectory: an xor net that crawls
    # (power(2), scale 0.1, seed 63: 4 of 12 samples still misclassified at log t = 8 after
    # 60 s) is checked on what was integrated
    sol = segment(prob, 40.0, max_seconds=20.0)
    # ... if it got below loss 1 at all (the statement is about that part); a run that reached
    # its target must have
    assume(sol.status == "reached" or bool(np.any(sol.log_loss < 0)))
    ensure(check_smoothed_margin(prob, sol))


# ----------------------------------------------------------------------------- §4 directions


@examples(2)
@given(potential_cases(), planted_datasets(d=2) | planted_datasets(d=3))
def test_linear_direction_converges_to_predicted_max_margin(case, data):
    """THEORY.md §4 (linear model, [lit]): θ/‖θ‖ → argmin φ_∞ s.t. margins >= 1. The gap to
    the closed-form l_p direction (p fixed by the construction of the potential, not by
    theory) shrinks on log-spaced checkpoints (log t = 12.5 .. 200) and ends nearer to it
    than to every other l_q direction, q in {1, 1.5, 2, 3, 4, inf}."""
    prob = Problem.create(data, Linear(), case.potential, scale=0.1, seed=0)
    ensure(check_direction(prob, run(prob, 200.0), case.horizon_p))


@examples(1)
@given(st.sampled_from(["quadratic", "hyperbolic_entropy"]).flatmap(
           lambda f: potential_cases(families=(f,))),
       separable_datasets(n=(4, 12), d=(2, 4)))
def test_linear_direction_gap_shrinks_on_gaussian_data(case, data):
    """THEORY.md §4 (linear model, [lit]) on general separable data: the gap to the
    max-margin direction of ``theory.max_margin`` (LP for l1, convex program for l2) shrinks
    between log t = 12.5 and 200."""
    prob = Problem.create(data, Linear(), case.potential, scale=0.1, seed=0)
    ensure(check_direction(prob, run(prob, 200.0), case.horizon_p))


SAME_HORIZON = {
    "l1": (Potential.hyperbolic_entropy("1/10"), Potential.hyperbolic_entropy(1)),
    "linf": (Potential.cosh(), Potential("cosh(x) + x**2")),
}


def _same_horizon(data, log_t):
    x_star = data.info["x_star"]
    final = {}
    for name, pots in (*SAME_HORIZON.items(), ("l2", (Potential.quadratic(),))):
        for k, pot in enumerate(pots):
            prob = Problem.create(data, Linear(), pot, scale=0.1, seed=0)
            sol = run(prob, log_t)
            final[name, k] = (_unit(sol.theta[len(sol.theta) // 2]), _unit(sol.theta[-1]))
    for name, q in (("l1", 1.0), ("linf", math.inf)):
        (mid_a, end_a), (mid_b, end_b) = final[name, 0], final[name, 1]
        between_end = np.linalg.norm(end_a - end_b)
        to_l2 = min(np.linalg.norm(end_a - final["l2", 0][1]),
                    np.linalg.norm(end_b - final["l2", 0][1]))
        assert between_end < 0.5 * to_l2, (
            f"{name} pair: predicted the same limit; final directions {end_a}, {end_b} differ "
            f"by {between_end:.3g}, while the l2 (gradient flow) direction is {to_l2:.3g} away "
            f"(x* = {x_star})")
        assert between_end <= np.linalg.norm(mid_a - mid_b) + 1e-3, (
            f"{name} pair: predicted a shrinking distance; it grew from "
            f"{np.linalg.norm(mid_a - mid_b):.3g} to {between_end:.3g}")
        u = _unit(planted_direction(x_star, q))
        for end in (end_a, end_b):
            assert np.linalg.norm(end - u) < np.linalg.norm(end - _unit(x_star)), (
                f"{name}: final {end} is nearer to the l2 direction than to the predicted {u}")


@examples(1)
@given(planted_datasets(d=2, n=(1, 4)))
def test_same_horizon_same_limit_different_horizons_differ(data):
    """THEORY.md §3 ([paper claim 1], distinct potentials, same horizon): hyperbolic entropy
    for b = 0.1 and b = 1 (l1) reach the same limit direction, at different speeds; cosh and
    cosh + x² (l_inf) too; gradient flow (l2) does not. 2-D planted data, log t = 60: the l1,
    l2 and l_inf directions are distinct (closed forms)."""
    _same_horizon(data, 60.0)


# ----------------------------------------------------------------------------- §5 rates


@examples(2)
@given(potential_cases(), st.floats(0.2, 0.6), st.floats(0.5, 2.0))
def test_linear_rates_match_theory(case, ratio, scale):
    """THEORY.md §5 (rates and norm growth, [derived]): fitted slopes on log t in [50, 200]
    (planted 2-D data, γ from ``theory.max_margin`` in the constructed horizon norm):
    d log ℒ/d log t within 0.02 of the slope of ``rates.loss``, d log ρ / d log log t and
    d log ‖z‖_∞ / d log log t within 10% / 15% of those of ``primal_norm`` / ``dual_norm``."""
    x_star = [scale, scale * ratio]
    data = planted_dataset(x_star, n=3, seed=0)
    prob = Problem.create(data, Linear(), case.potential, scale=0.1, seed=0)
    sol = run(prob, 200.0)
    gamma = max_margin(data.X, data.y, case.horizon_p).margin
    for check in check_rates(prob, sol, case.potential.rates(1), gamma=gamma):
        ensure(check)


def _cosh_power_regime(ratio, scale, log_t):
    data = planted_dataset([scale, scale * ratio], n=2, seed=1)
    prob = Problem.create(data, Linear(), Potential.cosh(), scale=0.1, seed=0)
    sol = run(prob, log_t)
    gamma = scale * (1 + ratio)
    a = gamma / (1 + gamma)
    k = sol.log_t >= log_t / 4
    slope = float(np.polyfit(sol.log_t[k], sol.log_loss[k], 1)[0])
    assert abs(slope + a) < 0.005, (
        f"x* = {scale} (1, {ratio}): predicted d log L/d log t = -{a:.5f}, measured "
        f"{slope:.5f} on log t in [{log_t / 4:g}, {log_t:g}]")
    rates = Potential.cosh().rates(1, margin=gamma)
    assert float(rates.loss_exponent) == pytest.approx(a, rel=1e-12), (
        f"theory's exponent {rates.loss_exponent} vs the closed form γ/(1+γ) = {a}")


@examples(2)
@given(st.floats(0.2, 0.8), st.floats(0.3, 2.5))
def test_cosh_power_regime_exponent(ratio, scale):
    """THEORY.md §5 (the loss decays like a power t^-a with a < 1): cosh on a linear model,
    a = γ/(1+γ) with γ the l_inf margin = c(1 + r) of planted x* = c(1, r) (closed form).
    Measured slope of log ℒ against log t on [15, 60] within 0.005 of −a (observed agreement
    ~1e-6), and theory's ``loss_exponent`` equals the closed form."""
    _cosh_power_regime(ratio, scale, 60.0)


TWO_LAYER_POTENTIALS = [
    "x**2/2",
    pytest.param("x*asinh(10*x) - sqrt(x**2 + 1/100)", marks=pytest.mark.slow),
    pytest.param("cosh(x) + x**2", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("expr", TWO_LAYER_POTENTIALS)
def test_two_layer_rates_match_theory(expr):
    """THEORY.md §5 with L = 3 (two-layer, activation z², Lyu-Li for gradient flow): loss,
    primal and dual norm slopes on XOR data against ``Potential.rates(3)``; log t in
    [250, 1000] for gradient flow (default), [750, 3000] for the slow ones (the last feature
    switches on near log t = 300 for cosh + x²)."""
    log_t = 1000.0 if expr == "x**2/2" else 3000.0
    prob = Problem.create(xor(n=16, seed=1, gap=0.2), TwoLayer(4, "power(2)"), Potential(expr),
                          scale=0.5, seed=1)
    for check in check_rates(prob, run(prob, log_t), Potential(expr).rates(3)):
        ensure(check)


# ----------------------------------------------------------------------------- §4 diagonal nets


DIAGONAL_CASES = {
    # potential, horizon p; predictor exponent p/L for L = 2 (THEORY.md §4 [derived])
    "gradient flow -> l1 (sparse)": (Potential.quadratic(), 2.0),
    "hyperbolic entropy -> l1/2": (Potential.hyperbolic_entropy("1/10"), 1.0),
    "x²/2 + |x|³/3 -> l1.5": (Potential("x**2/2 + abs(x)**3/3"), 3.0),
    "cosh -> l_inf (dense)": (Potential.cosh(), math.inf),
}


def _diagonal(name, data, log_t):
    pot, p = DIAGONAL_CASES[name]
    prob = Problem.create(data, Diagonal(2), pot, scale=0.05, seed=0)
    sol = run(prob, log_t, max_seconds=60.0)
    ensure(check_predictor_direction(prob, sol, p))
    beta = Diagonal(2).beta(sol.theta[-1])
    if 1 < p < math.inf:   # l1/2 and l1 share the vertex on planted data; l_inf/2 = l_inf
        gap_linear = np.linalg.norm(_unit(beta) - _unit(planted_direction(data.info["x_star"],
                                                                            p)))
        assert gap_linear > 0.05, (
            f"{name}: predicted l{p / 2:g} in predictor space, but β stays at the linear "
            f"l{p:g} direction (gap {gap_linear:.3g})")


DIAGONAL_DATA = planted_datasets(d=3, n=(1, 4), ratio=(0.1, 0.4), scale=(1.0, 2.0))


@examples(1)
@given(DIAGONAL_DATA)
@pytest.mark.parametrize("name", list(DIAGONAL_CASES))
def test_diagonal_depth2_reaches_predictor_exponent(name, data):
    """THEORY.md §4 (depth-L diagonal networks, [derived]): β = u⊙u − v⊙v, an l_p horizon
    becomes l_{p/2} in predictor space; β/‖β‖ approaches the closed-form l_{p/2} direction of
    planted data (also for p/2 < 1), not the l_p one a linear model reaches. Finite p: log
    t = 1600, the gap shrinks and the l_{p/2} direction is the nearest candidate (at 400 the
    l1 and l1.5 directions of x* = (-2, -0.5, -0.25) were still in the wrong order for
    x²/2 + |x|³/3: gaps 0.037 vs 0.028; at 1600, 0.026 vs 0.039; at 6400, 0.017 vs 0.048).
    cosh (l_inf, rapidly varying): THEORY.md §5 says it converges very slowly (at log t = 400 an l8
    direction is still nearer than l_inf), so up to log t = 150 the trend is checked: the
    l_inf gap falls at every checkpoint while the best-fitting exponent q_eff grows."""
    _diagonal(name, data, 150.0 if "cosh" in name else 1600.0)


# ----------------------------------------------------------------------------- slow


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DIAGONAL_DATA)
@pytest.mark.parametrize("name", list(DIAGONAL_CASES))
def test_diagonal_depth2_reaches_predictor_exponent_slow(name, data):
    """The diagonal statement above on more draws, at its horizons (log t = 400 for every
    family failed on the default's own example: the l1 / l1.5 order is still wrong there, and
    float64 spent its budget at log t = 364 on cosh)."""
    _diagonal(name, data, 150.0 if "cosh" in name else 1600.0)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted_datasets(d=2, n=(1, 4)))
def test_same_horizon_same_limit_slow(data):
    """THEORY.md §3 [paper claim 1], as above, to log t = 200."""
    _same_horizon(data, 200.0)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.2, 0.8), st.floats(0.3, 2.5))
def test_cosh_power_regime_exponent_slow(ratio, scale):
    """THEORY.md §5 (power regime t^-a, a = γ/(1+γ)), fitted on log t in [50, 200]."""
    _cosh_power_regime(ratio, scale, 200.0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 5])
def test_cosh_power_regime_on_gaussian_data_slow(seed):
    """THEORY.md §5 (power regime) with two tied l_inf support vectors: stiff in float64,
    log t ≈ 35-55 after 60 s; slope on the last half within 0.03 of −γ/(1+γ), γ from the
    l_inf LP of ``theory.max_margin``."""
    from numerics import two_d
    data = two_d(12, seed=seed)
    gamma = max_margin(data.X, data.y, math.inf).margin
    prob = Problem.create(data, Linear(), Potential.cosh(), scale=0.1, seed=0)
    sol = integrate(prob, 60.0, max_seconds=60.0)
    k = sol.log_t >= sol.log_t[-1] / 2
    slope = float(np.polyfit(sol.log_t[k], sol.log_loss[k], 1)[0])
    assert abs(slope + gamma / (1 + gamma)) < 0.03, (
        f"predicted slope -{gamma / (1 + gamma):.4f}, measured {slope:.4f} up to "
        f"log t = {sol.log_t[-1]:.3g}")


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(potential_cases(families=NETWORK_FAMILIES),
       two_layer_models(width=(2, 8), activations=("square_relu",)),
       separable_datasets(n=(6, 16), d=(2, 5)), init_scales(0.01, 2.0))
def test_balance_law_conserved_gaussian_slow(case, model, data, scale):
    """THEORY.md §2 (balance equation, k = 2 for square ReLU) on data a square-ReLU net may
    not fit: checked on whatever part of the trajectory float64 integrates in 30 s."""
    prob = Problem.create(data, model, case.potential, scale=scale, seed=0)
    sol = integrate(prob, 30.0, max_seconds=30.0)
    ensure(check_balance(prob, sol))
