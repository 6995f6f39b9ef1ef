"""The switched form of a ReLU net's equations for Radau IIA (:mod:`._radau_switches`):
``relu(h_k) -> q_k h_k`` and ``relup(h_k) -> p_k``, runtime parameters equal to the activation
pattern's bit, and the kinks' identical copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import heyoka as hy

from ._system_exprs import force_jumps

__all__ = ["switch_table", "switched_equations", "twin_kinks"]


def switched_equations(rhs: Sequence[Any], kinks: Sequence[Any], base: int,
                       jumps: bool | None = None) -> list[Any] | None:
    """``rhs`` with ``relu(h_k) -> par[base + k] h_k`` (the value switch) and
    ``relup(h_k) -> par[base + nk + k]`` (the slope switch), or None if no ``relup(h_k)``
    occurs (a continuous force: square ReLU).  ``jumps``: whether it occurs, if known (else
    read from ``rhs``: :func:`~._system_exprs.force_jumps`).

    Both switches equal the pattern bit off the kinks; they are separate parameters so that the
    force is affine in the slope switches (:mod:`._radau_sliding`).  Kinks are substituted in
    order, each one's replacement already carrying the earlier ones (an MLP's deeper
    pre-activations contain the earlier layers' ``relu``).

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> switched_equations([hy.relup(x - y) * y + hy.relu(x - y)], [x - y], 1)
    [((p2 * y) + (p1 * (x - y)))]
    >>> switched_equations([hy.relu(x - y) ** 2], [x - y], 1) is None
    True
    """
    rhs = list(rhs)
    if not (force_jumps(rhs, kinks) if jumps is None else jumps):
        return None
    # one subs call for the whole list: it keeps the subexpressions the right-hand sides
    # share shared (on a 3/2 leaky MLP: 121 s one expression at a time, 8 s for the list)
    return list(hy.subs(rhs, switch_table(kinks, base)))


def switch_table(kinks: Sequence[Any], base: int) -> dict[Any, Any]:
    """The substitutions of :func:`switched_equations`: ``relu(h_k) -> par[base + k] h_k`` and
    ``relup(h_k) -> par[base + nk + k]``, each ``h_k`` already carrying the earlier kinks'.

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> table = switch_table([x, hy.relu(x) - y], 1)
    >>> table[hy.relu(hy.relu(x) - y)], table[hy.relup(x)]
    ((p2 * ((p1 * x) - y)), p3)
    """
    table: dict[Any, Any] = {}
    for k, h in enumerate(kinks):
        value = hy.par[base + k]
        table[hy.relu(h)] = value * hy.subs(h, table) if table else value * h
        table[hy.relup(h)] = hy.par[base + len(kinks) + k]
    return table


def twin_kinks(kinks: Sequence[Any]) -> tuple[tuple[int, ...], ...]:
    """For each kink, the indices of the kinks with the same expression (itself included).

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> twin_kinks([x, y, x])
    ((0, 2), (1,), (0, 2))
    """
    groups: dict[str, list[int]] = {}
    for k, h in enumerate(kinks):
        groups.setdefault(str(h), []).append(k)
    return tuple(tuple(groups[str(h)]) for h in kinks)
