"""Radau IIA on ReLU and leaky-ReLU nets: activation patterns switched at kinks, Filippov sliding.

Expected values come from heyoka's Taylor method at 200 bits (its own kink events: an independent
integrator) while no unit slides; for a sliding unit, from Taylor on an independently written
equivalent-control system (the unit's ReLU slope ``alpha`` chosen so that its pre-activation stays
at 0: Filippov's solution); from the balance law of the units (THEORY.md §2), which the Clarke
slope ``alpha h = 0`` keeps; and from the sign conditions of a sliding mode on a toy system.
"""

from __future__ import annotations

import dataclasses

import heyoka as hy
import mpmath
import numpy as np
import pytest
import sympy as sp

from numerics import MLP, Dataset, Problem, TwoLayer, agreeing_digits, solve_mirror_flow
from numerics.solvers.precise import (
    RadauIntegrator,
    build_mirror_flow_system,
    integrate_implicit,
    integrate_taylor,
    problem_system,
    scalar_potential,
    to_mpf,
)
from numerics.solvers.precise._compile import converter
from numerics.solvers.precise._radau_newton import WorkBuffers
from numerics.solvers.precise._radau_sliding import FilippovField
from theory import Potential

M, N, D = 2, 4, 2  # width, samples, inputs: the small net of test_implicit.py, with ReLU


