"""The mirror flow with ``w ~ theta_k`` as independent variable: crossing a branch point of
the inverse mirror map (THEORY.md §7.1, "crossing a branch point in theta_k").

Where a coordinate with ``f''(0) = 0`` (``|x|^p/p``, p > 2) crosses 0 in the dual state, its
``theta_k = (f')^{-1}(z_k) ~ sign(z_k) |z_k|^(1/(p-1))`` has a branch point: every Taylor series
of the solution in the clock ``s`` converges only up to the crossing ``s*``, so heyoka's steps
shrink geometrically towards it and grow geometrically after it (~450 steps per crossing, 30
digits).  With ``w`` the independent variable, ``theta_k = d (d w)^b`` on the side
``d = sign(w)`` (``|w| = |theta_k|^(1/b)``, :func:`branch_power`), the flow is

    ds/dw    = R(w) / F_k(theta),        dz_j/dw = F_j(theta) R(w) / F_k(theta),
    R(w) = f''(theta_k(w)) dtheta_k/dw,
    d(log t/Lambda)/dw = exp(-log t - log L) / Lambda * ds/dw,

analytic in ``w`` on each side of 0 when ``R`` is a polynomial in ``v = |w|``
(:func:`crossing_rate`; ``b = 1``, ``w = theta_k``, for integer p: ``f'' = 2|w|`` is ``2 d w``
on the side ``d``; ``b = 2`` for ``|x|^(5/2)/(5/2)``: ``R = 3 v^2``) and ``F_k != 0``: a
Taylor integrator crosses it in a few full-size steps.  One compiled system serves every
coordinate ``k``: a one-hot parameter vector ``e`` selects it, ``theta_j = e_j theta_j(w) +
(1 - e_j) (f')^{-1}(z~_j)`` with the *argument* masked (``z~_j = (1 - e_j) z_j + e_j``), so
the branch point of ``(f')^{-1}`` at ``z_k = 0`` never enters a Taylor recursion (``0 * inf``
would be NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import sympy as sp

__all__ = ["CrossingSystem", "D", "V", "branch_power", "crossing_rate", "one_sided", "transformed"]


@dataclass(frozen=True)
class CrossingSystem:
    """Equations in ``w`` (heyoka's time; ``theta_k = d (d w)^b``) and their events, for
    one-hot ``k``.

    ``equations``: ``[p_0..p_{P-1}, logt, dclock]`` (``dclock``: the clock since the start of
    the crossing, ``s - s0`` or ``u - u0``); ``events``: ``(F_k, logt - par[level],
    dclock - par[exit], *kinks)``, the kinks in the system's order, kink ``i`` plus the switch
    ``par[switch + i]`` (as in the main integrator); ``par_values``: the runtime parameters'
    values (``None``: the log t scale ``Lambda``), the system's first; the indices of the
    one-hot ``e_0``, the side ``d`` (+1 or -1, the sign of ``w``), ``exp(-u0)`` (clock
    ``u = log s``), the level and the exit; ``coordinates``: the ``k`` this system crosses
    (:func:`branch_power`); ``clock0`` the index of the clock at the start,
    ``theta_map`` the system's ``theta_j`` expressions to their one-hot forms and ``f2`` the
    crossing rate ``R(w) = f''(theta_k) dtheta_k/dw`` of the one-hot ``k``, for
    :func:`transformed`; ``powers``: each coordinate's ``b``.
    """

    equations: list[tuple[Any, Any]]
    events: tuple[Any, ...]
    par_values: tuple[sp.Expr | None, ...]
    onehot: int
    side: int
    clock_shift: int
    level: int
    exit: int
    coordinates: frozenset[int]
    switch: int
    clock0: int
    theta_map: dict[Any, Any]
    f2: Any
    powers: dict[int, int]


def one_sided(expr: sp.Expr, x: sp.Symbol, d: sp.Symbol) -> sp.Expr:
    """``expr`` on the side ``sign(x) = d`` of 0: ``|x| -> d x``, ``sign(x) -> d``.

    Examples
    --------
    >>> x, d = sp.symbols("x d", real=True)
    >>> one_sided(2 * sp.Abs(x) + sp.sign(x), x, d)
    2*d*x + d
    """
    return expr.replace(lambda a: isinstance(a, sp.Abs) and a.args[0] == x,
                        lambda a: d * x).replace(
        lambda a: isinstance(a, sp.sign) and a.args[0] == x, lambda a: d)


def branch_power(fsecond: sp.Expr, x: sp.Symbol, max_power: int = 12) -> int | None:
    """The least ``b <= max_power`` with which ``theta = d v^b`` (``v = |theta|^(1/b)``, ``d``
    the side) makes the crossing rate ``f''(theta) dtheta/dv`` a polynomial in ``v`` on each
    side, at a branch point (``f''(0) = 0``); None if there is no such ``b`` or no branch
    point [derived].  :class:`CrossingSystem` then crosses in full steps.

    ``|x|^3/3`` (``f'' = 2|x|``) and ``|x|^4/4``: 1 (``w = theta_k`` itself); ``|x|^(5/2)``
    (``f'' ~ |x|^(1/2)``): 2; ``|x|^(13/4)``: 4; ``x^2/2 + |x|^3/3`` (``f''(0) = 1``: no
    branch point) and irrational powers: None.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> f2s = (2 * sp.Abs(x), 3 * x**2, sp.sqrt(sp.Abs(x)), 1 + 2 * sp.Abs(x),
    ...        sp.Abs(x) ** sp.sqrt(2))
    >>> [branch_power(e, x) for e in f2s]
    [1, 1, 2, None, None]
    """
    fsecond = sp.sympify(fsecond)
    if sp.simplify(one_sided(fsecond, x, sp.Integer(1)).subs(x, 0)) != 0:
        return None
    for b in range(1, max_power + 1):
        if crossing_rate(fsecond, x, b) is not None:
            return b
    return None


#: The variable ``v = |theta_k|^(1/b) >= 0`` of :func:`crossing_rate`'s polynomials.
V = sp.Symbol("v_cross", positive=True)
#: The side ``d = sign(theta_k)`` in :func:`crossing_rate`'s coefficients.
D = sp.Symbol("d_side", real=True)


def crossing_rate(fsecond: sp.Expr, x: sp.Symbol, b: int) -> sp.Poly | None:
    """``f''(theta) dtheta/dv`` for ``theta = d v^b`` as a polynomial in ``v`` (:data:`V`,
    coefficients in the side :data:`D`), or None if it is not one on both sides.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> crossing_rate(sp.Rational(3, 2) * sp.sqrt(sp.Abs(x)), x, 2).as_expr()
    3*v_cross**2
    >>> crossing_rate(sp.Rational(3, 2) * sp.sqrt(sp.Abs(x)), x, 1) is None
    True
    """
    on_side = sp.sympify(fsecond).replace(
        lambda a: isinstance(a, sp.Abs) and a.args[0] == x, lambda a: V**b).replace(
        lambda a: isinstance(a, sp.sign) and a.args[0] == x, lambda a: D)
    rate = sp.expand(sp.powsimp(on_side.subs(x, D * V**b) * b * V ** (b - 1), force=True))
    for d in (1, -1):
        side = sp.expand(rate.subs(D, d))
        if side.has(sp.Abs, sp.sign, x) or not side.is_polynomial(V):
            return None
    return sp.Poly(rate, V)


def transformed(cs: CrossingSystem, equations: Sequence[tuple[Any, Any]], kinks: Sequence[Any],
                exits: Sequence[Any], n_potential: int,
                ) -> tuple[list[tuple[Any, Any]], tuple[Any, ...]]:
    """Any flow of the system in the clock (a sliding flow: its ``equations``, kinks and exit
    events), in ``w = theta_k``: ``dY/dw = R_Y f''(w) / R_k``, ``dclock/dw = f''(w) / R_k``.

    Its ``theta_j`` become their one-hot forms and the clock ``c0 + dclock`` (``R_k``: the
    clock rate of ``z_k``, ``s F_k`` in the clock ``log s``).  The events are those of
    ``cs`` with the flow's kinks (each with its switch) and then its exits.  ``equations``
    must carry ``log t`` (``logt_mode="ode"``) as ``cs.equations`` do.
    """
    P = len(cs.equations) - 2
    logt, dclock = cs.equations[P][0], cs.equations[P + 1][0]
    smap = {**cs.theta_map, hy.time: hy.par[cs.clock0] + dclock}
    out = hy.subs([r for _, r in equations] + list(kinks) + list(exits), smap)
    n_e, n_k = len(equations), len(kinks)
    rhs, ks, xs = out[:n_e], out[n_e:n_e + n_k], out[n_e + n_k:]
    r_k = hy.sum([hy.par[cs.onehot + j] * rhs[j] for j in range(P)])
    rate = cs.f2 / r_k
    eqs = [(v, r * rate) for (v, _), r in zip(equations, rhs, strict=True)]
    # the potential's kinks (the last n_potential) as cs has them: z~_k of the one-hot k has
    # no zero, where the flow's own z_k starts at 0
    n_model = n_k - n_potential
    model = [k + hy.par[cs.switch + i] for i, k in enumerate(ks[:n_model])]
    events = (r_k, logt - hy.par[cs.level], dclock - hy.par[cs.exit], *model,
              *cs.events[3 + n_model:3 + n_k], *xs)
    return [*eqs, (dclock, rate)], events
