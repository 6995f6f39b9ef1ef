"""Filippov sliding modes of ReLU kinks: the equivalent-control field on a switching surface.

Where the fields on both sides of a kink ``h_k = 0`` point into it, the Filippov solution stays
on the surface with the convex combination of the two fields that is tangent to it.  The
switched right-hand side (:func:`~._radau_switched.switched_equations`) is affine in the
switches ``p_k`` of kinks at zero (``relu(h_k) = p_k h_k`` vanishes there, ``relup(h_k) = p_k``
enters the force linearly; for leaky ReLU ``sigma' = s + (1 - s) p_k``), so with the sliding
set ``S``::

    F(alpha) = F0 + sum_l alpha_l G_l,   F0 = F(p_S = 0),   G_l = F(p_l = 1) - F0,
    grad h_k . F(alpha) = 0  for k in S:   A alpha = -b,   A_kl = g_k . G_l,   b_k = g_k . F0.

For ReLU, ``alpha_k`` is the Clarke derivative of the activation at 0 (``sigma'(0)`` in
``[0, 1]``), so the balance law of the units survives (``alpha h = 0``).  The run leaves the
surface where ``alpha_k`` reaches 0 (the inactive field turns tangent) or 1.

The gradients ``g_k`` of kinks linear in the parameters (two-layer nets, an MLP's first layer)
are constants; those of an MLP's deeper pre-activations depend on the state, and are compiled
with the right-hand side (:func:`kink_gradients`: ``grad h_k`` with the switches of the
earlier layers), so that ``A`` and ``b`` are those of each evaluation point.  ``F`` is affine
in the switches jointly as long as no two sliding kinks lie on one path through the net
(:func:`coupled_kinks`: kinks of one sample in two layers couple bilinearly, and their
Filippov set is not a point); such kinks never slide together.

Every evaluation stacks the ``1 + |S|`` patterns as columns of one batched call of the compiled
right-hand side, into preallocated buffers (heyoka's ``real`` arrays leak the storage of every
freshly allocated array).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import heyoka as hy
import numpy as np

from ._radau_newton import WorkBuffers

if TYPE_CHECKING:
    from ._radau_compile import BatchedFunction

__all__: list[str] = []


#: Per kink: ``(state row, output row)`` of every nonzero slope derivative ``d F_r / d p_k``.
SlopeRows = tuple[tuple[tuple[int, int], ...], ...]
#: Per kink: ``(parameter, output row)`` of every nonzero compiled ``d h_k / d theta_c`` (empty
#: for the kinks linear in the parameters, whose gradients are constants).
GradientRows = tuple[tuple[tuple[int, int], ...], ...]

#: Most kinks at 0 at one point whose modes :func:`filippov_modes` enumerates (``3^m`` cases).
MAX_JOINT = 7


def filippov_modes(g0: np.ndarray, A: np.ndarray, expected: Sequence[int],
                   tol: float) -> tuple[int, ...] | None:
    """Modes of ``m`` kinks at 0 whose rates are affine in their switches: ``+1`` active,
    ``-1`` inactive, ``0`` sliding; or None if no assignment is consistent.

    The rates are ``g(H) = g0 + A H`` (``H_k`` = 1 active, 0 inactive, ``alpha_k`` sliding).
    An assignment is consistent if every active kink has ``g_k >= 0``, every inactive one
    ``g_k <= 0``, and the sliding set ``S`` has ``A_SS alpha = -(g0_S + A_SP 1)`` with
    ``alpha`` in ``[0, 1]`` (all up to ``tol`` of the largest entry of ``g0``, ``A``).  Of the
    consistent ones: the fewest modes that differ from ``expected``, then the fewest sliding
    kinks (a kink crosses rather than slides where both are solutions).

    Examples
    --------
    Kink 0 slides (both sides push it back: ``g_0 = 1`` inactive, ``-1`` active, so
    ``alpha = 1/2``) while kink 1 crosses upwards; it stays active if its rate at that
    ``alpha`` is positive, else it is pushed back to the inactive side:

    >>> filippov_modes(np.array([1.0, 1.0]), np.array([[-2.0, 0.0], [0.5, 1.0]]), [0, 1], 1e-12)
    (0, 1)
    >>> filippov_modes(np.array([1.0, 1.0]), np.array([[-2.0, 0.0], [-6.0, 1.0]]), [0, 1], 1e-12)
    (0, -1)
    """
    m = len(expected)
    scale = max(float(np.max(np.abs(g0), initial=0.0)), float(np.max(np.abs(A), initial=0.0)))
    eps = tol * max(scale, 1e-300)
    cases = sorted(itertools.product((1, -1, 0), repeat=m),
                   key=lambda c: (sum(a != b for a, b in zip(c, expected, strict=True)),
                                  c.count(0)))
    for modes in cases:
        H = np.array([1.0 if c > 0 else 0.0 for c in modes])
        S = [i for i, c in enumerate(modes) if c == 0]
        if S:
            rhs = -(g0[S] + A[np.ix_(S, range(m))] @ H)
            try:
                alpha = np.linalg.solve(A[np.ix_(S, S)], rhs)
            except np.linalg.LinAlgError:
                continue
            if not np.all(np.isfinite(alpha)) or np.any(alpha < -tol) or np.any(alpha > 1 + tol):
                continue
            H[S] = alpha
        g = g0 + A @ H
        if all(g[i] * c >= -eps for i, c in enumerate(modes) if c != 0):
            return tuple(modes)
    return None


def coinciding_groups(directions: np.ndarray, n: int,
                      tol: float = 1e-12) -> list[tuple[int, ...]]:
    """Rows ``0 .. n - 1`` of ``directions`` (unit gradients of kinks at 0 at one point)
    grouped by coinciding surfaces: a row joins the first group whose first row it is parallel
    to and points the same way as (cosine above ``1 - tol``); rows from ``n`` on only join
    groups (kinks found on the surface of one of the first ``n``).  Zero rows stay alone.

    Kinks of one group share one Filippov switch (THEORY.md §7.2): e.g. the pre-activations
    ``W_jc relu(h_ic)`` of one unit on several samples whose only active input is unit ``c``
    all vanish with ``W_jc``.

    Examples
    --------
    >>> D = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    >>> coinciding_groups(D, 4)
    [(0, 2), (1, 4), (3,)]
    """
    groups: list[list[int]] = []
    for i in range(len(directions)):
        for g in groups:
            if float(directions[i] @ directions[g[0]]) > 1 - tol:
                g.append(i)
                break
        else:
            if i < n:
                groups.append([i])
    return [tuple(g) for g in groups]


def linear_kinks(kinks: Sequence[Any], variables: Sequence[Any]) -> tuple[bool, ...]:
    """For each kink: True if it is linear in ``variables`` (all its derivatives constant).

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> linear_kinks([0.5 * x - y, hy.relu(x) * y], [x, y])
    (True, False)
    """
    return tuple(all(not hy.get_variables(hy.diff(h, v)) for v in variables) for h in kinks)


def slope_derivatives(
    switched: Sequence[Any], followed: Sequence[bool], base: int
) -> tuple[list[Any], SlopeRows]:
    """The nonzero ``d F_r / d p_k`` of the ``followed`` kinks (``p_k = par[base + nk + k]``,
    the slope switches of :func:`~._radau_switched.switched_equations`), to be compiled after
    the right-hand side, and where they go.

    Examples
    --------
    >>> x, y = hy.make_vars("x", "y")
    >>> F = [hy.par[2] * y, x + hy.par[1] * (x - y)]
    >>> slope_derivatives(F, [True], 1)
    ([y], (((0, 2),),))
    """
    nk = len(followed)
    pars = [hy.par[base + nk + k] for k in range(nk)]
    jac = hy.diff_tensors(list(switched), diff_args=pars).jacobian
    zero = hy.expression(0.0)
    exprs: list[Any] = []
    rows: list[tuple[tuple[int, int], ...]] = []
    for k in range(nk):
        here = []
        for r in range(len(switched)) if followed[k] else ():
            if jac[r, k] != zero:
                here.append((r, len(switched) + len(exprs)))
                exprs.append(jac[r, k])
        rows.append(tuple(here))
    return exprs, tuple(rows)


def kink_gradients(
    kinks: Sequence[Any], variables: Sequence[Any], wanted: Sequence[bool],
    table: dict[Any, Any], first: int
) -> tuple[list[Any], GradientRows]:
    """The nonzero ``d h_k / d theta_c`` of the ``wanted`` kinks with the switches of
    ``table`` (:func:`~._radau_switched.switch_table`: ``relup`` of an earlier layer's kink
    becomes its slope switch), to be compiled as outputs ``first, first + 1, ...``, and where
    they go.

    Examples
    --------
    >>> from ._radau_switched import switch_table
    >>> x, y = hy.make_vars("x", "y")
    >>> kinks = [x, hy.relu(x) * y]
    >>> kink_gradients(kinks, [x, y], [False, True], switch_table(kinks, 1), 5)
    ([(p3 * y), (p1 * x)], ((), ((0, 5), (1, 6))))
    """
    jac = hy.diff_tensors(list(kinks), diff_args=list(variables)).jacobian
    zero = hy.expression(0.0)
    exprs: list[Any] = []
    rows: list[tuple[tuple[int, int], ...]] = []
    for k in range(len(kinks)):
        here = []
        for c in range(len(variables)) if wanted[k] else ():
            if jac[k, c] != zero:
                here.append((c, first + len(exprs)))
                exprs.append(hy.subs(jac[k, c], table))
        rows.append(tuple(here))
    return exprs, tuple(rows)


def coupled_kinks(kinks: Sequence[Any], table: dict[Any, Any],
                  base: int) -> tuple[frozenset[int], ...]:
    """For each kink, the kinks it couples with bilinearly: those on a path through it (an
    earlier layer's kink inside it, ``relu(h_l)`` in ``h_k``, or a later one's that contains
    it).  ``F`` and the rates ``g`` are affine in the switches of kinks that are not coupled.

    Examples
    --------
    >>> from ._radau_switched import switch_table
    >>> x, y = hy.make_vars("x", "y")
    >>> kinks = [x, y, hy.relu(x) * y]
    >>> coupled_kinks(kinks, switch_table(kinks, 1), 1)
    (frozenset({2}), frozenset(), frozenset({0}))
    """
    nk = len(kinks)
    inside = [{int(str(p)[1:]) - base for p in hy.get_params([hy.subs(h, table)])}
              for h in kinks]
    out: list[set[int]] = [set() for _ in range(nk)]
    for k in range(nk):
        for j in inside[k]:
            if 0 <= j < nk and j != k:
                out[k].add(j)
                out[j].add(k)
    return tuple(frozenset(c) for c in out)


class FilippovField:
    """The right-hand side with the kinks of ``S`` held on their surfaces (equivalent control).

    Kinks whose surfaces coincide (:func:`coinciding_groups`) are held as one surface with one
    switch.

    Parameters
    ----------
    rhs
        The switched right-hand side followed by the slope derivatives (:func:`slope_derivatives`,
        their places in ``rows``) and the compiled kink gradients (:func:`kink_gradients`).
    rows
        Per kink: ``(state row, output row)`` of its slope derivatives.
    gradients
        ``(nk, P)`` working-precision gradients of the kinks linear in the parameters (the
        rows of the others are never used).
    bufs
        The MPFR work-buffer pool.
    gradient_rows
        Per kink: ``(parameter, output row)`` of its compiled gradient (empty: a constant row
        of ``gradients``).

    Attributes
    ----------
    sliding
        The surfaces held (``S``), in order: the first kink of each group of
        :meth:`set_sliding`, whose gradient carries the constraint.
    alpha
        ``(|S|, m)``: the slopes ``alpha`` of the last evaluation (a work buffer), one per
        group.
    """

    def __init__(self, rhs: BatchedFunction, rows: SlopeRows, gradients: np.ndarray,
                 bufs: WorkBuffers, gradient_rows: GradientRows = ()) -> None:
        self._rhs, self._rows, self._bufs = rhs, rows, bufs
        # per kink: (parameter c, d h_k / d theta_c) with a constant, or an int: its output row
        self._support: list[list[tuple[int, Any]]] = [
            list(gradient_rows[k]) if k < len(gradient_rows) and gradient_rows[k] else
            [(c, gradients[k, c]) for c in range(gradients.shape[1]) if gradients[k, c] != 0]
            for k in range(len(gradients))]
        self._n_out = rhs.n_outputs
        self.sliding: list[int] = []
        self._group_rows: list[list[tuple[int, int]]] = []
        self.alpha = np.zeros((0, 0))

    def set_sliding(self, groups: Sequence[Sequence[int]], switches: Sequence[Any]) -> None:
        """Hold the kinks of ``groups`` on their surfaces; ``switches`` (value, then slope
        switches) for the compiled function.  The kinks of a group share one surface and one
        switch ``alpha`` (its first kink's gradient is the constraint, the slope derivatives
        of all its kinks add up: ``G = sum_k dF/dp_k``).  Precomputes the terms of ``b`` and
        ``A`` and the structure of ``A`` (kinks of different units do not interact) with its
        fill-in."""
        groups = [tuple(g) for g in groups]
        self.sliding = [g[0] for g in groups]
        self._rhs.set_switches(switches)
        self._group_rows = [[ro for k in g for ro in self._rows[k]] for g in groups]
        grads = [dict(self._support[k]) for k in self.sliding]
        self._b_terms = [list(g.items()) for g in grads]
        self._a_terms = [[[(o, g[r]) for r, o in rows if r in g] for rows in self._group_rows]
                         for g in grads]
        S = len(self.sliding)
        nz = np.array([[bool(t) for t in row] for row in self._a_terms], dtype=bool).reshape(S, S)
        for p in range(S):
            for q in range(p + 1, S):
                if nz[q, p]:
                    nz[q, p:] |= nz[p, p:]
        self._nz = nz

    def __call__(self, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The Filippov field at the columns of ``X`` (state and clock rows, as the compiled
        right-hand side), written into ``out`` (N, m)."""
        N, m = out.shape
        Fd = self._rhs(X, out=self._bufs.get("fl_out", (self._n_out, m)))
        self.alpha = self._solve(Fd, m)
        np.copyto(out, Fd[:N])
        t = self._bufs.get("fl_t", (m,))
        for i, rows in enumerate(self._group_rows):
            for r, o in rows:
                np.multiply(self.alpha[i], Fd[o], out=t)
                np.add(out[r], t, out=out[r])
        return out

    def _dot(self, terms: Sequence[tuple[int, Any]], Fd: np.ndarray, into: np.ndarray) -> None:
        """``into = sum g Fd[o]`` over ``terms`` (pairs ``(o, g)``; an int ``g`` is the output
        row of a compiled gradient entry, anything else a constant)."""
        t = self._bufs.get("fl_t", (into.shape[0],))
        # an exact zero (a pool buffer never written): ``into - into`` kept the inf / NaN a
        # wild Newton iterate had left in the work buffers, and every later evaluation of the
        # field was NaN (measured: exp(x**2/2), 4-unit ReLU net, log t = 579, all steps refused)
        np.copyto(into, self._bufs.get("fl_zero", into.shape))
        for o, g in terms:
            np.multiply(Fd[o], Fd[g] if isinstance(g, int) else g, out=t)
            np.add(into, t, out=into)

    def _solve(self, Fd: np.ndarray, m: int) -> np.ndarray:
        """``alpha`` (a work buffer (|S|, m)) from ``A alpha = -b``, ``b_k = g_k . F0``,
        ``A_kl = g_k . dF/dp_l``, by Gaussian elimination column by column, over the structural
        nonzeros (no pivoting: within a unit ``A`` is a Gram matrix times a diagonal with the
        sign of ``a_j y_i``, so its pivots do not vanish; a sliding kink has ``A_kk < 0``)."""
        S, nz = len(self.sliding), self._nz
        M = self._bufs.get("fl_M", (S, S, m))
        r = self._bufs.get("fl_r", (S, m))
        for i in range(S):
            self._dot(self._b_terms[i], Fd, r[i])
            np.negative(r[i], out=r[i])
            for j in range(S):
                if nz[i, j]:
                    self._dot(self._a_terms[i][j], Fd, M[i, j])
        f, t = self._bufs.get("fl_fac", (m,)), self._bufs.get("fl_t2", (m,))
        for p in range(S):
            for q in range(p + 1, S):
                if not nz[q, p]:
                    continue
                np.divide(M[q, p], M[p, p], out=f)
                for c in range(p + 1, S):
                    if nz[p, c]:
                        np.multiply(f, M[p, c], out=t)
                        np.subtract(M[q, c], t, out=M[q, c])
                np.multiply(f, r[p], out=t)
                np.subtract(r[q], t, out=r[q])
        alpha = self._bufs.get("fl_alpha", (S, m))
        for p in reversed(range(S)):
            np.copyto(alpha[p], r[p])
            for c in range(p + 1, S):
                if nz[p, c]:
                    np.multiply(M[p, c], alpha[c], out=t)
                    np.subtract(alpha[p], t, out=alpha[p])
            np.divide(alpha[p], M[p, p], out=alpha[p])
        return alpha
