"""Tests for numerics.problem._data.

Separability is checked by an independent linear program (scipy ``linprog``):
``gamma* = max gamma s.t. y_i <x_i, w> >= gamma, -1 <= w <= 1``. The unit teacher lies in that
box, so ``gamma* >= min_i y_i <x_i, w_teacher>``; ``gamma* <= 0`` means no separator through
the origin exists. Label balance is checked against binomial fluctuations (6 sigma).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from numerics.problem import (
    Dataset,
    make_dataset,
    separable_gaussian,
    sparse_teacher,
    two_d,
    xor,
)


def lp_margin(X: np.ndarray, y: np.ndarray) -> float:
    """max_{||w||_inf <= 1} min_i y_i <x_i, w>, by linprog (variables w, gamma)."""
    n, d = X.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0  # maximise gamma
    A = np.hstack([-(y[:, None] * X), np.ones((n, 1))])  # gamma - y_i <x_i, w> <= 0
    bounds = [(-1.0, 1.0)] * d + [(None, None)]
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


def assert_balanced(y: np.ndarray, p: float = 0.5) -> None:
    n = len(y)
    frac = np.mean(y == 1)
    assert abs(frac - p) < 6 * np.sqrt(p * (1 - p) / n) + 1 / n


# ============================================================================ generators


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("separable_gaussian", {"n": 50, "d": 4, "margin": 0.2}),
        ("two_d", {"n": 30}),
        ("sparse_teacher", {"n": 40, "d": 5, "k_active": 3}),
        ("xor", {"n": 40}),
    ],
)
def test_seeds_are_reproducible_and_matter(kind: str, kwargs: dict) -> None:
    a = make_dataset(kind, seed=7, **kwargs)
    b = make_dataset(kind, seed=7, **kwargs)
    c = make_dataset(kind, seed=8, **kwargs)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert a.name == kind and a.X.dtype == np.float64 and a.y.dtype == np.float64
    assert set(np.unique(a.y)) <= {-1.0, 1.0}
    assert a.n == kwargs["n"]
    # the record regenerates the data exactly, also after a JSON round trip
    again = make_dataset(a.name, **json.loads(json.dumps(a.params)))
    np.testing.assert_array_equal(again.X, a.X)
    json.dumps(a.info)


def test_separable_gaussian_margin_by_lp() -> None:
    margin = 0.4
    ds = separable_gaussian(n=200, d=6, margin=margin, seed=1)
    w = np.array(ds.info["teacher"])
    assert abs(np.linalg.norm(w) - 1) < 1e-14
    assert np.min(ds.y * (ds.X @ w)) >= margin - 1e-12
    assert lp_margin(ds.X, ds.y) >= margin - 1e-7
    assert_balanced(ds.y)


def test_separable_gaussian_margin_band_is_rejected_not_shifted() -> None:
    """The projections follow N(0, 1) conditioned on |t| >= margin: check two tail masses."""
    from scipy.stats import norm

    margin = 1.0
    ds = separable_gaussian(n=4000, d=3, margin=margin, seed=2)
    t = np.abs(ds.X @ np.array(ds.info["teacher"]))
    tail = norm.sf(margin)
    for q in (1.5, 2.0):
        p = norm.sf(q) / tail  # P(|t| > q | |t| >= margin)
        assert abs(np.mean(t > q) - p) < 6 * np.sqrt(p * (1 - p) / len(t))
    # the orthogonal part is standard normal: its squared norm has mean d - 1
    w = np.array(ds.info["teacher"])
    orth = ds.X - np.outer(ds.X @ w, w)
    assert abs(np.mean(np.sum(orth**2, axis=1)) - 2.0) < 6 * np.sqrt(4.0 / len(t))


@settings(database=None, max_examples=25, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 8),
    margin=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_separable_gaussian_property(n: int, d: int, margin: float, seed: int) -> None:
    ds = separable_gaussian(n=n, d=d, margin=margin, seed=seed)
    assert ds.X.shape == (n, d) and ds.y.shape == (n,)
    w = np.array(ds.info["teacher"])
    assert np.min(ds.y * (ds.X @ w)) >= margin * (1 - 1e-12) - 1e-12
    assert lp_margin(ds.X, ds.y) >= margin - 1e-7


def test_two_d_is_separable_in_the_plane() -> None:
    ds = two_d(n=60, seed=4)
    assert ds.d == 2
    assert lp_margin(ds.X, ds.y) >= ds.params["margin"] - 1e-7


def test_sparse_teacher_labels_and_margin() -> None:
    ds = sparse_teacher(n=2000, d=6, k_active=2, seed=3, margin=0.05)
    W, a = np.array(ds.info["W"]), np.array(ds.info["a"])
    assert W.shape == (2, 6)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0)
    assert sorted(a.tolist()) == [-1.0, 1.0]
    f = sum(a[j] * np.maximum(ds.X @ W[j], 0.0) for j in range(2))  # teacher, written out
    assert np.all(ds.y * f >= 0.05)
    assert_balanced(ds.y)  # exact symmetry for k_active = 2, see the docstring
    wide = sparse_teacher(n=50, d=3, k_active=5, seed=0)
    assert np.array(wide.info["W"]).shape == (5, 3)


def test_xor_geometry_and_not_linearly_separable() -> None:
    gap = 0.15
    ds = xor(n=400, seed=5, gap=gap)
    x1, x2 = ds.X[:, 0], ds.X[:, 1]
    assert np.all(np.abs(ds.X) >= gap) and np.all(np.abs(ds.X) <= 1.0)
    np.testing.assert_array_equal(ds.y, np.sign(x1 * x2))
    assert np.all(ds.y * x1 * x2 >= gap**2)  # quadratic feature separates with margin gap^2
    quadrants = {(a, b) for a, b in zip(np.sign(x1), np.sign(x2), strict=True)}
    assert len(quadrants) == 4
    assert lp_margin(ds.X, ds.y) <= 1e-9  # no linear separator through the origin
    assert_balanced(ds.y)


# ============================================================================ Dataset


def test_dataset_validation_errors() -> None:
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"shape \(n,\) = \(3,\)"):
        Dataset.from_arrays(X, [1, -1])
    with pytest.raises(ValueError, match="NaN or inf"):
        Dataset.from_arrays([[np.nan, 1.0]], [1])
    with pytest.raises(ValueError, match="y = 2\\*y - 1"):
        Dataset.from_arrays(X, [0, 1, 1])
    with pytest.raises(ValueError, match="shape \\(n, d\\)"):
        Dataset.from_arrays([1.0, 2.0], [1, -1])
    with pytest.raises(ValueError, match="numeric"):
        Dataset.from_arrays([["a", "b"]], [1])


def test_dataset_is_frozen_and_read_only() -> None:
    source = np.array([[1.0, 2.0]])
    ds = Dataset.from_arrays(source, np.array([1]), params={"note": 1})
    source[0, 0] = 5.0  # the dataset holds a copy
    assert ds.X[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        ds.X[0, 0] = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"  # type: ignore[misc]
    assert "n=1" in repr(ds)


def test_generator_argument_errors() -> None:
    with pytest.raises(ValueError, match="known kinds: \\['separable_gaussian'"):
        make_dataset("moons")
    with pytest.raises(ValueError, match="xor accepts"):
        make_dataset("xor", d=3)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        separable_gaussian(n=0)
    with pytest.raises(ValueError, match="margin must be a float"):
        separable_gaussian(margin=-0.1)
    with pytest.raises(ValueError, match="k_active must be an integer >= 2"):
        sparse_teacher(k_active=1)
    with pytest.raises(ValueError, match="gap must be a float"):
        xor(gap=1.0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        xor(seed=-1)
