"""Balance law (THEORY.md §2): conservation checked symbolically along mirror flow."""
import pytest
import sympy as sp

from theory import PerLayer, Potential, balance_law


def _flow_derivative(law, loss, potentials):
    """dC/dt along mirror flow θ_m' = -∂_m ℒ / f_m''(θ_m), by sympy's chain rule."""
    out = []
    for q in law.quantities:
        total = 0
        for m in q.incoming + q.outgoing:
            th = law.params[m]
            pot = potentials(m)
            f2 = pot.bind(pot.hessian.expr).subs(sp.Symbol("x", real=True), th)
            total += sp.diff(q.expr, th) * (-sp.diff(loss, th) / f2)
        out.append(sp.simplify(total))
    return out


@pytest.mark.parametrize("k", [1, 2, 3])
def test_conserved_for_polynomial_activation(k):
    # Φ = Σ_j a_j (w_j·x)^k: k-homogeneous activation; exp loss on one symbolic point
    law = balance_law((2, 2), k=k, potential=Potential.hyperbolic_entropy(0.5))
    W, a = law.params[:4], law.params[4:]
    x1, x2, y = sp.symbols("x1 x2 y", real=True)
    phi = sum(a[j] * (W[2 * j] * x1 + W[2 * j + 1] * x2) ** k for j in range(2))
    pot = Potential.hyperbolic_entropy(0.5)
    assert _flow_derivative(law, sp.exp(-y * phi), lambda m: pot) == [0, 0]


def test_per_layer_potentials_and_deep_net():
    pl = PerLayer((Potential.quadratic(), Potential.cosh(), Potential.quadratic()))
    law = balance_law((1, 2, 1), k=1, potential=pl)
    p = law.params        # W1 (2x1), W2 (1x2), W3 (1x1)
    x, y = sp.symbols("x y", real=True)
    h1 = [p[0] * x, p[1] * x]       # linear activation (k = 1) keeps the test polynomial
    h2 = p[2] * h1[0] + p[3] * h1[1]
    phi = p[4] * h2
    layer_of = {0: 0, 1: 0, 2: 1, 3: 1, 4: 2}
    assert _flow_derivative(law, sp.exp(-y * phi), lambda m: pl.for_layer(layer_of[m])) \
        == [0, 0, 0]


def test_gradient_flow_is_du_hu_lee():
    law = balance_law((3, 1), k=1)
    w = law.params[:3]
    a = law.params[3]
    assert sp.simplify(law.quantities[0].expr - (sum(v**2 for v in w) / 2 - a**2 / 2)) == 0


def test_balance_law_errors():
    with pytest.raises(ValueError, match="widths"):
        balance_law((3,), k=1)
    with pytest.raises(ValueError, match="k"):
        balance_law((3, 2), k=0)
