"""The arbitrary-precision path of ``solve_mirror_flow`` (heyoka Taylor behind a Problem).

Expected values come from closed forms (gradient flow on one sample), from runs at higher
precision, from the float64 path, and from the balance law (THEORY.md §2).
"""

from __future__ import annotations

from dataclasses import replace

import mpmath
import numpy as np
import pytest

from numerics import (
    Dataset,
    Linear,
    MirrorFlowSolution,
    Problem,
    TwoLayer,
    agreeing_digits,
    resume,
    solve_mirror_flow,
)
from numerics.solvers import Precision, plan_run
from numerics.solvers.precise import problem_system
from theory import Potential

pytest.importorskip("heyoka")


def _one_sample(x: list[float]) -> Dataset:
    return Dataset.from_arrays(np.array([x]), np.array([1.0]))


def test_gradient_flow_one_sample_matches_closed_form() -> None:
    """GD, linear model, one sample x from theta0 = 0: theta(s) = s x, q = |x|^2 s and
    t = expm1(|x|^2 s) / |x|^2 (THEORY.md §7 time change), so s is known in closed form."""
    x = [1.0, 2.0]
    prob = Problem.create(_one_sample(x), Linear(), Potential.quadratic(), theta0=[0.0, 0.0])
    log_t = 300.0
    sol = solve_mirror_flow(prob, log_t=log_t, dps=30, certify=False)
    assert sol.status == "reached"
    with mpmath.workdps(60):
        n2 = mpmath.mpf(5)
        s_exact = mpmath.log1p(n2 * mpmath.exp(log_t)) / n2
        theta_exact = [s_exact * v for v in x]
        digits = agreeing_digits(list(sol.theta_mp[-1]), theta_exact, 100)
        ll_exact = -n2 * s_exact
        ll_digits = agreeing_digits([sol.log_loss_mp[-1]], [ll_exact], 100)
    assert digits > 30, digits
    assert ll_digits > 30, ll_digits


def test_certificate_counts_digits_against_a_higher_precision_run() -> None:
    """Hyperbolic entropy, linear model, 2-D data to log t = 500: the certified digits are
    those of the 30-digit run against the reference, and the reference itself agrees with an
    independent 60-digit run (so the certificate is not self-referential)."""
    X = np.array([[1.0, 0.25], [0.5, -1.0], [-0.75, -0.5]])
    y = np.array([1.0, -1.0, -1.0])
    prob = Problem.create(Dataset.from_arrays(X, y), Linear(), Potential.hyperbolic_entropy(0.1),
                          theta0=[0.0, 0.0])
    sol = solve_mirror_flow(prob, log_t=500.0, dps=30)
    assert sol.status == "reached" and sol.method == "taylor-real128"
    assert sol.meta["digits"]["direction"] >= 29
    independent = solve_mirror_flow(prob, log_t=500.0, dps=60, certify=False)
    with mpmath.workdps(80):
        d = agreeing_digits(list(sol.theta_mp[-1]), list(independent.theta_mp[-1]), 100)
    assert abs(d - sol.meta["digits"]["direction"]) < 3 or d >= 29
    # float64 path agrees to the digits float64 certifies
    f64 = solve_mirror_flow(prob, log_t=60.0)
    hp = solve_mirror_flow(prob, log_t=60.0, dps=30, certify=False)
    assert agreeing_digits(f64.theta[-1], hp.theta[-1]) >= f64.meta["digits"]["direction"] - 1


