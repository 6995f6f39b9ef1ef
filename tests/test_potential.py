"""The THEORY.md §1 table, inverse/conjugate properties, and validation errors."""
from functools import cache

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.testing import ALL_FAMILIES, potential_cases
from theory import (
    InvalidPotentialError,
    Potential,
    X,
    Z,
    asinh_form,
    collapse_abs_sign,
    invert_increasing,
    rationalized_form,
)

B = sp.Symbol("b", positive=True)
POS = sp.Symbol("y", positive=True)


def same(a, b, var=X):
    """a == b for real var: symbolically on each sign (Abs/sign collapse there), else
    numerically to 40 digits at 8 points (sympy cannot simplify e.g. asinh(sinh(x)))."""
    a, b = a.subs(B, sp.Rational(1, 10)), b.subs(B, sp.Rational(1, 10))
    if all(sp.simplify((a - b).subs(var, s * POS)) == 0 for s in (1, -1)):
        return True
    fa, fb = sp.lambdify(var, a, "mpmath"), sp.lambdify(var, b, "mpmath")
    with mpmath.workdps(50):
        pts = [mpmath.mpf(v) for v in ("0.37", "1.9", "4.2", "11.5")]
        return all(abs(fa(s * v) - fb(s * v)) < mpmath.mpf(10) ** -40 * (1 + abs(fb(s * v)))
                   for v in pts for s in (1, -1))


@cache
def builtin(name):
    return {
        "quadratic": Potential.quadratic,
        "l1.5": lambda: Potential.lp(sp.Rational(3, 2)),
        "l3": lambda: Potential.lp(3),
        "hyp": lambda: Potential.hyperbolic_entropy(sp.Rational(1, 10)),
        "cosh": Potential.cosh,
        "gauss": Potential.gaussian_exp,
        "mix": lambda: Potential("x**2/2 + abs(x)**3/3"),   # a closed form that cancels
        "asym": lambda: Potential("x**2 + exp(x)"),
    }[name]()


# THEORY.md §1 table, typed in independently of the code: (f', (f')^-1, g)
TABLE = {
    "quadratic": (X, Z, X**2 / 2),
    "l1.5": (sp.sign(X) * sp.Abs(X) ** sp.Rational(1, 2), sp.sign(Z) * sp.Abs(Z) ** 2,
             sp.Rational(1, 3) * sp.Abs(X) ** sp.Rational(3, 2)),
    "l3": (sp.sign(X) * sp.Abs(X) ** 2, sp.sign(Z) * sp.Abs(Z) ** sp.Rational(1, 2),
           sp.Rational(2, 3) * sp.Abs(X) ** 3),
    "hyp": (sp.asinh(X / B), B * sp.sinh(Z), sp.sqrt(X**2 + B**2)),
    "cosh": (sp.sinh(X), sp.asinh(Z), X * sp.sinh(X) - sp.cosh(X)),
    "gauss": (X * sp.exp(X**2 / 2), None, (X**2 - 1) * sp.exp(X**2 / 2)),
}


# f and f' written directly in mpmath (independent of the code under test)
def _b():
    return mpmath.mpf(1) / 10   # at the caller's precision


F_AND_F1 = {
    "quadratic": (lambda x: x * x / 2, lambda x: x),
    "l1.5": (lambda x: abs(x) ** 1.5 / 1.5, lambda x: mpmath.sign(x) * mpmath.sqrt(abs(x))),
    "l3": (lambda x: abs(x) ** 3 / 3, lambda x: mpmath.sign(x) * x * x),
    "hyp": (lambda x: x * mpmath.asinh(x / _b()) - mpmath.sqrt(x * x + _b() ** 2),
            lambda x: mpmath.asinh(x / _b())),
    "cosh": (mpmath.cosh, mpmath.sinh),
    "gauss": (lambda x: mpmath.exp(x * x / 2), lambda x: x * mpmath.exp(x * x / 2)),
    "mix": (lambda x: x * x / 2 + abs(x) ** 3 / 3, lambda x: x + x * abs(x)),
    "asym": (lambda x: x * x + mpmath.exp(x), lambda x: 2 * x + mpmath.exp(x)),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_table_exact(name):
    pot = builtin(name)
    f1, inv, g = TABLE[name]
    assert same(pot.mirror_map.expr, f1)
    assert same(pot.balance_function.expr, g)
    if inv is not None:
        assert same(pot.inverse_mirror_map.expr, inv, Z)
    else:   # Lambert-W form: on z = y > 0, w = inverse(y) > 0 and f'(w)^2 = W e^W = y^2
        w = pot.inverse_mirror_map.expr.subs(Z, POS)
        assert w.is_positive is not False
        sq = sp.expand(f1.subs(X, w) ** 2).replace(   # definition of W: e^{W(a)} = a / W(a)
            lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.LambertW),
            lambda e: e.args[0].args[0] / e.args[0])
        assert sp.simplify(sq - POS**2) == 0


