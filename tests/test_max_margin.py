"""Tests for theory._max_margin: min ||beta||_p s.t. y_i <x_i, beta> >= 1 (THEORY.md §4).

Every expected value comes from a closed form, a brute-force enumeration, a differently
formulated program (the dual LP), a search over the unit sphere, or weak duality; never from the
code under test.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from theory._max_margin import MaxMarginResult, max_margin

INF = math.inf
NORMS = [1.0, 1.5, 2.0, 3.0, INF]


def conj(p: float) -> float:
    return INF if p == 1 else (1.0 if p == INF else p / (p - 1))


def lp_norm(v, p: float) -> float:
    return float(np.linalg.norm(np.asarray(v, dtype=float), ord=p))


def separable(seed: int, n: int, d: int, delta: float):
    """Random data with |<x_i, b>| >= delta for a unit l_2 vector b, labelled by sign."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(d)
    b /= np.linalg.norm(b)
    X = rng.standard_normal((n, d))
    s = X @ b
    push = np.where(np.abs(s) < delta, np.where(s >= 0, 1.0, -1.0) * delta - s, 0.0)
    X = X + push[:, None] * b
    y = np.where(X @ b >= 0, 1.0, -1.0)
    return X, y, b


# ---------------------------------------------------------------- closed forms


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, 7.0, INF])
@pytest.mark.parametrize("label", [1, -1])
def test_single_point_is_the_dual_norm_maximiser(p, label):
    x = np.array([3.0, -1.0, 2.0])
    q = conj(p)
    if p == 1:  # e_k at the largest |x_k|, times its sign
        expected = np.array([1.0, 0.0, 0.0])
    elif p == INF:
        expected = np.sign(x)
    else:  # Hoelder equality case
        expected = np.sign(x) * np.abs(x) ** (q - 1) / lp_norm(x, q) ** (q - 1)
    r = max_margin([label * x], [label], p)
    assert isinstance(r, MaxMarginResult)
    np.testing.assert_allclose(r.direction, expected, atol=1e-9)
    assert r.margin == pytest.approx(lp_norm(x, q), rel=1e-9)
    assert r.norm == p
    assert list(r.support) == [0]


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("d", [1, 2, 5])
def test_orthant_closed_form(p, d):
    # y_i = +1 on e_1..e_d forces beta >= 1 componentwise; the optimum is beta = (1, ..., 1),
    # margin d^(-1/p), dual lam_k = d^(-1/q). The extra point 3*(1,..,1) is never active.
    X = np.vstack([np.eye(d), 3.0 * np.ones(d)])
    r = max_margin(X, np.ones(d + 1), p)
    inv_p = 0.0 if p == INF else 1.0 / p
    np.testing.assert_allclose(r.direction, d**-inv_p * np.ones(d), rtol=1e-8)
    assert r.margin == pytest.approx(d**-inv_p, rel=1e-9)
    assert list(r.support) == list(range(d))
    assert r.dual.sum() == pytest.approx(d**inv_p, rel=1e-9)  # dual value = 1 / margin
    assert r.dual[-1] == pytest.approx(0.0, abs=1e-12)  # complementary slackness
    if p != INF:  # the dual is unique unless q = 1
        np.testing.assert_allclose(r.dual[:d], d ** (inv_p - 1.0), rtol=1e-8)


@pytest.mark.parametrize("p", [1.0, 1.2, 2.0, 4.0, INF])
def test_symmetric_pair(p):
    # 2 b1 + b2 >= 1 and -2 b1 + b2 >= 1 give b2 >= 1 + 2|b1|: beta = (0, 1) for every p.
    r = max_margin([[2.0, 1.0], [-2.0, 1.0]], [1, 1], p)
    np.testing.assert_allclose(r.direction, [0.0, 1.0], atol=1e-9)
    assert r.margin == pytest.approx(1.0, rel=1e-9)
    assert list(r.support) == [0, 1]


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, INF])
def test_homogeneity(p):
    # scaling the data by c scales the margin by c and leaves the direction unchanged
    X, y, _ = separable(3, 12, 3, 0.2)
    r1, r2 = max_margin(X, y, p), max_margin(7.5 * X, y, p)
    assert r2.margin == pytest.approx(7.5 * r1.margin, rel=1e-9)
    if p in (1.5, 2.0):  # unique optimum for strictly convex norms
        np.testing.assert_allclose(r2.direction, r1.direction, atol=1e-8)


