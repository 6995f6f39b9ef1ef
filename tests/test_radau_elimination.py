"""Nonlinear elimination of Radau IIA's fast directions (``_radau_elimination``).

Expectations come from the linear algebra itself: the scaled Jacobians are built in ball
arithmetic from singular vectors orthonormal at 400 bits and chosen singular values, so the
fast directions and the residual's components along them are known exactly; for a residual
affine in the stage values, the elimination moves must zero those components.
"""

from __future__ import annotations

import math

import flint
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_radau_extended_newton import closed_form_errors, twin_system

from numerics.solvers._precision import Precision
from numerics.solvers.precise import integrate_implicit
from numerics.solvers.precise._radau_elimination import (
    FastDirections,
    graded_directions,
    settled,
)
from numerics.solvers.precise._radau_tableau import RadauTableau

PREC = 400


def _orthonormal(rng: np.random.Generator, n: int) -> flint.arb_mat:
    """An (n, n) matrix orthonormal at :data:`PREC` bits (Gram-Schmidt in ball arithmetic)."""
    cols: list[flint.arb_mat] = []
    for _ in range(n):
        w = flint.arb_mat(n, 1, [flint.arb(float(x)) for x in rng.standard_normal(n)])
        for _ in range(2):
            for c in cols:
                w = w - c * (c.transpose() * w)[0, 0]
        cols.append((w * (1 / (w.transpose() * w)[0, 0].sqrt())).mid())
    return flint.arb_mat(n, n, [cols[j][i, 0] for i in range(n) for j in range(n)])


def _graded_jacobian(rng, N, log_sigmas):
    """``U diag(sigma) V^T`` with ``sigma = exp(log_sigmas)`` then O(1) values."""
    U, V = _orthonormal(rng, N), _orthonormal(rng, N)
    sig = [flint.arb(x).exp() for x in log_sigmas]
    sig += [flint.arb(float(x)) for x in rng.uniform(0.1, 2.0, N - len(sig))]
    S = flint.arb_mat(N, N, [sig[i] if i == j else 0 for i in range(N) for j in range(N)])
    return (U * S * V.transpose()).mid(), U, V


def _column(M, j):
    return flint.arb_mat(M.nrows(), 1, [M[i, j] for i in range(M.nrows())])


def _spectra():
    """Up to three fast log singular values, ``e^20`` to ``e^100``, 5 to 45 apart."""
    return st.tuples(st.floats(20.0, 100.0), st.lists(st.floats(5.0, 45.0), max_size=2)).map(
        lambda tg: [tg[0] - sum(tg[1][:i]) for i in range(len(tg[1]) + 1)])


@settings(max_examples=50, deadline=None)
@given(N=st.integers(3, 7), log_sigmas=_spectra(), seed=st.integers(0, 2**31))
def test_graded_directions_resolve_every_fast_direction(N, log_sigmas, seed):
    # every direction above the threshold is found however far below the largest it lies
    # (one float64 SVD resolves only values within 1e12 of its largest), each along its true
    # singular vector up to the float64 error of the faster direction deflated before it
    # (its leftover, ~2^-52 sigma_(a-1), mixes into direction a: an angle ~2^-52
    # e^(l_(a-1) - l_a); measured 4.7e-5 at l = 75, 47.5, N = 4, seed 0); the vectors are
    # orthonormal at the working precision, which is what the elimination needs
    log_sigmas = [x for x in log_sigmas if x > 12.0][:N - 1]
    rng = np.random.default_rng(seed)
    with flint.ctx.workprec(PREC):
        J, _, Vt = _graded_jacobian(rng, N, log_sigmas)
        U, V, logs = graded_directions(J, 10.0)
        assert len(V) == len(log_sigmas)
        for a, (va, la) in enumerate(zip(V, log_sigmas, strict=True)):
            assert abs(logs[a] - la) < 1e-4
            angle = 0.0 if a == 0 else 16 * 2.0**-52 * math.exp(log_sigmas[a - 1] - la)
            cos = abs(float((va.transpose() * _column(Vt, a))[0, 0].mid()))
            assert 1 - cos < 1e-9 + angle**2 / 2, (a, 1 - cos, angle)
            for b in range(a + 1):
                for W in (U, V):
                    dot = float((W[a].transpose() * W[b])[0, 0].mid())
                    assert abs(dot - (a == b)) < 1e-100


