"""From a :class:`~numerics.Problem` to a heyoka :class:`MirrorFlowSystem`.

* every scalar potential is handed over as its *derived* sympy objects (``f'``, ``f''`` and the
  verified inverse mirror map of :class:`theory.Potential`) -- nothing is re-derived here;
* the model's forward pass and gradient are evaluated on heyoka expressions
  (:data:`numerics.HEYOKA` backend), its ReLU pre-activations become kink events;
* two-layer nets use a hand-written vector-Jacobian product that shares the forward pass.
"""

from __future__ import annotations

from typing import Any, Literal

import heyoka as hy
import numpy as np
import sympy as sp

from theory import Potential

from ...problem import HEYOKA, Problem, SquareReLU, TwoLayer
from .._plan import choose_state, force_jumps
from ._system import ScalarPotential, build_mirror_flow_system

__all__ = ["problem_system", "scalar_potential"]

_X = sp.Symbol("x", real=True)


def scalar_potential(pot: Potential) -> Any:
    """The Taylor core's :class:`~numerics.solvers.precise.ScalarPotential` of a theory potential.

    Examples
    --------
    >>> sp_ = scalar_potential(Potential.hyperbolic_entropy(0.1))
    >>> sp_.fprime, sp_.inverse
    (asinh(10*x), sinh(x)/10)
    """
    x = [s for s in pot.mirror_map.expr.free_symbols if s.name == "x"]
    xsym = x[0] if x else _X

    def bound(expr: sp.Expr | None, var: sp.Symbol) -> sp.Expr | None:
        if expr is None:
            return None
        return sp.sympify(pot.bind(expr)).xreplace({var: _X})

    zsym = [s for s in (pot.inverse_mirror_map.expr or sp.S(0)).free_symbols if s.name == "z"]
    inverse = bound(pot.inverse_mirror_map.expr, zsym[0]) if zsym else None
    if inverse is not None and not pot.stable_inverse:
        inverse = None
    return ScalarPotential(_X, bound(pot.mirror_map.expr, xsym),
                           bound(pot.hessian.expr, xsym), inverse, pot.name or str(pot.expr))


def problem_system(problem: Problem, *, state: Literal["auto", "dual", "primal"] = "auto",
                   clock: Literal["s", "log_s"] = "s", vjp: bool = True) -> Any:
    """Build the heyoka mirror-flow system of a problem (THEORY.md §1, §7).

    ``state="auto"`` integrates the dual variable when every potential has a well-conditioned
    closed-form inverse mirror map, the primal variable otherwise. With ``vjp=True`` two-layer
    nets use a hand-written vector-Jacobian product that shares the forward pass (measured
    18.1 -> 13.5 ms per Taylor step on m = n = 8, d = 4); other models build the full
    Jacobian of the margins.

    Examples
    --------
    >>> from numerics import Linear, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> sysm = problem_system(prob)
    >>> sysm.state, sysm.n_params, len(sysm.margins)
    ('dual', 2, 6)
    """
    X = np.asarray(problem.data.X, dtype=float)
    y = np.asarray(problem.data.y, dtype=float)
    model = problem.model
    layers = problem.layer_index
    by_layer = {int(k): scalar_potential(problem.potential_of_layer(int(k)))
                for k in sorted(set(layers.tolist()))}
    pots = [by_layer[int(k)] for k in layers]
    state = choose_state(problem, state)

    if isinstance(model, TwoLayer) and vjp:
        margins_fn = _two_layer_margins(model, X, y)
        if not np.all(np.abs(y) == 1):
            raise ValueError("labels must be +1 or -1 for the arbitrary-precision path")
        return build_mirror_flow_system(margins_fn, problem.n_params, pots, state=state,
                                        clock=clock, jumps=force_jumps(model))

    def margins(theta: np.ndarray) -> tuple[Any, Any, Any]:
        out, grads, kinks = model.outputs_grads_and_kinks(theta, X, HEYOKA)
        q = np.array([yi * oi if yi == 1 else -oi for yi, oi in zip(y, out, strict=True)],
                     dtype=object)
        G = np.array([[g if yi == 1 else -g for g in row] for yi, row in
                      zip(y, np.asarray(grads), strict=True)], dtype=object)
        return q, G, list(kinks)

    if not np.all(np.abs(y) == 1):
        raise ValueError("labels must be +1 or -1 for the arbitrary-precision path")
    return build_mirror_flow_system(margins, problem.n_params, pots, state=state, clock=clock,
                                    jumps=force_jumps(model))


def _two_layer_margins(model: TwoLayer, X: np.ndarray, y: np.ndarray) -> Any:
    """Margins ``q_i = y_i sum_j a_j sigma(w_j . x_i)`` with a vector-Jacobian product.

    With ``S_jk = sum_i v_i sigma'(h_ij) X_ik`` (``v_i = y_i w_i``) the force is
    ``F_W_jk = a_j S_jk`` and, by Euler's identity ``h sigma'(h) = k sigma(h)`` for a
    k-homogeneous activation, ``F_a_j = sum_i v_i sigma(h_ij) = (1/k) sum_k W_jk S_jk``
    (used when 1/k is exact in binary; otherwise the direct sum).
    """
    n, d = X.shape
    m, act = model.width, model.activation
    k = int(act.degree)
    euler = k & (k - 1) == 0
    square = isinstance(act, SquareReLU)

    def margins(theta: np.ndarray) -> tuple[Any, Any, Any]:
        W, a = theta[: m * d].reshape(m, d), theta[m * d:]
        h = np.array([[hy.sum([float(X[i, c]) * W[j, c] for c in range(d)]) for j in range(m)]
                      for i in range(n)], dtype=object)
        if square:
            # relu(h)**2 and its derivative share r = relu(h): sigma' = 2 r, and the factor 2
            # moves to the W-force; heyoka's square costs half a product.
            r = np.array([[hy.relu(hij) for hij in row] for row in h], dtype=object)
            sig = np.array([[rij**2 for rij in row] for row in r], dtype=object)
            dsig, scale = r, 2.0
        else:
            sig = act.value(h, HEYOKA)
            dsig, scale = act.derivative(h, HEYOKA), 1.0
        sums = [hy.sum([a[j] * sig[i, j] for j in range(m)]) for i in range(n)]
        q = [sm if y[i] > 0 else -sm for i, sm in enumerate(sums)]

        def vjp(w: list[Any]) -> list[Any]:
            v = [wi if y[i] > 0 else -wi for i, wi in enumerate(w)]
            S = [[hy.sum([float(X[i, c]) * (v[i] * dsig[i, j]) for i in range(n)])
                  for c in range(d)] for j in range(m)]
            aw = [a[j] * scale for j in range(m)] if square else list(a)
            fw = [aw[j] * S[j][c] for j in range(m) for c in range(d)]
            if square:  # sum_c W_jc S_jc = sum_i v_i r_ij h_ij = sum_i v_i r_ij**2
                fa = [hy.sum([W[j, c] * S[j][c] for c in range(d)]) for j in range(m)]
            elif euler:
                fa = [hy.sum([W[j, c] * S[j][c] for c in range(d)]) * (1.0 / k)
                      for j in range(m)]
            else:
                fa = [hy.sum([v[i] * sig[i, j] for i in range(n)]) for j in range(m)]
            return fw + fa

        kinks = [] if act.smooth else [hij for row in h for hij in row]
        return np.array(q, dtype=object), vjp, kinks

    return margins
