"""Tests of the time-changed mirror-flow system and its Taylor integration.

Every expectation comes from an independent computation: mpmath finite differences of a separately
written log-sum-exp loss, the closed form of gradient flow on one point, mpmath quadrature of
``t = int exp(-log L) ds``, the balance law of THEORY.md §2, or a run at higher precision.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

heyoka = pytest.importorskip("heyoka")

from numerics.solvers import Precision  # noqa: E402
from numerics.solvers.precise import (  # noqa: E402
    ScalarPotential,
    TaylorIntegrator,
    build_mirror_flow_system,
    compile_functions,
    integrate_taylor,
    to_mpf,
)

X_SYM = sp.Symbol("x", real=True)
B = sp.Rational(1, 10)
GD = ScalarPotential(X_SYM, X_SYM, sp.Integer(1), X_SYM, "gd")
HYPENT = ScalarPotential(
    X_SYM, sp.asinh(X_SYM / B), 1 / sp.sqrt(X_SYM**2 + B**2), B * sp.sinh(X_SYM), "hypent"
)
COSH = ScalarPotential(X_SYM, sp.sinh(X_SYM), sp.cosh(X_SYM), sp.asinh(X_SYM), "cosh")


# ---------------------------------------------------------------- margin functions (test-local)
def linear_margins(X: np.ndarray, y: np.ndarray):
    A = y[:, None] * X
    return lambda th: (A @ th, A.astype(object))


def relu2_margins(X: np.ndarray, y: np.ndarray, m: int):
    """Two-layer square-ReLU net ``sum_j a_j relu(w_j . x)**2``; theta = (W row-major, a)."""
    n, d = X.shape

    def margins(th):
        W, a = th[: m * d].reshape(m, d), th[m * d :]
        q, G, kinks = [], np.empty((n, m * d + m), dtype=object), []
        for i in range(n):
            terms = []
            for j in range(m):
                h = heyoka.sum([float(X[i, k]) * W[j, k] for k in range(d)])
                r = heyoka.relu(h)
                kinks.append(h)
                terms.append(a[j] * r * r)
                for k in range(d):
                    G[i, j * d + k] = (2.0 * y[i] * X[i, k]) * (a[j] * r)
                G[i, m * d + j] = y[i] * (r * r)
            q.append(y[i] * heyoka.sum(terms))
        return q, G, kinks

    return margins


def relu2_margins_mp(theta, X, y, m):
    """The same margins, written independently in mpmath."""
    n, d = X.shape
    out = []
    for i in range(n):
        phi = mpmath.mpf(0)
        for j in range(m):
            h = mpmath.fsum(mpmath.mpf(float(X[i, k])) * theta[j * d + k] for k in range(d))
            phi += theta[m * d + j] * max(h, 0) ** 2
        out.append(mpmath.mpf(float(y[i])) * phi)
    return out


def log_loss_mp(q, loss):
    if loss == "exp":
        terms = [-qi for qi in q]
    else:
        terms = [mpmath.log(mpmath.log1p(mpmath.exp(-qi))) for qi in q]
    m = max(terms)
    return m + mpmath.log(mpmath.fsum(mpmath.exp(t - m) for t in terms))


def data(n, d, seed):
    rng = np.random.default_rng(seed)
    X = np.round(rng.standard_normal((n, d)), 3)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return X, y


def unit(v):
    nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
    return [x / nv for x in v]


# ---------------------------------------------------------------- the right-hand side
@pytest.mark.parametrize(
    ("state", "loss", "scale"),
    [
        ("dual", "exp", 1.0),
        ("primal", "exp", 1.0),
        ("dual", "logistic", 1.0),
        ("primal", "logistic", 40.0),
    ],
)
def test_rhs_is_minus_grad_log_loss(state, loss, scale):
    """Compiled RHS = -grad log L by mpmath central differences at 60 digits."""
    m, n, d = 3, 5, 2
    X, y = data(n, d, seed=7)
    sysm = build_mirror_flow_system(
        relu2_margins(X, y, m), m * d + m, HYPENT, state=state, loss=loss
    )
    P = sysm.n_params
    rng = np.random.default_rng(11)
    # Large parameters so that the margins are large (stable branches of the logistic loss).
    theta = [mpmath.mpf(float(v)) for v in np.round(rng.standard_normal(P) * 3.0, 4)]
    logt = mpmath.mpf("12.5")
    with mpmath.workdps(60):
        bb = mpmath.mpf(1) / 10
        p = [mpmath.asinh(t / bb) if state == "dual" else t for t in theta]
        rhs = compile_functions(
            sysm, [r for _, r in sysm.equations], fp_type="real", prec=220, scale=scale
        )
        vals = to_mpf(
            np.asarray(
                rhs(
                    np.array(
                        [heyoka.real(mpmath.nstr(v, 65), 220) for v in [*p, logt / scale]],
                        dtype=heyoka.real,
                    )
                )
            )
        )

        def ll(th):
            return log_loss_mp(relu2_margins_mp(th, X, y, m), loss)

        h = mpmath.mpf("1e-20")
        grad = []
        for k in range(P):
            tp, tm = list(theta), list(theta)
            tp[k] += h
            tm[k] -= h
            grad.append((ll(tp) - ll(tm)) / (2 * h))
        ll0 = ll(theta)
        for k in range(P):
            expect = -grad[k] if state == "dual" else -grad[k] * mpmath.sqrt(theta[k] ** 2 + bb**2)
            assert abs(vals[k] - expect) <= mpmath.mpf("1e-34") * (1 + abs(expect))
        expect_t = mpmath.exp(-logt - ll0) / scale
        assert abs(vals[P] - expect_t) <= mpmath.mpf("1e-50") * expect_t


def test_invalid_arguments():
    X, y = data(3, 2, seed=1)
    no_inverse = ScalarPotential(X_SYM, sp.sinh(X_SYM), sp.cosh(X_SYM), None, "cosh")
    with pytest.raises(ValueError, match="inverse"):
        build_mirror_flow_system(linear_margins(X, y), 2, no_inverse, state="dual")
    with pytest.raises(ValueError, match="clock"):
        build_mirror_flow_system(linear_margins(X, y), 2, GD, clock="t")
    with pytest.raises(ValueError, match="shape"):
        build_mirror_flow_system(lambda th: (X @ th[:2], np.ones((3, 2))), 3, GD)
    sysm = build_mirror_flow_system(linear_margins(X, y), 2, no_inverse, state="primal")
    with pytest.raises(ValueError, match="prec"):
        integrate_taylor(sysm, [0.0, 0.0], 10.0, fp_type="real")


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("logt_mode", ["ode", "quadrature"])
@pytest.mark.parametrize("clock", ["s", "log_s"])
def test_gradient_flow_one_point_closed_form(logt_mode, clock):
    """GD, one point: theta(s) = theta0 + s x, and log t(s) = log int_0^s exp(q(r)) dr."""
    x = np.array([[0.75, -0.5, 1.25]])
    theta0 = [0.125, 0.25, -0.5]
    sysm = build_mirror_flow_system(linear_margins(x, np.array([1.0])), 3, GD, clock=clock)
    run = integrate_taylor(sysm, theta0, 60.0, fp_type="real128", logt_mode=logt_mode)
    assert run.status == "reached"
    assert len(run.s) > 4
    with mpmath.workdps(45):
        xm = [mpmath.mpf(v) for v in x[0]]
        q0 = mpmath.fsum(a * b for a, b in zip(xm, theta0, strict=True))
        x2 = mpmath.fsum(a * a for a in xm)
        for s, lt, th in zip(run.s[1:], run.logt[1:], run.theta[1:], strict=True):
            for k in range(3):
                assert abs(to_mpf(th[k]) - (theta0[k] + s * xm[k])) < mpmath.mpf("1e-30") * (1 + s)
            quad = mpmath.log(mpmath.quad(lambda r: mpmath.exp(q0 + r * x2), [0, s]))
            assert abs(lt - quad) < mpmath.mpf("1e-29") * abs(quad)
        assert abs(run.logt[-1] - 60) < mpmath.mpf("1e-28")


def test_diagonal_net_quadrature_reaches_huge_log_t():
    """One-sample diagonal net u*u - v*v under GD: u_k = u0 exp(2 x_k s), v_k = v0 exp(-2 x_k s)."""
    xs, a = [1.0, 0.875], 0.125

    def margins(th):
        u, v = th[:2], th[2:]
        q = [heyoka.sum([xs[k] * (u[k] * u[k] - v[k] * v[k]) for k in range(2)])]
        G = np.array([[2 * xs[0] * u[0], 2 * xs[1] * u[1], -2 * xs[0] * v[0], -2 * xs[1] * v[1]]])
        return q, G

    sysm = build_mirror_flow_system(margins, 4, GD)
    run = integrate_taylor(
        sysm,
        [a, a, a / 2, a / 2],
        1e12,
        fp_type="real128",
        logt_mode="quadrature",
        per_decade=1,
        budget_seconds=30,
    )
    assert run.status == "reached"
    assert run.stats["steps"] < 100
    with mpmath.workdps(40):
        for s, lt, th in zip(run.s[1:], run.logt[1:], run.theta[1:], strict=True):
            exact = [
                a * mpmath.exp(2 * xs[0] * s),
                a * mpmath.exp(2 * xs[1] * s),
                a / 2 * mpmath.exp(-2 * xs[0] * s),
                a / 2 * mpmath.exp(-2 * xs[1] * s),
            ]
            for k in range(4):
                assert abs(to_mpf(th[k]) / exact[k] - 1) < mpmath.mpf("1e-29")

            def q(r):
                return mpmath.fsum(
                    xs[k]
                    * (a**2 * mpmath.exp(4 * xs[k] * r) - a**2 / 4 * mpmath.exp(-4 * xs[k] * r))
                    for k in range(2)
                )

            # t = int_0^s exp(q): substitute r = s - w, the integrand lives within 1/q'(s) of s.
            qs, dq = q(s), 4 * xs[0] ** 2 * a**2 * mpmath.exp(4 * xs[0] * s)
            scale = 1 / dq
            w_max = min(s, 200 * scale)
            integral = mpmath.quad(
                lambda w, s=s, qs=qs: mpmath.exp(q(s - w) - qs), mpmath.linspace(0, w_max, 40)
            )
            assert abs(lt - (qs + mpmath.log(integral))) < mpmath.mpf("1e-25") * abs(lt)


# ---------------------------------------------------------------- conservation and precision
def test_balance_law_two_layer_real128():
    """C_j = sum_l g(W_jl) - 2 g(a_j), g = sqrt(x^2 + b^2), is constant (THEORY.md §2, k = 2)."""
    m, n, d = 3, 6, 2
    X, y = data(n, d, seed=4)  # separable by this net from this start (seeds 3, 5 get stuck)
    rng = np.random.default_rng(5)
    theta0 = [float(v) for v in np.round(rng.standard_normal(m * d + m) * 0.5, 3)]
    sysm = build_mirror_flow_system(relu2_margins(X, y, m), m * d + m, HYPENT)
    run = integrate_taylor(sysm, theta0, 40.0, fp_type="real128", budget_seconds=40)
    assert run.status == "reached"
    assert len(run.theta) >= 6

    with mpmath.workdps(40):
        bb = mpmath.mpf(1) / 10

        def balance(th):
            g = [mpmath.sqrt(to_mpf(v) ** 2 + bb**2) for v in th]
            return [mpmath.fsum(g[j * d : (j + 1) * d]) - 2 * g[m * d + j] for j in range(m)]

        c0 = balance([mpmath.mpf(v) for v in theta0])
        scale = max(abs(to_mpf(v)) for v in run.theta[-1])
        for th in run.theta:
            for cj, c0j in zip(balance(th), c0, strict=True):
                assert abs(cj - c0j) < mpmath.mpf("1e-25") * scale
        # The run is in the interesting regime: all margins positive, loss tiny.
        assert to_mpf(run.log_loss[-1]) < -30


def test_two_precisions_agree():
    """Linear model, hyperbolic entropy: real128 vs MPFR 160 bits (and float64) to log t = 100."""
    X, y = data(8, 4, seed=0)
    X = np.round(X, 2)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    sysm = build_mirror_flow_system(linear_margins(X, y), 4, HYPENT, state="dual")
    runs = {
        fp: integrate_taylor(sysm, [0.0] * 4, 100.0, fp_type=fp, prec=prec)
        for fp, prec in [("float64", None), ("real128", None), ("real", 160)]
    }
    with mpmath.workdps(60):
        ref = unit([to_mpf(v) for v in runs["real"].theta[-1]])
        for fp, digits in [("real128", 30), ("float64", 12)]:
            assert runs[fp].status == "reached"
            got = unit([to_mpf(v) for v in runs[fp].theta[-1]])
            assert max(abs(a - b) for a, b in zip(got, ref, strict=True)) < 10.0**-digits
            ll, llr = to_mpf(runs[fp].log_loss[-1]), to_mpf(runs["real"].log_loss[-1])
            assert abs(ll - llr) < 10.0**-digits * abs(llr)


def test_ode_and_quadrature_log_time_agree():
    X, y = data(8, 4, seed=0)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    sysm = build_mirror_flow_system(linear_margins(X, y), 4, GD, state="primal", clock="log_s")
    a = integrate_taylor(sysm, [0.0] * 4, 300.0, fp_type="real128")
    b = integrate_taylor(sysm, [0.0] * 4, 300.0, fp_type="real128", logt_mode="quadrature")
    assert a.status == b.status == "reached"
    with mpmath.workdps(40):
        assert abs(a.s[-1] - b.s[-1]) < mpmath.mpf("1e-28") * a.s[-1]
        for u, v in zip(a.theta[-1], b.theta[-1], strict=True):
            assert abs(to_mpf(u) - to_mpf(v)) < mpmath.mpf("1e-28") * (1 + abs(to_mpf(u)))


def test_cosh_budget_is_reported():
    """cosh stalls (stiff unsaturated coordinates); the run must stop at the budget, not hang."""
    X, y = data(8, 4, seed=0)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    sysm = build_mirror_flow_system(linear_margins(X, y), 4, COSH, state="primal")
    run = integrate_taylor(sysm, [0.0] * 4, 1e3, fp_type="float64", budget_seconds=1.0)
    assert run.status == "budget"
    assert 1.0 < run.final_logt < 1e3
    assert "budget of 1 s" in run.stats["reason"]


def test_clock_limit_is_reported_with_its_reason():
    """GD, one point: the clock s stops at max_clock = 1 long before log t = 100."""
    x = np.array([[0.75, -0.5]])
    sysm = build_mirror_flow_system(linear_margins(x, np.array([1.0])), 2, GD)
    run = integrate_taylor(sysm, [0.125, 0.25], 100.0, fp_type="real128", max_clock=1.0)
    assert run.status == "clock_limit"
    assert abs(run.s[-1] - 1) < 1e-30
    assert "the clock s reached its limit 1 at log t" in run.stats["reason"]
    assert run.stats["prec"] == 113


# ---------------------------------------------------------------- one compilation, several runs
@pytest.mark.parametrize("logt_mode", ["ode", "quadrature"])
def test_integrator_is_reused_for_continued_segments(logt_mode):
    """0 -> log t = 40 -> 100 with one compiled integrator ends where the uninterrupted run ends
    (to about the working precision), exactly where a freshly compiled one from the same start
    ends, and compiles once (a run needing more output levels than compiled recompiles)."""
    X, y = data(8, 4, seed=0)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    sysm = build_mirror_flow_system(linear_margins(X, y), 4, HYPENT, state="dual")
    whole = integrate_taylor(sysm, [0.0] * 4, 100.0, fp_type="real128", logt_mode=logt_mode)
    integ = TaylorIntegrator(sysm, precision=Precision.of_type("real128"), logt_mode=logt_mode)
    first = integ.run([0.0] * 4, 40.0)
    start = (first.clock[-1], [str(v) for v in first.states[-1][:4]], first.logt[-1])
    second = integ.run(None, 100.0, start=start)
    assert whole.status == first.status == second.status == "reached"
    assert first.stats["compiled"] and first.stats["compile_seconds"] > 0
    assert not second.stats["compiled"] and second.stats["compile_seconds"] == 0.0
    assert integ.n_compiles == 1
    with mpmath.workdps(40):
        assert abs(second.s[-1] - whole.s[-1]) < mpmath.mpf("1e-29") * whole.s[-1]
        for u, v in zip(second.theta[-1], whole.theta[-1], strict=True):
            assert abs(to_mpf(u) - to_mpf(v)) < mpmath.mpf("1e-29") * (1 + abs(to_mpf(v)))
    fresh = integrate_taylor(sysm, [0.0] * 4, 100.0, fp_type="real128", logt_mode=logt_mode,
                             start=start)
    assert fresh.stats["steps"] == second.stats["steps"]
    assert [str(v) for v in fresh.states.ravel()] == [str(v) for v in second.states.ravel()]
    again = integ.run([0.0] * 4, 1e3)   # from t = 0 again: more output levels in "ode" mode
    assert again.status == "reached" and again.stats["compiled"] == (logt_mode == "ode")
    assert integ.n_compiles == (2 if logt_mode == "ode" else 1)


# ---------------------------------------------------------------- hand-written VJP, heyoka options
def relu2_margins_vjp(X: np.ndarray, y: np.ndarray, m: int):
    """The net of :func:`relu2_margins`, but with ``G`` given as a vector-Jacobian product."""
    n, d = X.shape

    def margins(th):
        W, a = th[: m * d].reshape(m, d), th[m * d :]
        h = [[heyoka.sum([float(X[i, k]) * W[j, k] for k in range(d)]) for j in range(m)]
             for i in range(n)]
        r = [[heyoka.relu(v) for v in row] for row in h]
        q = [float(y[i]) * heyoka.sum([a[j] * r[i][j] ** 2 for j in range(m)]) for i in range(n)]

        def vjp(w):
            v = [float(y[i]) * w[i] for i in range(n)]
            fw = [2.0 * a[j] * heyoka.sum([float(X[i, k]) * v[i] * r[i][j] for i in range(n)])
                  for j in range(m) for k in range(d)]
            return fw + [heyoka.sum([v[i] * r[i][j] ** 2 for i in range(n)]) for j in range(m)]

        return q, vjp, [v for row in h for v in row]

    return margins


@pytest.mark.parametrize("loss", ["exp", "logistic"])
def test_vjp_rhs_is_minus_grad_log_loss(loss):
    """A callable ``G`` (hand-written VJP) gives -grad log L: mpmath central differences."""
    m, n, d = 2, 4, 3
    X, y = data(n, d, seed=8)
    sysm = build_mirror_flow_system(relu2_margins_vjp(X, y, m), m * d + m, GD, loss=loss)
    P = sysm.n_params
    theta = [mpmath.mpf(float(v)) for v in np.round(np.random.default_rng(2).standard_normal(P), 4)]
    with mpmath.workdps(60):
        rhs = compile_functions(sysm, [r for _, r in sysm.equations[:P]], fp_type="real", prec=220)
        vals = to_mpf(np.asarray(rhs(np.array(
            [heyoka.real(mpmath.nstr(v, 65), 220) for v in [*theta, 0]], dtype=heyoka.real))))

        def ll(th):
            return log_loss_mp(relu2_margins_mp(th, X, y, m), loss)

        h = mpmath.mpf("1e-20")
        for k in range(P):
            tp, tm = list(theta), list(theta)
            tp[k] += h
            tm[k] -= h
            expect = -(ll(tp) - ll(tm)) / (2 * h)
            assert abs(vals[k] - expect) <= mpmath.mpf("1e-34") * (1 + abs(expect))


def test_vjp_of_wrong_length_is_rejected():
    X, y = data(3, 2, seed=1)
    A = y[:, None] * X
    bad = lambda th: (A @ th, lambda w: [w[0]])  # noqa: E731
    with pytest.raises(ValueError, match="expected 2"):
        build_mirror_flow_system(bad, 2, GD)


def test_heyoka_options_are_passed_and_checked():
    """``heyoka_options`` reach heyoka (same closed-form trajectory) and may not override ours."""
    x = np.array([[0.75, -0.5]])
    sysm = build_mirror_flow_system(linear_margins(x, np.array([1.0])), 2, GD)
    run = integrate_taylor(sysm, [0.125, 0.25], 40.0, fp_type="real128",
                           heyoka_options={"opt_level": 2, "parallel_mode": True})
    assert run.status == "reached"
    assert run.stats["cpu_seconds"] >= 0
    with mpmath.workdps(40):
        s = run.s[-1]
        for th, t0, xk in zip(run.theta[-1], [0.125, 0.25], x[0], strict=True):
            assert abs(to_mpf(th) - (t0 + s * mpmath.mpf(xk))) < mpmath.mpf("1e-30") * (1 + s)
    with pytest.raises(ValueError, match="heyoka_options"):
        integrate_taylor(sysm, [0.0, 0.0], 10.0, heyoka_options={"tol": 1e-10})