@settings(max_examples=50, deadline=None)
@given(stages=st.sampled_from([3, 5]), N=st.integers(3, 7), log_sigmas=_spectra(),
       h=st.floats(1e-4, 1e-1), seed=st.integers(0, 2**31))
def test_moves_zero_the_fast_residual_of_an_affine_system(stages, N, log_sigmas, h, seed):
    # R(Z) = R0 + (hA (x) J - I) vec(Z): the collocation residual of a linear flow, in ball
    # arithmetic; its components along the true fast left vectors must vanish after the
    # moves (three, as an elimination's refinement), and the moves stay in the fast span
    rng = np.random.default_rng(seed)
    log_sigmas = [x - math.log(h) for x in log_sigmas if x > 12.0][:N - 1]
    A = np.array(RadauTableau.build(stages, 64).A, dtype=float)
    hA = h * A
    with flint.ctx.workprec(PREC):
        J, Ut, _ = _graded_jacobian(rng, N, log_sigmas)
        fast = FastDirections.of(J, hA, PREC)
        assert fast is not None and len(fast.log_sigma) == len(log_sigmas)
        big = flint.arb_mat(stages * N, stages * N, [
            flint.arb(hA[i, j]) * J[r, c] - (1 if (i, r) == (j, c) else 0)
            for i in range(stages) for r in range(N) for j in range(stages) for c in range(N)])
        R = flint.arb_mat(stages, N, [flint.arb(float(x)) for x in
                                      rng.standard_normal(stages * N) * 1e20])
        before = [max(abs(float((R * _column(Ut, a))[i, 0].mid())) for i in range(stages))
                  for a in range(len(log_sigmas))]
        for _ in range(3):
            _, move = fast.correction(R)
            vec = flint.arb_mat(stages * N, 1, [move[i, c] for i in range(stages)
                                                for c in range(N)])
            dR = big * vec
            R = (R + flint.arb_mat(stages, N, [dR[q, 0] for q in range(stages * N)])).mid()
        for a in range(len(log_sigmas)):
            after = max(abs(float((R * _column(Ut, a))[i, 0].mid())) for i in range(stages))
            assert after <= 1e-12 * max(before), (a, after, before)


def test_no_fast_direction_no_elimination():
    J = np.diag([-1.0, -3.0, 2.0])
    hA = 0.01 * np.array(RadauTableau.build(3, 64).A, dtype=float)
    assert FastDirections.of(J, hA) is None
    assert FastDirections.of(np.full((3, 3), np.inf), hA) is None
    with flint.ctx.workprec(PREC):  # a non-finite MPFR Jacobian (an overflowed difference)
        bad = flint.arb_mat([[flint.arb("nan"), 1e40], [1e40, -1e40]])
    assert FastDirections.of(bad, hA, PREC) is None


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


def test_models_without_units_run_without_elimination():
    """exp(x²/2) on diagonal(2), the coverage cell: with nonlinear elimination on (the default
    of session 14) the run raised its bits to 960 and spent 400 s to log t = 627; without it
    the run reaches log t = 1e3 in ~10 s.  There are no units to merge on such a model (the
    fast directions eliminated are twin units' weight differences, THEORY.md §7.3), so
    ``solve_mirror_flow`` turns it off.  Expected: the 30-digit run reaches, and agrees with
    the same run at 38 digits (the certificate, an independent higher-precision run) to 30
    digits."""
    from numerics.problem import parse_problem
    from numerics.solvers import solve_mirror_flow

    prob = parse_problem({"model": {"kind": "diagonal", "depth": 2}, "potential": "exp(x**2/2)",
                          "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0},
                          "init": {"scale": 0.5, "seed": 0}})
    sol = solve_mirror_flow(prob, log_t=700, dps=30, method="radau", max_seconds=120)
    assert sol.status == "reached", sol.message
    assert sol.meta["solver"]["fast_eliminations"] == 0
    assert min(sol.meta["digits"].values()) >= 30, sol.meta["digits"]
