"""Float64 mirror flow: closed forms, conservation, persistence (THEORY.md §1-2, §7)."""
import json

import numpy as np
import pytest

from numerics.cli import main
from numerics.problem import (
    Dataset,
    Linear,
    Problem,
    SquareReLU,
    TwoLayer,
    log_loss_and_weights,
    make_dataset,
    separable_gaussian,
)
from numerics.solvers import MirrorFlowSolution, resume, solve_float64
from theory import Potential


@pytest.mark.parametrize("log_t", [40.0, 0.5, -3.0])
def test_one_point_gradient_flow_closed_form(log_t):
    # one point, exp loss, GD: dz/ds = y x, so θ(s) = θ0 + s y x, and with q(s) = q0 + s|x|^2
    # dt/ds = 1/ℒ = e^{q(s)}  =>  t(s) = e^{q0} (e^{s|x|^2} - 1)/|x|^2   (t(0) = 0, as on the
    # 30-digit paths). At log t = -3 a start at t = 1 would be off by a factor e^3 in t.
    x, th0 = np.array([0.6, -0.8]), np.array([0.05, 0.02])
    data = Dataset.from_arrays(x[None, :], np.array([1.0]))
    prob = Problem.create(data, Linear(), Potential.quadratic(), theta0=th0)
    sol = solve_float64(prob, log_t=log_t, rtol=1e-12, atol=1e-14)
    q0, nx2 = float(x @ th0), float(x @ x)
    s_exact = np.log1p(np.exp(log_t) * nx2 * np.exp(-q0)) / nx2
    assert sol.status == "reached" and sol.log_t[0] == -np.inf and sol.s[0] == 0.0
    assert sol.log_t[-1] == pytest.approx(log_t, rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(sol.s[-1], s_exact, rtol=1e-10)
    np.testing.assert_allclose(sol.theta[-1], th0 + s_exact * x, rtol=1e-10)
    np.testing.assert_allclose(sol.log_loss[-1], -(q0 + s_exact * nx2), rtol=1e-10)
    # every recorded point is on the closed form t(s)
    t_exact = np.exp(q0) * np.expm1(sol.s[1:] * nx2) / nx2
    np.testing.assert_allclose(sol.log_t[1:], np.log(t_exact), rtol=1e-10, atol=1e-10)


def test_logistic_weights_match_direct_formula():
    q = np.array([-2.0, 0.3, 5.0, 40.0])
    ll, w = log_loss_and_weights(q, "logistic")
    loss = np.sum(np.log1p(np.exp(-q)))
    assert ll == pytest.approx(np.log(loss), rel=1e-12)
    np.testing.assert_allclose(w, 1 / (1 + np.exp(q)) / loss, rtol=1e-12)


def test_two_layer_balance_conserved_in_float64():
    data = make_dataset("separable_gaussian", n=8, d=4, margin=0.1, seed=0)
    prob = Problem.create(data, TwoLayer(width=6, activation=SquareReLU()),
                          Potential.hyperbolic_entropy(0.1), seed=0, scale=0.5)
    sol = solve_float64(prob, log_t=30.0, rtol=1e-12, atol=1e-14)
    assert sol.status == "reached"
    # C_j = Σ_in g - 2 g(a_j), g = sqrt(x^2 + b^2): conserved up to integration error
    assert sol.balance_residual_max[-1] < 1e-8
    assert np.all(np.diff(sol.log_loss) < 1e-12)          # the loss never increases


def test_mirror_descent_direction_matches_max_margin_for_gd():
    # linear GD -> l2 max-margin direction (Soudry et al.; THEORY.md §4), gap ~ 1/log t
    from theory import max_margin
    data = make_dataset("two_d", n=12, seed=3)
    prob = Problem.create(data, Linear(), Potential.quadratic(), seed=0)
    sol = solve_float64(prob, log_t=400.0)
    mm = max_margin(data.X, data.y, 2)
    u = sol.theta[-1] / np.linalg.norm(sol.theta[-1])
    assert np.linalg.norm(u - mm.direction) < 0.05


def test_save_load_round_trip_and_corrupt_file(tmp_path):
    data = make_dataset("two_d", n=6, seed=0)
    prob = Problem.create(data, Linear(), Potential.cosh(), seed=0)
    sol = solve_float64(prob, log_t=5.0)
    path = sol.save(tmp_path / "run.json")
    back = MirrorFlowSolution.load(path)
    np.testing.assert_array_equal(back.theta, sol.theta)
    np.testing.assert_array_equal(back.log_t, sol.log_t)
    assert back.meta["problem"]["potential"]["expr"] == "cosh(x)"
    assert list(tmp_path.iterdir()) == [path]           # no temp files left behind
    path.write_text(path.read_text()[:100])
    with pytest.raises(ValueError, match="not a mirrorflow results file"):
        MirrorFlowSolution.load(path)
    path.write_text(json.dumps({"format": "mirrorflow-solution", "version": 1}))
    with pytest.raises(ValueError, match="corrupt"):
        MirrorFlowSolution.load(path)


def test_a_hand_edited_results_file_is_refused_and_left_untouched(tmp_path):
    """Saved runs carry a content digest (sha256 of the record): editing θ, log t, the problem
    or the status by hand is refused on load by name, and the file is not modified."""
    data = make_dataset("two_d", n=6, seed=0)
    prob = Problem.create(data, Linear(), Potential.cosh(), seed=0)
    path = solve_float64(prob, log_t=5.0).save(tmp_path / "run.json")
    original = json.loads(path.read_text())
    def double_theta(r):
        r["arrays"]["theta"][-1][0] = repr(2 * float(r["arrays"]["theta"][-1][0]))

    edits = [
        double_theta,
        lambda r: r["arrays"]["log_t"].__setitem__(-1, "50.0"),
        lambda r: r["meta"]["problem"].__setitem__("loss", "logistic"),
        lambda r: r.__setitem__("status", "reached" if r["status"] != "reached" else "budget"),
        lambda r: r.pop("digest"),
    ]
    for edit in edits:
        record = json.loads(json.dumps(original))
        edit(record)
        text = json.dumps(record)
        path.write_text(text)
        with pytest.raises(ValueError, match="changed after mirrorflow wrote it"):
            MirrorFlowSolution.load(path)
        assert path.read_text() == text
    path.write_text(json.dumps(original))
    assert MirrorFlowSolution.load(path).verified


def test_problem_errors():
    data = make_dataset("two_d", n=6, seed=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        Problem.create(data, Linear(), Potential.cosh(), loss="hinge")
    with pytest.raises(ValueError, match="parameters"):
        Problem.create(data, Linear(), Potential.cosh(), theta0=[1.0, 2.0, 3.0])
    for bad in (float("nan"), -np.inf, np.inf):      # log t = -1 (t = 1/e) is a target
        with pytest.raises(ValueError, match="log_t"):
            solve_float64(Problem.create(data, Linear(), Potential.cosh()), log_t=bad)


def test_removable_singularity_at_zero_is_filled_by_the_limit():
    """sympy writes (|x|^3/3)' as x**3/Abs(x): 0/0 at x = 0 in numpy. The compiled f', f''
    must equal the closed forms x + x|x| and 1 + 2|x| everywhere, 0 included, so a run may
    start at θ0 = 0."""
    from numerics.problem import CompiledPotential

    cp = CompiledPotential(Potential("x**2/2 + abs(x)**3/3"))
    x = np.array([0.0, 1e-300, -0.5, 2.0])
    assert np.allclose(cp.mirror(x), x + x * np.abs(x), rtol=1e-15, atol=0)
    assert np.allclose(cp.hessian(x), 1 + 2 * np.abs(x), rtol=1e-15, atol=0)


def test_lambert_w_inverse_compiles_for_float64():
    """The Gaussian potential exp(x²/2) has the inverse mirror map sign(z) sqrt(W(z²))
    (Lambert W, absent from numpy): the compiled inverse must round-trip f'(θ) = z, and a
    float64 run must reach its target."""
    from numerics.problem import CompiledPotential

    cp = CompiledPotential(Potential.gaussian_exp())
    z = np.array([-3.0, -0.5, 0.0, 0.25, 2.0, 40.0])
    th = cp.inverse(z)
    assert np.all(np.isreal(th))
    assert np.allclose(th * np.exp(th**2 / 2), z, rtol=1e-14, atol=1e-15)   # f'(θ) = θ e^{θ²/2}
    prob = Problem.create(make_dataset("two_d", n=8, seed=0), Linear(), Potential.gaussian_exp())
    assert solve_float64(prob, log_t=10.0).status == "reached"


class _InterruptAfter(Linear):
    """A linear model whose forward pass raises KeyboardInterrupt (a simulated Ctrl-C) once it
    has been called ``calls`` times."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.left = calls

    def outputs_and_grads(self, theta, X, backend=None):
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return super().outputs_and_grads(theta, X) if backend is None else \
            super().outputs_and_grads(theta, X, backend)


def test_ctrl_c_keeps_every_step_and_the_run_resumes():
    """Ctrl-C in the middle of a float64 run: the result keeps every accepted step (status
    'interrupted'), and resuming from its last point reaches the uninterrupted run's state."""
    from numerics import resume

    data = make_dataset("separable_gaussian", n=12, d=3, seed=4)
    pot = Potential.hyperbolic_entropy(0.5)
    th0 = np.array([0.1, -0.2, 0.05])
    cut = solve_float64(Problem.create(data, _InterruptAfter(2000), pot, theta0=th0), log_t=200.0,
                        rtol=1e-11, atol=1e-13)
    assert cut.status == "interrupted"
    # DOP853 spends 12 right-hand sides per accepted step: ~2000 / 12 steps must be kept
    assert len(cut.s) > 0.9 * 2000 / 12 and 0 < cut.log_t[-1] < 200.0
    prob = Problem.create(data, Linear(), pot, theta0=th0)
    whole = solve_float64(prob, log_t=200.0, rtol=1e-11, atol=1e-13)
    done = resume(cut, prob, log_t=200.0)
    assert done.status == whole.status == "reached"
    np.testing.assert_allclose(done.theta[-1], whole.theta[-1], rtol=1e-7)


def test_a_format1_file_is_shown_but_not_continued(tmp_path, capsys):
    """A results file of format version 1 (no digest) loads for reading; ``resume`` and the
    CLI's ``--resume`` refuse to continue it, by name, and leave it as it is."""
    data = make_dataset("two_d", n=6, seed=0)
    prob = Problem.create(data, Linear(), Potential.cosh(), seed=0)
    path = solve_float64(prob, log_t=5.0).save(tmp_path / "run.json")
    record = json.loads(path.read_text())
    record.pop("digest")
    record["version"] = 1
    path.write_text(text := json.dumps(record))
    old = MirrorFlowSolution.load(path)
    assert not old.verified and float(old.log_t[-1]) == 5.0
    with pytest.raises(ValueError, match="the saved run has no content digest"):
        resume(old, prob, log_t=10.0)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": {"kind": "linear"}, "potential": "cosh(x)",
                               "data": {"kind": "two_d", "n": 6, "seed": 0},
                               "init": {"seed": 0}, "until": {"log_t": 10}}))
    assert main(["integrate", str(cfg), "--save", str(path), "--resume"]) == 2
    assert "has no content digest" in capsys.readouterr().err
    assert path.read_text() == text


