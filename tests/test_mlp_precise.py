"""Depth-3 ReLU MLPs at 30 digits: dead units, sliding along kinks, and a quiet heyoka.

Issue 10, item 2.  A sample on which every first-layer unit is off has second-layer
pre-activations that are identically 0: their kink events used to fire at the same point
forever (12-20 thousand heyoka warnings on stdout, no progress).  Expectations come from theory
(a dead sample's output is exactly 0; the balance law of THEORY.md §2 holds along any
Filippov solution, §7.2), from independent computations (scipy's float64 flow to the digits
its certificate claims; an mpmath Taylor solution of the reduced sliding ODE), or from the same
flow at 45 digits.
"""
import json
import os

import heyoka as hy
import mpmath
import numpy as np
import pytest

from numerics import MLP, Dataset, Problem, TwoLayer, separable_gaussian, solve_mirror_flow
from numerics.cli import main
from numerics.problem import MPMATH
from numerics.solvers._solve import agreeing_digits
from numerics.solvers.precise._native_output import capture_native_stdout
from theory import Potential

HYP = Potential.hyperbolic_entropy(1)


def _mlp_problem(data_seed: int, init_seed: int) -> Problem:
    return Problem.create(separable_gaussian(n=6, d=3, seed=data_seed), MLP(widths=(3, 3)),
                          HYP, scale=0.1, seed=init_seed)


def _first_layer(prob: Problem, theta) -> np.ndarray:
    """Pre-activations of the first layer, (n, 3), in float64."""
    W1 = np.array([float(v) for v in theta[:9]]).reshape(3, 3)
    return prob.data.X @ W1.T


def _second_layer(prob: Problem, theta) -> np.ndarray:
    W2 = np.array([float(v) for v in theta[9:18]]).reshape(3, 3)
    return np.maximum(_first_layer(prob, theta), 0) @ W2.T


def test_dead_sample_at_start_revives_at_30_digits(capfd):
    # data seed 2, init seed 0: every first-layer unit is off on sample 0 at the start, so
    # its three second-layer pre-activations are identically 0 (no kinks: their events are
    # switched off); the sample comes back on later, and one kink slides (Filippov).
    # Samples 1-3 die meanwhile (margin 0 from log t ~ 3.7 on, held on the sliding kink, loss
    # log 3 = theirs alone): the stuck monitor names them once log t has doubled (7.4), so
    # this run stops at log t = 6 (tests/test_stuck_sliding.py covers that verdict)
    prob = _mlp_problem(2, 0)
    assert np.all(_first_layer(prob, prob.theta0)[0] <= 0)
    sol = solve_mirror_flow(prob, log_t=6.0, dps=30, method="taylor", max_seconds=120)
    out = capfd.readouterr()
    assert out.out == "" and "heyoka" not in out.err
    assert sol.status == "reached" and float(sol.log_t[-1]) == 6.0
    solver = sol.meta["solver"]
    assert solver["heyoka_messages"]["count"] < 10       # not the flood: 12-20 thousand
    assert solver["kinks_switched_off"] >= 3
    assert np.any(_first_layer(prob, sol.theta_mp[-1])[0] > 0)        # sample 0 is back on
    assert sol.meta["digits"]["direction"] > 28                         # against 45 digits
    assert float(np.max(sol.balance_residual_max)) < 1e-30              # THEORY.md §2


def test_dead_sample_and_dying_unit_agree_with_float64(capfd):
    # data seed 0, init seed 0: sample 4 is dead from the start (its output is exactly 0 at
    # every precision), and second-layer unit 0, on at the start, dies before log t = 0.9;
    # then every sample is dead, the gradient is exactly 0 and the flow rests: at log t = 1
    # (before the stuck monitor's first verdict, log t 1.15 in float64) both paths end
    # 'stuck' (at rest), at the same rest point (it used to be called 'reached')
    prob = _mlp_problem(0, 0)
    assert np.all(_first_layer(prob, prob.theta0)[4] <= 0)
    assert np.any(_second_layer(prob, prob.theta0)[:, 0] > 0)
    ref = solve_mirror_flow(prob, log_t=1.0, max_seconds=60)             # float64, rtol 1e-11
    sol = solve_mirror_flow(prob, log_t=1.0, dps=30, method="taylor", certify=False,
                            max_seconds=60)
    assert capfd.readouterr().out == ""
    assert sol.status == ref.status == "stuck"
    assert "at rest" in sol.meta["reason"] and "at rest" in ref.meta["reason"]
    rest = np.array([float(v) for v in sol.theta_mp[-1]])
    # a short flow at rtol 1e-11: its rest point to 8 digits (an independent integrator)
    assert agreeing_digits(rest, ref.theta[-1]) > 8
    with mpmath.workdps(40):
        outputs = prob.model.outputs(sol.theta_mp[-1], MPMATH.asarray(prob.data.X), MPMATH)
    assert all(o == 0 for o in outputs)                                  # every sample dead
    assert np.all(_second_layer(prob, sol.theta_mp[-1])[:, 0] <= 0)       # unit 0 died
    assert float(np.max(sol.balance_residual_max)) < 1e-30


