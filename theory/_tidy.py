"""Rewriting of derived expressions: :func:`tidy` and the real-argument rules it applies.

sympy's ``simplify`` works over the complex numbers; the potentials' variables are real, so
some artefacts survive it (point ``Piecewise`` branches, ``asinh(sinh(z))``, removable ``0/0``
at ``x = 0``, ``log`` forms of ``asinh``). The rules here remove them; each keeps the value for
every real argument.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from ._numeric import symbolic_timeout

__all__ = ["asinh_form", "collapse_abs_sign", "rationalized_form", "tidy"]


def tidy(expr: sp.Expr) -> sp.Expr:
    """Simplify, collapsing artefacts that hold for real arguments.

    ``Piecewise`` branches on a single point (``Eq(x, 0)``) are dropped (the expressions we
    build are continuous there), and inverse pairs like ``asinh(sinh(z))`` collapse to ``z``.
    The simpler of the result and the input (by operation count) is returned.

    Examples
    --------
    >>> from theory import X, Z
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
    out = asinh_form(_no_removable_zero(out))
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
    >>> from theory import X
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


def asinh_form(expr: sp.Expr) -> sp.Expr:
    """``log(r (a + sqrt(a**2 + c**2))**k)`` as ``log r + k (log c + asinh(a / c))`` (k = 1, 2).

    ``sympy.solve`` inverts sinh-type mirror maps in the log form, which overflows at
    ``|a| ~ 1e154`` in float64 and cancels catastrophically for negative ``a``; ``asinh`` does
    neither. Valid for all real ``a`` (the log's argument is positive).

    Examples
    --------
    >>> from theory import Z
    >>> asinh_form(sp.log(8 * Z**2 + 4 * Z * sp.sqrt(4 * Z**2 + 1) + 1))
    2*asinh(2*z)
    >>> asinh_form(sp.log(Z + sp.sqrt(Z**2 + 4)))
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


def _sqrt_term(term: sp.Expr) -> bool:
    """True if ``term`` is a number times a square root of a non-number."""
    _, rest = term.as_coeff_Mul()
    return isinstance(rest, sp.Pow) and rest.exp == sp.S.Half and not rest.base.is_number


def rationalized_form(expr: sp.Expr) -> sp.Expr:
    """Every sum ``S + R`` of one square-root term ``S = c sqrt(u)`` and other terms ``R``
    written as ``(c^2 u - R^2) / (S - R)``, the numerator expanded.

    The quadratic formula's ``sqrt(1 + 4|z|)/2 - 1/2`` cancels where ``S`` is close to ``-R``
    (all its digits at ``|z| = 1e-30``); ``2|z| / (sqrt(1 + 4|z|) + 1)`` is the same value for
    every real ``z`` where ``S != R`` and cancels nowhere when ``S`` and ``-R`` have one sign.
    Callers keep the rewrite only where it loses fewer digits (``Potential`` does).

    Examples
    --------
    >>> from theory import Z
    >>> rationalized_form((sp.sqrt(4 * sp.Abs(Z) + 1) / 2 - sp.Rational(1, 2)) * sp.sign(Z))
    2*z/(sqrt(4*Abs(z) + 1) + 1)
    >>> rationalized_form(sp.sqrt(Z**2 + 1) - Z)
    1/(z + sqrt(z**2 + 1))
    """
    expr = _expression(expr, "rationalized_form")

    def rewrite(e: sp.Expr) -> sp.Expr:
        roots = [t for t in e.args if _sqrt_term(t)]
        if len(roots) != 1:
            return e
        S = roots[0]
        R = e - S
        return sp.factor_terms(sp.expand(S**2 - R**2) / sp.expand(S - R))

    out = expr.replace(lambda e: isinstance(e, sp.Add) and any(_sqrt_term(t) for t in e.args),
                       rewrite)
    return collapse_abs_sign(out)


def _expression(expr: Any, caller: str) -> sp.Expr:
    """``expr`` sympified, or a TypeError naming ``caller`` and what it needs."""
    try:
        return sp.sympify(expr)
    except (sp.SympifyError, TypeError) as exc:
        raise TypeError(f"{caller} needs a sympy expression (or a string sympy can parse), "
                        f"got {expr!r}") from exc


def collapse_abs_sign(expr: sp.Expr) -> sp.Expr:
    """``|u| sign(u)`` written as ``u`` (equal for real ``u``; symbols not known to be real,
    as in a parsed string, are left alone).

    Compiled, ``|u|`` and ``sign(u)`` are built from steps whose derivative is 0 at ``u = 0``,
    so the product's derivative there comes out 0, not 1: the inverse ``2|z| sign(z) /
    (sqrt(4|z| + 1) + 1)`` of ``x^2/2 + |x|^3/3`` then had ``d theta / dz = 0`` at ``z = 0``
    (it is ``1 / f''(0) = 1``), and a bridge across that kink stepped with a wrong slope.

    Examples
    --------
    >>> from theory import Z
    >>> collapse_abs_sign(2 * sp.Abs(Z) * sp.sign(Z) / (sp.sqrt(4 * sp.Abs(Z) + 1) + 1))
    2*z/(sqrt(4*Abs(z) + 1) + 1)
    """
    expr = _expression(expr, "collapse_abs_sign")

    def is_pair(e: sp.Expr) -> bool:
        if not isinstance(e, sp.Mul):
            return False
        absd = {a.args[0] for a in e.args if isinstance(a, sp.Abs)}
        return any(isinstance(a, sp.sign) and a.args[0] in absd and a.args[0].is_real
                   for a in e.args)

    def collapse(e: sp.Expr) -> sp.Expr:
        args = list(e.args)
        for a in args:
            if isinstance(a, sp.sign) and sp.Abs(a.args[0]) in args:
                args.remove(a)
                args.remove(sp.Abs(a.args[0]))
                return sp.Mul(*args) * a.args[0]
        return e

    return expr.replace(is_pair, collapse)
