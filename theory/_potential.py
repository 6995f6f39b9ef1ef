"""Separable mirror potentials φ(θ) = Σ_k f(θ_k) and their derivations (THEORY.md §1-2)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import mpmath
import sympy as sp

from ._derivation import Derivation, Step
from ._errors import InvalidPotentialError
from ._inverse import invert_increasing
from ._numeric import GUARD_DIGITS, mp_function, symbolic_timeout

if TYPE_CHECKING:
    from ._horizon import Horizon
    from ._rates import Rates

__all__ = ["PerLayer", "Potential", "X", "Z", "tidy"]

#: The scalar variable of every potential (real).
X = sp.Symbol("x", real=True)
#: The dual variable z = f'(x) (real).
Z = sp.Symbol("z", real=True)

# Grid on which convexity and definedness are checked (both signs, 1e-4 .. 1e4, plus a
# uniform part around 0). Documented in Potential's docstring.
_GRID = sorted(
    {0.0}
    | {s * 10 ** (k / 20) for k in range(-80, 81) for s in (-1.0, 1.0)}
    | {k / 20 for k in range(-100, 101)},
    key=lambda v: (abs(v), v),   # report the violation nearest to 0 first
)
_VERIFY_Z = ("-1000", "-7.3", "-1", "-0.01", "-1e-7", "0.01", "0.5", "1", "7.3", "1000")
_KINK_FUNCS = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Simplify, collapsing artefacts that hold for real arguments.

    ``Piecewise`` branches on a single point (``Eq(x, 0)``) are dropped (the expressions we
    build are continuous there), and inverse pairs like ``asinh(sinh(z))`` collapse to ``z``.
    The simpler of the result and the input (by operation count) is returned.

    Examples
    --------
    >>> tidy(sp.asinh(sp.sinh(Z)) + sp.Piecewise((0, sp.Eq(X, 0)), (X, True)))
    x + z
    >>> tidy(X**3 / sp.Abs(X) + X)          # no 0/0 at x = 0
    x*(Abs(x) + 1)
    >>> tidy(sp.log(Z + sp.sqrt(Z**2 + 1)))   # no overflow or cancellation at large |z|
    asinh(z)
    """
    def at_points(cond) -> bool:
        return isinstance(cond, sp.Eq) or (
            isinstance(cond, sp.Or) and all(isinstance(a, sp.Eq) for a in cond.args))

    def point_piecewise(*args):
        rest = [(e, c) for e, c in args if not at_points(c)]
        return rest[0][0] if len(rest) == 1 and rest[0][1] == sp.true else sp.Piecewise(*args)

    out = expr.replace(sp.Piecewise, point_piecewise)
    for outer, inner in ((sp.asinh, sp.sinh), (sp.sinh, sp.asinh), (sp.atanh, sp.tanh),
                         (sp.log, sp.exp)):
        out = out.replace(lambda e, o=outer, i=inner: isinstance(e, o) and isinstance(e.args[0], i)
                          and e.args[0].args[0].is_real, lambda e: e.args[0].args[0])
    out = _asinh_form(_no_removable_zero(out))
    try:
        with symbolic_timeout(10):
            simpler = sp.simplify(out)
    except TimeoutError:
        simpler = out
    simpler = _no_removable_zero(simpler.replace(sp.Piecewise, point_piecewise))
    best = min((simpler, out, _no_removable_zero(expr)), key=sp.count_ops)
    # |x**q| = |x|**q for real x and q (principal branch): x**(-5/2) is NaN in numpy for x < 0
    best = best.replace(lambda e: isinstance(e, sp.Abs) and isinstance(e.args[0], sp.Pow)
                        and e.args[0].base.is_real and e.args[0].exp.is_real,
                        lambda e: sp.Abs(e.args[0].base) ** e.args[0].exp)
    return _even_in_abs(best)