def test_sliding_group_with_the_potentials_kinks_agrees_with_45_digits(capfd):
    # The coverage cell x²/2 + |x|³/3 on the 3/3 MLP (init scale 0.5, seed 18): from log
    # t = 0.054 the flow slides on a second-layer pre-activation that equals +-theta_c, so
    # its sliding group also holds the potential's kinks on theta_c.  Taylor's meeting check
    # indexed its ReLU switches by those and ended in an IndexError at log t = 0.128 (and
    # building this group's sliding flow took 93 s of heyoka subs, now 0.06 s)
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=0), MLP(widths=(3, 3)),
                          Potential("x**2/2 + abs(x)**3/3"), scale=0.5, seed=18)
    runs = [solve_mirror_flow(prob, log_t=1.0, dps=d, method="taylor", certify=False,
                              max_seconds=300) for d in (30, 45)]
    assert capfd.readouterr().out == ""
    assert [r.status for r in runs] == ["reached", "reached"], runs[0].message
    n_relu = 6 * (3 + 3)                   # the pre-activations' kinks come first
    sliding = runs[0].meta["solver"]["sliding_kinks"]
    assert any(k < n_relu for k in sliding) and any(k >= n_relu for k in sliding), sliding
    a, b = (np.array([mpmath.mpf(v) for v in r.theta_mp[-1]], dtype=object) for r in runs)
    assert agreeing_digits(a, b) > 25
    assert float(np.max(runs[0].balance_residual_max)) < 1e-25        # THEORY.md §2


def test_sliding_kink_matches_the_reduced_flow():
    # One ReLU unit a relu(w.x), gradient flow, x1 = (1, 0) y = +1, x2 = (1, 1) y = -1, from
    # w = (1/2, -1/2) on the kink w.x2 = 0, a = 1.  Above the kink sample 2 pushes w.x2 down
    # (rate a (w_1 - 2 w_2) < 0 with the weights w_i of the loss), below it sample 1 pushes it
    # up (rate a w_1 > 0): the flow slides, w = r (1, -1) with (in t, THEORY.md §7.2)
    #   dr/dt = (a / 2) exp(-a r),   da/dt = r exp(-a r)
    # -- a smooth ODE, solved here by mpmath's own Taylor method.
    data = Dataset.from_arrays(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, -1.0]))
    prob = Problem.create(data, TwoLayer(width=1, activation="relu"), Potential.quadratic(),
                          theta0=np.array([0.5, -0.5, 1.0]))
    sol = solve_mirror_flow(prob, log_t=3.0, dps=30, method="taylor", certify=False,
                            max_seconds=60)
    assert sol.status == "reached" and sol.meta["solver"]["slides"] >= 1
    with mpmath.workdps(40):
        f = mpmath.odefun(lambda t, u: [u[1] / 2 * mpmath.exp(-u[1] * u[0]),
                                        u[0] * mpmath.exp(-u[1] * u[0])],
                          0, [mpmath.mpf("0.5"), mpmath.mpf(1)])
        r, a = f(mpmath.exp(3))
        err = max(abs(x - y) for x, y in zip(sol.theta_mp[-1], [r, -r, a], strict=True))
    assert err < 1e-28
    assert float(np.max(sol.balance_residual_max)) < 1e-30


def test_a_net_that_dies_is_stuck_in_every_path():
    # data seed 0, init scale 0.5 seed 0: five samples have every first-layer unit off at the
    # start and the sixth dies early; a dead sample's output and gradient are exactly 0, so the
    # flow cannot separate any sample (StuckMonitor).  The 30-digit run crossed log t = 100 in
    # a few dozen long steps, faster than its twice-a-second check, and reported 'reached'.
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=0), MLP(widths=(3, 3)),
                          Potential.quadratic(), scale=0.5, seed=0)
    for dps in (None, 30):
        sol = solve_mirror_flow(prob, log_t=100.0, dps=dps, certify=False, max_seconds=60)
        assert sol.status == "stuck", (dps, sol.status)
        theta = np.array([float(v) for v in sol.theta_mp[-1]]) if dps else sol.theta[-1]
        assert np.all(prob.model.outputs(theta, prob.data.X) == 0)