def test_two_layer_balance_law_holds_to_working_precision() -> None:
    """Every neuron's C_j = sum_in g - k sum_out g is conserved (THEORY.md §2): square-ReLU
    two-layer net, hyperbolic entropy, 30 digits, balance residuals below 1e-25."""
    X = np.array([[1.0, 0.5, 0.0], [-0.5, 1.0, 0.25], [0.75, -1.0, 0.5], [-1.0, -0.25, -0.5]])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    prob = Problem.create(Dataset.from_arrays(X, y), TwoLayer(width=4, activation="square_relu"),
                          Potential.hyperbolic_entropy(0.1), scale=0.5, seed=3)
    sol = solve_mirror_flow(prob, log_t=40.0, dps=30, certify=False)
    assert sol.status == "reached"
    assert np.max(sol.balance_residual_max) < 1e-25
    # the float64 roundings of the same run carry no such guarantee beyond ~1e-13
    assert np.all(np.isfinite(sol.theta))


def test_primal_state_when_only_a_cardano_inverse_exists() -> None:
    """x^2/2 + x^4/4 has only a sympy.solve (Cardano) inverse: the primal state is used, and the
    result agrees with the float64 path to the digits that path certifies."""
    pot = Potential("x**2/2 + x**4/4")
    X = np.array([[1.0, 0.5], [0.25, -1.0]])
    prob = Problem.create(Dataset.from_arrays(X, np.array([1.0, -1.0])), Linear(), pot,
                          theta0=[0.0, 0.0])
    assert problem_system(prob).state == "primal"
    hp = solve_mirror_flow(prob, log_t=40.0, dps=30, certify=False)
    f64 = solve_mirror_flow(prob, log_t=40.0)
    assert agreeing_digits(f64.theta[-1], hp.theta[-1]) >= f64.meta["digits"]["direction"] - 1


def test_save_load_resume_round_trip(tmp_path) -> None:
    """A saved high-precision run keeps its digits, and resuming it reproduces the
    uninterrupted run to about the working precision."""
    X = np.array([[1.0, 0.25], [0.5, -1.0]])
    prob = Problem.create(Dataset.from_arrays(X, np.array([1.0, -1.0])), Linear(),
                          Potential.cosh(), theta0=[0.0, 0.0])
    whole = solve_mirror_flow(prob, log_t=30.0, dps=30, certify=False)
    first = solve_mirror_flow(prob, log_t=10.0, dps=30, certify=False)
    path = first.save(tmp_path / "run.json")
    loaded = MirrorFlowSolution.load(path)
    with mpmath.workdps(50):
        assert agreeing_digits(list(loaded.theta_mp[-1]), list(first.theta_mp[-1]), 100) > 33
    more = resume(loaded, prob, log_t=30.0)
    assert more.status == "reached" and float(more.log_t[-1]) == 30.0
    assert float(more.log_t[0]) == float(first.log_t[0])
    with mpmath.workdps(50):
        assert agreeing_digits(list(more.theta_mp[-1]), list(whole.theta_mp[-1]), 100) > 28


def test_resumed_run_carries_no_certificate_of_its_head() -> None:
    """The head's certified digits, and what was said of a shortfall in them, do not describe
    the continuation: resume drops both and says why (float64, whose continuation keeps the
    head's meta, and 30 digits)."""
    X = np.array([[1.0, 0.25], [0.5, -1.0]])
    prob = Problem.create(Dataset.from_arrays(X, np.array([1.0, -1.0])), Linear(),
                          Potential.quadratic(), theta0=[0.0, 0.0])
    for dps in (None, 30):
        first = solve_mirror_flow(prob, log_t=10.0, dps=dps, certify=False)
        head = replace(first, meta={**first.meta, "digits": {"direction": 29.0},
                                    "digits_short": "29.0 digits; the repeat at 40 failed"})
        more = resume(head, prob, log_t=20.0)
        assert more.status == "reached", more.message
        assert "digits" not in more.meta and "digits_short" not in more.meta
        assert more.meta["certificate"].startswith("none: resumed at log t = 10")


def test_bad_precision_is_named() -> None:
    with pytest.raises(ValueError, match="dps=10"):
        Precision.for_taylor(10)
    prob = Problem.create(_one_sample([1.0, 0.0]), Linear(), Potential.quadratic())
    with pytest.raises(TypeError, match="dps"):
        solve_mirror_flow(prob, log_t=1.0, logt_mode="ode")


