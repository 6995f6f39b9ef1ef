"""Seeded binary classification datasets for the experiments (THEORY.md §6).

Every generator takes an integer ``seed`` and returns a frozen :class:`Dataset` whose ``params``
record all arguments (and whose ``info`` holds the teacher, where there is one), so a run can be
reproduced from its JSON record. Labels are in ``{-1, +1}``; no generator produces a point on
its decision boundary.

* :func:`separable_gaussian` -- linearly separable through the origin with a guaranteed margin;
* :func:`two_d` -- the same in 2-D, for plots;
* :func:`sparse_teacher` -- labels of a bias-free two-layer ReLU teacher with few neurons;
* :func:`xor` -- 2-D XOR-type labels ``sign(x1 x2)`` with a gap around the axes.

:func:`make_dataset` builds any of them by name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

__all__ = [
    "Dataset",
    "make_dataset",
    "separable_gaussian",
    "sparse_teacher",
    "two_d",
    "xor",
]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs ``X`` (n, d) float64 and labels ``y`` (n,) in ``{-1.0, +1.0}``, validated.

    The arrays are stored read-only. Construct directly or with :meth:`from_arrays`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Finite inputs, ``n >= 1``, ``d >= 1``.
    y : array_like, shape (n,)
        Labels, each exactly -1 or +1.
    name : str
        A short name (the generator's kind, or ``"custom"``).
    params : mapping
        The generator's arguments: ``make_dataset(name, **params)`` regenerates the data.
    info : mapping
        Derived JSON-ready facts, e.g. the teacher's weights.

    Examples
    --------
    >>> ds = Dataset.from_arrays([[1.0, 2.0], [-1.0, 0.5]], [1, -1])
    >>> ds.n, ds.d, ds.y
    (2, 2, array([ 1., -1.]))
    >>> Dataset.from_arrays([[1.0, 2.0]], [0])
    Traceback (most recent call last):
    ...
    ValueError: Dataset: labels y must be -1 or +1, found [0.]; map {0, 1} labels with y = 2*y - 1
    """

    X: NDArray[np.float64]
    y: NDArray[np.float64]
    name: str = "custom"
    params: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X, y = _validate(self.X, self.y)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "info", dict(self.info))

    @classmethod
    def from_arrays(
        cls, X: Any, y: Any, name: str = "custom", params: Mapping[str, Any] | None = None
    ) -> Dataset:
        """Validate and wrap user arrays (shapes, finiteness, labels in ``{-1, +1}``)."""
        return cls(X, y, name, {} if params is None else params)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, n={self.n}, d={self.d}, params={self.params!r})"


