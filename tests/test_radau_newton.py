"""The float64 Newton solve of Radau IIA against exact arithmetic (issue 10, item 3).

A slow direction among fast coordinates (twin units of a ReLU net, late in an ``exp(x**2/2)``
run) is resolved by the row-scaled float64 Newton matrix only while the fast rows exceed their
identity by less than ``1 / eps``; :func:`float64_limit` flags the rows past that point.  The
expectations come from the exact solution (mpmath), not from the solver.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.linalg as sla

from numerics.solvers.precise._radau_newton import (
    Jacobians,
    SingularNewtonMatrixError,
    float64_limit,
    lu_factor,
    newton_matrix,
)
from numerics.solvers.precise._radau_tableau import RadauTableau


def _twin_jacobian(k: float) -> np.ndarray:
    # rows 0 and 1 fast and equal (eigenvalue -2k along (1, 1, 0)); (1, -1, 0) and e_2 slow
    return np.array([[-k, -k, 0.0], [-k, -k, 0.0], [0.0, 0.0, 0.0]])


def _float64_solution(J: np.ndarray, r: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Implicit Euler (1-stage Radau IIA, h = 1): ``(I - J) x = r`` as the integrator solves it."""
    big = np.abs(J).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(big[:, None] > 0, J / np.where(big > 0, big, 1.0)[:, None], 0.0)
        logrow = np.log(big)
    js = Jacobians(normalised[None], logrow[None], np.zeros(1))
    M, rows = newton_matrix(1.0, js, RadauTableau.build(1, 64))
    try:
        lu = lu_factor(M)
    except SingularNewtonMatrixError:
        return None, rows
    return sla.lu_solve(lu, r / np.exp(rows)), rows


def _exact_solution(J: np.ndarray, r: np.ndarray) -> list[mpmath.mpf]:
    with mpmath.workdps(80):
        M = mpmath.eye(3) - mpmath.matrix(J.tolist())
        return list(mpmath.lu_solve(M, mpmath.matrix(r.tolist())))


@pytest.mark.parametrize("k", [1e6, 1e10, 1e12])
def test_float64_newton_solve_keeps_slow_twin_directions_below_the_limit(k: float) -> None:
    J, r = _twin_jacobian(k), np.array([1.0, 0.0, 0.0])
    x, rows = _float64_solution(J, r)
    exact = _exact_solution(J, r)
    assert float64_limit(rows) == ""
    assert x is not None
    # the slow difference x0 - x1 = 1 exactly; float64 keeps it to ~ eps * k
    assert abs((x[0] - x[1]) - float(exact[0] - exact[1])) < 1e3 * k * 2.0 ** -52


@pytest.mark.parametrize("k", [1e16, 1e20])
def test_float64_newton_solve_loses_slow_twin_directions_past_the_limit(k: float) -> None:
    J, r = _twin_jacobian(k), np.array([1.0, 0.0, 0.0])
    x, rows = _float64_solution(J, r)
    exact = _exact_solution(J, r)
    assert float64_limit(rows) != ""
    assert float(exact[0] - exact[1]) == pytest.approx(1.0)
    # singular in float64, or a correction that misses the slow direction by O(1)
    assert x is None or not math.isclose(x[0] - x[1], 1.0, rel_tol=0.1)
