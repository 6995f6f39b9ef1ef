"""ReLU kinks at 0 that are no switching surfaces of their own in a Radau run: dead and slaved.

Radau's activation pattern (:class:`~._radau_switches.KinkPattern`) settles every kink at 0
at a switch: it crosses, slides, or is grouped with kinks whose surfaces coincide.  Two kinds
of kinks at 0 take no part in that.

**Dead** (:func:`~._kink_roots.dead_kinks`): value and rate both exactly 0. A pre-activation
downstream of units that are all off on its sample (``W relu(h)`` with every ``h < 0``) is
identically 0 until one of those inputs crosses its own kink (an event that ends the step); it
has no sign to change, as Taylor's :class:`~._taylor_switches.KinkSwitches` reads it. Watched,
its float64 interpolant (with ``relu`` inside) crosses before the input does (measured: a 3/3
ReLU MLP under cosh, kink 10 = ``W relu(h_5)`` switched on where ``h_5`` was still -0.0018).
The rate is a central difference along the field: a kink whose input is about to turn on is not
0 on both sides.

**Slaved** (:func:`slaved_sides`): a pre-activation ``z = W relu(h_k)`` of the next layer
(every other input of its unit off on that sample), at 0 because ``h_k`` is.  It is exactly 0
where ``h_k < 0`` and has the sign of ``W`` where ``h_k > 0``: its surface contains ``h_k``'s,
and it switches with ``h_k`` alone.  So does the field: below ``h_k``'s kink the path through
``z`` carries ``relu'(h_k) = 0`` whatever ``z``'s switch, so ``z`` takes its side above it, and
``h_k`` crosses or slides alone, with a Filippov field affine in its own switch (Taylor's
:func:`~._taylor_sliding.sliding_flow` reads ``relu(h_k) -> 0+`` in the other switches: the
same field).  Found by probing along ``h_k``'s unit normal: ``z`` is exactly 0 on one side and
not on the other.  Measured: the same run, kinks 9-11 = ``W relu(h_5)`` as ``h_5`` reached 0
at log t = 1.0139 and slid; settled as kinks of their own they coupled with ``h_5`` (one
sample, two layers) and their surfaces "coincided" with it, and the run stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["input_pairs", "slaved_sides"]


def input_pairs(near: Sequence[int], coupled: Sequence[frozenset[int]],
                exclude: set[int]) -> list[tuple[int, int]]:
    """Pairs ``(k, j)`` of kinks at 0 (``near``) on one path through the net (``coupled``),
    ``j`` not in ``exclude``: ``j`` may be slaved to ``k``.

    Examples
    --------
    >>> input_pairs([0, 2, 3], [frozenset({2}), frozenset(), frozenset({0}), frozenset()], set())
    [(0, 2), (2, 0)]
    """
    return [(k, j) for k in near for j in near
            if j != k and j not in exclude and j in coupled[k]]


def slaved_sides(pairs: Sequence[tuple[int, int]], normals: dict[int, np.ndarray],
                 probe: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
                 ) -> dict[int, tuple[int, bool]]:
    """Kink ``j`` -> ``(k, side)`` for the ``pairs`` where ``j`` is exactly 0 below ``k``'s
    surface and not above it: ``probe(normal)`` gives the kinks' values moved along ``+-`` the
    unit ``normals[k]``; ``side`` is ``j``'s sign above (True: active).

    Examples
    --------
    ``z = 2 relu(h)`` beside ``h`` (normal ``e_0``) and ``h`` beside ``z`` (no normal):

    >>> def probe(n):
    ...     h = 1e-10 * n[0]
    ...     return np.array([h, 2 * max(h, 0.0)]), np.array([-h, 2 * max(-h, 0.0)])
    >>> slaved_sides([(0, 1), (1, 0)], {0: np.array([1.0])}, probe)
    {1: (0, True)}
    """
    out: dict[int, tuple[int, bool]] = {}
    for k, normal in normals.items():
        if not np.any(normal):
            continue
        above, below = probe(normal)
        for i, j in pairs:
            if i == k and j not in out and below[j] == 0 and above[j] != 0:
                out[j] = (k, bool(above[j] > 0))
    return out