def test_checkpointed_interrupted_run_resumes_to_the_same_digits(tmp_path) -> None:
    """A run cut short by its budget leaves a checkpoint; resuming it from the file reaches the
    target and agrees with an uninterrupted run to about the working precision."""
    X = np.array([[1.0, 0.25], [0.5, -1.0], [-0.75, -0.5]])
    prob = Problem.create(Dataset.from_arrays(X, np.array([1.0, -1.0, -1.0])), Linear(),
                          Potential.hyperbolic_entropy(0.1), theta0=[0.0, 0.0])
    # log t = 3000: 212 steps, 0.67 s of integration (measured); a 0.05 s budget cuts it on a
    # machine up to ~10x faster (at log t = 300, 0.19 s, a 0.4 s budget no longer did)
    whole = solve_mirror_flow(prob, log_t=3000.0, dps=30, certify=False)
    ckpt = tmp_path / "ckpt.json"
    cut = solve_mirror_flow(prob, log_t=3000.0, dps=30, certify=False, max_seconds=0.05,
                            checkpoint=ckpt, checkpoint_every=0.02)
    assert cut.status == "budget" and ckpt.exists()
    saved = MirrorFlowSolution.load(ckpt)
    assert float(saved.log_t[-1]) == float(cut.log_t[-1]) < 3000.0
    done = resume(saved, prob, log_t=3000.0, checkpoint=ckpt, checkpoint_every=0.2)
    assert done.status == "reached" and MirrorFlowSolution.load(ckpt).status == "reached"
    assert np.all(np.diff(done.log_t) > 0)
    with mpmath.workdps(50):
        assert agreeing_digits(list(done.theta_mp[-1]), list(whole.theta_mp[-1]), 100) > 28


def test_radau_method_matches_the_closed_form() -> None:
    """method="radau" (Radau IIA in MPFR, for stiff cosh-type runs) on the one-sample gradient
    flow, whose s(log t) is known in closed form: s = log1p(|x|^2 e^{log t}) / |x|^2."""
    prob = Problem.create(_one_sample([1.0, 2.0]), Linear(), Potential.quadratic(),
                          theta0=[0.0, 0.0])
    sol = solve_mirror_flow(prob, log_t=300.0, dps=30, certify=False, method="radau")
    assert sol.status == "reached" and sol.method.startswith("radau")
    with mpmath.workdps(60):
        s_exact = mpmath.log1p(5 * mpmath.exp(300)) / 5
        assert agreeing_digits(list(sol.theta_mp[-1]), [s_exact, 2 * s_exact], 100) > 30
    later = resume(sol, prob, log_t=400.0)          # continuation: closed form at 400 too
    assert later.status == "reached" and later.method.startswith("radau")
    with mpmath.workdps(60):
        s_exact = mpmath.log1p(5 * mpmath.exp(400)) / 5
        assert agreeing_digits(list(later.theta_mp[-1]), [s_exact, 2 * s_exact], 100) > 30


def test_short_linf_taylor_run_resumes_with_radau() -> None:
    """A short cosh run goes to Taylor ("auto", below LINF_TAYLOR_BELOW); continued to
    log t = 60, past where Taylor stalls (near 45 on linear models), it goes on with Radau IIA
    from the saved parameters.  One sample x: dz/ds = x for z = sinh(theta), so
    z(s) - z(0) = s x holds exactly along the whole run (the closed form)."""
    x, th0 = [0.6, -0.8], [0.05, 0.02]
    prob = Problem.create(_one_sample(x), Linear(), Potential.cosh(), theta0=th0)
    first = solve_mirror_flow(prob, log_t=5.0, dps=30, certify=False)
    assert first.status == "reached" and first.method.startswith("taylor")
    later = resume(first, prob, log_t=60.0)
    assert later.status == "reached" and later.method.startswith("radau")
    assert float(later.log_t[-1]) == pytest.approx(60.0)
    with mpmath.workdps(50):
        dz = [mpmath.sinh(t) - mpmath.sinh(mpmath.mpf(t0))
              for t, t0 in zip(later.theta_mp[-1], th0, strict=True)]
        s = dz[0] / mpmath.mpf(x[0])
        assert abs(dz[1] - s * mpmath.mpf(x[1])) < mpmath.mpf(10) ** -28 * abs(dz[1])


