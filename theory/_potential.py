"""Separable mirror potentials φ(θ) = Σ_k f(θ_k) and their derivations (THEORY.md §1-2)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

from ._derivation import Derivation, Step
from ._errors import InvalidPotentialError, short
from ._horizon import Horizon, horizon_of
from ._inverse import MAX_DIGITS_LOST, digits_lost, invert_increasing, odd_inverse_candidates
from ._numeric import GUARD_DIGITS, mp_function, symbolic_timeout
from ._parsing import parse_text
from ._rates import Rates, predicted_rates
from ._symbols import X, Z
from ._tidy import asinh_form, collapse_abs_sign, rationalized_form, tidy
from ._validation import validate_potential

# X, Z (theory._symbols) and tidy (theory._tidy) are re-exported: the package and
# theory._balance import them from here.
__all__ = ["PerLayer", "Potential", "X", "Z", "tidy"]

#: Inverse mirror maps derived in this process, by (expression, hint, parameter values): the
#: :data:`_INVERSES_KEPT` most recent (oldest dropped first).
_INVERSES: dict[tuple[Any, ...], Derivation] = {}
_INVERSES_KEPT = 256
_VERIFY_Z = ("-1000", "-7.3", "-1", "-0.01", "-1e-7", "0.01", "0.5", "1", "7.3", "1000")


def _parse_number(name: str, value: object) -> sp.Expr:
    shown = short(repr(value), 60)
    try:
        if isinstance(value, float | str):
            num = sp.nsimplify(parse_text(str(value), what="number"), rational=True)
        else:
            num = sp.sympify(value)
    except (sp.SympifyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"parameter {name}={shown} is not a number ({short(exc, 120)}); pass "
                         f"e.g. {name}=0.1") from None
    if not (isinstance(num, sp.Expr) and num.is_number and num.is_real and num.is_finite):
        raise ValueError(f"parameter {name}={shown} must be a finite real number, e.g. "
                         f"{name}=0.1")
    return num


def _defined(expr: sp.Expr, x0: float | None) -> bool:
    """``expr`` (parameters bound) is free of zoo/nan/oo, and real and finite at ``x0``."""
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return False
    if x0 is None or not expr.has(X):
        return x0 is None or bool(expr.is_finite is not False and expr.is_real is not False)
    try:
        with mpmath.workdps(30):
            return bool(mpmath.isfinite(mp_function(expr, X)(mpmath.mpf(x0))))
    except (ValueError, ZeroDivisionError, TypeError):
        return False


def _plausible(f: sp.Expr) -> bool:
    """A quick numeric test (definedness and convexity on the grid) of a bound f."""
    try:
        validate_potential(f, sp.diff(f, X), sp.diff(f, X, 2), grid_only=True)
    except (ValueError, ZeroDivisionError, TypeError):
        return False
    return True


_UNEVALUABLE = (sp.Derivative, sp.Integral, sp.Sum, sp.Product, sp.Limit, sp.Subs)


def _refuse_unevaluable(expr: sp.Expr, text: str) -> None:
    """Refuse undefined functions (``f(x)``), unevaluated calculus (``Integral(x, x)``) and
    undefined constants (``1/0`` is ``zoo``): nothing about them can be computed."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, AppliedUndef):
            raise ValueError(
                f"unknown function {type(node).__name__} in {text!r}: use sympy's functions "
                "(exp, log, sqrt, cosh, sinh, asinh, Abs, Max, Piecewise, ...)")
        if isinstance(node, _UNEVALUABLE):
            raise ValueError(
                f"{short(node, 60)} in {text!r} is an unevaluated {type(node).__name__}: write "
                "f in closed form")
        if node in (sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise InvalidPotentialError(
                f"{text!r} is undefined: it contains {node} (a division by zero, log(0) or an "
                "infinite constant); remove that term")


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
    by the monotone numeric inverse, which refuses a non-increasing mirror map (the checks
    are in :mod:`theory._validation`).

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
        if self.params and self.f.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            self._refuse_parameter_values(None)
        try:
            validate_potential(self.f, self.f1_bound, self.f2_bound,
                               allow_bounded_mirror_map=allow_bounded_mirror_map)
        except InvalidPotentialError as exc:
            if self.params and exc.x0 is not None:
                self._refuse_parameter_values(exc.x0)
            raise

    def _refuse_parameter_values(self, x0: float | None) -> None:
        """Raise :class:`InvalidPotentialError` naming the parameter value(s) that make a part
        of f undefined (everywhere, or at ``x0``), the smallest such part, and the fix; return
        if no part that involves a parameter is to blame (the caller then raises its error).
        """
        culprits = [sub for sub in sp.postorder_traversal(self.expr)
                    if isinstance(sub, sp.Expr) and not sub.is_Atom
                    and any(sub.has(sym) for sym in self.symbols.values())
                    and not _defined(self.bind(sub), x0)]
        # the smallest undefined part, shown with x if one contains x (x/b rather than 1/b)
        for sub in [s for s in culprits if s.has(X)][:1] or culprits[:1]:
            used = [k for k, sym in self.symbols.items() if sub.has(sym)]
            # blame the parameters whose value matters: another value makes the part defined
            used = [k for k in used if any(_defined(self._bind_with(sub, k, alt), x0)
                                           for alt in (1, -1, 2))] or used
            values = ", ".join(f"{k} = {short(self.params[k], 40)}" for k in used)
            where = "" if x0 is None or not sub.has(X) else f" at x = {x0}"
            raise InvalidPotentialError(
                f"{values} makes {short(sub, 80)} undefined{where}: use "
                f"{' or '.join(self._parameter_hint(k) for k in used)}")
        if x0 is None:
            values = ", ".join(f"{k} = {short(v, 40)}" for k, v in self.params.items())
            raise InvalidPotentialError(
                f"{values} makes f = {short(self.f)} undefined: use other parameter values")

    def _bind_with(self, expr: sp.Expr, name: str, value: object) -> sp.Expr:
        """``expr`` with the parameters bound, but ``name`` set to ``value``."""
        return expr.subs({self.symbols[k]: (sp.sympify(value) if k == name else v)
                          for k, v in self.params.items()})

    def _parameter_hint(self, name: str) -> str:
        """Which sign of parameter ``name`` gives a defined, convex f (the others fixed)."""
        value = self.params[name]
        size = abs(value) if value != 0 else sp.S.One
        ok = {}
        for sign in (1, -1):
            ok[sign] = _plausible(self._bind_with(self.expr, name, sign * size))
        if ok[1] and not ok[-1]:
            return f"{name} > 0"
        if ok[-1] and not ok[1]:
            return f"{name} < 0"
        if ok[1] and value == 0:
            return f"{name} != 0"
        return f"another value of {name}"

    # ------------------------------------------------------------------ parsing
    def _parse(self, f: str | sp.Expr, var: str = "x") -> sp.Expr:
        local = {"x": X, "z": Z, **self.symbols}
        if isinstance(f, str):
            try:
                expr = parse_text(f, local, what="potential")
            except ValueError as exc:
                raise ValueError(
                    f"{exc}; write it in sympy syntax in the variable {var}, e.g. "
                    "'x*asinh(x/b) - sqrt(x**2+b**2)'") from None
        elif isinstance(f, sp.Basic):
            expr = f.subs({s: local[s.name] for s in f.free_symbols if s.name in local})
        else:
            raise ValueError(f"a potential is a string or a sympy expression, got {type(f)}")
        text = short(f)
        if not isinstance(expr, sp.Expr):
            raise ValueError(f"{text!r} is not a scalar expression")
        _refuse_unevaluable(expr, text)
        names = {s.name for s in expr.free_symbols}
        unknown = sorted(names - {var} - set(self.symbols))
        if unknown:
            eg = short(", ".join(f"{u}=1.0" for u in unknown), 80)
            raise ValueError(
                f"unknown symbol(s) {short(', '.join(unknown), 80)} in {text!r}: the variable is "
                f"{var}; give every other symbol a value, e.g. Potential({short(f, 60)!r}, {eg}) "
                f"or --param {short(unknown[0], 40)}=1.0 on the command line")
        if var == "x":
            unused = sorted(set(self.symbols) - names)
            if unused:
                raise ValueError(f"parameter(s) {short(', '.join(unused), 80)} do not appear in "
                                 f"{text!r}")
            if X not in expr.free_symbols:
                raise InvalidPotentialError(
                    f"{text!r} does not depend on x: a potential is a function f(x)")
        return expr

    def bind(self, expr: sp.Expr) -> sp.Expr:
        """Substitute the parameter values into an expression (exact rationals).

        Examples
        --------
        >>> Potential("cosh(x/b)", b=2).bind(sp.Symbol("b", positive=True))
        2
        """
        return expr.subs({self.symbols[k]: v for k, v in self.params.items()})

    def _mp(self, expr: sp.Expr, var: sp.Symbol = X):
        """``expr`` with the parameter values bound, compiled for mpmath in ``var``."""
        return mp_function(self.bind(expr), var)

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

        Candidates (:meth:`_inverse_candidates`: a constructor's hint, a root on x > 0
        extended by odd symmetry, then ``sympy.solve``) are accepted only if
        f'((f')^{-1}(z)) = z holds symbolically, or numerically to 30 digits at ten points
        z in [-1000, 1000]; otherwise ``expr`` is None and :meth:`inverse` uses certified
        bracketing + Newton.  Derived once per process for one potential (expression, hint
        and parameter values), whichever instance asks: ``x**2/2 + Abs(x)**(5/2)`` takes
        ~10 s of sympy, and a run, its certificate and a sweep build it anew.
        """
        key = (self.expr, self._inverse_hint, tuple(sorted(self.params.items())))
        if key not in _INVERSES:
            if len(_INVERSES) >= _INVERSES_KEPT:
                _INVERSES.pop(next(iter(_INVERSES)))
            _INVERSES[key] = self._derive_inverse()
        return _INVERSES[key]

    def _derive_inverse(self) -> Derivation:
        """:attr:`inverse_mirror_map`, derived."""
        steps = [Step("solve f'(x) = z for x", sp.Eq(self.f1, Z))]
        for origin, cand in self._inverse_candidates(steps):
            how = self._verify_inverse(cand)
            steps.append(Step(f"{origin}: {how or 'rejected: fails f(inverse(z)) = z'}", cand))
            if how:
                cand = self._stabler_inverse(cand, steps)
                return Derivation("inverse mirror map (f')^{-1}(z)", cand, tuple(steps))
        steps.append(Step("no verified closed form: use monotone bracketing + safeguarded "
                          "Newton in mpmath (Potential.inverse), certified by monotonicity"))
        return Derivation("inverse mirror map (f')^{-1}(z)", None, tuple(steps),
                          method="numeric: bracketing + Newton (mpmath)")

    def _stabler_inverse(self, cand: sp.Expr, steps: list[Step]) -> sp.Expr:
        """``cand``, or its :func:`~theory._tidy.rationalized_form` if that is verified too and
        loses fewer digits to cancellation (the quadratic formula's ``sqrt(1 + 4|z|)/2 - 1/2``
        of ``x^2/2 + |x|^3/3`` loses 28 of 30 digits at small ``|z|``; ``2|z| / (sqrt(1 +
        4|z|) + 1)`` none).  Either way ``|z| sign(z)`` is written ``z``
        (:func:`~theory._tidy.collapse_abs_sign`: its compiled slope at 0 is 0)."""
        if (collapsed := collapse_abs_sign(cand)) != cand:
            cand = collapsed
            steps.append(Step("|z| sign(z) written z (equal for real z)", cand))
        lost = self._digits_lost_by(cand)
        if lost <= MAX_DIGITS_LOST:
            return cand
        alt = rationalized_form(cand)
        if alt == cand or not self._verify_inverse(alt):
            return cand
        alt_lost = self._digits_lost_by(alt)
        if alt_lost >= lost:
            return cand
        steps.append(Step(f"rationalized (S + R = (S^2 - R^2)/(S - R)): loses {alt_lost:.1f} "
                          f"digits to cancellation, not {lost:.1f}", alt))
        return alt

    def _digits_lost_by(self, inverse: sp.Expr) -> float:
        """Digits the inverse ``inverse`` (an expression in z) loses to cancellation at 30
        digits, its own conditioning excluded (:func:`theory._inverse.digits_lost`)."""
        f2 = self._mp(self.f2_bound)
        return digits_lost(self._mp(inverse, Z),
                           condition=lambda z, x: abs(z) / (abs(x) * f2(x)))

    def _inverse_candidates(self, steps: list[Step]) -> Iterator[tuple[str, sp.Expr]]:
        """Candidates for (f')^{-1}, cheapest first: the family's hint; for an odd f' with
        ``Abs`` or ``sign`` in it (every typed ``|x|^p``) the root on x > 0 extended by
        sign(z); then ``sympy.solve`` on the whole line (which handles ``Abs`` poorly: 100 s
        for ``|x|^{13/4}``)."""
        if self._inverse_hint is not None:
            yield "candidate from the potential's family", self._inverse_hint
        first = self.f1.has(sp.Abs, sp.sign)
        if first:
            yield from self._odd_candidates(steps)
        try:
            with symbolic_timeout(15):
                sols = sp.solve(sp.Eq(self.f1, Z), X)
        except (TimeoutError, NotImplementedError, ValueError, TypeError):
            steps.append(Step("sympy.solve found no solution (or timed out)"))
            sols = []
        # log(a + sqrt(a**2 + 1)) forms overflow and cancel in float64: asinh(a) instead
        for cand in sols:
            yield "sympy.solve", asinh_form(cand)
        if not first:           # x^4/4: sympy's cube roots of negative z are complex
            yield from self._odd_candidates(steps)

    def _odd_candidates(self, steps: list[Step]) -> Iterator[tuple[str, sp.Expr]]:
        try:
            with symbolic_timeout(15):
                odd = odd_inverse_candidates(self.f1, X, Z)
        except TimeoutError:
            steps.append(Step("solving on x > 0 timed out"))
            return
        for cand in odd:
            yield "odd f': solve on x > 0, extend by sign(z)", asinh_form(cand)

    @cached_property
    def inverse_digits_lost(self) -> float:
        """Digits the closed-form inverse mirror map loses to cancellation at 30 digits
        (:func:`theory._inverse.digits_lost`, over z = ±1e-30 ... ±1e30); inf without one.

        A state z = f'(θ) is worth integrating only through a formula that keeps its digits:
        Cardano's root of ``x + x^3 = z`` loses them all at large ``|z|``.

        Examples
        --------
        >>> Potential("abs(x)**3/3").inverse_digits_lost < 1
        True
        >>> Potential("x**2/2 + x**4/4").inverse_digits_lost > 20
        True
        """
        inv = self.inverse_mirror_map.expr
        return math.inf if inv is None else self._digits_lost_by(inv)

    @property
    def stable_inverse(self) -> bool:
        """True if the closed-form inverse mirror map keeps its digits (it loses at most
        :data:`theory._inverse.MAX_DIGITS_LOST`): numbers come from it, and the numeric layer
        may integrate the dual state z = f'(θ) through it.

        Examples
        --------
        >>> Potential.cosh().stable_inverse, Potential("x**2/2 + x**4/4").stable_inverse
        (True, False)
        """
        return self.inverse_digits_lost <= MAX_DIGITS_LOST

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

    @cached_property
    def _conjugate_digits_lost(self) -> float:
        """Digits the closed-form f* loses beyond its condition |z x / f*(z)| (f*' = x)."""
        inv = self.inverse_mirror_map.expr
        x_of = self._mp(inv, Z) if inv is not None else None

        def condition(z: mpmath.mpf, fstar: mpmath.mpf) -> mpmath.mpf:
            x = x_of(z) if x_of is not None else self.inverse(z, dps=10)
            return abs(z * x / fstar)

        return digits_lost(self._mp(self.conjugate.expr, Z), condition=condition)

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

        Uses the verified closed form when it keeps its digits (:attr:`stable_inverse`),
        otherwise certified monotone bracketing + Newton (:func:`theory.invert_increasing`):
        the closed form of ``x**2/2 + abs(x)**3/3``, ``sign(z) (sqrt(1 + 4|z|) - 1)/2``, cancels
        at small ``|z|``.

        Examples
        --------
        >>> import mpmath
        >>> phi = Potential("x**2/2 + abs(x)**3/3")      # its closed form cancels: bracketing
        >>> x = phi.inverse("2.5", dps=45)
        >>> with mpmath.workdps(45):
        ...     print(mpmath.nstr(x + x * abs(x) - mpmath.mpf("2.5"), 3))
        0.0
        """
        if not isinstance(dps, int) or dps < 1:
            raise ValueError(f"dps must be a positive integer number of digits, got {dps!r}")
        inv = self.inverse_mirror_map.expr
        with mpmath.workdps(dps + GUARD_DIGITS):
            if inv is not None and self.stable_inverse:
                return self._mp(inv, Z)(mpmath.mpf(z) if not isinstance(z, mpmath.mpf) else z)
            f1, f2 = self._mp(self.f1_bound), self._mp(self.f2_bound)
            return invert_increasing(f1, f2, z, dps=dps)

    def conjugate_value(self, z: object, dps: int = 50) -> mpmath.mpf:
        """f*(z) at ``dps`` digits: the verified closed form if it keeps its digits (at most
        :data:`~theory._inverse.MAX_DIGITS_LOST` lost), else z·x - f(x) at x = inverse(z).

        Examples
        --------
        >>> phi = Potential("x**2/2 + x**4/4")       # its closed form is Cardano's: it cancels
        >>> z = mpmath.mpf("1e20")
        >>> x = phi.inverse(z, dps=30)
        >>> with mpmath.workdps(30):
        ...     print(mpmath.nstr(phi.conjugate_value(z, dps=30) - (z*x - x**2/2 - x**4/4), 3))
        0.0
        """
        with mpmath.workdps(dps + GUARD_DIGITS):
            if self.conjugate.expr is not None and self._conjugate_digits_lost <= MAX_DIGITS_LOST:
                return self._mp(self.conjugate.expr, Z)(mpmath.mpf(z))
            x, zz = self.inverse(z, dps=dps), mpmath.mpf(z)
            # the log form of an entropy cancels at negative x: evaluate f in asinh form;
            # log(cosh(x)) at x = 5e-26 is 1.25e-51, which needs 51 digits: raise them
            f = self._mp(asinh_form(self.f))
            return mpmath.autoprec(lambda: zz * x - f(x), maxprec=40 * mpmath.mp.prec)()

    # ---------------------------------------------------------- horizon / rates
    @cached_property
    def horizon(self) -> Horizon:
        """The horizon function of φ (THEORY.md §3), see :class:`theory.Horizon`."""
        return horizon_of(self)

    def rates(self, depth: int = 1, margin: object = sp.Symbol("gamma", positive=True)
              ) -> Rates:
        """Predicted loss decay and norm growth for an L-homogeneous model (THEORY.md §5)."""
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
        """c·f for a constant c > 0 (same horizon, same growth index; the family's inverse
        mirror map, if any, becomes ``(f')^{-1}(z/c)``).

        Examples
        --------
        >>> Potential.hyperbolic_entropy(2).scaled(3).inverse_mirror_map.expr
        b*sinh(z/3)
        """
        cc = _parse_number("c", c)
        if not cc > 0:
            raise ValueError(f"scale c must be positive (c·f must stay convex), got {c}")
        # (c f)'(x) = z  <=>  f'(x) = z / c: the family's inverse carries over
        hint = None if self._inverse_hint is None else self._inverse_hint.subs(Z, Z / cc)
        return Potential(cc * self.expr, name=f"{cc}*({self.name})", inverse_hint=hint,
                         **self.params)

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