def test_a_run_saved_with_the_former_clock_is_not_resumed():
    """float64 runs used to start at t = 1 (log t = log(1 + t), 0 at the first point): resuming
    one would mix two clocks, so it is refused; a run of today resumes from log t = -inf."""
    from dataclasses import replace

    from numerics import resume

    prob = Problem.create(make_dataset("two_d", n=6, seed=0), Linear(), Potential.quadratic())
    sol = solve_float64(prob, log_t=5.0)
    former = replace(sol, log_t=np.logaddexp(0.0, sol.log_t))     # log(1 + t)
    with pytest.raises(ValueError, match="re-run it"):
        resume(former, prob, log_t=10.0)
    more = resume(sol, prob, log_t=10.0)
    assert more.status == "reached" and more.log_t[0] == -np.inf
    assert more.log_t[-1] == pytest.approx(10.0, abs=1e-12)


@pytest.mark.parametrize("potential", [Potential.quadratic(), Potential.hyperbolic_entropy(0.5)],
                         ids=["x**2/2", "entropy"])
def test_chattering_at_a_relu_kink_stops_early_and_names_it(potential):
    """Issue 10: this ReLU net spent its whole budget at log t ~ -2.6 (scipy chatters across
    a kink the flow slides along: steps ds ~ 1e-10). It now stops within seconds, with status
    'sliding' and the kink and the fix in one line; the named pre-activation w_0·x_2 is
    recomputed here from θ's layout (W row by row, then a)."""
    data = make_dataset("separable_gaussian", n=6, d=3, seed=0)
    prob = Problem.create(data, TwoLayer(width=4, activation="relu"), potential, scale=0.5,
                          seed=0)
    sol = solve_float64(prob, log_t=100.0, rtol=1e-11, atol=1e-13, max_seconds=60.0)
    assert sol.status == "sliding" and sol.seconds < 10.0, sol.message
    reason = sol.meta["reason"]
    assert "unit 0 of hidden layer 1 on sample 2" in reason and len(reason.splitlines()) == 1
    assert "use dps=30 (method='taylor')" in reason and sol.log_t[-1] < 0.0
    W = sol.theta[-1][:12].reshape(4, 3)
    z = data.X[2] @ W[0]
    assert abs(z) < 1e-9 * np.linalg.norm(W[0]) * np.linalg.norm(data.X[2])


@pytest.mark.parametrize("potential, stiff", [(Potential.cosh(), True),
                                              (Potential.quadratic(), False)])
def test_budget_stop_names_the_stiffness_of_linf_potentials(potential, stiff):
    """A float64 run that stops short names why for l_inf potentials (the stiffness of their
    time-changed flow, THEORY.md §7), and only for them (a zero budget stops either after its
    first step; DOP853 reached log t = 46 in 60 s with cosh)."""
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=0), Linear(), potential,
                          scale=0.5, seed=0)
    sol = solve_float64(prob, log_t=1e3, max_seconds=0.0)
    assert sol.status == "budget"
    assert ("l_inf potential is stiff" in sol.message) is stiff
    assert ("method='radau'" in sol.message) is stiff