def test_auto_method_picks_radau_for_linf_horizons() -> None:
    """THEORY.md §7: l_inf-type potentials (cosh) make the time-changed flow stiff, so "auto"
    takes Radau there, on ReLU and leaky-ReLU nets too (stepped one activation pattern at a
    time); other horizons stay with Taylor.  Short l_inf runs on linear models and
    continuous-force two-layer nets (below LINF_TAYLOR_BELOW) stay with Taylor too."""
    from numerics import Diagonal
    from numerics.solvers import LINF_TAYLOR_BELOW, auto_method

    data = _one_sample([1.0, 2.0])
    cosh = Problem.create(data, Linear(), Potential.cosh())
    below = LINF_TAYLOR_BELOW["linear"]
    assert auto_method(cosh, log_t=0.5 * below) == "taylor"
    assert plan_run(cosh, dps=40, log_t=0.5 * below).method == "taylor"
    assert auto_method(cosh, log_t=below) == auto_method(cosh, log_t=100.0) == "radau"
    square = Problem.create(data, TwoLayer(width=2, activation="square_relu"),
                            Potential.cosh(), seed=0)
    assert auto_method(square, log_t=0.5 * LINF_TAYLOR_BELOW["two_layer"]) == "taylor"
    assert auto_method(square, log_t=LINF_TAYLOR_BELOW["two_layer"]) == "radau"
    assert auto_method(Problem.create(data, Diagonal(), Potential.cosh()), log_t=1.0) == "radau"

    data = _one_sample([1.0, 2.0])
    assert auto_method(Problem.create(data, Linear(), Potential.cosh())) == "radau"
    assert auto_method(Problem.create(data, Linear(), Potential("x**2/2 + cosh(x)"))) == "radau"
    assert auto_method(Problem.create(data, Linear(), Potential.hyperbolic_entropy(1))) == "taylor"
    for act in ("relu", "leaky_relu(0.1)"):
        net = Problem.create(data, TwoLayer(width=2, activation=act), Potential.cosh(), seed=0)
        assert auto_method(net) == "radau"
        assert plan_run(net, dps=30).method == "radau"
        assert auto_method(net, log_t=1.0) == "radau"   # not measured there: Radau
        quad = Problem.create(data, TwoLayer(width=2, activation=act), Potential.quadratic(),
                              seed=0)
        assert auto_method(quad) == "taylor"


@pytest.mark.parametrize("activation", ["square_relu", "relu", "power(3)"])
def test_two_layer_vjp_equals_the_full_jacobian_path(activation: str) -> None:
    """The hand-written vector-Jacobian product of two-layer nets (Euler's identity for the
    output weights when 1/k is exact, the direct sum otherwise) gives the same trajectory as
    the margins' full Jacobian G^T w, to about the working precision."""
    from numerics.solvers.precise import integrate_taylor, to_solution

    X = np.array([[1.0, 0.5, 0.0], [-0.5, 1.0, 0.25], [0.75, -1.0, 0.5], [-1.0, -0.25, -0.5]])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    prob = Problem.create(Dataset.from_arrays(X, y), TwoLayer(width=4, activation=activation),
                          Potential.hyperbolic_entropy(0.1), scale=0.5, seed=3)
    plan = plan_run(prob, dps=30, method="taylor")
    runs = []
    for vjp in (True, False):
        sysm = problem_system(prob, vjp=vjp)
        run = integrate_taylor(sysm, list(prob.theta0), 8.0, fp_type=plan.precision.fp_type,
                               prec=plan.precision.prec, logt_mode="quadrature",
                               budget_seconds=60)
        runs.append(to_solution(prob, run, plan))
    assert runs[0].status == runs[1].status == "reached"
    with mpmath.workdps(50):
        d = agreeing_digits(list(runs[0].theta_mp[-1]), list(runs[1].theta_mp[-1]), 100)
    assert d > 26, d


