"""The heyoka expressions of a model carry no constant rounded to double precision.

heyoka folds an operation between two numbers (``number * number``, ``1 - number``) in the
numbers' own type, double for the literals the models are built from.  A leaky ReLU written
``slope z + (1 - slope) relu(z)`` had ``1 - slope`` rounded to 1e-17, and ``heyoka.diff`` of
``slope (x . w)`` folded ``slope x_c``: on a depth-3 leaky MLP the kink rates of the sliding
flow were off by 1e-17 relative, and a 30-digit run slid off its kink at that rate (Taylor
and Radau agreed to 18.5 digits, the balance law drifted by 4e-22; at 45 digits the same).

Expectation, independent of heyoka: the model evaluated in mpmath at 50 digits (the
``MPMATH`` backend), its θ-derivatives by mpmath's own numerical differentiation.  The
compiled values are real128 (113 bits): they must agree to 1e-30 relative.
"""

from __future__ import annotations

import heyoka as hy
import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import MLP, Problem, TwoLayer, separable_gaussian
from numerics.problem import MPMATH
from numerics.solvers.precise import problem_system
from theory import Potential

ACTIVATIONS = ("relu", "leaky_relu(0.2)", "leaky_relu(0.3)", "square_relu", "power(3)")
TOL = 1e-30


def _models():
    return st.one_of(
        st.builds(lambda w, a: MLP(widths=w, activation=a),
                  st.tuples(st.integers(1, 3), st.integers(1, 3)), st.sampled_from(ACTIVATIONS)),
        st.builds(lambda m, a: TwoLayer(width=m, activation=a), st.integers(1, 3),
                  st.sampled_from(ACTIVATIONS)))


def _relative(a, b) -> float:
    scale = max(max(abs(v) for v in b), mpmath.mpf(1e-300))
    return float(max(abs(x - y) for x, y in zip(a, b, strict=True)) / scale)


@settings(max_examples=12, deadline=None)
@given(model=_models(), seed=st.integers(0, 50), n=st.integers(2, 3), d=st.integers(2, 3))
def test_compiled_margins_and_kink_gradients_match_mpmath(model, seed, n, d):
    prob = Problem.create(separable_gaussian(n=n, d=d, seed=seed), model, Potential.quadratic(),
                          scale=0.8, seed=seed)
    sysm = problem_system(prob, state="primal")
    P = sysm.n_params
    variables = list(sysm.variables)
    theta = prob.theta0
    state = np.array([hy.real128(float(v)) for v in theta] + [hy.real128(0)])  # exact
    X_mp = MPMATH.asarray(prob.data.X)
    y = prob.data.y

    def margins_mp(th):
        return [yi * o for yi, o in zip(y, model.outputs(th, X_mp, MPMATH), strict=True)]

    with mpmath.workdps(50):
        th = [mpmath.mpf(float(v)) for v in theta]
        f_margins = hy.cfunc(list(sysm.margins), variables, fp_type=hy.real128)
        got = [mpmath.mpf(repr(v)) for v in f_margins(state)]
        assert _relative(got, margins_mp(th)) < TOL, model
        n_relu = len(sysm.kinks) - sysm.n_potential_kinks if hasattr(
            sysm, "n_potential_kinks") else len(sysm.kinks)
        kinks = list(sysm.kinks)[:n_relu]
        if not kinks:
            return
        f_kinks = hy.cfunc(kinks, variables, fp_type=hy.real128)
        f_grads = hy.cfunc([hy.diff(z, v) for z in kinks for v in variables[:P]], variables,
                           fp_type=hy.real128)
        ref_kinks = list(model.kinks(np.array(th, dtype=object), X_mp, MPMATH))
        assert _relative([mpmath.mpf(repr(v)) for v in f_kinks(state)], ref_kinks) < TOL, model
        grads = [mpmath.mpf(repr(v)) for v in f_grads(state)]
        for k in range(len(kinks)):
            for c in range(P):
                def z_of(x, k=k, c=c):
                    moved = list(th)
                    moved[c] = x
                    return model.kinks(np.array(moved, dtype=object), X_mp, MPMATH)[k]
                ref = mpmath.diff(z_of, th[c])        # z is polynomial in each weight
                assert abs(grads[k * P + c] - ref) <= TOL * (1 + abs(ref)), (model, k, c)
