"""Potentials with |x|, sign, max/min in the arbitrary-precision paths (issue 10).

Expectations: the heyoka forms equal sympy's own evaluation (mpmath, 40 digits) at points on both
sides of every kink; Taylor and Radau -- two different integrators -- agree to >= 25 digits on
l_p potentials whose derivatives contain |x|.
"""

from __future__ import annotations

import heyoka as hy
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import numerics
from numerics import Problem, solve_mirror_flow
from numerics.solvers.precise import sympy_to_heyoka
from theory import Potential

x, y = sp.symbols("x y", real=True)
hx, hyv = hy.make_vars("x", "y")

NONSMOOTH = [
    sp.Abs(x) ** 3 / 3,
    sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 2),
    x * sp.Abs(x) + sp.Abs(x - y) / 10,
    sp.Max(x, y, 0) - sp.Min(x, 2 * y),
    sp.Heaviside(x) * x**2 + sp.Heaviside(y, 1) * y,
    sp.Abs(sp.Abs(x) - 1) ** sp.Rational(5, 2),
    sp.exp(-sp.Abs(x)) + sp.pi * sp.sign(y),
]


def _evaluate(expr: sp.Expr, xv: float, yv: float) -> mpmath.mpf:
    with mpmath.workdps(40):
        return mpmath.mpf(sp.N(expr.subs({x: sp.Rational(xv), y: sp.Rational(yv)}), 40))


@pytest.mark.parametrize("expr", NONSMOOTH, ids=str)
@settings(max_examples=25, deadline=None)
@given(xv=st.floats(-4, 4, allow_subnormal=False), yv=st.floats(-4, 4, allow_subnormal=False))
def test_nonsmooth_forms_equal_sympy(expr, xv, yv):
    pars = numerics.solvers.precise.ParTable()
    h = sympy_to_heyoka(expr, {x: hx, y: hyv}, pars)
    assert "Abs" not in str(h) and "sign" not in str(h)
    values = [0.0] + [float(sp.N(v, 20)) for v in pars.values[1:]]
    f = hy.cfunc([h], vars=[hx, hyv])
    got = f(np.array([xv, yv]), pars=np.array(values)) if values[1:] else f(np.array([xv, yv]))
    expect = _evaluate(expr, xv, yv)
    assert abs(float(got[0]) - float(expect)) <= 1e-13 * (1 + abs(float(expect)))


def test_kinks_at_exact_zero():
    """sign(0) = 0, |0| = 0, Heaviside(0) = 1/2 (sympy's convention) or its second argument."""
    for expr, expect in [(sp.sign(x), 0.0), (sp.Abs(x), 0.0), (sp.Heaviside(x), 0.5),
                         (sp.Heaviside(x, 1), 1.0), (sp.Max(x, 0), 0.0)]:
        f = hy.cfunc([sympy_to_heyoka(expr, {x: hx})], vars=[hx])
        assert float(f(np.array([0.0]))[0]) == expect


@pytest.mark.parametrize("pot", [Potential.lp(3), Potential("abs(x)**3/3"),
                                 pytest.param(Potential("x**2/2 + abs(x)**(5/2)"),
                                              marks=pytest.mark.slow)], ids=str)
def test_taylor_and_radau_agree_on_abs_potentials(pot):
    prob = Problem.create(numerics.two_d(6, seed=0), numerics.Linear(), pot)
    runs = [solve_mirror_flow(prob, log_t=10, dps=30, certify=False, method=m,
                              max_seconds=120) for m in ("taylor", "radau")]
    for run in runs:
        assert run.status == "reached", run.message
    with mpmath.workdps(40):
        a, b = (np.asarray(r.theta_mp[-1]) for r in runs)
        scale = max(abs(v) for v in a)
        gap = max(abs(u - v) for u, v in zip(a, b, strict=True)) / scale
    assert gap < mpmath.mpf("1e-25"), float(gap)


@pytest.mark.parametrize("pot", [Potential("abs(x)**3/3"), Potential.lp(3)],
                         ids=["primal", "dual"])
def test_absorbing_zero_closed_form(pot):
    """beta = u^2 - v^2 on one sample x = 1 with f = |x|^3/3 (primal: no closed-form inverse;
    dual: l_3's sign(z) sqrt|z|).  Closed form (derived in THEORY.md §7): du/dt = L = -dv/dt, so
    u + v = c and v reaches 0 at t* = (e^{c^2} - e^{c a}) / (2c), a = u0 - v0, and stays there
    (its force 2 v L vanishes); afterwards du/dt = exp(-u^2), i.e.
    erfi(u) = erfi(c) + 2 (t - t*) / sqrt(pi)."""
    u0, v0, T = mpmath.mpf("0.3"), mpmath.mpf("0.2"), 10
    data = numerics.Dataset(np.array([[1.0]]), np.array([1.0]))
    prob = Problem.create(data, numerics.Diagonal(depth=2), pot, theta0=[0.3, 0.2])
    run = solve_mirror_flow(prob, log_t=T, dps=30, certify=False, method="taylor",
                            max_seconds=120)
    assert run.status == "reached", run.message
    frozen = run.meta["solver"]["frozen_coordinates"]
    with mpmath.workdps(50):
        c, a = u0 + v0, u0 - v0
        t_star = (mpmath.exp(c * c) - mpmath.exp(c * a)) / (2 * c)
        rhs = mpmath.erfi(c) + 2 * (mpmath.exp(T) - t_star) / mpmath.sqrt(mpmath.pi)
        u_exact = mpmath.findroot(lambda u: mpmath.erfi(u) - rhs, mpmath.sqrt(T))
        u, v = (mpmath.mpf(str(w)) for w in run.theta_mp[-1])
        assert list(frozen) == [1]
        assert abs(frozen[1] - float(mpmath.log(t_star))) < 1e-6
        assert v == 0
        assert abs(u / u_exact - 1) < mpmath.mpf("1e-28"), mpmath.nstr(u / u_exact - 1, 5)


def test_primal_crossing_on_a_network_agrees_with_radau():
    """x^2 + |x|^3 (no closed-form inverse: primal state, clock log s on a network): a
    first-layer weight crosses 0, Taylor bridges the kink (f''' jumps there) and must agree with
    Radau, a different integrator, to >= 25 digits.  Found by the cross-path battery (Taylor had
    3.5 digits before kinks of the potential were events)."""
    data = numerics.make_dataset("separable_gaussian", n=2, d=3, margin=0.1, seed=745)
    prob = Problem.create(data, numerics.TwoLayer(2, "square_relu"), Potential("x**2 + abs(x)**3"),
                          scale=0.4167, seed=98)
    runs = [solve_mirror_flow(prob, log_t=6, dps=30, certify=False, method=m, max_seconds=150)
            for m in ("taylor", "radau")]
    for run in runs:
        assert run.status == "reached", run.message
    assert runs[0].meta["solver"]["kink_bridges"] >= 1
    with mpmath.workdps(40):
        a, b = (np.asarray(r.theta_mp[-1]) for r in runs)
        gap = max(abs(u - v) for u, v in zip(a, b, strict=True)) / max(abs(v) for v in a)
    assert gap < mpmath.mpf("1e-25"), float(gap)