def test_norm_spellings():
    X, y, _ = separable(0, 10, 3, 0.2)
    for name, p in [
        ("l1", 1.0),
        ("L2", 2.0),
        ("linf", INF),
        ("l_inf", INF),
        ("inf", INF),
        ("l3", 3.0),
        (2, 2.0),
        (np.float64(1.5), 1.5),
    ]:
        r = max_margin(X, y, name)
        assert r.norm == p
        assert r.margin == pytest.approx(max_margin(X, y, p).margin, rel=1e-12)


def test_result_is_frozen():
    r = max_margin(np.eye(2), [1, 1], 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.margin = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.certificate.duality_gap = 0.0
    with pytest.raises(ValueError):
        r.direction[0] = 5.0


# ---------------------------------------------------------------- independent solves


def l2_by_supports(A: np.ndarray) -> float:
    """min ||beta||_2 by brute force: the optimum is the least-norm solution of A_S beta = 1
    for some linearly independent active set S with |S| <= d."""
    n, d = A.shape
    best = INF
    for k in range(1, d + 1):
        for S in itertools.combinations(range(n), k):
            AS = A[list(S)]
            if np.linalg.matrix_rank(AS) < k:
                continue
            beta = AS.T @ np.linalg.solve(AS @ AS.T, np.ones(k))
            if np.all(A @ beta >= 1 - 1e-10):
                best = min(best, float(np.linalg.norm(beta)))
    return best


def lp_by_vertices(A: np.ndarray, p: float) -> float:
    """min ||beta||_p, p in {1, inf}, by enumerating the vertices of the lifted LP."""
    n, d = A.shape
    eye, z = np.eye(d), np.zeros((n, 1 if p == INF else d))
    if p == INF:  # z = (beta, t): A beta >= 1, t - beta_k >= 0, t + beta_k >= 0; min t
        G = np.vstack(
            [
                np.hstack([A, z]),
                np.hstack([-eye, np.ones((d, 1))]),
                np.hstack([eye, np.ones((d, 1))]),
            ]
        )
        c = np.r_[np.zeros(d), 1.0]
    else:  # z = (beta, s): A beta >= 1, s_k - beta_k >= 0, s_k + beta_k >= 0; min sum(s)
        G = np.vstack([np.hstack([A, z]), np.hstack([-eye, eye]), np.hstack([eye, eye])])
        c = np.r_[np.zeros(d), np.ones(d)]
    h = np.r_[np.ones(n), np.zeros(2 * d)]
    m = G.shape[1]
    best = INF
    for S in itertools.combinations(range(G.shape[0]), m):
        GS = G[list(S)]
        if abs(np.linalg.det(GS)) < 1e-12:
            continue
        zz = np.linalg.solve(GS, h[list(S)])
        if np.all(G @ zz >= h - 1e-10):
            best = min(best, float(c @ zz))
    return best


def dual_lp_value(A: np.ndarray, p: float) -> float:
    """max sum(lam) s.t. ||A^T lam||_q <= 1, lam >= 0, solved as its own LP (p in {1, inf})."""
    n, d = A.shape
    if p == 1:  # q = inf: -1 <= A^T lam <= 1
        res = linprog(
            -np.ones(n),
            A_ub=np.vstack([A.T, -A.T]),
            b_ub=np.ones(2 * d),
            bounds=[(0, None)] * n,
            method="highs",
        )
    else:  # q = 1: |A^T lam| <= s, sum(s) <= 1
        eye = np.eye(d)
        A_ub = np.vstack(
            [
                np.hstack([A.T, -eye]),
                np.hstack([-A.T, -eye]),
                np.r_[np.zeros(n), np.ones(d)][None, :],
            ]
        )
        res = linprog(
            np.r_[-np.ones(n), np.zeros(d)],
            A_ub=A_ub,
            b_ub=np.r_[np.zeros(2 * d), 1.0],
            bounds=[(0, None)] * (n + d),
            method="highs",
        )
    assert res.status == 0
    return -float(res.fun)


@pytest.mark.parametrize("seed", range(6))
def test_l2_against_support_enumeration(seed):
    d = 2 + seed % 2
    X, y, _ = separable(seed, 7, d, 0.1)
    A = y[:, None] * X
    r = max_margin(X, y, 2)
    assert r.margin == pytest.approx(1.0 / l2_by_supports(A), rel=1e-9)


@pytest.mark.parametrize("p", [1.0, INF])
@pytest.mark.parametrize("seed", range(5))
def test_lp_norms_against_vertex_enumeration_and_dual_lp(p, seed):
    d = 2 + seed % 2
    X, y, _ = separable(100 + seed, 5 if d == 3 else 6, d, 0.1)
    A = y[:, None] * X
    r = max_margin(X, y, p)
    value = lp_by_vertices(A, p)
    assert r.margin == pytest.approx(1.0 / value, rel=1e-9)
    assert r.margin == pytest.approx(1.0 / dual_lp_value(A, p), rel=1e-9)


def sphere_search(A: np.ndarray, p: float) -> tuple[float, np.ndarray]:
    """max over the unit l_p circle of min_i <A_i, u>: a grid, then a bounded scalar search.
    The superlevel sets {u : min_i A_i u >= c > 0} of the sphere are arcs, so the refinement
    is a unimodal search."""

    def u(theta: float) -> np.ndarray:
        v = np.array([math.cos(theta), math.sin(theta)])
        return v / lp_norm(v, p)

    def m(theta: float) -> float:
        return float(np.min(A @ u(theta)))

    grid = np.linspace(0.0, 2 * math.pi, 20001)[:-1]
    t0 = float(grid[int(np.argmax([m(t) for t in grid]))])
    h = float(grid[1] - grid[0])
    a, b = t0 - h, t0 + h  # golden-section search down to rounding level
    g = (math.sqrt(5) - 1) / 2
    while b - a > 1e-14:
        c, d = b - g * (b - a), a + g * (b - a)
        if m(c) >= m(d):
            b = d
        else:
            a = c
    return m((a + b) / 2), u((a + b) / 2)


@pytest.mark.parametrize("p", [1.5, 3.0])
@pytest.mark.parametrize("seed", range(3))
def test_general_p_against_sphere_search_in_2d(p, seed):
    X, y, _ = separable(200 + seed, 8, 2, 0.15)
    A = y[:, None] * X
    r = max_margin(X, y, p)
    m_ref, u_ref = sphere_search(A, p)
    assert r.margin == pytest.approx(m_ref, rel=1e-9)
    np.testing.assert_allclose(r.direction, u_ref, atol=1e-6)


# ---------------------------------------------------------------- properties

data = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(1, 25), st.integers(1, 5), st.floats(0.05, 1.0)
)


