"""Radau IIA integration of the stiff time-changed mirror flow (numerics.solvers.precise._radau).

Expected values come from a closed form (gradient flow on one point), from heyoka's Taylor
integrator at higher precision (non-stiff case), and from the same stiff run at a higher
precision and tighter tolerance (cosh on a linear model, beyond where explicit methods stall).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from numerics.solvers.precise import (
    ScalarPotential,
    build_mirror_flow_system,
    compile_implicit,
    integrate_implicit,
    integrate_taylor,
    radau_tableau,
    to_mpf,
)

X = sp.Symbol("x", real=True)
GD = ScalarPotential(X, X, sp.Integer(1), X, "gd")
COSH = ScalarPotential(X, sp.sinh(X), sp.cosh(X), sp.asinh(X), "cosh")


def _linear(A: np.ndarray):
    return lambda th: (A @ th, A.astype(object))


def _linear_data() -> np.ndarray:
    """8 separable points in d = 4 (as benchmarks/bench_clock.py case (a)), rows y_i x_i."""
    rng = np.random.default_rng(0)
    Xd = np.round(rng.standard_normal((8, 4)), 3)
    y = np.sign(Xd @ np.array([1.0, -0.5, 0.25, 0.0]))
    return y[:, None] * Xd


def _digits(a, b) -> float:
    with mpmath.workprec(400):
        a = [to_mpf(v) for v in a]
        b = [to_mpf(v) for v in b]
        err = max(abs(x - y) for x, y in zip(a, b, strict=True))
        scale = max(abs(y) for y in b)
        return 99.0 if err == 0 else float(-mpmath.log10(err / scale))


def _direction(theta):
    with mpmath.workprec(400):
        v = [to_mpf(x) for x in theta]
        n = mpmath.sqrt(mpmath.fsum(x * x for x in v))
        return [x / n for x in v]


@pytest.mark.parametrize("stages", [3, 6])
def test_radau_order_conditions(stages):
    A, b, c = radau_tableau(stages, 200)
    with mpmath.workprec(200):
        for k in range(1, 2 * stages):  # B(2s-1)
            quad = mpmath.fsum(bj * cj ** (k - 1) for bj, cj in zip(b, c, strict=True))
            assert abs(quad - mpmath.mpf(1) / k) < 1e-55
        for i in range(stages):  # C(s): sum_j a_ij c_j^(k-1) = c_i^k / k
            for k in range(1, stages + 1):
                lhs = mpmath.fsum(A[i][j] * c[j] ** (k - 1) for j in range(stages))
                assert abs(lhs - c[i] ** k / k) < 1e-55


@pytest.mark.parametrize("clock", ["log_s", pytest.param("s", marks=pytest.mark.slow)])
def test_gradient_flow_one_point_closed_form(clock):
    # Gradient flow, linear model, one point x: q(s) = |x|^2 s, log t = log(expm1(|x|^2 s)/|x|^2).
    x = np.array([[0.75, -1.5, 0.5]])
    sysm = build_mirror_flow_system(_linear(x), 3, GD, clock=clock)
    run = integrate_implicit(sysm, [0.0, 0.0, 0.0], 40.0, dps=30)
    assert run.status == "reached"
    with mpmath.workprec(300):
        n2 = mpmath.mpf(0.75) ** 2 + mpmath.mpf(1.5) ** 2 + mpmath.mpf(0.5) ** 2
        logt = run.logt[-1]
        assert abs(logt - 40) < mpmath.mpf(10) ** -28
        s_exact = mpmath.log1p(n2 * mpmath.exp(logt)) / n2
        assert abs(run.s[-1] / s_exact - 1) < mpmath.mpf(10) ** -29
        theta_exact = [mpmath.mpf(v) * s_exact for v in (0.75, -1.5, 0.5)]
        assert _digits(run.theta[-1], theta_exact) > 29
        assert abs(run.log_loss[-1] + n2 * s_exact) / (n2 * s_exact) < mpmath.mpf(10) ** -29
        # every recorded level is hit exactly and lies on the closed form
        for s_v, lt in zip(run.s[1:], run.logt[1:], strict=True):
            assert abs(mpmath.log(mpmath.expm1(n2 * s_v) / n2) - lt) < mpmath.mpf(10) ** -27


def test_agrees_with_taylor_on_non_stiff_case():
    # Gradient flow on 8 separable points: not stiff, heyoka's Taylor method at 200 bits is the
    # independent reference.
    A = _linear_data()
    sysm = build_mirror_flow_system(_linear(A), 4, GD, clock="log_s")
    th0 = [0.125, -0.25, 0.5, 0.0]
    run = integrate_implicit(sysm, th0, 12.0, dps=30)
    ref_sys = build_mirror_flow_system(_linear(A), 4, GD)
    ref = integrate_taylor(ref_sys, th0, 12.0, fp_type="real", prec=170)
    assert run.status == ref.status == "reached"
    assert _digits(run.theta[-1], ref.theta[-1]) > 30
    assert _digits([run.log_loss[-1]], [ref.log_loss[-1]]) > 30
    assert _digits([run.s[-1]], [ref.s[-1]]) > 30


def _one_point_logt(s, xs, th0):
    """log t of the one-point cosh flow, from the closed form z(s) = sinh(theta0) + s x:
    t = int_0^s exp(x . asinh(z(sigma))) dsigma (quadrature at the current mpmath precision)."""
    x = [mpmath.mpf(v) for v in xs]
    z0 = [mpmath.sinh(mpmath.mpf(v)) for v in th0]
    return mpmath.log(mpmath.quad(lambda sig: mpmath.exp(mpmath.fsum(
        xk * mpmath.asinh(a + sig * xk) for xk, a in zip(x, z0, strict=True))), [0, s]))


def test_stages_follow_the_digits_one_point_cosh():
    # One point x, cosh, linear model: dz/ds = x for z = sinh(theta), so z(s) = sinh(theta0) + s x
    # (the closed form).  The flow is analytic in a strip around the real clock axis, so a step
    # of an order-(2s - 1) method is h ~ rho tol^(1/2s): with 9 stages at both precisions the
    # steps would grow 10^(10/18) = 3.6x from 30 to 40 digits; with the stages following the
    # tolerance (9 at tol ~ 1e-32, 12 at 1e-42) tol^(1/2s) is about the same, so about the same
    # number of steps.  Bound: half the fixed-order growth exponent, 10^(10/36) = 1.9x.
    xs, th0 = (0.6, -0.8), (0.05, 0.02)
    sysm = build_mirror_flow_system(_linear(np.array([xs])), 2, COSH, state="primal",
                                    clock="log_s")
    runs = {dps: integrate_implicit(sysm, list(th0), 6.0, dps=dps) for dps in (30, 40)}
    for dps, run in runs.items():
        assert run.status == "reached"
        with mpmath.workdps(dps + 20):
            s = to_mpf(run.s[-1])
            for th, a, xk in zip(run.theta[-1], th0, xs, strict=True):  # z(s) - z(0) = s x
                dz = mpmath.sinh(to_mpf(th)) - mpmath.sinh(mpmath.mpf(a))
                assert abs(dz - s * xk) < mpmath.mpf(10) ** -dps * abs(dz)
            assert abs(_one_point_logt(s, xs, th0) - 6) < mpmath.mpf(10) ** -dps
    assert (runs[30].stats["stages"], runs[40].stats["stages"]) == (9, 12)
    assert runs[40].stats["steps"] < 10 ** (10 / 36) * runs[30].stats["steps"]


def _cosh_pair(target: float, lo_prec: tuple[int, float], hi_prec: tuple[int, float]):
    A = _linear_data()
    sysm = build_mirror_flow_system(_linear(A), 4, COSH, state="primal", clock="log_s")
    runs = []
    for bits, tol in (lo_prec, hi_prec):
        fns = compile_implicit(sysm, bits)
        runs.append(integrate_implicit(fns, [0.0] * 4, target, tol=tol, budget_seconds=900))
    return runs


def _check_cosh(lo, hi, target: float, digits: float) -> None:
    assert lo.status == hi.status == "reached"
    with mpmath.workprec(300):
        assert abs(lo.logt[-1] - target) < mpmath.mpf(10) ** -(digits + 1) * target
        assert abs(hi.logt[-1] - target) < mpmath.mpf(10) ** -(digits + 1) * target
    assert _digits(_direction(lo.theta[-1]), _direction(hi.theta[-1])) > digits
    assert _digits([lo.log_loss[-1]], [hi.log_loss[-1]]) > digits
    # the l_inf horizon: cosh saturates every coordinate, |theta_k| grow like log t
    assert min(abs(float(v)) for v in lo.theta[-1]) > 0.1 * target


def test_cosh_linear_beyond_explicit_stall():
    # Explicit methods stall near log t ~ 30-50 on this case (benchmarks/bench_clock.py);
    # tolerances 1e-20 and 1e-28 must agree to ~20 digits.
    lo, hi = _cosh_pair(100.0, (110, 1e-20), (140, 1e-28))
    _check_cosh(lo, hi, 100.0, 19.0)


@pytest.mark.slow
def test_cosh_linear_log_t_1e4_30_digits():
    lo, hi = _cosh_pair(1e4, (140, 1e-32), (160, 1e-36))
    _check_cosh(lo, hi, 1e4, 30.0)


def _net_system(m: int, n: int, d: int, seed: int = 1):
    """cosh on a two-layer square-ReLU net (the data of benchmarks/bench_precision.py)."""
    from numerics import Dataset, Problem, TwoLayer
    from numerics.solvers.precise import problem_system
    from theory import Potential

    Xd = np.round(np.random.default_rng(seed).standard_normal((n, d)), 3)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    th0 = [float(v) for v in np.round(np.random.default_rng(3).standard_normal(m * d + m) * 0.5, 3)]
    prob = Problem.create(Dataset(Xd, y), TwoLayer(m, "square_relu"), Potential.cosh(), theta0=th0)
    return problem_system(prob, state="primal", clock="log_s"), th0


def test_square_relu_net_kinks_against_taylor():
    # A small square-ReLU net crosses ReLU kinks early on, where the flow is not stiff yet:
    # heyoka's Taylor method (its own kink events) at 200 bits is the independent reference.
    sysm, th0 = _net_system(2, 4, 2)
    run = integrate_implicit(sysm, th0, 8.0, dps=30)
    ref = integrate_taylor(sysm, th0, 8.0, fp_type="real", prec=200)
    assert run.status == ref.status == "reached"
    assert run.stats["kinks_cut"] > 0 and ref.stats["kinks_crossed"] > 0  # kinks were crossed
    assert _digits(_direction(run.theta[-1]), _direction(ref.theta[-1])) > 29
    assert _digits([run.log_loss[-1]], [ref.log_loss[-1]]) > 29


@pytest.mark.slow        # a third 30-digit run of the net above (~8 s)
def test_kink_events_save_steps():
    # without kink events the step size collapses at every crossing (and the error estimate
    # is unreliable there: about 26 digits were measured)
    sysm, th0 = _net_system(2, 4, 2)
    run = integrate_implicit(sysm, th0, 8.0, dps=30)
    plain = integrate_implicit(sysm, th0, 8.0, dps=30, kink_events=False)
    assert plain.stats["steps"] > run.stats["steps"]


def test_continuation_matches_single_run():
    # A run continued from a recorded point (past the switch to v = log log t) ends where the
    # single run ends.
    A = _linear_data()
    sysm = build_mirror_flow_system(_linear(A), 4, COSH, state="primal", clock="log_s")
    fns = compile_implicit(sysm, 140)
    whole = integrate_implicit(fns, [0.0] * 4, 40.0, tol=1e-32)
    k = next(i for i, lt in enumerate(whole.logt) if lt > 5)
    with mpmath.workprec(200):
        start = (whole.clock[k], list(whole.theta[k]), whole.logt[k])
    cont = integrate_implicit(fns, [0.0] * 4, 40.0, tol=1e-32, start=start)
    assert whole.status == cont.status == "reached"
    assert abs(cont.logt[0] - whole.logt[k]) < 1e-35 * whole.logt[k]
    assert _digits(cont.theta[-1], whole.theta[-1]) > 29
    assert _digits([cont.s[-1]], [whole.s[-1]]) > 29
    with pytest.raises(ValueError, match="start state has 3 variables"):
        integrate_implicit(fns, [0.0] * 4, 40.0, start=(start[0], start[1][:3], start[2]))


@pytest.mark.slow
def test_cosh_square_relu_net_log_t_1e3_30_digits():
    # The 8/8/4 net of bench_precision.py: the 30-digit run against 170 bits at tol 1e-38.
    sysm, th0 = _net_system(8, 8, 4)
    runs = [integrate_implicit(compile_implicit(sysm, bits), th0, 1e3, tol=tol,
                               jacobian_points=3, budget_seconds=1800)
            for bits, tol in ((140, None), (170, 1e-38))]
    _check_net(*runs, 1e3, 30.0)


def _check_net(lo, hi, target: float, digits: float) -> None:
    assert lo.status == hi.status == "reached"
    with mpmath.workprec(300):
        assert abs(lo.logt[-1] - target) < mpmath.mpf(10) ** -(digits + 1) * target
    assert _digits(_direction(lo.theta[-1]), _direction(hi.theta[-1])) > digits
    assert _digits([lo.log_loss[-1]], [hi.log_loss[-1]]) > digits


def test_bad_input_messages():
    sysm = build_mirror_flow_system(_linear(np.array([[1.0, 1.0]])), 2, GD)
    with pytest.raises(ValueError, match="theta0 has length 3"):
        integrate_implicit(sysm, [0.0, 0.0, 0.0], 10.0)
    with pytest.raises(ValueError, match="stages"):
        integrate_implicit(sysm, [0.0, 0.0], 10.0, stages=0)
    with pytest.raises(ValueError, match="dps"):
        integrate_implicit(sysm, [0.0, 0.0], 10.0, dps=2)
    with pytest.raises(ValueError, match="jacobian_points"):
        integrate_implicit(sysm, [0.0, 0.0], 10.0, stages=3, jacobian_points=4)
    with pytest.raises(ValueError, match="MirrorFlowSystem"):
        integrate_implicit("not a system", [0.0, 0.0], 10.0)  # type: ignore[arg-type]