def _even_in_abs(expr: sp.Expr) -> sp.Expr:
    """Simplify an even function of real ``x`` written with ``|x|`` as a function of ``|x|`` > 0.

    sympy cannot see ``1 - 3/(4 sqrt|x|) + 3 |x|**(3/2) / (2 x**2) = 1 + 3 / (4 sqrt|x|)``
    (``inf - inf`` at 0 in compiled code) with ``x`` real; with ``|x|`` and ``x**2`` replaced by a
    positive symbol it can.

    Examples
    --------
    >>> _even_in_abs(1 - 3 / (4 * sp.sqrt(sp.Abs(X))) + 3 * sp.Abs(X) ** sp.Rational(3, 2)
    ...              / (2 * X**2))
    1 + 3/(4*sqrt(Abs(x)))
    """
    for var in sorted(expr.free_symbols, key=str):
        if not (var.is_real and expr.has(sp.Abs(var))):
            continue
        a = sp.Dummy("a", positive=True)
        even = expr.subs(sp.Abs(var), a).replace(
            lambda e, v=var: isinstance(e, sp.Pow) and e.base == v and e.exp.is_even,
            lambda e, a=a: a**e.exp)
        if var in even.free_symbols:
            continue
        try:
            with symbolic_timeout(5):
                cand = sp.simplify(even).subs(a, sp.Abs(var))
        except TimeoutError:
            continue
        if sp.count_ops(cand) < sp.count_ops(expr):
            expr = cand
    return expr



def _asinh_form(expr: sp.Expr) -> sp.Expr:
    """``log(r (a + sqrt(a**2 + c**2))**k)`` as ``log r + k (log c + asinh(a / c))`` (k = 1, 2).

    ``sympy.solve`` inverts sinh-type mirror maps in the log form, which overflows at
    ``|a| ~ 1e154`` in float64 and cancels catastrophically for negative ``a``; ``asinh`` does
    neither. Valid for all real ``a`` (the log's argument is positive).

    Examples
    --------
    >>> _asinh_form(sp.log(8 * Z**2 + 4 * Z * sp.sqrt(4 * Z**2 + 1) + 1))
    2*asinh(2*z)
    >>> _asinh_form(sp.log(Z + sp.sqrt(Z**2 + 4)))
    asinh(z/2) + log(2)
    """
    def rewrite(e: sp.Expr) -> sp.Expr:
        u = e.args[0]
        roots = {t for t in sp.preorder_traversal(u) if isinstance(t, sp.Pow)
                 and t.exp == sp.S.Half}
        for r in roots:
            c2 = r.base.as_coeff_Add()[0]
            if not (c2.is_number and c2 > 0):
                continue
            c = sp.sqrt(c2)
            A = sp.Dummy("a")
            for a in sp.solve(A**2 - (r.base - c2), A):
                for k in (1, 2):
                    ratio = sp.simplify(u / (a + sp.sqrt(a**2 + c2)) ** k)
                    if ratio.is_number and ratio.is_positive:
                        return sp.log(ratio) + k * (sp.log(c) + sp.asinh(a / c))
        return e

    return expr.replace(lambda e: isinstance(e, sp.log) and e.args[0].has(sp.sqrt(sp.Wild("w"))
                                                                          .func),
                        rewrite)

def _no_removable_zero(expr: sp.Expr) -> sp.Expr:
    """x**3/Abs(x) (sympy's form of (|x|^3/3)') is x*Abs(x) for real x != 0 and has a removable
    0/0 at x = 0 that turns compiled code started at 0 into NaN: use the continuous form."""
    for s in sorted(expr.free_symbols, key=str):
        if s.is_real:
            expr = expr.subs(s**2 / sp.Abs(s), sp.Abs(s))
    return expr


def _is_zero(fn, x0: float, v30: mpmath.mpf) -> bool:
    """f''(x0) == 0 up to roundoff: exactly 0, or unstable between 30 and 60 digits.

    A genuinely tiny value (exp(-10000)) is stable under a precision change; a value that
    is zero up to cancellation error is not.
    """
    if v30 == 0:
        return True
    if abs(v30) > mpmath.mpf(10) ** -20:
        return False
    with mpmath.workdps(60):
        v60 = fn(mpmath.mpf(x0))
    return v60 == 0 or abs(v30 - v60) > mpmath.mpf(10) ** -6 * abs(v60)


def _parse_number(name: str, value: object) -> sp.Expr:
    try:
        num = sp.nsimplify(sp.sympify(str(value)), rational=True) if isinstance(
            value, float | str) else sp.sympify(value)
    except (sp.SympifyError, TypeError, ValueError) as exc:
        raise ValueError(f"parameter {name}={value!r} is not a number; pass e.g. {name}=0.1"
                         ) from exc
    if not num.is_number or not num.is_real or not num.is_finite:
        raise ValueError(f"parameter {name}={value!r} must be a finite real number")
    return num