def test_balance_is_conjugate_of_mirror_map():
    # g = f* o f' (THEORY.md §1) wherever a closed-form conjugate exists
    for name in ("quadratic", "hyp", "cosh", "l3"):
        pot = builtin(name)
        fstar = pot.conjugate.expr
        assert fstar is not None, name
        assert same(fstar.subs(Z, pot.mirror_map.expr), pot.balance_function.expr)


@pytest.mark.parametrize("name", ["quadratic", "l1.5", "l3", "hyp", "cosh", "gauss", "mix",
                                  "asym"])
@given(z=st.floats(-1e3, 1e3, allow_nan=False))
def test_inverse_to_50_digits(name, z):
    pot = builtin(name)
    f1 = F_AND_F1[name][1]
    with mpmath.workdps(80):
        x = pot.inverse(repr(z), dps=50)
        assert abs(f1(x) - mpmath.mpf(repr(z))) <= mpmath.mpf(10) ** -50 * (1 + abs(z))


@given(z=st.floats(-50, 50, allow_nan=False))
def test_numeric_inverse_matches_independent_closed_form(z):
    # hyperbolic entropy: (f')^-1(z) = b sinh(z) (THEORY.md table); force the numeric path
    b = mpmath.mpf(1) / 10
    with mpmath.workdps(70):
        root = invert_increasing(lambda t: mpmath.asinh(t / b),
                                 lambda t: 1 / mpmath.sqrt(t * t + b * b), repr(z), dps=45)
        exact = b * mpmath.sinh(mpmath.mpf(repr(z)))
        assert abs(root - exact) <= mpmath.mpf(10) ** -45 * max(abs(exact), mpmath.mpf(10) ** -45)


def test_mixture_inverse_against_quadratic_formula():
    # x + x|x| = z  =>  x = (-1 + sqrt(1 + 4z))/2 for z >= 0 (independent closed form)
    # (odd symmetry finds this closed form; it cancels at small z, so theory rationalizes it
    # to 2z / (1 + sqrt(1 + 4z)), which keeps its digits; checked far out and near 0)
    pot = builtin("mix")
    assert pot.stable_inverse and pot.inverse_digits_lost < 1
    with mpmath.workdps(60):
        for z in ("0.3", "2.5", "1e6", "1e-25"):
            exact = 2 * mpmath.mpf(z) / (1 + mpmath.sqrt(1 + 4 * mpmath.mpf(z)))  # no cancelling
            assert abs(pot.inverse(z, dps=45) - exact) < mpmath.mpf(10) ** -44 * exact
            assert abs(pot.inverse("-" + z, dps=45) + exact) < mpmath.mpf(10) ** -44 * exact


@pytest.mark.parametrize("name", ["quadratic", "l3", "hyp", "cosh", "gauss", "mix", "asym"])
@given(x=st.floats(-8, 8, allow_nan=False))
def test_fenchel_young_equality(name, x):
    # f(x) + f*(f'(x)) = x f'(x)  (equality case of Fenchel-Young)
    pot = builtin(name)
    f, f1 = F_AND_F1[name]
    with mpmath.workdps(60):
        xx = mpmath.mpf(repr(x))
        y = f1(xx)
        lhs = f(xx) + pot.conjugate_value(y, dps=40)
        assert abs(lhs - xx * y) <= mpmath.mpf(10) ** -35 * (1 + abs(xx * y) + abs(f(xx)))


