"""Per-neuron balance laws of mirror flow (THEORY.md §2, [derived]).

Neuron j with incoming parameters I_j, outgoing O_j and a k-homogeneous activation: the loss
is invariant under θ_I -> cθ_I, θ_O -> c^{-k}θ_O, hence <θ_I, ∇_I ℒ> = k <θ_O, ∇_O ℒ>, and with
g = x f' - f (so d/dt g(θ_m) = -θ_m ∂_m ℒ under mirror flow),

    C_j = Σ_{m in I_j} g(θ_m) - k Σ_{m in O_j} g(θ_m)   is constant.

Gradient flow (g = x²/2, k = 1) recovers Du, Hu & Lee (2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from ._potential import PerLayer, Potential, X

__all__ = ["BalanceLaw", "BalanceQuantity", "balance_law"]


@dataclass(frozen=True)
class BalanceQuantity:
    """C_j for hidden neuron ``neuron`` of hidden layer ``layer`` (1-based, as in W_1 x)."""

    layer: int
    neuron: int
    incoming: tuple[int, ...]
    outgoing: tuple[int, ...]
    expr: sp.Expr


@dataclass(frozen=True)
class BalanceLaw:
    """The conserved quantities of a bias-free MLP d -> h_1 -> ... -> h_{D-1} -> 1.

    ``params`` lists the parameter symbols in the flat order used everywhere in mirrorflow:
    layer by layer, each weight matrix row by row (out x in); for two layers that is W
    (m x d) row by row, then a (m). ``incoming``/``outgoing`` are indices into ``params``.
    """

    widths: tuple[int, ...]
    k: int
    params: tuple[sp.Symbol, ...]
    quantities: tuple[BalanceQuantity, ...]

    def layer_sums(self) -> dict[int, sp.Expr]:
        """Σ_j C_j per hidden layer (also conserved)."""
        out: dict[int, sp.Expr] = {}
        for q in self.quantities:
            out[q.layer] = out.get(q.layer, sp.S.Zero) + q.expr
        return out


def balance_law(widths: Sequence[int], k: int = 1,
                potential: Potential | PerLayer | None = None) -> BalanceLaw:
    """Conserved quantities C_j as sympy expressions in the parameters.

    Parameters
    ----------
    widths
        (d, h_1, ..., h_{D-1}): input dimension and hidden widths; the output is scalar.
        A two-layer net Σ_j a_j σ(w_j·x) has ``widths=(d, m)``.
    k
        Homogeneity degree of the activation (ReLU, leaky ReLU: 1; square ReLU: 2).
    potential
        A :class:`Potential` for all layers or a :class:`PerLayer` (one per weight layer);
        default: gradient flow (x²/2).

    Examples
    --------
    >>> law = balance_law((2, 1), k=1)
    >>> law.params
    (W1_0_0, W1_0_1, W2_0_0)
    >>> law.quantities[0].expr
    W1_0_0**2/2 + W1_0_1**2/2 - W2_0_0**2/2
    """
    widths = tuple(widths)
    if len(widths) < 2 or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ValueError(f"widths must be (d, h_1, ..., h_(D-1)) with positive integers and at "
                         f"least one hidden layer, got {widths!r}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (activation homogeneity) must be a positive integer, got {k!r}")
    potential = potential or Potential.quadratic()
    dims = (*widths, 1)
    n_layers = len(dims) - 1

    def g_of(layer: int) -> sp.Expr:
        pot = potential.for_layer(layer) if isinstance(potential, PerLayer) else potential
        return pot.bind(pot.balance_function.expr)

    params: list[sp.Symbol] = []
    index: list[dict[tuple[int, int], int]] = []
    for layer in range(n_layers):
        rows, cols = dims[layer + 1], dims[layer]
        index.append({})
        for r in range(rows):
            for c in range(cols):
                index[layer][(r, c)] = len(params)
                params.append(sp.Symbol(f"W{layer + 1}_{r}_{c}", real=True))
    quantities = []
    for layer in range(1, n_layers):
        g_in, g_out = g_of(layer - 1), g_of(layer)
        for j in range(dims[layer]):
            inc = tuple(index[layer - 1][(j, c)] for c in range(dims[layer - 1]))
            out = tuple(index[layer][(r, j)] for r in range(dims[layer + 1]))
            expr = (sp.Add(*[g_in.subs(X, params[m]) for m in inc])
                    - k * sp.Add(*[g_out.subs(X, params[m]) for m in out]))
            quantities.append(BalanceQuantity(layer, j, inc, out, expr))
    return BalanceLaw(widths, k, tuple(params), tuple(quantities))
