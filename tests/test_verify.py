"""The verification battery can fail: wrong predictions are reported as failures.

``mirrorflow verify`` (``numerics.checks``) passes only if trajectories agree with theory; here
each kind of check is fed a wrong prediction (a wrong horizon claim, a wrong rate exponent, a
perturbed conservation law, a wrong smoothed-margin radius, a corrupted trajectory, an unstable
inverse) and must fail, while the correct prediction passes on the same run. The battery also
gives the correct verdict on potentials outside the built-in table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np
import pytest
import sympy as sp

from numerics import Diagonal, Linear, MirrorFlowSolution, Problem, TwoLayer, xor
from numerics.checks import (
    Report,
    check_balance,
    check_direction,
    check_global_identity,
    check_horizon_claim,
    check_inverse_roundtrip,
    check_predictor_direction,
    check_rates,
    check_smoothed_margin,
    integrate,
    parse_norm,
    planted_dataset,
    verify,
)
from numerics.cli import add_verify_parser, run_verify
from numerics.solvers import choose_state
from theory import Potential, max_margin

T = sp.Symbol("t", positive=True)
PLANTED = planted_dataset([1.0, 0.3], n=4, seed=0)


@pytest.fixture(scope="module")
def linear_runs():
    """Linear model on planted 2-D data: hyperbolic entropy (l1), cosh (l_inf), GD (l2)."""
    out = {}
    for name, pot in (("hyp", Potential.hyperbolic_entropy("1/10")), ("cosh", Potential.cosh()),
                      ("gd", Potential.quadratic())):
        prob = Problem.create(PLANTED, Linear(), pot, scale=0.1, seed=0)
        out[name] = (prob, integrate(prob, 100.0))
    return out


@pytest.fixture(scope="module")
def net_run():
    prob = Problem.create(xor(n=12, seed=0, gap=0.2), TwoLayer(4, "power(2)"),
                          Potential.hyperbolic_entropy("1/10"), scale=0.5, seed=0)
    return prob, integrate(prob, 30.0)


# ----------------------------------------------------------------------------- horizon claims


@pytest.mark.parametrize(("name", "right", "wrong"), [("hyp", "l1", ["l2", "linf", "l3"]),
                                                      ("cosh", "linf", ["l1", "l2", "l4"]),
                                                      ("gd", "l2", ["l1", "l1.5", "l3"])])
def test_wrong_horizon_claim_fails(linear_runs, name, right, wrong):
    prob, sol = linear_runs[name]
    derived = parse_norm(right)
    assert check_horizon_claim(prob, sol, derived, derived).passed
    for claim in wrong:
        c = check_horizon_claim(prob, sol, parse_norm(claim), derived)
        assert not c.passed, f"claim {claim} for {name} passed: {c.measured}"
        assert f"nearest max-margin direction is {right}" in c.detail


def test_wrong_horizon_is_caught_even_if_theory_derived_it(linear_runs):
    # a wrong *derived* horizon (as if theory were wrong): the direction check fails
    prob, sol = linear_runs["hyp"]
    assert check_direction(prob, sol, 1.0).passed
    for q in (2.0, math.inf):
        c = check_direction(prob, sol, q)
        assert not c.passed and "direction is nearer" in c.detail, c
    # l_inf claimed for l1 / l2 trajectories: the trend criterion for rapidly varying
    # horizons (l_inf gap falling, q_eff growing) rejects it too
    for name in ("hyp", "gd"):
        prob, sol = linear_runs[name]
        c = check_direction(prob, sol, math.inf)
        assert not c.passed and "trend" in c.detail, c


def test_cosh_diagonal_trend_accepts_linf_rejects_finite_p():
    # cosh on a depth-2 diagonal network: at log t = 150 an l3-l4 direction is nearer than
    # l_inf (THEORY.md §5: very slow convergence); the trend passes for l_inf, while the
    # finite exponents a wrong theory could claim (p = 2, 4: l1, l2 in predictor space) fail
    prob = Problem.create(planted_dataset([1.5, -0.3, 0.2], n=3, seed=0), Diagonal(2),
                          Potential.cosh(), scale=0.05, seed=0)
    sol = integrate(prob, 150.0)
    c = check_predictor_direction(prob, sol, math.inf)
    assert c.passed and "q_eff" in c.measured, c
    for p in (2.0, 4.0):
        assert not check_predictor_direction(prob, sol, p).passed, p


def test_verify_end_to_end_wrong_claim_exit_code(capsys):
    parser = argparse.ArgumentParser(prog="mirrorflow")
    add_verify_parser(parser.add_subparsers(dest="command"))
    expr = "x*asinh(x/b) - sqrt(x**2 + b**2)"
    args = parser.parse_args(["verify", expr, "--param", "b=0.1", "--claim-horizon", "l2",
                              "--json", "--budget", "20"])
    assert run_verify(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    failed = {c["name"].split(" [")[0] for c in out["checks"] if not c["passed"]}
    assert failed == {"horizon claim l2"}, failed
    assert all(c["passed"] is True for c in out["checks"] if "claim" not in c["name"])
    assert all(set(c) >= {"name", "predicted", "measured", "passed"} for c in out["checks"])
    args = parser.parse_args(["verify", expr, "--param", "b=0.1", "--claim-horizon", "l1",
                              "--budget", "20"])
    assert run_verify(args) == 0
    text = capsys.readouterr().out
    assert "PASSED" in text and "horizon claim l1" in text


# ----------------------------------------------------------------------------- rates


def test_wrong_rate_exponent_fails(linear_runs):
    prob, sol = linear_runs["cosh"]
    gamma = max_margin(PLANTED.X, PLANTED.y, math.inf).margin
    rates = Potential.cosh().rates(1)
    assert all(c.passed for c in check_rates(prob, sol, rates, gamma=gamma))
    # the "1/t" regime claimed for cosh (true: t^-a, a = γ/(1+γ) = 0.565)
    wrong = dataclasses.replace(rates, loss=1 / T)
    loss = check_rates(prob, sol, wrong, gamma=gamma)[0]
    assert not loss.passed and loss.predicted.startswith("-1.0000"), loss
    # a = γ/(2+γ) (as if κ = 2)
    gam = sp.Symbol("gamma", positive=True)
    wrong = dataclasses.replace(rates, loss=T ** (-gam / (gam + 2)))
    assert not check_rates(prob, sol, wrong, gamma=gamma)[0].passed
    # primal norm log(t)^2 instead of log t; dual cosh instead of sinh is indistinguishable
    wrong = dataclasses.replace(rates, primal_norm=sp.log(T) ** 2)
    assert not check_rates(prob, sol, wrong, gamma=gamma)[1].passed


def test_wrong_norm_growth_fails_for_gradient_flow(linear_runs):
    prob, sol = linear_runs["gd"]
    gamma = max_margin(PLANTED.X, PLANTED.y, 2).margin
    rates = Potential.quadratic().rates(1)
    assert all(c.passed for c in check_rates(prob, sol, rates, gamma=gamma))
    # Lyu-Li for L = 2 (sqrt(log t)) claimed on a linear model
    checks = check_rates(prob, sol, Potential.quadratic().rates(2), gamma=gamma)
    assert not checks[1].passed, checks[1]


# ----------------------------------------------------------------------------- conservation


def test_perturbed_balance_law_fails(net_run):
    prob, sol = net_run
    assert check_balance(prob, sol).passed
    # wrong activation degree (k = 1 instead of 2)
    c = check_balance(prob, sol, k=1)
    assert not c.passed and "neuron" in c.detail, c
    # g of another potential (gradient flow's x²/2 instead of sqrt(x² + b²))
    assert not check_balance(prob, sol, g=lambda th: th**2 / 2).passed
    # g perturbed by 1% of x^4
    assert not check_balance(prob, sol, g=lambda th: prob.balance_terms(th) + 0.01 * th**4).passed


def test_corrupted_trajectory_fails_identity(net_run):
    prob, sol = net_run
    assert check_global_identity(prob, sol).passed
    theta = sol.theta.copy()
    k = len(theta) // 2
    theta[k] *= 1.001
    bad = MirrorFlowSolution.from_states(prob, s=sol.s, log_t=sol.log_t, thetas=theta,
                                         status="reached", method="", precision_bits=53,
                                         rhs_evals=0, seconds=0.0, extra={"rtol": 1e-10})
    c = check_global_identity(prob, bad)
    assert not c.passed, c
    assert not check_balance(prob, bad).passed


def test_wrong_smoothed_margin_radius_fails():
    # GD started on the l1 max-margin direction turns to the l2 one, so log(1/ℒ)/‖θ‖_1 drops
    # (r = ‖θ‖_1 violates r/r' >= H); the right radius ‖θ‖_2 is monotone
    data = planted_dataset([1.0, 0.3], n=3, seed=0)
    prob = Problem.create(data, Linear(), Potential.quadratic(), theta0=[30.0, 0.0])
    sol = integrate(prob, 60.0)
    assert check_smoothed_margin(prob, sol).passed
    c = check_smoothed_margin(prob, sol, radius=lambda th: float(np.abs(th).sum()))
    assert not c.passed, c


def test_unstable_inverse_is_not_used_and_stable_passes_round_trip():
    # exact, but cancels for z << 0: theory marks it unstable (it loses its digits at 30 digits
    # too), so the float64 path integrates θ and the round trip is not applicable; the stable
    # asinh form passes the float64 round trip
    unstable = Potential("cosh(x)", inverse_hint="log(z + sqrt(z**2 + 1))")
    assert str(unstable.inverse_mirror_map.expr) == "log(z + sqrt(z**2 + 1))"
    assert not unstable.stable_inverse
    prob = Problem.create(PLANTED, Linear(), unstable)
    assert choose_state(prob, method="float64") == "primal"
    assert check_inverse_roundtrip(prob).predicted.startswith("n/a")
    stable = check_inverse_roundtrip(Problem.create(PLANTED, Linear(), Potential.cosh()))
    assert stable.passed and not stable.predicted.startswith("n/a")


# ----------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(("expr", "claim", "model"), [
    # float64-unstable Cardano inverse: the battery integrates the primal state (a note)
    ("x**2/2 + x**4/4", "l4", "linear"),
    ("x**2/2 + abs(x)**3/3", "l3", "diagonal"),      # predictor space: l_{3/2}
    pytest.param("x**2/2 + abs(x)**3/3", "l3", "linear", marks=pytest.mark.slow),
    pytest.param("cosh(x) + x**2", "linf", "linear", marks=pytest.mark.slow),
])
def test_correct_verdict_outside_builtin_table(expr, claim, model):
    # the horizon expected by construction (THEORY.md §3: dominant growth), not by theory
    pot = Potential(expr)
    rep = verify(pot, model=model, claim_horizon=claim, budget=40, seeds=(0,))
    assert rep.passed, rep.table()
    names = " ".join(c.name for c in rep.checks)
    assert f"horizon claim {claim}" in names and "loss slope" in names
    # a wrong claim on the same runs (cached): only the claim fails
    wrong = verify(pot, model=model, claim_horizon="l2", budget=40, seeds=(0,))
    assert not wrong.passed
    # on networks the KKT trend of the wrong (l2) problem levels off too (THEORY.md §4.1)
    expected = {"horizon claim l2"} | ({"KKT trend l2"} if model != "linear" else set())
    assert {c.name.split(" [")[0] for c in wrong.checks if not c.passed} == expected


def test_unstable_inverse_falls_back_to_primal_state():
    rep = verify(Potential("x**2/2 + x**4/4"), budget=40, seeds=(0,))
    assert any("primal state" in n for n in rep.notes), rep.notes
    assert "float64 inverse" not in " ".join(c.name for c in rep.checks)


@pytest.mark.slow
def test_two_layer_battery_passes_for_hyperbolic_entropy():
    rep = verify(Potential.hyperbolic_entropy("1/10"), model="two_layer", budget=30, seeds=(0,))
    assert rep.passed, rep.table()
    names = " ".join(c.name for c in rep.checks)
    assert "balance law" in names and "smoothed margin" in names and "primal norm" in names


def test_report_json_and_table():
    rep = Report()
    assert not rep.passed                   # no checks: nothing was verified
    rep.checks.append(check_inverse_roundtrip(Problem.create(PLANTED, Linear(),
                                                             Potential.cosh())))
    out = rep.to_json()
    assert out["passed"] is True and set(out["checks"][0]) >= {"name", "predicted",
                                                               "measured", "passed"}
    assert "PASSED: 1/1" in rep.table()


def test_bad_input_raises_value_error(capsys):
    with pytest.raises(ValueError, match="horizon norm"):
        parse_norm("l0.5")
    with pytest.raises(ValueError, match="unknown horizon norm"):
        parse_norm("frobenius")
    with pytest.raises(ValueError, match="--model"):
        verify(Potential.quadratic(), model="cnn")
    with pytest.raises(ValueError, match="--budget"):
        verify(Potential.quadratic(), budget=0)
    parser = argparse.ArgumentParser(prog="mirrorflow")
    add_verify_parser(parser.add_subparsers(dest="command"))
    for argv, what in ((["x**2", "--param", "b"], "NAME=VALUE"),
                       (["x**2 + y"], "unknown symbol"),
                       (["x**3"], "not convex"),
                       (["x**2", "--claim-horizon", "l0.5"], "horizon norm"),
                       (["x**2", "--budget", "-1"], "--budget")):
        assert run_verify(parser.parse_args(["verify", *argv])) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("mirrorflow verify: error: "), err
        assert what in err, (what, err)


@pytest.mark.slow
def test_verify_end_to_end_cosh_claims(capsys):
    # cosh typed by the user: claim linf passes, l2 fails only on the claim.  Its inverse is
    # asinh(z) now (stable: the dual state; sympy's log(z + sqrt(z²+1)) had overflowed in
    # float64, and the battery then integrated θ with a note); a potential whose closed-form
    # inverse cancels still gets that note (x²/2 + |x|^(4/3), theory: not stable_inverse)
    parser = argparse.ArgumentParser(prog="mirrorflow")
    add_verify_parser(parser.add_subparsers(dest="command"))
    assert run_verify(parser.parse_args(["verify", "cosh(x)", "--claim-horizon", "linf"])) == 0
    assert "PASSED" in capsys.readouterr().out
    assert run_verify(parser.parse_args(["verify", "cosh(x)", "--claim-horizon", "l2",
                                         "--json"])) == 1
    out = json.loads(capsys.readouterr().out)
    failed = {c["name"].split(" [")[0] for c in out["checks"] if not c["passed"]}
    assert failed == {"horizon claim l2"}, failed
    assert not any("primal state" in n for n in out["notes"]), out["notes"]
    assert run_verify(parser.parse_args(["verify", "x**2/2 + abs(x)**(4/3)", "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("primal state" in n for n in out["notes"]), out["notes"]