def check_optimal(X, y, p, r, b_true, delta):
    A = y[:, None] * X
    q = conj(p)
    u = r.direction
    assert lp_norm(u, p) == pytest.approx(1.0, rel=1e-12)
    assert np.min(A @ u) == pytest.approx(r.margin, rel=1e-12)
    # the ground-truth separator is a feasible competitor
    assert r.margin >= delta / lp_norm(b_true, p) * (1 - 1e-9)
    # the certificate, and its independent re-check by weak duality
    assert r.certificate.duality_gap <= 1e-7
    assert r.certificate.kkt_residual <= 1e-6
    lam = r.dual
    assert np.all(lam >= 0)
    assert lp_norm(A.T @ lam, q) <= 1 + 1e-9
    assert lam.sum() >= (1 - 1e-7) / r.margin
    # support vectors sit on the margin, the others do not undercut it
    assert np.all(A[r.support] @ u <= r.margin * (1 + 1e-6))
    # no random unit vector beats the margin
    rng = np.random.default_rng(0)
    V = rng.standard_normal((300, X.shape[1]))
    V /= np.linalg.norm(V, ord=p, axis=1)[:, None]
    assert np.max(np.min(V @ A.T, axis=1)) <= r.margin * (1 + 1e-9)


@settings(deadline=None)  # example count from the hypothesis profile (conftest)
@given(data, st.sampled_from(NORMS))
def test_random_separable_data(params, p):
    seed, n, d, delta = params
    X, y, b = separable(seed, n, d, delta)
    check_optimal(X, y, p, max_margin(X, y, p), b, delta)


