"""Heyoka expressions from sympy and the numerically stable pieces of the loss.

Constants that are not dyadic become runtime parameters (:class:`ParTable`), so that they are
exact at every precision; ``log L`` is a log-sum-exp of per-sample log losses, stable for margins
of any size.  Used by :func:`numerics.solvers.precise.build_mirror_flow_system`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import heyoka as hy
import sympy as sp

__all__ = ["NONSMOOTH", "ParTable", "force_jumps", "log_loss_terms", "logsumexp", "sympy_to_heyoka",
           "tree_max"]

LossKind = Literal["exp", "logistic"]


def force_jumps(rhs: Sequence[Any], kinks: Sequence[Any]) -> bool:
    """Whether the right-hand sides ``rhs`` jump across some of the ReLU ``kinks``: a
    ``relup(h_k)`` occurs (ReLU, leaky ReLU).  Only then can the flow slide on a kink (Filippov)
    or reach a unit's origin in finite time, where the continuation may not be unique
    (THEORY.md §7.2); square ReLU's force ``2 relu(h)`` is Lipschitz, its solution unique.

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> force_jumps([hy.relup(x - y) * y + hy.relu(x - y)], [x - y])
    True
    >>> force_jumps([hy.relu(x - y) * 2], [x - y])
    False
    """
    steps = {hy.relup(h): hy.expression(0.0) for h in kinks}
    rhs = list(rhs)
    # one subs call for the whole list (shared subexpressions stay shared: see
    # switched_equations)
    return any(new != r for new, r in zip(hy.subs(rhs, steps), rhs, strict=True))


# Above this margin, log(log1p(exp(-q))) = -q - exp(-q)/2 + O(exp(-2q)) with a relative error below
# exp(-1400) ~ 2**-2000, while exp(-q) still does not underflow in float64 below it.
_LOGISTIC_SWITCH = 700.0


class ParTable:
    """Collects non-dyadic constants as heyoka runtime parameters (exact at any precision)."""

    def __init__(self) -> None:
        # Index 0 is reserved for the log-time scale Lambda (set by the integrator).
        self.values: list[sp.Expr | None] = [None]
        self._index: dict[sp.Expr, int] = {}

    def par(self, value: sp.Expr) -> Any:
        # A sympy Float stands for its printed decimal (0.1 -> 1/10), never a guessed closed form.
        value = sp.nsimplify(value, rational=True) if isinstance(value, sp.Float) else value
        if value not in self._index:
            self._index[value] = len(self.values)
            self.values.append(value)
        return hy.par[self._index[value]]

    def fresh(self, value: sp.Expr) -> tuple[Any, int]:
        """A new parameter (never shared) with initial ``value``, and its index.

        For switches the integrators change during a run (e.g. a coordinate's freeze mask).
        """
        self.values.append(sp.sympify(value))
        return hy.par[len(self.values) - 1], len(self.values) - 1


def constant_subexpressions(expr: sp.Expr) -> set[sp.Expr]:
    """The largest constant subexpressions of ``expr`` that are not dyadic numbers.

    ``heyoka.from_sympy`` evaluates a constant such as ``log(3)``, ``sqrt(3)`` or ``pi`` in
    double precision: the inverse ``asinh(z/sqrt(3)) - log(sqrt(3))`` of ``exp(x) + cosh(x)``
    then drifted the balance law by 4e-17 at 30 and at 40 digits (issue 10's battery).  Each
    such subexpression becomes one runtime parameter set at the working precision; dyadic
    numbers (exponents, halves) stay literal, exact in every type.

    Examples
    --------
    >>> x = sp.Symbol("x")
    >>> sorted(map(str, constant_subexpressions(sp.asinh(x / sp.sqrt(3)) + sp.log(3) + x**2 / 4)))
    ['1/3', 'log(3)', 'sqrt(3)']
    """
    found: set[sp.Expr] = set()

    def walk(e: sp.Expr) -> None:
        if e.is_number:
            if not (isinstance(e, sp.Number) and _is_dyadic(e)):
                found.add(e)
            return
        for a in e.args:
            walk(a)

    walk(expr)
    return found


def _is_dyadic(num: sp.Number) -> bool:
    if isinstance(num, sp.Integer):
        return True
    if isinstance(num, sp.Rational):
        q = int(num.q)
        return q & (q - 1) == 0
    return False


def sympy_to_heyoka(
    expr: sp.Expr, subs: dict[sp.Symbol, Any], pars: ParTable | None = None,
    kinks: list[Any] | None = None,
) -> Any:
    """Convert a sympy expression with ``heyoka.from_sympy``, keeping every constant exact.

    ``heyoka.from_sympy`` rejects rationals such as ``1/10`` and would round ``pi`` or a float to
    double precision.  Such constants become runtime parameters ``hy.par[j]`` whose exact values are
    collected in ``pars`` and set at the working precision when the integrator is compiled.

    Parameters
    ----------
    expr : sympy.Expr
    subs : dict
        Maps the free sympy symbols to heyoka expressions.
    pars : ParTable or None
        Where constants are collected; with ``None`` a non-dyadic constant raises ``ValueError``.
    kinks : list or None
        If given, the heyoka expressions whose zeros are the kinks of ``|u|``, ``sign(u)``,
        ``max``, ``min`` and ``Heaviside`` nodes are appended to it (without repeats).

    Examples
    --------
    >>> import sympy as sp, heyoka as hy
    >>> x = sp.Symbol("x")
    >>> print(sympy_to_heyoka(2 * x + x**2 / 4, {x: hy.make_vars("a")}))
    ((2.0000000000000000 * a) + (0.25000000000000000 * a**2.0000000000000000))
    >>> kinks = []
    >>> print(sympy_to_heyoka(x * abs(x), {x: hy.make_vars("a")}, kinks=kinks), kinks)
    (a * (relu(a) + relu(-a))) [a]
    """
    expr = sp.sympify(expr)
    s_dict = dict(subs)
    expr = _replace_nonsmooth(expr, s_dict, pars, kinks)
    replace: dict[sp.Expr, sp.Symbol] = {}
    atoms = constant_subexpressions(expr)
    for k, atom in enumerate(sorted(atoms, key=sp.default_sort_key)):
        if pars is None:
            raise ValueError(
                f"constant {atom} cannot be represented exactly; pass a parameter table (pars=...)"
            )
        sym = sp.Dummy(f"c{k}")
        replace[atom] = sym
        s_dict[sym] = pars.par(atom)
    if replace:
        expr = expr.xreplace(replace)
    return hy.from_sympy(expr, s_dict)


#: sympy functions without a heyoka counterpart, rebuilt from heyoka's exact piecewise primitives.
NONSMOOTH = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Heaviside)


def _nonsmooth_to_heyoka(node: sp.Expr, args: list[Any]) -> Any:
    """The heyoka expression of one non-smooth sympy node whose arguments are converted."""
    if isinstance(node, sp.Abs):
        return _abs(args[0])
    if isinstance(node, sp.sign):
        u = args[0]
        return hy.select(hy.gt(u, hy.expression(0.0)), hy.expression(1.0),
                         hy.select(hy.lt(u, hy.expression(0.0)), hy.expression(-1.0),
                                   hy.expression(0.0)))
    if isinstance(node, sp.Heaviside):
        # sympy's default H(0) = 1/2; a second argument fixes H(0).
        h0 = float(node.args[1]) if len(node.args) > 1 else 0.5
        u = args[0]
        return hy.select(hy.gt(u, hy.expression(0.0)), hy.expression(1.0),
                         hy.select(hy.lt(u, hy.expression(0.0)), hy.expression(0.0),
                                   hy.expression(h0)))
    pick = (lambda a, b: a + hy.relu(b - a)) if isinstance(node, sp.Max) else (
        lambda a, b: a - hy.relu(a - b))
    out = args[0]
    for b in args[1:]:
        out = pick(out, b)
    return out


def _replace_nonsmooth(expr: sp.Expr, s_dict: dict[Any, Any], pars: ParTable | None,
                       kinks: list[Any] | None) -> sp.Expr:
    """Replace |u|, sign(u), max, min and Heaviside by symbols bound to exact heyoka forms.

    ``|u| = relu(u) + relu(-u)`` and ``sign(u)`` as a ``select`` are exact at every precision
    (no rounding, unlike ``(u**2)**(1/2)``); their Taylor coefficients are those of the smooth
    branch the argument is on, so a zero of ``u`` is a kink the integrators stop at.
    """
    nodes = [n for n in sp.preorder_traversal(expr) if isinstance(n, NONSMOOTH)]
    if not nodes:
        return expr
    node = nodes[0]  # outermost first: its arguments are converted recursively
    args = [sympy_to_heyoka(a, s_dict, pars, kinks) for a in node.args
            if not (isinstance(node, sp.Heaviside) and a is not node.args[0])]
    if kinks is not None:
        switch = [args[0]] if len(args) == 1 else [
            b - a for i, a in enumerate(args) for b in args[i + 1:]]
        kinks.extend(k for k in switch if not any(str(k) == str(old) for old in kinks))
    sym = sp.Dummy("nonsmooth")
    s_dict[sym] = _nonsmooth_to_heyoka(node, args)
    return _replace_nonsmooth(expr.xreplace({node: sym}), s_dict, pars, kinks)


def tree_max(items: Sequence[Any]) -> Any:
    """max of expressions as a balanced tree of ``a + relu(b - a)``.

    Only used as the shift of a log-sum-exp, which does not depend on the shift mathematically,
    so its kinks never reach the Taylor coefficients of the result.
    """
    items = list(items)
    while len(items) > 1:
        nxt = [a + hy.relu(b - a) for a, b in zip(items[0::2], items[1::2], strict=False)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def logsumexp(terms: Sequence[Any]) -> Any:
    """``log sum exp(terms)``, shifted by their maximum (:func:`tree_max`)."""
    if len(terms) == 1:
        return terms[0]
    m = tree_max(terms)
    return m + hy.log(hy.sum([hy.exp(t - m) for t in terms]))


def _abs(x: Any) -> Any:
    return hy.relu(x) + hy.relu(-x)


def log_loss_terms(q: Sequence[Any], loss: LossKind) -> tuple[list[Any], list[Any]]:
    """Per-sample ``log l(q_i)`` and ``log(-l'(q_i))``, stable for margins of any size."""
    if loss == "exp":
        return [-qi for qi in q], [-qi for qi in q]
    log_l, log_dl = [], []
    for qi in q:
        # log softplus(-q): direct where exp(-q) cannot underflow, asymptotic series above.
        direct = hy.log(hy.relu(-qi) + hy.log1p(hy.exp(-_abs(qi))))
        series = -qi - hy.exp(-qi) / 2.0
        log_l.append(hy.select(hy.gt(qi, hy.expression(_LOGISTIC_SWITCH)), series, direct))
        # log sigmoid(-q) = -softplus(q)
        log_dl.append(-(hy.relu(qi) + hy.log1p(hy.exp(-_abs(qi)))))
    return log_l, log_dl