def test_heyoka_messages_are_captured_and_counted(capfd):
    # an identically zero terminal event (relu of a negative quantity, as a dead unit's):
    # heyoka warns ("deducing a cooldown of zero") on fd 1
    x = hy.make_vars("x")
    ta = hy.taylor_adaptive([(x, hy.expression(1.0))], [0.0],
                            t_events=[hy.t_event(hy.relu(x - 10.0))])
    print("python output passes through", flush=True)
    with capture_native_stdout() as messages:
        ta.propagate_until(1.0)
        os.write(1, b"a plain line\n")
    out = capfd.readouterr().out
    assert "heyoka" not in out
    assert out == "python output passes through\na plain line\n"
    summary = messages.summary()
    assert summary["count"] >= 1 and "heyoka" in summary["first"]


def test_cli_json_is_one_object_on_a_config_that_used_to_flood(tmp_path, capfd):
    cfg = {"model": {"kind": "mlp", "widths": [3, 3], "activation": "relu"},
           "potential": "x*asinh(x/b) - sqrt(x**2 + b**2)", "params": {"b": 1},
           "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
           "init": {"scale": 0.1, "seed": 0},
           "until": {"log_t": 5}, "precision": {"dps": 30, "method": "taylor"}}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    # every unit dies on every sample early on (test_dead_sample_and_dying_unit_agree_with_
    # float64): the run stops 'stuck' (exit status 4) once log t has doubled after that
    assert main(["integrate", str(path), "--json"]) == 4          # "cannot reach its target"
    rep = json.loads(capfd.readouterr().out)       # the whole stdout is one JSON object
    assert rep["status"] == "stuck" and 0.0 < rep["log_t"] < 5.0
    # every sample lost: the flow is at rest, the more precise reason (it named the samples)
    assert "every sample has output 0" in rep["message"] and "at rest" in rep["message"]


@pytest.mark.slow
def test_unfollowed_sliding_mode_stops_early_with_its_reason(capfd):
    # data seed 1, init seed 1: a second-layer kink slides while a first-layer kink of the
    # same sample chatters (their switches couple bilinearly): not followed, the run stops
    # in seconds instead of spending its budget at one point
    sol = solve_mirror_flow(_mlp_problem(1, 1), log_t=100.0, dps=30, method="taylor",
                            certify=False, max_seconds=120)
    assert capfd.readouterr().out == ""
    assert sol.status == "stalled" and "crossed back and forth" in sol.meta["reason"]
    assert sol.seconds < 60


@pytest.mark.slow
@pytest.mark.parametrize("activation, data_seed, init_seed", [
    ("leaky_relu(0.1)", 0, 1), ("square_relu", 0, 1)])
def test_depth3_reaches_log_t_100_at_30_digits(capfd, activation, data_seed, init_seed):
    # a sample dead at the start in each (the flood of issue 10).  The ReLU case (data seed 1,
    # init seed 0) "reached" log t = 100 with samples 0, 1 and 4 at margin 0 all the way (a unit
    # slid on their side from log t = 2.5 on): it is 'stuck', tests/test_stuck_sliding.py
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=data_seed),
                          MLP(widths=(3, 3), activation=activation), HYP, scale=0.1,
                          seed=init_seed)
    assert any(np.all(row <= 0) for row in _first_layer(prob, prob.theta0))
    sol = solve_mirror_flow(prob, log_t=100.0, dps=30, method="taylor", max_seconds=600)
    assert capfd.readouterr().out == ""
    assert sol.status == "reached"
    assert float(np.max(sol.balance_residual_max)) < 1e-27
    assert sol.meta["digits"]["direction"] > 25