def test_network_defaults_are_certified_by_an_independent_run() -> None:
    """Networks run in the clock log s with log t in the ODE and tol 10^-(dps+3); the result
    agrees with an independent 60-digit run (MPFR, machine-epsilon tolerance) to 28+ digits."""
    X = np.array([[1.0, 0.5, 0.0], [-0.5, 1.0, 0.25], [0.75, -1.0, 0.5], [-1.0, -0.25, -0.5]])
    y = np.array([1.0, -1.0, 1.0, -1.0])
    prob = Problem.create(Dataset.from_arrays(X, y), TwoLayer(width=4, activation="square_relu"),
                          Potential.hyperbolic_entropy(0.1), scale=0.5, seed=3)
    sol = solve_mirror_flow(prob, log_t=60.0, dps=30)
    assert sol.meta["solver"]["logt_mode"] == "ode" and sol.meta["digits"]["direction"] > 28
    ref = solve_mirror_flow(prob, log_t=60.0, dps=60, certify=False, tol=1e-62)
    with mpmath.workdps(80):
        assert agreeing_digits(list(sol.theta_mp[-1]), list(ref.theta_mp[-1]), 100) > 28


def test_transcendental_constants_keep_the_working_precision() -> None:
    """exp(x) + cosh(x) has the inverse mirror map asinh(z / sqrt(3)) - log(sqrt(3)): its
    constants must enter the compiled flow at the working precision (heyoka.from_sympy
    rounds them to double: the dual state was then off by ~1e-17 at 30 and 40 digits).
    One sample x, linear model: dz/ds = x, so z(s) - z(0) = s x along the run exactly, with
    z = f'(θ) = e^θ + sinh θ evaluated here in mpmath."""
    x, th0 = [0.6, -0.8], [0.05, 0.02]
    prob = Problem.create(_one_sample(x), Linear(), Potential("exp(x) + cosh(x)"), theta0=th0)
    sol = solve_mirror_flow(prob, log_t=3.0, dps=40, method="taylor", state="dual",
                            certify=False)
    assert sol.status == "reached", sol.message
    with mpmath.workdps(60):
        dz = [mpmath.exp(t) + mpmath.sinh(t) - mpmath.exp(mpmath.mpf(t0)) - mpmath.sinh(t0)
              for t, t0 in zip(sol.theta_mp[-1], th0, strict=True)]
        s = dz[0] / mpmath.mpf(x[0])
        assert abs(dz[1] - s * mpmath.mpf(x[1])) < mpmath.mpf(10) ** -36 * abs(dz[1])


@pytest.mark.parametrize("method, named", [("taylor", True), ("radau", False)])
def test_stopped_linf_taylor_run_names_the_stiffness(method, named) -> None:
    """A Taylor run of an l_inf potential that stops short says why (the stiffness of its
    time-changed flow grows with the clock, THEORY.md §7) and names Radau; Radau, which
    follows it, does not (a zero budget stops either after its first step)."""
    prob = Problem.create(_one_sample([0.6, -0.8]), Linear(), Potential.cosh(),
                          theta0=[0.05, 0.02])
    sol = solve_mirror_flow(prob, log_t=1e3, dps=30, method=method, certify=False,
                            max_seconds=0.0)
    assert sol.status == "budget", sol.message
    assert ("l_inf potential is stiff" in sol.message) is named
