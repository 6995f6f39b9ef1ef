"""The heyoka expressions of a model carry no constant rounded to double precision.

heyoka folds an operation between two numbers (``number * number``, ``1 - number``) in the
numbers' own type, double for the literals the models are built from.  A leaky ReLU written
``slope z + (1 - slope) relu(z)`` had ``1 - slope`` rounded to 1e-17, and ``heyoka.diff`` of
``slope (x . w)`` folded ``slope x_c``: on a depth-3 leaky MLP the kink rates of the sliding
flow were off by 1e-17 relative, and a 30-digit run slid off its kink at that rate (Taylor
and Radau agreed to 18.5 digits, the balance law drifted by 4e-22; at 45 digits the same).

Expectation, independent of heyoka: the model evaluated in mpmath at 80 digits (the
``MPMATH`` backend), its θ-derivatives by mpmath's own numerical differentiation.  The
compiled values, in real128 (113 bits) and in MPFR at 200 bits, must agree to 1e-30 and
1e-55 relative.
"""

from __future__ import annotations

import heyoka as hy
import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import Problem, separable_gaussian
from numerics.problem import MPMATH
from numerics.solvers.precise import problem_system
from numerics.testing import mlp_models, two_layer_models
from theory import Potential

ACTIVATIONS = ("relu", "leaky_relu(0.2)", "leaky_relu(0.3)", "square_relu", "power(3)")
#: (heyoka fp_type, its keyword arguments, the agreement required)
TYPES = ((hy.real128, {}, 1e-30), (hy.real, {"prec": 200}, 1e-55))


def _models():
    return st.one_of(mlp_models(depth=(3, 4), width=(1, 3), activations=ACTIVATIONS),
                     two_layer_models(width=(1, 3), activations=ACTIVATIONS))


def _relative(a, b) -> float:
    scale = max(max(abs(v) for v in b), mpmath.mpf(1e-300))
    return float(max(abs(x - y) for x, y in zip(a, b, strict=True)) / scale)


def _compiled(outputs, variables, fp_type, kw, state):
    f = hy.cfunc(outputs, variables, fp_type=fp_type, **kw)
    return [mpmath.mpf(str(v)) for v in f(state)]


@settings(max_examples=12, deadline=None)
@given(model=_models(), seed=st.integers(0, 50), n=st.integers(2, 3), d=st.integers(2, 3),
       fp=st.sampled_from(TYPES))
def test_compiled_margins_and_kink_gradients_match_mpmath(model, seed, n, d, fp):
    fp_type, kw, tol = fp
    prob = Problem.create(separable_gaussian(n=n, d=d, seed=seed), model, Potential.quadratic(),
                          scale=0.8, seed=seed)
    sysm = problem_system(prob, state="primal")
    P = sysm.n_params
    variables = list(sysm.variables)
    theta = prob.theta0
    convert = (lambda v: hy.real(v, kw["prec"])) if fp_type is hy.real else hy.real128
    state = np.array([convert(float(v)) for v in theta] + [convert(0.0)])      # exact
    X_mp = MPMATH.asarray(prob.data.X)
    y = prob.data.y
    with mpmath.workdps(80):
        th = [mpmath.mpf(float(v)) for v in theta]
        margins = [yi * o for yi, o in zip(y, model.outputs(th, X_mp, MPMATH), strict=True)]
        got = _compiled(list(sysm.margins), variables, fp_type, kw, state)
        assert _relative(got, margins) < tol, model
        kinks = list(sysm.kinks)[: len(sysm.kinks) - sysm.n_potential_kinks]
        if not kinks:
            return
        ref = list(model.kinks(np.array(th, dtype=object), X_mp, MPMATH))
        assert _relative(_compiled(kinks, variables, fp_type, kw, state), ref) < tol, model
        grads = _compiled([hy.diff(z, v) for z in kinks for v in variables[:P]], variables,
                          fp_type, kw, state)
        for k in range(len(kinks)):
            for c in range(P):
                def z_of(x, k=k, c=c):
                    moved = list(th)
                    moved[c] = x
                    return model.kinks(np.array(moved, dtype=object), X_mp, MPMATH)[k]
                exact = mpmath.diff(z_of, th[c])     # z is polynomial in each weight
                assert abs(grads[k * P + c] - exact) <= tol * (1 + abs(exact)), (model, k, c)