@pytest.mark.slow
def test_hyperbolic_entropy_depth3_reaches_log_t_100_at_30_certified_digits(capfd):
    # issue 10's "done when": a depth-3 ReLU MLP (widths 3, 3; d = 3, n = 6) under hyperbolic
    # entropy reaches log t = 100 at 30 certified digits (the same run at 45 digits) in
    # minutes.  The coverage table's start (init scale 0.5, seed 18): every sample has a unit
    # of its sign at the start and is separated on the way, so no unit dies or slides for ever
    prob = Problem.create(separable_gaussian(n=6, d=3, seed=0), MLP(widths=(3, 3)), HYP,
                          scale=0.5, seed=18)
    sol = solve_mirror_flow(prob, log_t=100.0, dps=30, method="taylor", max_seconds=600)
    assert capfd.readouterr().out == ""
    assert sol.status == "reached" and float(sol.log_t[-1]) == 100.0
    assert min(sol.meta["digits"].values()) >= 30       # direction, margin and log loss
    assert float(sol.min_margin[-1]) > 0                 # every sample separated
    assert float(np.max(sol.balance_residual_max)) < 1e-27              # THEORY.md §2


@pytest.mark.slow    # ~90 s
def test_dependent_sliding_surfaces_end_with_a_named_status():
    """|x|^1.5/1.5 on the coverage MLP from init seed 15: projecting onto two sliding surfaces
    whose gradients are dependent made mpmath's lu_solve raise ZeroDivisionError out of
    solve_mirror_flow. The projection now reports that it cannot project, and the run ends
    with a status and a reason."""
    from numerics.problem import parse_problem
    prob = parse_problem({"model": {"kind": "mlp", "widths": [3, 3], "activation": "relu"},
                          "potential": "abs(x)**(3/2)/(3/2)",
                          "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
                          "init": {"scale": 0.5, "seed": 15}})
    sol = solve_mirror_flow(prob, log_t=30.0, dps=30, method="taylor", certify=False,
                            max_seconds=120)
    assert sol.status in {"reached", "stalled", "stuck", "budget"}, sol.status
    assert sol.status == "reached" or sol.message


def _tie_problem() -> Problem:
    """Init seed 1 of the coverage MLP's data: kink 15 (a first-layer unit on sample 3) turns
    off at log t = 1.1166 while kink 21 slides, and the sliding ``alpha`` of kink 21 jumps to 0
    exactly (-2e-39 at 30 digits, +8e-73 at 60: rounding decided whether it slid on); at
    log t = 1.2666 kink 27 parts from the sliding group (18, 24, 27) at a crossing."""
    return Problem.create(separable_gaussian(n=6, d=3, seed=0), MLP(widths=(3, 3)), HYP,
                          scale=0.5, seed=1)


def test_sliding_at_a_crossing_does_not_depend_on_the_precision():
    # The run at 60 digits went on sliding on kink 21 (alpha 8e-73 "inside"), with another
    # alpha for the group (24, 27) (0.104 against 0.073): it ended 2.3 digits from the 30- and
    # 45-digit runs and from Radau at log t = 1.2.  An alpha within sqrt(tol) of 0 or 1 after a
    # jump now leaves its surface (the kink's own stop re-tests sliding if it comes back).
    # Then the group parting at log t = 1.2666 was found only after the crossing step, taken
    # on the grouped flow: the 30-digit run was 1e-18 off (18.0 certified digits at log t =
    # 100; 45 digits: 1e-25.5).  The sliding kinks are now regrouped before that step.
    # Expected: the same flow at two precisions agrees to the lower one's digits (measured
    # to log t = 100: 31.35; Radau agrees with the 30-digit run to 31.4, test below).
    prob = _tie_problem()
    low, high = (solve_mirror_flow(prob, log_t=2.0, dps=d, method="taylor", certify=False,
                                   max_seconds=120) for d in (30, 60))
    assert low.status == high.status == "reached", (low.message, high.message)
    with mpmath.workdps(80):
        digits = agreeing_digits(list(low.theta_mp[-1]), list(high.theta_mp[-1]), 99)
    assert digits >= 29, digits


@pytest.mark.slow
def test_sliding_alpha_tie_agrees_with_radau():
    # Radau (one activation pattern per step, kinks located to working precision) is the
    # independent reference for the Taylor runs of the test above (~45 s).
    prob = _tie_problem()
    radau = solve_mirror_flow(prob, log_t=2.0, dps=30, method="radau", certify=False,
                              max_seconds=300)
    taylor = solve_mirror_flow(prob, log_t=2.0, dps=30, method="taylor", certify=False,
                               max_seconds=300)
    assert radau.status == taylor.status == "reached"
    with mpmath.workdps(80):
        digits = agreeing_digits(list(radau.theta_mp[-1]), list(taylor.theta_mp[-1]), 99)
    assert digits >= 29, digits