def _data(m: int = M, n: int = N, d: int = D) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The data and start of benchmarks/bench_precision.py (``two_layer_data(m, n, d)``)."""
    X = np.round(np.random.default_rng(1).standard_normal((n, d)), 3)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    th0 = np.round(np.random.default_rng(3).standard_normal(m * d + m) * 0.5, 3)
    return X, y, [float(v) for v in th0]


def small_net_problem(activation: str = "relu") -> Problem:
    """The width-2 net (4 samples in d = 2) under cosh, shared with the other Radau kink tests."""
    X, y, th0 = _data()
    return Problem.create(Dataset(X, y), TwoLayer(M, activation), Potential.cosh(), theta0=th0)


def _direction(theta) -> list:
    with mpmath.workdps(60):
        v = [to_mpf(x) for x in theta]
        n = mpmath.sqrt(mpmath.fsum(x * x for x in v))
        return [x / n for x in v]


def _check_against_taylor(activation: str, log_t: float, kinks: int) -> None:
    prob = small_net_problem(activation)
    run = solve_mirror_flow(prob, log_t=log_t, dps=30, certify=False, max_seconds=120)
    # Taylor crosses a kink with a step of 0.1 sqrt(tol) past heyoka's event, an error of that
    # size where the force jumps: 200 bits (tol 2^-199) put it far below 30 digits (at 45
    # digits through the user API, 26 digits were measured on the leaky net)
    sysm = problem_system(prob, state="primal", clock="log_s")
    ref = integrate_taylor(sysm, _data()[2], log_t, fp_type="real", prec=200)
    assert run.status == ref.status == "reached", run.message
    assert run.method.startswith("radau")  # "auto": an l_inf horizon
    solver = run.meta["solver"]
    crossings = solver["kink_crossings"]
    assert solver["kinks_crossed"] == len(crossings) == kinks
    assert all(side != 0 for *_, side in crossings)  # no unit slides before log_t
    # every switch is on its kink to working precision: |h_k| / max_j |h_j| there
    assert all(rel <= 1e-28 for _, _, rel, _ in crossings)
    assert agreeing_digits(_direction(run.theta_mp[-1]), _direction(ref.theta[-1]), 99) > 25
    assert agreeing_digits([run.log_loss_mp[-1]], [to_mpf(ref.log_loss[-1])], 99) > 25


def test_relu_net_radau_matches_taylor_across_kinks():
    # two kinks crossed (log t = -1.02 and -0.014, both units turning off on a sample); the
    # first sliding mode starts at log t = 2.28
    _check_against_taylor("relu", 2.0, 2)


@pytest.mark.slow     # the default suite has leaky ReLU Radau vs Taylor in test_cross_path
def test_leaky_relu_net_radau_matches_taylor_across_kinks():
    # four kinks crossed, in both directions, and no sliding mode up to log t = 8
    _check_against_taylor("leaky_relu(0.25)", 8.0, 4)


def _equivalent_control_system(X: np.ndarray, y: np.ndarray, sliding: tuple[int, int]):
    """The flow with unit ``j`` held at its kink on sample ``i`` (``sliding = (i, j)``): the
    margins and their full Jacobian written out, ``sigma'(h_ij) = alpha`` there, and ``alpha``
    the solution of ``d h_ij / ds = 0`` (the field is affine in ``alpha``)."""
    i0, j0 = sliding
    alpha = hy.make_vars("alpha")

    def margins(theta):
        W, a = theta[: M * D].reshape(M, D), theta[M * D:]
        h = [[hy.sum([float(X[i, c]) * W[j, c] for c in range(D)]) for j in range(M)]
             for i in range(N)]
        on = [[(i, j) != (i0, j0) for j in range(M)] for i in range(N)]
        relu = [[hy.relu(h[i][j]) if on[i][j] else hy.expression(0.0) for j in range(M)]
                for i in range(N)]
        slope = [[hy.relup(h[i][j]) if on[i][j] else alpha for j in range(M)] for i in range(N)]
        q = [y[i] * hy.sum([a[j] * relu[i][j] for j in range(M)]) for i in range(N)]
        G = [[y[i] * a[j] * slope[i][j] * float(X[i, c]) for j in range(M) for c in range(D)]
             + [y[i] * relu[i][j] for j in range(M)] for i in range(N)]
        kinks = [h[i][j] for i in range(N) for j in range(M) if on[i][j]]
        return np.array(q, dtype=object), np.array(G, dtype=object), kinks

    sysm = build_mirror_flow_system(margins, M * D + M, scalar_potential(Potential.cosh()),
                                    state="primal", clock="log_s")
    F = [rhs for _, rhs in sysm.equations]
    F0 = [hy.subs(f, {"alpha": hy.expression(0.0)}) for f in F]
    F1 = [hy.subs(f, {"alpha": hy.expression(1.0)}) for f in F]
    rate0 = hy.sum([float(X[i0, c]) * F0[j0 * D + c] for c in range(D)])
    rate1 = hy.sum([float(X[i0, c]) * F1[j0 * D + c] for c in range(D)])
    held = rate0 / (rate0 - rate1)  # alpha: rate0 + alpha (rate1 - rate0) = 0
    eqs = [(v, hy.subs(f, {"alpha": held})) for (v, _), f in zip(sysm.equations, F, strict=True)]
    init = tuple(hy.subs(e, {"alpha": hy.expression(0.0)}) for e in sysm.init_exprs)
    return dataclasses.replace(sysm, equations=eqs, init_exprs=init)


def test_sliding_unit_follows_filippov_equivalent_control():
    # Unit 0 slides on sample 2 from log t = 2.28: both of its fields push h_20 back to 0. From
    # a recorded point on the sliding mode (the first at log t >= 3), Taylor on the
    # equivalent-control system (written independently above) must reach the same point as
    # the Radau run.
    X, y, th0 = _data()
    sysm = problem_system(small_net_problem("relu"), state="primal", clock="log_s")
    run = integrate_implicit(sysm, th0, 6.0, dps=30)
    assert run.status == "reached"
    slides = [c for c in run.stats["kink_crossings"] if c[3] == 0]
    assert len(slides) == 1 and 2.0 < slides[0][0] < 3.0
    k = next(i for i, lt in enumerate(run.logt) if lt >= 3)
    assert float(run.logt[k]) < 5.0       # well before the end: Taylor has a slide to follow
    i0, j0 = divmod(int(slides[0][1]), M)  # kinks are h_ij, row by row
    with mpmath.workdps(60):
        th = [to_mpf(v) for v in run.theta[k]]
        h = mpmath.fsum(mpmath.mpf(float(X[i0, c])) * th[j0 * D + c] for c in range(D))
        scale = mpmath.fsum(abs(mpmath.mpf(float(X[i0, c])) * th[j0 * D + c]) for c in range(D))
        assert abs(h) <= 1e-28 * scale  # on the surface, computed from theta itself
    ref = integrate_taylor(_equivalent_control_system(X, y, (i0, j0)), th0, 6.0, fp_type="real",
                           prec=200, start=(run.clock[k], list(run.theta[k]), run.logt[k]))
    assert ref.status == "reached"
    assert agreeing_digits(_direction(run.theta[-1]), _direction(ref.theta[-1]), 99) > 25
    assert agreeing_digits([to_mpf(run.log_loss[-1])], [to_mpf(ref.log_loss[-1])], 99) > 25


def test_sliding_keeps_the_balance_law():
    # THEORY.md §2: C_j is conserved when sigma'(h) h = sigma(h); the Clarke slope alpha at
    # h = 0 keeps it, so the residual stays at working precision through the sliding mode.
    # The net loses samples 0, 2 and 3 (Taylor stops 'stuck' at log t = 4.38 naming them);
    # since Radau has the stuck monitor too it stops there as well (at 4.22), after sliding.
    prob = small_net_problem("relu")
    sol = solve_mirror_flow(prob, log_t=100.0, dps=30, certify=False, max_seconds=120)
    assert sol.status == "stuck" and "samples [0, 2, 3]" in sol.message, sol.message
    held = (prob.data.y * prob.model.outputs(sol.theta[-1], prob.data.X))[[0, 2, 3]]
    assert np.all(np.abs(held) <= 1e-20), held          # margin 0: no unit active on them
    assert any(c[3] == 0 for c in sol.meta["solver"]["kink_crossings"])
    assert float(np.max(sol.balance_residual_max)) < 1e-28


def test_relu_needs_kink_events():
    sysm = problem_system(small_net_problem("relu"), state="primal", clock="log_s")
    with pytest.raises(ValueError, match="kink_events=False"):
        integrate_implicit(sysm, _data()[2], 1.0, kink_events=False)


def _net_8_8_4(activation: str = "relu") -> Problem:
    X, y, th0 = _data(8, 8, 4)
    return Problem.create(Dataset(X, y), TwoLayer(8, activation), Potential.cosh(), theta0=th0)


def test_sliding_exit_at_a_steps_start_is_taken():     # ~25 s
    # The 8/8/4 ReLU net: sliding kink 54's alpha reaches 1 within rounding of a step's start
    # at log t = -0.3556. The exit is tangent (the field is continuous across it); switched
    # at the start it stayed undecided (alpha = 1 - tiny), fired again at once, and the run
    # ended "kink event 77 crosses at once" (every 8/8/4 ReLU / leaky-ReLU Radau run since the
    # root-at-start rule). Expected: the run goes on past it, kink 54 leaving its surface.
    sol = solve_mirror_flow(_net_8_8_4(), log_t=-0.3, dps=30, method="radau", certify=False,
                            max_seconds=300)
    assert sol.status == "reached", sol.message
    exits = [c for c in sol.meta["solver"]["kink_crossings"] if c[1] == 54 and c[3] != 0]
    assert any(abs(c[0] + 0.3556) < 1e-3 for c in exits), exits


@pytest.mark.slow
def test_sliding_exit_at_a_steps_start_keeps_the_digits():
    # ... and the run past the exit agrees with the same run at 40 digits (an independent
    # reference: another tolerance and step sequence; its own exit is not at a step's start)
    prob = _net_8_8_4()
    sol = solve_mirror_flow(prob, log_t=-0.3, dps=30, method="radau", certify=False,
                            max_seconds=300)
    ref = solve_mirror_flow(prob, log_t=-0.3, dps=40, method="radau", certify=False,
                            max_seconds=300)
    assert sol.status == ref.status == "reached", (sol.message, ref.message)
    assert agreeing_digits(_direction(sol.theta_mp[-1]), _direction(ref.theta_mp[-1]), 99) > 28


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "leaky_relu(0.1)"])
def test_cosh_8_8_4_net_log_t_1e3(activation):
    # The 8/8/4 net of benchmarks/bench_precision.py, where Taylor is held at the first
    # sliding mode (log t = -3.5 / -2.3): Radau reaches log t = 1e3 in minutes (226 / 348 s
    # measured on a shared machine; 35.7 digits of direction against a 40-digit ReLU run).
    # The balance law (THEORY.md §2) holds relative to the size of its terms, g(theta) ~ 1e17.
    sol = solve_mirror_flow(_net_8_8_4(activation), log_t=1e3, dps=30, certify=False,
                            max_seconds=1500)
    assert sol.status == "reached", sol.message
    crossings = sol.meta["solver"]["kink_crossings"]
    assert any(c[3] == 0 for c in crossings) and all(c[2] <= 1e-28 for c in crossings)
    pot = Potential.cosh()
    g = sp.lambdify(sorted(pot.balance_function.expr.free_symbols, key=str),
                    pot.bind(pot.balance_function.expr), "mpmath")
    with mpmath.workdps(50):
        scale = max(abs(g(v)) for v in sol.theta_mp[-1])
    assert float(np.max(sol.balance_residual_max)) < 1e-35 * float(scale)


@pytest.mark.slow
def test_cosh_coverage_relu_net_reaches_log_t_1e3_certified():
    # Issue 10, item 3: the 2-layer ReLU cell of benchmarks/bench_coverage.py (4 units,
    # separable_gaussian n = 6, d = 3), where Taylor stops on its budget near log t = 700:
    # "auto" picks Radau IIA, which reaches log t = 1e3 in 461 steps (93 s; 270-370 s with the
    # certificate run, on 2 cores at load 4-6; 35.1 certified digits measured). The digits
    # are those of the same run at higher precision (an independent reference), not printed
    # values.
    from numerics.problem import parse_problem
    prob = parse_problem({"model": {"kind": "two_layer", "width": 4, "activation": "relu"},
                          "potential": "cosh(x)",
                          "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
                          "init": {"scale": 0.5, "seed": 0}})
    sol = solve_mirror_flow(prob, log_t=1e3, dps=30, max_seconds=900)
    assert sol.status == "reached", sol.message
    assert sol.method.startswith("radau")
    assert min(sol.meta["digits"].values()) >= 30, sol.meta


def test_mlp_unit_with_all_inputs_off_stays_on_its_kink():
    # A ReLU MLP (widths 2, 2) whose first-layer units are both inactive on samples 0 and 3
    # from the start: the second-layer pre-activations of those samples are 0 identically,
    # neither field moves them (no sliding mode), and they stay 0 while the run goes on.
    X = np.round(np.random.default_rng(1).standard_normal((4, 2)), 3)
    th0 = [float(v) for v in np.round(np.random.default_rng(3).standard_normal(10) * 0.7, 3)]
    prob = Problem.create(Dataset(X, np.array([1.0, -1, 1, -1])), MLP((2, 2), "relu"),
                          Potential.cosh(), theta0=th0)
    # Every sample's output and gradient are exactly 0 from the start: the flow rests there,
    # and solve_mirror_flow stops 'stuck' (at rest) at its first due check, on every path ...
    sol = solve_mirror_flow(prob, log_t=2.0, dps=30, certify=False, max_seconds=120)
    assert sol.status == "stuck" and "at rest" in sol.message, sol.message
    # ... so the integrator itself (no stuck monitor) shows that the run goes on through them
    run = integrate_implicit(problem_system(prob, state="primal", clock="log_s"), th0, 2.0)
    assert run.status == "reached" and float(run.logt[-1]) == 2.0
    # the layer-2 kinks (after 8 of layer 1) of samples 0 and 3 are set aside as identically
    # 0 (value and rate), not settled as kinks, and nothing else is ...
    assert run.stats["kinks_dead"] == [8, 9, 14, 15]
    assert not run.stats["kink_crossings"]
    W1 = np.array(run.theta[-1][:4], dtype=object).reshape(2, 2)
    for i in (0, 3):   # ... because both first-layer units are off on those samples
        assert all(X[i] @ W1[j] <= 0 for j in range(2))


def test_filippov_field_recovers_after_a_non_finite_evaluation():
    # A rejected Newton iterate can be wild (measured: a twin pair's weights at 1e7 on the
    # coverage exp(x²/2) ReLU cell): its sample weights underflow MPFR, the force is exactly 0,
    # the Filippov solve divides 0 by 0.  Its work buffers were then zeroed as x - x, which
    # kept the NaN: every later evaluation, at any sane point, was NaN and the run died.  A
    # field that saw such a point must evaluate a sane one exactly as a fresh field does.
    th0 = _data()[2]
    sysm = problem_system(small_net_problem("relu"), state="primal", clock="log_s")
    integ = RadauIntegrator(sysm, dps=30)
    run = integ.run(th0, 3.0)
    slides = [c for c in run.stats["kink_crossings"] if c[3] == 0]
    assert slides, "the net's unit 0 slides from log t = 2.28"
    fns, bits = integ.functions, integ.precision.bits
    conv = converter("real", bits)
    state = [*run.states[-1][:-1], run.states[-1][-1]]
    sane = np.array([[conv(v)] for v in [*state, run.clock[-1]]], dtype=hy.real)
    wild = sane.copy()
    wild[: sysm.n_params] = wild[: sysm.n_params] * conv(1e9)
    kinks = np.asarray(fns.kinks_mp(np.ascontiguousarray(sane[: sysm.n_params])))[:, 0]
    # the sliding kink and another kink of its unit (kinks are h_ij row by row): two coupled
    # surfaces, so the solve eliminates (a 1 x 1 solve keeps no NaN in its buffers)
    slide = int(slides[-1][1])
    held = [slide, (slide + M) % (M * N)]
    on = [conv(1.0 if (float(v) > 0 and k not in held) else 0.0) for k, v in enumerate(kinks)]

    def field() -> FilippovField:
        f = FilippovField(fns.sliding_rhs, fns.slope_rows, integ.kink_gradient_matrix(),
                          WorkBuffers(conv(0.0)), fns.gradient_rows)
        f.set_sliding([[k] for k in held], on + on)
        return f

    used, fresh = field(), field()
    out = np.zeros((sane.shape[0] - 1, 1)).astype(hy.real) * conv(0.0)
    used(wild, out)
    with np.errstate(invalid="ignore"):
        assert not np.all(np.isfinite(used.alpha.astype(float)))  # the wild point's 0 / 0
        after = used(sane, out.copy()).astype(float)
        expected = fresh(sane, out.copy()).astype(float)
    assert np.all(np.isfinite(expected)) and np.array_equal(after, expected)
