"""Sliding along ReLU kinks (Filippov): the flow that stays on surfaces both sides point into.

With ReLU (or leaky ReLU) the force depends on the side of every kink ``z_k = 0`` through
``H_k = relu'(z_k)`` in the backward pass, and it is affine in ``H_k``.  Let ``g_k(H) = dz_k/ds``
be the kink's rate under the force with the switches ``H``.  When ``g_k(0) > 0 > g_k(1)`` both
sides push the state into the surface: the classical flow (``H_k = 0`` or 1) does not exist
there, and an integrator that crosses the kink is pushed straight back (it "chatters":
thousands of kink crossings at one point).  The solution of the differential inclusion
``d/dt grad phi(theta) in -conv{grad L from each side}`` (Filippov; Clarke's subdifferential
for a ReLU network) *slides* on the surface with the unique ``H_k = alpha_k`` that keeps
``z_k`` there (THEORY.md §7.2)::

    alpha = g(0) / (g(0) - g(1))  in (0, 1),        dz_k/ds = g(alpha) = 0.

On several surfaces ``S`` at once (kinks of different samples, or of one layer on one sample)
the rates are jointly affine in ``H_S``, ``g(H) = g(0) + A H`` with ``A_kj = g_k(e_j) - g_k(0)``,
and ``alpha = -A^{-1} g(0)`` (Cramer's rule, up to :data:`MAX_SLIDING` surfaces; kinks whose
surfaces coincide share one switch, :func:`coinciding`).  Kinks of one sample in two layers
couple bilinearly (a path through both units): the Filippov set is then not a point, and such
a set is not entered (:func:`sliding_alpha`: ``g(alpha) = 0`` fails).

The sliding flow replaces ``relu'(z_k)`` by ``alpha_k`` (expressions of the state) in every
right-hand side; it is analytic, so heyoka's Taylor method integrates it at full order.  A
surface is left when its ``alpha_j`` reaches 0 or 1 (its two exit events ``N_j = 0``,
``N_j = D`` with ``alpha_j = N_j / D``), or when ``alpha_j`` jumps out of (0, 1) at the
crossing of another kink (whose switch ``alpha_j`` depends on); the state then leaves it to
the side that no longer pushes back, and the others go on sliding.  :mod:`._taylor_slide`
decides when a run slides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import heyoka as hy
import numpy as np

from ._system import MirrorFlowSystem
from ._taylor_switches import param_rates, rate_along

__all__ = ["MAX_SLIDING", "Groups", "SlidingFlow", "coinciding", "normal_groups",
           "sliding_alpha", "sliding_flow"]

#: Most surfaces a flow slides on at once (Cramer's rule on expressions).
MAX_SLIDING = 4


@dataclass(frozen=True)
class SlidingFlow:
    """The sliding flow on the surfaces ``groups`` (sorted tuples of kinks).

    A group is one surface: kinks whose surfaces coincide where the flow slides (e.g. the
    pre-activations ``W_jc relu(h_ic)`` of one unit on several samples whose only active input
    is the same unit c: all vanish with ``W_jc``) share one switch ``alpha_g``; its first kink
    carries the constraint.  ``equations``: the flow with ``relu'(z_k) = alpha_g = N_g / D``
    for ``k`` in group ``g`` (and ``relu(z_k) + tau``, see :func:`sliding_flow`); ``events``:
    the kinks for its kink events; ``exits``: the terminal events ``N_g = 0`` and
    ``N_g = D`` (``alpha_g`` reaching 0, 1) of each group in order, then ``D = 0``; ``check``:
    ``[alpha..., g(alpha)..., g(0)..., A_gg...]`` (in the clock ``s``) for the entry test
    (:func:`sliding_alpha`).
    """

    groups: tuple[tuple[int, ...], ...]
    equations: list[tuple[Any, Any]]
    exits: list[Any]
    check: list[Any]
    events: list[Any]

    def exit_group(self, index: int) -> tuple[int, ...] | None:
        """The group whose exit event ``index`` (0-based among the exits) fired; ``None`` for
        the last exit, ``D = 0`` (the switches no longer move the rates: every surface is
        left)."""
        return self.groups[index // 2] if index < 2 * len(self.groups) else None


Groups = tuple[tuple[int, ...], ...]


def normal_groups(groups: Sequence[Sequence[int]]) -> Groups:
    """``groups`` as sorted tuples of sorted kinks (the key of compiled flows)."""
    return tuple(sorted(tuple(sorted(int(k) for k in g)) for g in groups if len(g)))


def _det(m: list[list[Any]]) -> Any:
    """Determinant of a small square matrix of expressions (cofactor expansion)."""
    if len(m) == 1:
        return m[0][0]
    return hy.sum([(m[0][j] if j % 2 == 0 else -m[0][j])
                   * _det([row[:j] + row[j + 1:] for row in m[1:]]) for j in range(len(m))])


def sliding_flow(system: MirrorFlowSystem, equations: Sequence[tuple[Any, Any]],
                 groups: Sequence[Sequence[int]], tau: float = 2.0**-1000
                 ) -> SlidingFlow | None:
    """The sliding flow of ``equations`` on the surfaces ``groups``, or ``None`` if the
    right-hand side does not jump at one of them (no ``relu'(z_k)`` in it: square ReLU is
    C^1) or there are more than :data:`MAX_SLIDING`.

    On the surface ``relu(z_k) = 0`` exactly, and the flow reads it so: the state holds
    ``z_k`` only to rounding, and a sample that carries most of the loss (a dead one: weight
    ~1 against ``~1/s`` for the others) would turn any small ``relu(z_k)`` into a force
    comparable to the true ones late in the run.  The side ``H = 1`` of the Filippov
    combination is the limit ``z_k -> 0+``, though: a unit of the next layer whose only active
    input is the sliding unit has the pre-activation ``W relu(z_k) -> 0`` with the sign of
    ``W``.  So the *switches* ``relu'(z_j)`` of the other kinks (and the flow's kink events) read
    ``relu(z_k)`` as ``tau > 0``, a number below the working precision of every other term,
    and the values read it as 0.

    A surface is left when its ``alpha`` reaches 0 or 1, not at a small threshold: late in a
    run the forces decay like ``1/s`` while a dead sample's side keeps ``D ~ 1``, so an
    ``alpha`` far below the working precision can still carry a force of the order of the
    others (measured: leaving at ``alpha = 1e-33`` cost three digits of the direction).

    Examples
    --------
    The kink ``w`` of ``q = w / 2 - relu(w)`` (gradient flow, one sample, exp loss: the force
    is ``dq/dw = 1/2 - H``) is pushed up below 0 and down above it: it slides with
    ``alpha = 1/2``, and the sliding flow keeps ``w`` still.  Printed: ``dw/ds``, ``alpha``,
    ``g(alpha)``, ``g(0)`` and ``A = g(1) - g(0)``.

    >>> import numpy as np, sympy as sp
    >>> from numerics.solvers.precise import ScalarPotential, build_mirror_flow_system
    >>> x = sp.Symbol("x", real=True)
    >>> gd = ScalarPotential(x, x, sp.Integer(1), x, "gd")
    >>> def margins(th):
    ...     w, = th
    ...     q = 0.5 * w - hy.relu(w)
    ...     return np.array([q]), np.array([[0.5 - hy.relup(w)]]), [w]
    >>> sysm = build_mirror_flow_system(margins, 1, gd)
    >>> flow = sliding_flow(sysm, sysm.equations, [[0]])
    >>> f = hy.cfunc([flow.equations[0][1], *flow.check], list(sysm.variables))
    >>> [float(v) for v in f(np.array([0.0, 0.0]))]
    [0.0, 0.5, 0.0, 0.5, -1.0]
    """
    groups = normal_groups(groups)
    if not 0 < len(groups) <= MAX_SLIDING:
        return None
    hs = [hy.expression(f"sliding_h{j}") for j in range(len(groups))]
    Z = list(system.kinks)
    kinks = [k for g in groups for k in g]
    # the kinks with relu(z_k) -> tau: their signs on the side z_k -> 0+ (and the events)
    events = hy.subs(Z, {hy.relu(Z[k]): hy.expression(tau) for k in kinks})
    signs = {hy.relup(Z[j]): hy.relup(events[j]) for j in range(len(Z))
             if j not in kinks and events[j] != Z[j]}
    back = {**{hy.relu(Z[k]): hy.expression(0.0) for k in kinks},
            **{hy.relup(Z[k]): h for g, h in zip(groups, hs, strict=True) for k in g}}
    # one subs call for all expressions and both maps: it keeps the subexpressions they share
    # shared.  Two calls (the signs, then ``back`` on the result) give the same expressions,
    # but the second took 46 s on the 3/3 ReLU MLP (0.06 s for the one call): its keys are
    # looked up in a DAG whose new ``relup(events_j)`` nodes lie beside the old ``Z_j``.
    # The values are not traversed, and no ``events_j`` holds a key of ``back``.
    with_h = list(zip([v for v, _ in equations],
                      hy.subs([r for _, r in equations], {**signs, **back}), strict=True))
    used = {name for _, rhs in with_h for name in hy.get_variables(rhs)}
    if any(str(h) not in used for h in hs):
        return None
    rates = param_rates(system, with_h)
    g = [rate_along(system.kinks[grp[0]], rates) for grp in groups]
    zero = {h: hy.expression(0.0) for h in hs}
    g0 = hy.subs(g, zero)
    corners = [hy.subs(g, {**zero, h: hy.expression(1.0)}) for h in hs]
    A = [[corners[c][r] - g0[r] for c in range(len(hs))] for r in range(len(hs))]
    det = _det(A)
    n = len(groups)
    nums = [_det([[(-g0[r] if c == j else A[r][c]) for c in range(n)] for r in range(n)])
            for j in range(n)]
    alpha = {h: num / det for h, num in zip(hs, nums, strict=True)}
    eqs = list(zip([v for v, _ in with_h], hy.subs([r for _, r in with_h], alpha),
                   strict=True))
    exits = [*(e for num in nums for e in (num, num - det)), det]
    check = [*alpha.values(), *hy.subs(g, alpha), *g0, *(A[j][j] for j in range(n))]
    return SlidingFlow(groups, eqs, exits, check, events)


def sliding_alpha(values: Sequence[Any], n: int, tol: float) -> list[float] | None:
    """``alpha`` from the ``check`` values ``[alpha..., g(alpha)..., g(0)..., A_gg...]``, or
    ``None`` unless both sides of every surface push into it (``A_gg < 0``: the rate falls
    from the side ``H = 0`` to the side ``H = 1``; a repelling surface is left, not followed)
    and the rates ``g(alpha)`` vanish to ``sqrt(tol)`` of ``g(0)`` (a bilinear coupling of
    kinks of one sample in two layers makes the affine solve wrong).  The flow slides on all
    the surfaces when every ``alpha_g`` is also in (0, 1).

    Examples
    --------
    >>> sliding_alpha([0.5, 0.0, 0.5, -1.0], 1, 1e-30), sliding_alpha([0.5, 0.0, -0.5, 1.0], 1,
    ...                                                                  1e-30)
    ([0.5], None)
    """
    v = [float(x) for x in values]
    alpha, g, g0, diag = v[:n], v[n: 2 * n], v[2 * n: 3 * n], v[3 * n:]
    if not all(math.isfinite(x) for x in v) or not all(a < 0 for a in diag):
        return None
    return alpha if max(abs(x) for x in g) <= tol ** 0.5 * max(abs(x) for x in g0) else None


def coinciding(values: np.ndarray, grads: np.ndarray, kinks: Sequence[int],
               tol: float) -> Groups:
    """``kinks`` grouped by coinciding surfaces, with the other kinks on one of them.

    Two kinks share a surface when their gradients (rows of ``grads``) are parallel and point
    the same way (cosine above ``1 - 1e-12``: the gradients are float64 here, so this groups
    kinks whose directions agree to float64, and :meth:`TaylorIntegrator.onto_surfaces`
    checks the group at the working precision); a kink not in ``kinks`` joins when it is as
    close to the surface as the kinks (distance ``|z|/|grad z|`` within ``1e3`` times theirs).

    Examples
    --------
    >>> grads = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> coinciding(np.array([1e-30, 3e-30, 0.0, 0.5]), grads, [0, 2], 1e-30)
    ((0, 1), (2,))
    """
    cos_tol = max(16 * tol, 1e-12)   # float64 gradients
    norms = np.sqrt(np.sum(grads**2, axis=1))
    dist = np.abs(values) / np.where(norms > 0, norms, np.inf)
    reach = 1e3 * max(float(np.max(dist[list(kinks)])), tol)
    groups: list[list[int]] = []
    for k in [*kinks, *(j for j in range(len(values)) if j not in kinks and dist[j] <= reach)]:
        for grp in groups:
            r = grp[0]
            if norms[k] > 0 and grads[k] @ grads[r] >= (1 - cos_tol) * norms[k] * norms[r]:
                grp.append(k)
                break
        else:
            if k in kinks:
                groups.append([k])
    return normal_groups(groups)
