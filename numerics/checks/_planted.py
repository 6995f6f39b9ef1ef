"""Data with a known answer, and the runs of the battery.

:func:`planted_dataset` plants a single support vector, so the l_q max-margin direction has
a closed form for every q (:func:`planted_direction`); :func:`battery_specs` lists the
float64 runs :func:`numerics.checks.verify` integrates for one potential and model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from theory import Potential

from ..problem import Dataset, Diagonal, Linear, Model, Problem, TwoLayer, separable_gaussian, xor

__all__ = ["RunSpec", "battery_specs", "planted_dataset", "planted_direction"]


def planted_dataset(x_star: Any, n: int = 4, seed: int = 0) -> Dataset:
    """A dataset whose max-margin problem has the single support vector ``x_star``.

    Point 0 is ``x_star`` with label +1; each further point is ``s (x_star + δ)`` with label
    ``s`` (random sign) and ``δ = sign(x_star) * U(0.2, 1)`` componentwise (a zero coordinate of
    ``x_star`` is treated as positive). For every l_q "norm", q in (0, inf], the maximiser
    ``u`` of ``min_i y_i <x_i, u>`` over the unit l_q ball lies in the closed orthant of
    ``x_star``, where every other point has margin ``>= <x_star, u>``; so the max-margin
    direction is that of ``x_star`` alone, given in closed form by :func:`planted_direction`.

    Parameters
    ----------
    x_star : array_like, shape (d,)
        The support vector (non-zero).
    n : int
        Number of points (>= 1).
    seed : int

    Returns
    -------
    Dataset
        ``info["x_star"]`` holds ``x_star``.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import max_margin
    >>> ds = planted_dataset([1.0, -0.4], n=5, seed=1)
    >>> u = max_margin(ds.X, ds.y, 1).direction
    >>> np.allclose(u, planted_direction([1.0, -0.4], 1), atol=1e-7)
    True
    """
    xs = np.asarray(x_star, dtype=float)
    if xs.ndim != 1 or not np.any(xs) or not np.all(np.isfinite(xs)):
        raise ValueError(f"x_star must be a finite non-zero vector, got {x_star!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    orthant = np.where(xs < 0, -1.0, 1.0)
    X, y = [xs], [1.0]
    for _ in range(n - 1):
        s = float(rng.choice([-1.0, 1.0]))
        X.append(s * (xs + orthant * rng.uniform(0.2, 1.0, xs.size)))
        y.append(s)
    return Dataset(np.array(X), np.array(y), "planted",
                   {"x_star": xs.tolist(), "n": n, "seed": seed}, {"x_star": xs.tolist()})


def planted_direction(x_star: Any, q: float) -> NDArray[np.float64]:
    """Closed-form l_q max-margin direction of the single point ``x_star`` (unit l_q "norm").

    ``argmax <x_star, u>`` over ``abs(u)_q <= 1``: for q <= 1 the vertex ``sign(x_k) e_k``
    with ``k = argmax abs(x_k)`` (the l_q ball, q <= 1, has the l1 ball's vertices and lies
    inside it); for 1 < q < inf the Hölder equality case
    ``u_k ∝ sign(x_k) abs(x_k)^(1/(q-1))``; for q = inf, ``sign(x_star)``.
    Ties (several largest ``abs(x_k)`` for q <= 1, zero coordinates for q = inf) are not
    unique; :func:`planted_datasets` avoids them.

    Examples
    --------
    >>> planted_direction([1.0, 0.5], 2)
    array([0.89442719, 0.4472136 ])
    >>> planted_direction([1.0, 0.5], 0.5), planted_direction([1.0, -0.5], float("inf"))
    (array([1., 0.]), array([ 1., -1.]))
    """
    xs = np.asarray(x_star, dtype=float)
    if q <= 0:
        raise ValueError(f"q must be > 0, got {q}")
    if q <= 1:
        u = np.zeros_like(xs)
        k = int(np.argmax(np.abs(xs)))
        u[k] = np.sign(xs[k])
        return u
    if math.isinf(q):
        return np.sign(xs)
    u = np.sign(xs) * np.abs(xs / np.max(np.abs(xs))) ** (1.0 / (q - 1.0))
    return u / np.sum(np.abs(u) ** q) ** (1.0 / q)


# ============================================================================ battery runs


@dataclass(frozen=True)
class RunSpec:
    """One run of the battery: a label, the problem, the target log t, planted data or not."""

    label: str
    problem: Problem
    log_t: float
    planted: bool


def battery_specs(potential: Potential, model: str, seeds: Sequence[int],
                  rapid: bool = False) -> list[RunSpec]:
    """The float64 runs of :func:`numerics.checks.verify` for ``potential`` and ``model``.

    * ``linear``: planted 2-D and 3-D data (single support vector, closed-form l_q
      directions) to log t = 200, and ``separable_gaussian(n=8, d=3)`` for each seed to
      log t = 15 (l_inf-type potentials are stiff on such data: float64 stalls near
      log t = 25-50);
    * ``diagonal``: depth-2 diagonal network u⊙u − v⊙v (init 0.05) on the planted data to
      log t = 400 (150 if ``rapid``, an l_inf horizon: cosh-type potentials are stiff beyond,
      and their direction is judged by its trend, see :func:`numerics.checks.check_direction`),
      and on ``separable_gaussian(n=4, d=8)`` for each seed (same target; for the KKT trend
      of :func:`numerics.checks.check_kkt_trend`);
    * ``two_layer``: width-4 network with activation z² (init 0.5; smooth, no dead units) on
      ``xor(n=16, gap=0.2)`` data (seeds) to log t = 3000 (feature changes end late).

    Examples
    --------
    >>> [s.label for s in battery_specs(Potential.quadratic(), "linear", seeds=(0,))]
    ['linear, planted 2-D', 'linear, planted 3-D', 'linear, gaussian seed 0']
    """
    if model == "two_layer":
        net = TwoLayer(width=4, activation="power(2)")
        return [RunSpec(f"two_layer, xor seed {s}",
                        Problem.create(xor(n=16, seed=s, gap=0.2), net, potential, scale=0.5,
                                       seed=s), 3000.0, False)
                for s in seeds]
    m: Model = Linear() if model == "linear" else Diagonal(depth=2)
    # rapidly varying f on a diagonal net: float64 needs ~1 s to log t = 150, 30-50 s to 400
    scale, log_t = (0.1, 200.0) if model == "linear" else (0.05, 150.0 if rapid else 400.0)
    specs = []
    for d, (x_star, n, seed) in ((2, ([1.0, 0.3], 4, 0)), (3, ([0.4, -1.0, 0.25], 5, 1))):
        specs.append(RunSpec(f"{model}, planted {d}-D",
                             Problem.create(planted_dataset(x_star, n=n, seed=seed), m,
                                            potential, scale=scale, seed=0), log_t, True))
    if model == "diagonal":      # KKT trend runs: d > n, so the margin gradients do not
        for s in seeds:          # span the parameter space (THEORY.md §4.1)
            ds = separable_gaussian(n=4, d=8, margin=0.3, seed=s)
            specs.append(RunSpec(f"diagonal, gaussian seed {s}",
                                 Problem.create(ds, m, potential, scale=scale, seed=s), log_t,
                                 False))
    if model == "linear":
        for s in seeds:
            ds = separable_gaussian(n=8, d=3, margin=0.3, seed=s)
            specs.append(RunSpec(f"linear, gaussian seed {s}",
                                 Problem.create(ds, m, potential, scale=0.1, seed=s), 15.0,
                                 False))
    return specs