class Potential:
    """A separable, strictly convex, C² mirror potential φ(θ) = Σ_k f(θ_k).

    Parameters
    ----------
    f
        The scalar function f as a sympy expression or a string in the variable ``x``
        (sympy syntax, e.g. ``"x*asinh(x/b) - sqrt(x**2+b**2)"``).
    name
        A label for tables and plots (default: the expression).
    allow_bounded_mirror_map
        Accept a mirror map f' whose range is not all of R (then mirror flow can leave the
        dual domain in finite time); a warning is issued. Default: refuse.
    inverse_hint
        A candidate closed form for (f')^{-1}(z) in the variable ``z``; it is used only if
        it verifies (see :attr:`inverse_mirror_map`).
    **params
        Values of the named parameters in ``f`` (e.g. ``b=0.1``); floats are read as exact
        decimals (0.1 -> 1/10).

    Raises
    ------
    InvalidPotentialError
        If f is not real and finite on all of R, not C¹ (f' jumps), not C² away from
        isolated points where f'' -> +inf (f'' jumps), not strictly convex (a point where
        f'' < 0 or an interval where f'' = 0 is named), or has a bounded mirror map
        (unless ``allow_bounded_mirror_map``).
    ValueError
        If the string does not parse, mentions unknown symbols, or a parameter is bad.

    Notes
    -----
    Convexity and definedness are checked on a grid of 401 points (±1e-4 .. ±1e4,
    log-spaced, and a uniform grid on [-5, 5]) and at every kink of ``Abs``/``sign``/
    ``Max``/``Min``/``Heaviside``; a violation strictly between grid points is caught later
    by the monotone numeric inverse, which refuses a non-increasing mirror map.

    Examples
    --------
    >>> phi = Potential("x*asinh(x/b) - sqrt(x**2 + b**2)", b=0.1)
    >>> phi.mirror_map.expr
    asinh(x/b)
    >>> phi.inverse_mirror_map.expr
    b*sinh(z)
    >>> phi.balance_function.expr
    sqrt(b**2 + x**2)
    >>> Potential("x**2 - x**4")
    Traceback (most recent call last):
    ...
    theory._errors.InvalidPotentialError: f = -x**4 + x**2 is not convex: f''(x) = ... < 0 ...
    """

    def __init__(
        self,
        f: str | sp.Expr,
        *,
        name: str | None = None,
        allow_bounded_mirror_map: bool = False,
        inverse_hint: str | sp.Expr | None = None,
        **params: object,
    ) -> None:
        self.params: dict[str, sp.Expr] = {k: _parse_number(k, v) for k, v in params.items()}
        if "x" in self.params or "z" in self.params:
            raise ValueError("'x' and 'z' are the potential's variables, not parameters")
        self.symbols = {
            k: sp.Symbol(k, positive=True) if v > 0 else sp.Symbol(k, real=True)
            for k, v in self.params.items()
        }
        self.expr: sp.Expr = self._parse(f)
        self.name = name or str(self.expr)
        self.allow_bounded_mirror_map = allow_bounded_mirror_map
        self._inverse_hint = None if inverse_hint is None else self._parse(inverse_hint, var="z")
        self.f: sp.Expr = self.bind(self.expr)
        self._validate()

    # ------------------------------------------------------------------ parsing
    def _parse(self, f: str | sp.Expr, var: str = "x") -> sp.Expr:
        local = {"x": X, "z": Z, **self.symbols}
        if isinstance(f, str):
            try:
                expr = sp.sympify(f, locals=local)
            except (sp.SympifyError, SyntaxError, TypeError, AttributeError) as exc:
                raise ValueError(
                    f"could not parse the potential {f!r}: write it in sympy syntax in the "
                    f"variable {var}, e.g. 'x*asinh(x/b) - sqrt(x**2+b**2)'") from exc
        elif isinstance(f, sp.Basic):
            expr = f.subs({s: local[s.name] for s in f.free_symbols if s.name in local})
        else:
            raise ValueError(f"a potential is a string or a sympy expression, got {type(f)}")
        if not isinstance(expr, sp.Expr):
            raise ValueError(f"{f!r} is not a scalar expression")
        names = {s.name for s in expr.free_symbols}
        unknown = sorted(names - {var} - set(self.symbols))
        if unknown:
            eg = ", ".join(f"{u}=1.0" for u in unknown)
            raise ValueError(
                f"unknown symbol(s) {', '.join(unknown)} in {f!r}: the variable is {var}; give "
                f"every other symbol a value, e.g. Potential({str(f)!r}, {eg}) or --param "
                f"{unknown[0]}=1.0 on the command line")
        if var == "x":
            unused = sorted(set(self.symbols) - names)
            if unused:
                raise ValueError(f"parameter(s) {', '.join(unused)} do not appear in {f!r}")
            if X not in expr.free_symbols:
                raise InvalidPotentialError(
                    f"{f!r} does not depend on x: a potential is a function f(x)")
        return expr

    def bind(self, expr: sp.Expr) -> sp.Expr:
        """Substitute the parameter values into an expression (exact rationals).

        Examples
        --------
        >>> Potential("cosh(x/b)", b=2).bind(sp.Symbol("b", positive=True))
        2
        """
        return expr.subs({self.symbols[k]: v for k, v in self.params.items()})

    # --------------------------------------------------------------- validation
    def _mp(self, expr: sp.Expr, var: sp.Symbol = X):
        return mp_function(self.bind(expr), var)

    def _kinks(self) -> list[sp.Expr]:
        points = {sp.S.Zero}
        for node in sp.preorder_traversal(self.f):
            if isinstance(node, _KINK_FUNCS):
                for arg in node.args:
                    if arg.has(X):
                        try:
                            with symbolic_timeout(5):
                                sols = sp.solve(sp.Eq(arg, 0), X)
                        except (TimeoutError, NotImplementedError, ValueError):
                            sols = []
                        points.update(s for s in sols if s.is_real)
            if isinstance(node, sp.Pow) and node.exp.is_number and not node.exp.is_integer:
                points.add(sp.S.Zero)
        return sorted(points, key=float)

    def _validate(self) -> None:
        f, f1, f2 = self._mp(self.f), self._mp(self.f1_bound), self._mp(self.f2_bound)
        expr = self.f
        with mpmath.workdps(30):
            for x0 in _GRID:
                try:
                    val = f(mpmath.mpf(x0))
                except (ValueError, ZeroDivisionError, TypeError):
                    val = mpmath.nan
                if not mpmath.isfinite(val):
                    raise InvalidPotentialError(
                        f"f = {expr} is not real and finite at x = {x0}: potentials defined on "
                        "only part of the real line (like x*log(x), which needs x > 0) are not "
                        "supported yet; use one defined on all of R, e.g. the hyperbolic "
                        "entropy x*asinh(x/b) - sqrt(x**2+b**2)")
            kinks = [mpmath.mpf(str(sp.N(k, 30))) for k in self._kinks()]
            self._check_smoothness(f1, f2, kinks)
            self._check_convexity(f2, kinks)
        self._check_range()

    def _check_smoothness(self, f1, f2, kinks) -> None:
        for c in kinks:
            for name, fn in (("f'", f1), ("f''", f2)):
                eps = mpmath.mpf(10) ** -20
                try:
                    left, right = fn(c - eps), fn(c + eps)
                except (ValueError, ZeroDivisionError):
                    continue
                both_finite = mpmath.isfinite(left) and mpmath.isfinite(right)
                size = 1 + abs(left) + abs(right)
                if both_finite and abs(right - left) > mpmath.mpf(10) ** -6 * size:
                    what = "differentiable" if name == "f'" else "twice differentiable"
                    raise InvalidPotentialError(
                        f"f = {self.f} is not {what} at x = {mpmath.nstr(c, 8)}: {name} jumps "
                        f"from {mpmath.nstr(left, 6)} to {mpmath.nstr(right, 6)}; mirror flow "
                        "needs f in C^2 (away from isolated points where f'' -> +inf): smooth "
                        "the kink, e.g. replace abs(x) by sqrt(x**2 + 1) - 1")
                if name == "f'" and not both_finite:
                    raise InvalidPotentialError(
                        f"f = {self.f} has an unbounded derivative near x = {mpmath.nstr(c, 8)}:"
                        " f is not differentiable (nor convex) there")

    def _check_convexity(self, f2, kinks) -> None:
        points = sorted(set(_GRID) | {float(c) + s * 1e-9 for c in kinks for s in (-1, 1)},
                        key=lambda v: (abs(v), v))      # nearest violation to 0 first
        values: dict[float, mpmath.mpf] = {}
        tiny = mpmath.mpf(10) ** -20
        for x0 in points:
            if any(abs(x0 - float(c)) < 1e-12 for c in kinks):
                continue
            try:
                val = f2(mpmath.mpf(x0))
            except (ValueError, ZeroDivisionError):
                continue
            if mpmath.isnan(val) or val < -tiny:
                raise InvalidPotentialError(
                    f"f = {self.f} is not convex: f''(x) = {mpmath.nstr(val, 6)} < 0 at "
                    f"x = {x0}; the mirror map must be strictly increasing. Add a convex term "
                    "that dominates there (e.g. + c*x**2) or pick another f")
            values[x0] = val
        zero = {x0: _is_zero(f2, x0, v) for x0, v in values.items()}
        ordered = sorted(values)
        for left, right in itertools.pairwise(ordered):
            if zero[left] and zero[right]:
                raise InvalidPotentialError(
                    f"f = {self.f} is not strictly convex: f'' = 0 on [{left}, {right}], so f' "
                    "is constant there and the mirror map cannot be inverted. Add a strictly "
                    "convex term, e.g. + x**2/2")

    def _check_range(self) -> None:
        for side, sign in (("+inf", 1), ("-inf", -1)):
            lim = self._limit(self.f1_bound, sign)
            if lim is not None and lim.is_finite:
                msg = (f"the mirror map f'(x) = {self.f1_bound} tends to {lim} as x -> {side}, "
                       "so its range is not all of R and mirror flow leaves the dual domain in "
                       "finite time. Add a term of faster growth (e.g. + x**2/2), or pass "
                       "allow_bounded_mirror_map=True to accept it")
                if not self.allow_bounded_mirror_map:
                    raise InvalidPotentialError(msg)
                warnings.warn(msg, stacklevel=3)

    def _limit(self, expr: sp.Expr, sign: int) -> sp.Expr | None:
        """lim expr as x -> sign*inf: sympy first, else a numeric estimate (or None)."""
        try:
            with symbolic_timeout(10):
                lim = sp.limit(expr, X, sign * sp.oo)
            if lim.is_extended_real and not lim.has(sp.AccumBounds, sp.Limit):
                return lim
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            pass
        fn = mp_function(expr, X)
        with mpmath.workdps(40):
            vals = [fn(mpmath.mpf(sign) * mpmath.mpf(10) ** k) for k in (8, 16, 32, 64)]
        if all(mpmath.isfinite(v) for v in vals):
            if abs(vals[-1] - vals[-2]) <= mpmath.mpf(10) ** -8 * (1 + abs(vals[-2])):
                return sp.Float(str(vals[-1]), 15)
            if abs(vals[-1]) > 1e6 * (1 + abs(vals[0])):
                return sp.oo if vals[-1] > 0 else -sp.oo
        return None

    # -------------------------------------------------------------- derivations
    @cached_property
    def f1(self) -> sp.Expr:
        """f'(x) with symbolic parameters."""
        return tidy(sp.diff(self.expr, X))

    @cached_property
    def f2(self) -> sp.Expr:
        """f''(x) with symbolic parameters (DiracDelta artefacts of Abs/sign dropped)."""
        d2 = sp.diff(self.f1, X).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
        return tidy(d2)

    @property
    def inverse_hint(self) -> sp.Expr | None:
        """The closed-form inverse mirror map the potential's family supplies (in ``z``), or
        ``None``; :attr:`inverse_mirror_map` verifies it before using it."""
        return self._inverse_hint

    @property
    def f1_bound(self) -> sp.Expr:
        """f'(x) with the parameter values substituted."""
        return self.bind(self.f1)

    @property
    def f2_bound(self) -> sp.Expr:
        """f''(x) with the parameter values substituted."""
        return self.bind(self.f2)

    @cached_property
    def mirror_map(self) -> Derivation:
        """The mirror map f' (the coordinate map θ -> z = ∇φ(θ))."""
        return Derivation("mirror map f'(x)", self.f1, (
            Step("potential f(x)", self.expr),
            Step("differentiate and simplify", self.f1)))

    @cached_property
    def hessian(self) -> Derivation:
        """f'', the diagonal of the Hessian of φ."""
        return Derivation("Hessian f''(x)", self.f2, (
            Step("mirror map f'(x)", self.f1),
            Step("differentiate (dropping DiracDelta at isolated kinks) and simplify", self.f2)))

    @cached_property
    def balance_function(self) -> Derivation:
        """g(x) = x f'(x) - f(x) = f*(f'(x)), the summand of the balance law (THEORY.md §2)."""
        raw = X * self.f1 - self.expr
        g = tidy(raw)
        steps = [Step("g(x) = x f'(x) - f(x)", raw), Step("simplify", g)]
        g_prime = sp.simplify(sp.diff(g, X) - X * self.f2)
        if g_prime == 0:
            steps.append(Step("check g'(x) = x f''(x): holds symbolically"))
        return Derivation("balance function g(x)", g, tuple(steps))

    @cached_property
    def inverse_mirror_map(self) -> Derivation:
        """(f')^{-1}(z): a closed form if one is found *and* verified, else numeric.

        Candidates (a constructor's hint, then ``sympy.solve``) are accepted only if
        f'((f')^{-1}(z)) = z holds symbolically, or numerically to 30 digits at ten points
        z in [-1000, 1000]; otherwise ``expr`` is None and :meth:`inverse` uses certified
        bracketing + Newton.
        """
        steps = [Step("solve f'(x) = z for x", sp.Eq(self.f1, Z))]
        candidates: list[tuple[str, sp.Expr]] = []
        if self._inverse_hint is not None:
            candidates.append(("candidate from the potential's family", self._inverse_hint))
        try:
            with symbolic_timeout(15):
                sols = sp.solve(sp.Eq(self.f1, Z), X)
            # log(a + sqrt(a**2 + 1)) forms overflow and cancel in float64: asinh(a) instead
            candidates += [("sympy.solve", _asinh_form(s)) for s in sols]
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            steps.append(Step("sympy.solve found no solution (or timed out)"))
        for origin, cand in candidates:
            how = self._verify_inverse(cand)
            steps.append(Step(f"{origin}: {how or 'rejected: fails f(inverse(z)) = z'}", cand))
            if how:
                return Derivation("inverse mirror map (f')^{-1}(z)", cand, tuple(steps))
        steps.append(Step("no verified closed form: use monotone bracketing + safeguarded "
                          "Newton in mpmath (Potential.inverse), certified by monotonicity"))
        return Derivation("inverse mirror map (f')^{-1}(z)", None, tuple(steps),
                          method="numeric: bracketing + Newton (mpmath)")

    def _verify_inverse(self, cand: sp.Expr) -> str | None:
        """Accept a candidate only if it is real and inverts f' numerically to 30 digits.

        A symbolic identity alone is not enough: a root of f'(x) = z may be a complex branch
        (e.g. two of Cardano's three cube roots).
        """
        if cand.free_symbols - {Z} - set(self.symbols.values()):
            return None
        fn, f1 = self._mp(cand, Z), self._mp(self.f1_bound)
        with mpmath.workdps(45):
            for z0 in _VERIFY_Z:
                zz = mpmath.mpf(z0)
                try:
                    err = abs(f1(fn(zz)) - zz)
                except (ValueError, ZeroDivisionError, TypeError):
                    return None
                if not err <= mpmath.mpf(10) ** -30 * (1 + abs(zz)):
                    return None
        how = (f"verified numerically: real, |f'(candidate(z)) - z| < 1e-30 at "
               f"{len(_VERIFY_Z)} points")
        try:
            with symbolic_timeout(5):
                if sp.simplify(self.f1.subs(X, cand) - Z) == 0:
                    how += "; f'(candidate) - z simplifies to 0"
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            pass
        return how

    @cached_property
    def conjugate(self) -> Derivation:
        """The convex conjugate f*(z) = sup_x (x z - f(x)) = z (f')^{-1}(z) - f((f')^{-1}(z)).

        Accepted in closed form only if the Fenchel-Young equality f(x) + f*(f'(x)) = x f'(x)
        holds (symbolically, or to 30 digits at ten points); otherwise numeric
        (:meth:`conjugate_value`).
        """
        inv = self.inverse_mirror_map.expr
        steps = [Step("f*(z) = z x - f(x) at x = (f')^{-1}(z)")]
        if inv is None:
            steps.append(Step("no closed-form inverse: evaluate numerically"))
            return Derivation("convex conjugate f*(z)", None, tuple(steps),
                              method="numeric: z*inverse(z) - f(inverse(z))")
        raw = Z * inv - self.expr.subs(X, inv)
        fstar = tidy(raw)
        steps += [Step("substitute the inverse mirror map", raw), Step("simplify", fstar)]
        how = self._verify_fenchel_young(fstar)
        if how is None:
            steps.append(Step("rejected: Fenchel-Young equality fails"))
            return Derivation("convex conjugate f*(z)", None, tuple(steps),
                              method="numeric: z*inverse(z) - f(inverse(z))")
        steps.append(Step(how))
        return Derivation("convex conjugate f*(z)", fstar, tuple(steps))

    def _verify_fenchel_young(self, fstar: sp.Expr) -> str | None:
        fy = self.expr + fstar.subs(Z, self.f1) - X * self.f1
        try:
            with symbolic_timeout(10):
                if sp.simplify(fy) == 0:
                    return "Fenchel-Young f(x) + f*(f'(x)) = x f'(x): verified symbolically"
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            pass
        fn, scale = self._mp(fy), self._mp(sp.Abs(self.expr) + sp.Abs(X * self.f1) + 1)
        with mpmath.workdps(45):
            for x0 in _VERIFY_Z:
                xx = mpmath.mpf(x0) / 100
                try:
                    if not abs(fn(xx)) <= mpmath.mpf(10) ** -30 * scale(xx):
                        return None
                except (ValueError, ZeroDivisionError, TypeError):
                    return None
        return f"Fenchel-Young verified numerically to 30 digits at {len(_VERIFY_Z)} points"

    # ------------------------------------------------------ numeric evaluations
    def inverse(self, z: object, dps: int = 50) -> mpmath.mpf:
        """(f')^{-1}(z) to ``dps`` significant digits, at any precision.

        Uses the verified closed form when there is one, otherwise certified monotone
        bracketing + Newton (:func:`theory.invert_increasing`).

        Examples
        --------
        >>> import mpmath
        >>> phi = Potential("x**2/2 + abs(x)**3/3")      # no closed form is tried here
        >>> x = phi.inverse("2.5", dps=45)
        >>> with mpmath.workdps(45):
        ...     print(mpmath.nstr(x + x * abs(x) - mpmath.mpf("2.5"), 3))
        0.0
        """
        if not isinstance(dps, int) or dps < 1:
            raise ValueError(f"dps must be a positive integer number of digits, got {dps!r}")
        inv = self.inverse_mirror_map.expr
        with mpmath.workdps(dps + GUARD_DIGITS):
            if inv is not None:
                return self._mp(inv, Z)(mpmath.mpf(z) if not isinstance(z, mpmath.mpf) else z)
            f1, f2 = self._mp(self.f1_bound), self._mp(self.f2_bound)
            return invert_increasing(f1, f2, z, dps=dps)

    def conjugate_value(self, z: object, dps: int = 50) -> mpmath.mpf:
        """f*(z) at ``dps`` digits (closed form if verified, else z·x - f(x) at x = inverse(z))."""
        with mpmath.workdps(dps + GUARD_DIGITS):
            if self.conjugate.expr is not None:
                return self._mp(self.conjugate.expr, Z)(mpmath.mpf(z))
            x = self.inverse(z, dps=dps)
            return mpmath.mpf(z) * x - self._mp(self.f)(x)

    # ---------------------------------------------------------- horizon / rates
    @cached_property
    def horizon(self) -> Horizon:
        """The horizon function of φ (THEORY.md §3), see :class:`theory.Horizon`."""
        from ._horizon import horizon_of

        return horizon_of(self)

    def rates(self, depth: int = 1, margin: object = sp.Symbol("gamma", positive=True)
              ) -> Rates:
        """Predicted loss decay and norm growth for an L-homogeneous model (THEORY.md §5)."""
        from ._rates import predicted_rates

        return predicted_rates(self, depth, margin)

    # --------------------------------------------------------------- algebra
    def __add__(self, other: Potential) -> Potential:
        if not isinstance(other, Potential):
            return NotImplemented
        for k in set(self.params) & set(other.params):
            if self.params[k] != other.params[k]:
                raise ValueError(f"parameter {k} has two values: {self.params[k]} and "
                                 f"{other.params[k]}; rename one of them")
        return Potential(self.expr + other.expr, name=f"{self.name} + {other.name}",
                         **{**self.params, **other.params})

    def scaled(self, c: object) -> Potential:
        """c·f for a constant c > 0 (same horizon, same growth index)."""
        cc = _parse_number("c", c)
        if not cc > 0:
            raise ValueError(f"scale c must be positive (c·f must stay convex), got {c}")
        return Potential(cc * self.expr, name=f"{cc}*({self.name})", **self.params)

    def __repr__(self) -> str:
        params = "".join(f", {k}={v}" for k, v in self.params.items())
        return f"Potential({str(self.expr)!r}{params})"

    # ------------------------------------------------------------ built-ins
    @classmethod
    def quadratic(cls) -> Potential:
        """f = x²/2: mirror flow is gradient flow (horizon l2)."""
        return cls("x**2/2", name="quadratic", inverse_hint="z")

    @classmethod
    def lp(cls, p: object) -> Potential:
        """f = |x|^p / p, p > 1 (horizon l_p)."""
        pp = _parse_number("p", p)
        if not pp > 1:
            raise ValueError(f"the l_p potential needs p > 1 (p = 1 is not strictly convex), "
                             f"got p = {p}")
        return cls(sp.Abs(X) ** pp / pp, name=f"l_{pp}",
                   inverse_hint=sp.sign(Z) * sp.Abs(Z) ** (1 / (pp - 1)))

    @classmethod
    def hyperbolic_entropy(cls, b: object = 1) -> Potential:
        """f = x asinh(x/b) - sqrt(x² + b²), b > 0 (horizon l1 for every b)."""
        if not _parse_number("b", b) > 0:
            raise ValueError(f"hyperbolic entropy needs b > 0, got b = {b}")
        return cls("x*asinh(x/b) - sqrt(x**2 + b**2)", name=f"hyperbolic entropy (b={b})",
                   inverse_hint="b*sinh(z)", b=b)

    @classmethod
    def cosh(cls) -> Potential:
        """f = cosh(x) (horizon l_inf)."""
        return cls("cosh(x)", name="cosh", inverse_hint="asinh(z)")

    @classmethod
    def gaussian_exp(cls) -> Potential:
        """f = exp(x²/2) (horizon l_inf); inverse via the Lambert W function."""
        return cls("exp(x**2/2)", name="gaussian-exp",
                   inverse_hint="sign(z)*sqrt(LambertW(z**2))")


@dataclass(frozen=True)
class PerLayer:
    """One potential per layer of a model (layer 0 first).

    Examples
    --------
    >>> pl = PerLayer((Potential.quadratic(), Potential.cosh()))
    >>> pl.for_layer(1).name
    'cosh'
    """

    potentials: tuple[Potential, ...]

    def __post_init__(self) -> None:
        if not self.potentials or not all(isinstance(p, Potential) for p in self.potentials):
            raise ValueError("PerLayer needs a non-empty tuple of Potential objects")

    def for_layer(self, layer: int) -> Potential:
        """The potential of ``layer`` (0-based)."""
        if not 0 <= layer < len(self.potentials):
            raise ValueError(f"layer {layer} out of range: {len(self.potentials)} potentials")
        return self.potentials[layer]

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, Potential], n_layers: int) -> PerLayer:
        """Build from {layer: potential}; every layer must be given."""
        missing = [k for k in range(n_layers) if k not in mapping]
        if missing:
            raise ValueError(f"no potential for layer(s) {missing}")
        return cls(tuple(mapping[k] for k in range(n_layers)))

