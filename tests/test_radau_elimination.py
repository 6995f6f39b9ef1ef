"""Nonlinear elimination of Radau IIA's fastest directions (``_radau_elimination``).

Expectations come from the linear algebra itself: for a residual that is affine in the stage
values, one elimination move must zero the residual's fast components ``U^T R`` (computed
here independently, with numpy on the assembled stage system), leave the move inside the fast
directions' span, and be found exactly when the Jacobian has a fast direction that float64
resolves.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_radau_extended_newton import closed_form_errors, twin_system

from numerics.solvers._precision import Precision
from numerics.solvers.precise import integrate_implicit
from numerics.solvers.precise._radau_elimination import FastDirections, settled
from numerics.solvers.precise._radau_tableau import RadauTableau


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@settings(max_examples=25, deadline=None)
@given(stages=st.sampled_from([3, 5, 9]), N=st.integers(3, 9),
       log_fast=st.floats(12.0, 60.0), h=st.floats(1e-4, 1e-1), seed=st.integers(0, 2**31))
def test_one_move_zeroes_the_fast_residual_of_an_affine_system(stages, N, log_fast, h, seed):
    rng = np.random.default_rng(seed)
    U, V = _orthogonal(rng, N), _orthogonal(rng, N)
    sigma = np.concatenate([[np.exp(log_fast) / h], rng.uniform(0.1, 2.0, N - 1)])
    J = U @ np.diag(sigma) @ V.T  # one fast direction, the rest O(1)
    A = np.array(RadauTableau.build(stages, 64).A, dtype=float)
    hA = h * A
    fast = FastDirections.of(J, hA)
    assert fast is not None and fast.V.shape == (N, 1)
    # R(Z) = R0 + (hA (x) J - I) vec(Z): the collocation residual of a linear flow
    big = np.kron(hA, J) - np.eye(stages * N)
    R0 = rng.standard_normal((stages, N)) * np.exp(log_fast / 2)
    dZ = fast.correction(R0)
    R1 = R0 + (big @ dZ.ravel()).reshape(stages, N)
    # the move lies in the fast span and zeroes the fast components
    inside = dZ - (dZ @ fast.V) @ fast.V.T
    assert np.max(np.abs(inside)) <= 1e-12 * np.max(np.abs(dZ)) + 1e-300
    before = np.max(np.abs(R0 @ fast.U))
    assert np.max(np.abs(R1 @ fast.U)) <= 1e-9 * before


def test_no_fast_direction_no_elimination():
    J = np.diag([-1.0, -3.0, 2.0])
    hA = 0.01 * np.array(RadauTableau.build(3, 64).A, dtype=float)
    assert FastDirections.of(J, hA) is None
    assert FastDirections.of(np.full((3, 3), np.inf), hA) is None


def test_directions_float64_cannot_resolve_are_left_to_newton():
    # two fast directions 1e20 apart: the smaller is below 1e-12 of the larger, so only the
    # larger is eliminated (float64 singular vectors of the smaller would be noise)
    rng = np.random.default_rng(0)
    U, V = _orthogonal(rng, 4), _orthogonal(rng, 4)
    J = U @ np.diag([1e40, 1e20, 1.0, 0.5]) @ V.T
    fast = FastDirections.of(J, np.array([[0.5]]))
    assert fast is not None and fast.V.shape == (4, 1)
    assert abs(abs(float(fast.V[:, 0] @ V[:, 0])) - 1) < 1e-12


def test_settled_rule():
    assert not settled([1e5])
    assert settled([1e5, 1e-13])                # converged
    assert settled([1.0, 0.6])                  # not halving
    assert settled([float("nan")])              # not finite
    assert settled([10.0 ** -k for k in range(12)])  # the cap


def test_elimination_keeps_the_twin_toy_on_its_closed_form():
    # the exact-twin toy of tests/test_radau_extended_newton.py (K = 1e25, 384 bits): with
    # elimination on, its ball-arithmetic Newton corrections are preceded by moves along the
    # fast direction u - v, and the run still reaches log t = 20 within 1e-30 of the closed form
    run = integrate_implicit(twin_system(1e25), [0.25, 0.25], 20.0, dps=30,
                             precision=Precision.of_type("real", 384), tol=1e-32,
                             eliminate_fast=True)
    assert run.status == "reached", run.stats.get("reason")
    assert run.stats["extended_solves"] > 0 and run.stats["fast_eliminations"] > 0
    twins, theta, logt = closed_form_errors(run)
    assert twins <= 1e-30 and theta <= 1e-30 and logt <= 1e-30