@settings(deadline=None)
@given(data, st.floats(1.05, 20.0))
def test_random_separable_data_any_p(params, p):
    seed, n, d, delta = params
    X, y, b = separable(seed, n, d, delta)
    check_optimal(X, y, p, max_margin(X, y, p), b, delta)


@settings(deadline=None)  # example count from the hypothesis profile (conftest)
@given(data)
def test_margin_nondecreasing_in_p(params):
    # unit l_p balls grow with p, so the best normalised margin cannot shrink
    X, y, _ = separable(*params)
    margins = [max_margin(X, y, p).margin for p in [1.0, 1.3, 2.0, 3.0, 8.0, INF]]
    assert all(a <= b * (1 + 1e-9) for a, b in itertools.pairwise(margins))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "X, y",
    [
        ([[1.0], [1.0]], [1, -1]),  # the same point with both labels
        ([[1.0, 0.0], [-1.0, 0.0]], [1, 1]),  # needs a bias
        ([[0.0, 0.0]], [1]),  # a zero sample has margin 0
        ([[1.0, 2.0], [0.0, 0.0]], [1, -1]),
    ],
)
@pytest.mark.parametrize("p", [1, 2, 3, INF])
def test_not_separable(X, y, p):
    with pytest.raises(ValueError, match="not linearly separable") as e:
        max_margin(X, y, p)
    msg = str(e.value)
    assert "origin" in msg and "bias" in msg and "labels" in msg


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.ones((3, 2)), [1, 1], "3 rows but y has 2"),
        (np.ones(3), [1, 1, 1], "X must be a 2-D"),
        (np.ones((2, 2)), [[1], [1]], "y must be a 1-D"),
        (np.ones((2, 2)), [0, 1], r"labels in \{-1, \+1\}"),
        (np.ones((2, 2)), [1, 2], r"found \[2.0\]"),
        (np.ones((2, 2)), [1, np.nan], r"labels in \{-1, \+1\}"),
        (np.ones((0, 2)), [], "empty"),
        (np.ones((2, 0)), [1, 1], "empty"),
        ([[1.0, np.nan]], [1], "NaN or infinite"),
        ([[1.0, np.inf]], [1], "NaN or infinite"),
        ([["a", "b"]], [1], "numeric"),
    ],
)
def test_bad_data(X, y, match):
    with pytest.raises(ValueError, match=match):
        max_margin(X, y, 2)


@pytest.mark.parametrize(
    "norm, match",
    [
        (0.5, "p >= 1"),
        (-1, "p >= 1"),
        (float("nan"), "p >= 1"),
        ("l0.5", "p >= 1"),
        ("foo", "not recognised"),
        (True, "real number"),
        (None, "real number"),
    ],
)
def test_bad_norm(norm, match):
    with pytest.raises(ValueError, match=match) as e:
        max_margin(np.eye(2), [1, 1], norm)
    assert "norm=" in str(e.value)


@pytest.mark.parametrize("tol", [0.0, -1e-9, 2.0, float("nan")])
def test_bad_tol(tol):
    with pytest.raises(ValueError, match="tol="):
        max_margin(np.eye(2), [1, 1], 2, tol=tol)