def _validate(X: Any, y: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    try:
        X = np.array(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Dataset: X must be a numeric (n, d) array ({exc})") from None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"Dataset: X must have shape (n, d) with n, d >= 1, got {X.shape}; "
            "use X.reshape(-1, 1) for 1-D inputs"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("Dataset: X contains NaN or inf; remove or impute those rows")
    try:
        y = np.array(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Dataset: y must be a numeric (n,) array ({exc})") from None
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"Dataset: y must have shape (n,) = ({X.shape[0]},) to match X, got {y.shape}"
        )
    bad = np.unique(y[(y != 1.0) & (y != -1.0)])
    if bad.size:
        raise ValueError(
            f"Dataset: labels y must be -1 or +1, found {bad[:5]}; "
            "map {0, 1} labels with y = 2*y - 1"
        )
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


# ============================================================================ checks


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float = math.inf) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not (low <= value < high):
        raise ValueError(f"{name} must be a float in [{low}, {high}), got {value!r}")
    return float(value)


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ============================================================================ generators


def separable_gaussian(n: int = 100, d: int = 10, margin: float = 0.1, seed: int = 0) -> Dataset:
    """Gaussian inputs, labelled by a random unit teacher ``w``, with margin ``>= margin``.

    ``x ~ N(0, I_d)`` conditioned on ``abs(<x, w>) >= margin`` (the rejected band is resampled:
    the projection ``t = <x, w>`` is drawn from the normal law conditioned on
    ``abs(t) >= margin`` by inverting its CDF, the orthogonal part stays ``N(0, I - w w^T)``,
    which is exactly rejection sampling without the wasted draws), ``y = sign(<x, w>)``.
    So the data are linearly separable through the origin and the unit vector ``w`` attains
    ``min_i y_i <x_i, w> >= margin`` (up to float rounding, ~1e-15). ``info["teacher"]``
    holds ``w``.

    Parameters
    ----------
    n, d : int
        Number of samples (>= 1) and dimension (>= 1).
    margin : float
        Guaranteed l2 margin of the teacher, in [0, 8).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = separable_gaussian(n=50, d=5, margin=0.5, seed=1)
    >>> w = np.array(ds.info["teacher"])
    >>> bool(np.min(ds.y * (ds.X @ w)) >= 0.5 - 1e-12)
    True
    """
    n, d = _check_int("n", n, 1), _check_int("d", d, 1)
    margin = _check_float("margin", margin, 0.0, 8.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    w = _unit(rng.standard_normal(d))
    G = rng.standard_normal((n, d))
    G -= np.outer(G @ w, w)  # orthogonal part
    # |t| ~ N(0, 1) conditioned on |t| >= margin, by the inverse CDF of the upper tail.
    tail = ndtr(-margin)
    abs_t = -ndtri(tail * (1.0 - rng.uniform(0.0, 1.0, n)))  # argument in (0, tail]
    abs_t = np.maximum(abs_t, margin)  # guard the last ulp of the inverse CDF
    sign = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    X = G + np.outer(sign * abs_t, w)
    params = {"n": n, "d": d, "margin": margin, "seed": seed}
    return Dataset(X, sign, "separable_gaussian", params, {"teacher": w.tolist()})


def two_d(n: int = 40, seed: int = 0, margin: float = 0.3) -> Dataset:
    """2-D linearly separable data (through the origin) for plots.

    :func:`separable_gaussian` with ``d = 2``; the teacher direction is random, so l1, l2 and
    l_inf max-margin directions generally differ visibly.

    Examples
    --------
    >>> ds = two_d(n=20, seed=3)
    >>> ds.X.shape, ds.name
    ((20, 2), 'two_d')
    """
    ds = separable_gaussian(n=n, d=2, margin=margin, seed=seed)
    params = {"n": ds.n, "seed": seed, "margin": ds.params["margin"]}
    return Dataset(ds.X, ds.y, "two_d", params, ds.info)


def sparse_teacher(
    n: int = 200, d: int = 10, k_active: int = 2, seed: int = 0, margin: float = 0.05
) -> Dataset:
    """Labels of a sparse bias-free two-layer ReLU teacher ``f(x) = sum_j a_j relu(<w_j, x>)``.

    The teacher has ``k_active`` neurons with i.i.d. uniformly random unit ``w_j`` and
    alternating ``a_j = +1, -1, +1, ...`` (both signs are needed: with ``a_j > 0`` only, ``f >= 0``
    and one class would be empty). Inputs ``x ~ N(0, I_d)`` with ``abs(f(x)) < margin`` are
    rejected and resampled; ``y = sign(f(x))``. So the data are separable by a width-``k_active``
    student (the teacher) with unnormalised margin ``>= margin``; a wide student should learn
    a representation with ``k_active`` active neurons. ``info`` holds ``W`` (rows ``w_j``)
    and ``a``. For even ``k_active = 2`` the classes are balanced in law (a reflection swapping
    ``w_1`` and ``w_2`` maps one class to the other).

    Examples
    --------
    >>> import numpy as np
    >>> ds = sparse_teacher(n=30, d=4, k_active=2, seed=0)
    >>> W, a = np.array(ds.info["W"]), np.array(ds.info["a"])
    >>> f = np.maximum(ds.X @ W.T, 0) @ a
    >>> bool(np.all(ds.y * f >= 0.05))
    True
    """
    n, d = _check_int("n", n, 1), _check_int("d", d, 1)
    k_active = _check_int("k_active", k_active, 2)
    margin = _check_float("margin", margin, 0.0, 1.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    W = _unit(rng.standard_normal((k_active, d)))
    a = np.where(np.arange(k_active) % 2 == 0, 1.0, -1.0)

    def teacher(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.maximum(X @ W.T, 0.0) @ a

    X = _rejection_sample(rng, n, lambda m: rng.standard_normal((m, d)), teacher, margin)
    y = np.sign(teacher(X))
    params = {"n": n, "d": d, "k_active": k_active, "seed": seed, "margin": margin}
    return Dataset(X, y, "sparse_teacher", params, {"W": W.tolist(), "a": a.tolist()})


def xor(n: int = 100, seed: int = 0, gap: float = 0.1) -> Dataset:
    """2-D XOR-type data: ``x`` uniform on ``[-1, 1]^2`` with ``min(|x1|, |x2|) >= gap``.

    Labels ``y = sign(x1 x2)``. Not linearly separable through the origin (for points in all
    four quadrants), but separable by ``x1 x2 = ((x1 + x2)**2 - (x1 - x2)**2) / 4``, i.e. by a
    two-layer network with ``power(2)`` (or square-ReLU) activation, with
    ``y x1 x2 >= gap**2``. The gap is realised by rejection sampling.

    Examples
    --------
    >>> import numpy as np
    >>> ds = xor(n=40, seed=2, gap=0.2)
    >>> bool(np.all(np.abs(ds.X) >= 0.2)), bool(np.all(ds.y == np.sign(ds.X[:, 0] * ds.X[:, 1])))
    (True, True)
    """
    n = _check_int("n", n, 1)
    gap = _check_float("gap", gap, 0.0, 1.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))

    def score(X: NDArray[np.float64]) -> NDArray[np.float64]:
        # min(|x1|, |x2|) with the sign of x1 x2: |score| >= gap is the acceptance test
        return np.sign(X[:, 0] * X[:, 1]) * np.min(np.abs(X), axis=1)

    X = _rejection_sample(rng, n, lambda m: rng.uniform(-1.0, 1.0, (m, 2)), score, gap)
    y = np.sign(X[:, 0] * X[:, 1])
    return Dataset(X, y, "xor", {"n": n, "seed": seed, "gap": gap})


def _rejection_sample(
    rng: np.random.Generator,
    n: int,
    draw: Callable[[int], NDArray[np.float64]],
    score: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    margin: float,
    max_draws: int = 10**7,
) -> NDArray[np.float64]:
    """First ``n`` draws with ``abs(score) >= margin`` (and ``score != 0``), in draw order."""
    kept: list[NDArray[np.float64]] = []
    count, drawn = 0, 0
    while count < n:
        batch = draw(max(64, 2 * (n - count)))
        drawn += batch.shape[0]
        s = np.abs(score(batch))
        batch = batch[(s >= margin) & (s > 0)]
        kept.append(batch)
        count += batch.shape[0]
        if drawn > max_draws and count < n:
            raise ValueError(
                f"rejection sampling accepted only {count} of {drawn} draws; "
                "use a smaller margin/gap"
            )
    return np.concatenate(kept)[:n]


# ============================================================================ registry

_GENERATORS: dict[str, Callable[..., Dataset]] = {
    "separable_gaussian": separable_gaussian,
    "two_d": two_d,
    "sparse_teacher": sparse_teacher,
    "xor": xor,
}


def make_dataset(kind: str, **kwargs: Any) -> Dataset:
    """Build a dataset by kind; ``make_dataset(ds.name, **ds.params)`` regenerates ``ds``.

    Kinds: ``"separable_gaussian"``, ``"two_d"``, ``"sparse_teacher"``, ``"xor"``.

    Examples
    --------
    >>> make_dataset("xor", n=8, seed=1).X.shape
    (8, 2)
    >>> make_dataset("moons")
    Traceback (most recent call last):
    ...
    ValueError: unknown dataset kind 'moons'; known kinds: ['separable_gaussian', 'two_d', ...]
    >>> make_dataset("xor", d=3)
    Traceback (most recent call last):
    ...
    ValueError: make_dataset('xor'): unexpected argument(s) ['d']; xor accepts ['n', 'seed', 'gap']
    """
    try:
        gen = _GENERATORS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset kind {kind!r}; known kinds: {list(_GENERATORS)}"
        ) from None
    accepted = list(inspect.signature(gen).parameters)
    unexpected = sorted(set(kwargs) - set(accepted))
    if unexpected:
        raise ValueError(
            f"make_dataset({kind!r}): unexpected argument(s) {unexpected}; "
            f"{kind} accepts {accepted}"
        )
    return gen(**kwargs)
