"""A model's claim that its force jumps at its kinks matches its equations.

The precise path reads whether the force jumps across a ReLU kink (ReLU, leaky ReLU: the flow
can slide, THEORY.md §7.2) from the activation (``Activation.derivative_jumps``): reading it
from the equations, by substituting ``relup(z_k) -> 0`` with heyoka, took 124 s on a 3/3/3
ReLU MLP.  The expectation here is that substitution, done on small nets where it is cheap.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import Diagonal, Linear, Problem, separable_gaussian
from numerics.solvers.precise import problem_system
from numerics.solvers.precise._system_exprs import force_jumps
from numerics.testing import mlp_models, two_layer_models
from theory import Potential

ACTIVATIONS = ("relu", "leaky_relu(0.2)", "square_relu", "power(2)", "power(3)")


def _models():
    return st.one_of(mlp_models(depth=(3, 3), width=(1, 2), activations=ACTIVATIONS),
                     two_layer_models(width=(1, 3), activations=ACTIVATIONS),
                     st.sampled_from([Linear(), Diagonal(depth=2), Diagonal(depth=3)]))


@settings(max_examples=15, deadline=None)
@given(model=_models(), seed=st.integers(0, 50), vjp=st.booleans())
def test_the_model_says_what_the_equations_show(model, seed, vjp):
    prob = Problem.create(separable_gaussian(n=2, d=2, seed=seed), model, Potential.quadratic(),
                          scale=0.8, seed=seed)
    sysm = problem_system(prob, vjp=vjp)
    kinks = list(sysm.kinks)[: len(sysm.kinks) - sysm.n_potential_kinks]
    from_equations = force_jumps([r for _, r in sysm.equations], kinks)
    assert sysm.jumps is not None
    assert sysm.force_jumps == from_equations, (model, sysm.jumps)