def test_sum_and_scaling_build_potentials():
    s = Potential.quadratic() + Potential("abs(x)**3/3")
    assert sp.simplify(s.f - (X**2 / 2 + sp.Abs(X) ** 3 / 3)) == 0
    assert s.scaled(3).f.equals(3 * s.f)
    with pytest.raises(ValueError, match="positive"):
        s.scaled(-1)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("expr, kwargs, pattern", [
    ("x**2 + abs(x)", {}, r"not differentiable at x = 0.*f' jumps"),
    # f' ~ sign(x)/(2 sqrt|x|) has no jump to smooth: it is unbounded (a power below 1)
    ("x**2 + abs(x)**(1/2)", {}, r"unbounded derivative near x = 0.*power above 1"),
    ("abs(x)**(3/4)", {}, r"unbounded derivative near x = 0"),
    ("x**2 + Max(x, 0)**2", {}, r"not twice differentiable at x = 0.*f'' jumps"),
    ("x**2 - x**4", {}, r"not convex: f''\(x\) = .* < 0 at x = "),
    ("x**2 + Max(x, 0)**3 - Max(x, 0)**3 - x**2 + Max(x - 1, 0)**3", {},
     r"not (strictly convex|twice)"),
    ("x**4*Heaviside(x) + x", {}, r"not (strictly convex|twice)"),
    ("x**2 + c*x", {}, r"unknown symbol\(s\) c.*c=1.0"),
    ("sqrt(1 + x**2)", {}, r"tends to 1 as x -> \+inf.*allow_bounded_mirror_map"),
    ("x*log(x)", {}, r"not real and finite at x = .*only part of the real line"),
    ("x**2 +", {}, r"could not parse"),
    ("x**2", {"b": 1}, r"parameter\(s\) b do not appear"),
    ("b*x**2", {"b": "nan"}, r"finite real number"),
    ("7", {}, r"does not depend on x"),
])
def test_bad_potentials_are_named(expr, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Potential(expr, **kwargs)


def test_invalid_potential_is_value_error_subclass():
    with pytest.raises(InvalidPotentialError):
        Potential("-x**2")


def test_bounded_mirror_map_accepted_with_flag_and_warning():
    with pytest.warns(UserWarning, match="range is not all of R"):
        pot = Potential("sqrt(1 + x**2)", allow_bounded_mirror_map=True)
    with pytest.raises(ValueError, match="outside the range"):
        pot.inverse(2, dps=20)


def test_bad_dps():
    with pytest.raises(ValueError, match="dps"):
        Potential.cosh().inverse(1, dps=0)



@pytest.mark.parametrize("expr, exact", [
    ("cosh(x)", lambda z: mpmath.asinh(z)),
    ("cosh(x/2)", lambda z: 2 * mpmath.asinh(2 * z)),
    ("exp(x) + exp(-x)", lambda z: mpmath.asinh(z / 2))])
def test_typed_sinh_type_inverse_is_accurate_in_float64_far_out(expr, exact):
    """sympy.solve gives log(z + sqrt(z**2 + 1))-type inverses (overflow at |z| ~ 1e154,
    cancellation for z < 0); the derived inverse must match mpmath's asinh in float64 there."""
    import numpy as np

    inv = Potential(expr).inverse_mirror_map.expr
    fn = sp.lambdify(sorted(inv.free_symbols, key=str), inv, "numpy")
    for z in (-1e200, -1e5, -3.0, 0.5, 1e200):
        assert fn(np.float64(z)) == pytest.approx(float(exact(mpmath.mpf(z))), rel=1e-13), z


def test_abs_power_potential_compiles_real_for_negative_x_and_integrates():
    """x**2/2 + |x|**(3/2) (THEORY.md §3): sympy's f'' had |x**(-5/2)| (NaN in numpy for x < 0),
    so float64 runs never finished; f' and f'' must equal mpmath's derivatives of f on both
    sides of 0, and a float64 run must reach its target."""
    import numpy as np

    from numerics import Linear, Problem, solve_mirror_flow, two_d

    pot = Potential("x**2/2 + Abs(x)**(3/2)")
    f = lambda v: v**2 / 2 + abs(v) ** mpmath.mpf(1.5)  # noqa: E731
    xs = sorted(pot.hessian.expr.free_symbols, key=str)
    d1 = sp.lambdify(xs, pot.mirror_map.expr, "numpy")
    d2 = sp.lambdify(xs, pot.hessian.expr, "numpy")
    for v in (-2.0, -0.3, 0.3, 2.0):
        assert d1(np.float64(v)) == pytest.approx(float(mpmath.diff(f, v, 1)), rel=1e-12)
        assert d2(np.float64(v)) == pytest.approx(float(mpmath.diff(f, v, 2)), rel=1e-12)
    sol = solve_mirror_flow(Problem.create(two_d(10, seed=1), Linear(), pot), log_t=30.0,
                            max_seconds=60, certify=False)
    assert sol.status == "reached" and sol.min_margin[-1] > 0


@pytest.mark.parametrize("base", [Potential.hyperbolic_entropy("1/10"), Potential.cosh(),
                                  Potential.lp(3), Potential.quadratic()])
@pytest.mark.parametrize("c", ["1/3", "7"])
def test_scaled_keeps_the_family_inverse(base, c):
    """(c f)'((c f)'^{-1}(z)) = z, with the family's closed form carried over (issue 10: the
    scaled potential fell back to a numeric inverse and the precise paths to the primal
    state)."""
    import sympy as sp
    pot = base.scaled(c)
    inv = pot.inverse_mirror_map.expr
    assert pot.inverse_hint is not None and sp.simplify(inv - pot.inverse_hint) == 0
    fp = sp.diff(pot.expr, sp.Symbol("x", real=True))
    subs = {sp.Symbol(k, positive=True): v for k, v in pot.params.items()}
    for z in ("-3.5", "0.25", "40"):
        zz = sp.Rational(z)
        x_val = inv.subs({**{s: v for s, v in subs.items()}, sp.Symbol("z", real=True): zz})
        back = fp.subs({**subs, sp.Symbol("x", real=True): x_val})
        assert abs(sp.N(back - zz, 40)) < sp.Float("1e-30")


@cache
def _typed(expr):
    return Potential(expr)


@settings(max_examples=8, deadline=None)
@given(p=st.fractions(min_value="5/4", max_value=4, max_denominator=4),
       c=st.fractions(min_value="1/5", max_value=5, max_denominator=5),
       z=st.floats(1e-25, 1e25).flatmap(lambda a: st.sampled_from([a, -a])))
def test_typed_abs_power_is_inverted_by_odd_symmetry(p, c, z):
    """c |x|^p typed as a string: f'(x) = c p sign(x) |x|^(p-1) is odd, inverted on x > 0 and
    extended by sign(z); the closed form keeps its digits (so the numeric layer may use the
    dual state, as for Potential.lp) and agrees with the independent formula
    sign(z) (|z| / (c p))^(1/(p-1)) to 40 digits."""
    pot = Potential(f"{c}*abs(x)**({p})")
    assert pot.inverse_mirror_map.expr is not None and pot.stable_inverse
    with mpmath.workdps(60):
        zz = mpmath.mpf(z)
        exact = mpmath.sign(zz) * (abs(zz) / (mpmath.mpf(c.numerator) / c.denominator
                                              * mpmath.mpf(p.numerator) / p.denominator)
                                   ) ** (1 / (mpmath.mpf(p.numerator) / p.denominator - 1))
        got = pot.inverse(zz, dps=45)
        assert abs(got - exact) <= mpmath.mpf(10) ** -40 * abs(exact)


@pytest.mark.parametrize("expr", ["x**2/2 + x**4/4", "x**2/2 + abs(x)**3/3"])
@settings(max_examples=10, deadline=None)
@given(z=st.floats(1e-25, 1e25).flatmap(lambda a: st.sampled_from([a, -a])))
def test_cancelling_closed_forms_keep_digits_in_numbers(expr, z):
    """Cardano's root of x + x^3 = z cancels at large |z|: not stable. sign(z) (sqrt(1 +
    4|z|) - 1)/2 cancels at small |z|, and theory uses its rationalized form 2z / (sqrt(1 +
    4|z|) + 1) instead, which is stable. Either way inverse / conjugate_value keep 30 digits
    (checked by f'(x) = z and the Fenchel-Young equality, evaluated at 60 digits)."""
    pot = _typed(expr)
    assert pot.inverse_mirror_map.expr is not None
    assert pot.stable_inverse is ("abs" in expr)
    f, f1 = (sp.lambdify(X, e, "mpmath") for e in (pot.expr, pot.f1))
    x = pot.inverse(z, dps=30)
    fstar = pot.conjugate_value(z, dps=30)
    with mpmath.workdps(60):
        zz = mpmath.mpf(z)
        assert abs(f1(x) - zz) <= mpmath.mpf(10) ** -29 * abs(zz)
        assert abs(fstar - (zz * x - f(x))) <= mpmath.mpf(10) ** -28 * abs(zz * x)


@pytest.mark.parametrize("p", ["17/16", "9/8", "5/4"])
def test_abs_powers_near_one_are_accepted(p):
    """|x|^p with 1 < p < 2 is C^1 (f' ~ |x|^(p-1) -> 0, f'' -> inf at 0): an l_p potential.
    The C^1 check read |f'(1e-20) - f'(-1e-20)| = 2e-5 for p = 5/4 as a jump; a jump stays
    when the distance shrinks to 1e-40, this gap closes (1e-10)."""
    pot = Potential(f"abs(x)**({p})")
    assert pot.horizon.norm == "lp" and pot.stable_inverse
    with pytest.raises(InvalidPotentialError, match="not differentiable"):
        Potential(f"abs(x)**({p}) + abs(x)")



def check_inverse_keeps_30_digits(case, z):
    """x = inverse(z) solves f'(x) = z up to a backward error of 30 digits of x (the residual
    is at most 1e-28 (|z| + |x| f''(x)): x cannot resolve z better where f'' |x| >> |z|), and
    f*(z) = x z - f(x); f, f', f'' are evaluated independently at 60 digits (f and f' in asinh
    form: the log form of an entropy cancels at negative x, ~log10|x| digits; and f at 150
    digits: log(cosh(x)) at x = 5e-26 needs 51 digits before its first)."""
    pot = case.potential
    stable = asinh_form(pot.f)
    f, f1, f2 = (sp.lambdify(X, sp.diff(stable, X, k).replace(sp.DiracDelta, lambda *a: 0),
                             "mpmath") for k in range(3))
    x = pot.inverse(z, dps=30)
    fstar = pot.conjugate_value(z, dps=30)
    with mpmath.workdps(150):
        zz = mpmath.mpf(z)
        slack = abs(zz) + abs(x) * abs(f2(x)) if x != 0 else abs(zz)
        assert abs(f1(x) - zz) <= mpmath.mpf(10) ** -28 * slack, pot
        scale = abs(zz * x) + abs(f(x))
        assert abs(fstar - (zz * x - f(x))) <= mpmath.mpf(10) ** -27 * scale, pot


SIGNED_Z = st.floats(1e-25, 1e25).flatmap(lambda a: st.sampled_from([a, -a]))


@settings(max_examples=3, deadline=None)    # 31-50 s at 5 on CI's 2 cores; the slow one: 150
@given(case=potential_cases(families=ALL_FAMILIES), z=SIGNED_Z)
def test_inverse_keeps_30_digits_for_every_family(case, z):
    """Whatever closed form theory found (or the numeric root it falls back to), the inverse
    of any drawn potential (sums with abs, scalings, Lambert-W and log forms included) keeps
    30 digits across |z| = 1e-25..1e25."""
    check_inverse_keeps_30_digits(case, z)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(case=potential_cases(families=ALL_FAMILIES), z=SIGNED_Z)
def test_inverse_keeps_30_digits_for_every_family_slow(case, z):
    check_inverse_keeps_30_digits(case, z)


@settings(max_examples=60, deadline=None)
@given(c=st.fractions(-5, 5).filter(lambda q: q != 0), a=st.fractions(1, 20),
       b=st.fractions(1, 9), r=st.fractions(-5, 5), lin=st.fractions(-3, 3),
       z=st.floats(1e-30, 1e30).flatmap(lambda v: st.sampled_from([v, -v])))
def test_rationalized_form_keeps_the_value(c, a, b, r, lin, z):
    """(S^2 - R^2)/(S - R) = S + R wherever S != R, for S = c sqrt(a|z| + b) and R = r +
    lin z (the quadratic formula's shape), checked at 80 digits; and a sum of that shape that
    cancels at small |z| (r = -c sqrt(b)) keeps its digits at 30 digits after the rewrite."""
    q = [sp.Rational(v.numerator, v.denominator) for v in (c, a, b, r, lin)]
    S = q[0] * sp.sqrt(q[1] * sp.Abs(Z) + q[2])
    R = q[3] + q[4] * Z
    expr = (S + R) * sp.sign(Z)
    new = rationalized_form(expr)
    f, g = (sp.lambdify(Z, e, "mpmath") for e in (expr, new))
    with mpmath.workdps(80):
        zz = mpmath.mpf(z)
        Sv, Rv = (sp.lambdify(Z, e, "mpmath")(zz) for e in (S, R))
        if abs(Sv - Rv) > mpmath.mpf(10) ** -60 * abs(Sv):
            assert abs(g(zz) - f(zz)) <= mpmath.mpf(10) ** -60 * max(abs(Sv), abs(Rv))
    cancels = rationalized_form(S - q[0] * sp.sqrt(q[2]))       # 0 at z = 0: cancels near it
    h = sp.lambdify(Z, cancels, "mpmath")
    with mpmath.workdps(80):
        exact = h(mpmath.mpf(z))
    with mpmath.workdps(30):
        assert abs(h(mpmath.mpf(z)) - exact) <= mpmath.mpf(10) ** -28 * abs(exact)


@settings(max_examples=4, deadline=None)
@given(case=potential_cases(families=ALL_FAMILIES))
def test_closed_form_inverse_has_the_slope_1_over_f2_at_0(case):
    check_slope_at_0(case)


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(case=potential_cases(families=ALL_FAMILIES))
def test_closed_form_inverse_has_the_slope_1_over_f2_at_0_slow(case):
    check_slope_at_0(case)


def check_slope_at_0(case):
    """d/dz (f')^{-1} = 1 / f''(0) at z = f'(0) wherever f''(0) is finite and positive, for
    every closed-form inverse the numerics use (stable ones), differentiated as a compiler
    does: the derivatives of |z| and sign(z) taken as sign(z) and 0 (no DiracDelta).  An
    inverse written |z| sign(z) g(z) has slope 0 there, which sent a dual-state bridge
    across that kink with a wrong slope."""
    pot = case.potential
    inv = pot.inverse_mirror_map.expr
    if case.curvature_at_0 != "positive" or inv is None or pot.inverse_digits_lost > 3:
        return
    params = dict(pot.params)
    f2_at_0 = pot.f2.subs(params).subs(X, 0)
    z0 = pot.f1.subs(params).subs(X, 0)
    slope = sp.diff(inv.subs(params), Z).replace(sp.DiracDelta, lambda *a: sp.S(0))
    at = sp.N(slope.subs(Z, z0), 30)
    if not at.is_finite:        # a removable 0/0 (sqrt(W(z^2)) of exp(x^2/2)): the limit
        at = sum(sp.N(slope.subs(Z, z0 + h), 60) for h in (sp.Float("1e-30", 60),
                                                            sp.Float("-1e-30", 60))) / 2
    assert abs(at * f2_at_0 - 1) < 1e-25, (inv, slope)


def test_abs_sign_products_are_written_as_the_variable():
    """The rule itself on an odd inverse that is not rationalized: sign(z) |z| / (1 + |z|)
    (slope 1 at 0) must not keep |z| sign(z)."""
    e = collapse_abs_sign(sp.sign(Z) * sp.Abs(Z) / (1 + sp.Abs(Z)))
    slope = sp.diff(e, Z).replace(sp.DiracDelta, lambda *a: sp.S(0)).subs(Z, 0)
    assert slope == 1 and not e.has(sp.sign)


@pytest.mark.parametrize("rewrite", [rationalized_form, collapse_abs_sign])
@pytest.mark.parametrize("bad", [object(), "1+"])
def test_rewrites_refuse_what_is_not_an_expression(rewrite, bad):
    with pytest.raises(TypeError, match=f"{rewrite.__name__} needs a sympy expression"):
        rewrite(bad)


def test_inverse_is_derived_once_per_potential():
    """A second instance of one potential reuses the first one's inverse (sympy took ~10 s
    for x**2/2 + |x|^(5/2), and a run, its certificate and a sweep each build one); another
    parameter value or another expression is derived afresh."""
    a, b = Potential("cosh(x/b)", b=2), Potential("cosh(x/b)", b=2)
    assert a.inverse_mirror_map is b.inverse_mirror_map
    assert Potential("cosh(x/b)", b=3).inverse_mirror_map is not a.inverse_mirror_map
    assert Potential("cosh(x/c)", c=2).inverse_mirror_map is not a.inverse_mirror_map
