"""Multipliers of a KKT residual: the closest point of a subdifferential to a cone.

Given the margin gradients J (n, P) and the subdifferential ∂G(θ̃) of the horizon objective
(a point for smooth l_p, a box for l_1, a simplex of signed unit vectors for l_∞), find
λ >= 0 and g ∈ ∂G(θ̃) minimising ‖g - Jᵀλ‖₂, then, among the minimisers, the λ with the least
complementarity Σ λ_i (q_i(θ̃) - 1) (an LP). Used by :func:`numerics.checks.kkt`.

Examples
--------
>>> import numpy as np
>>> th = np.array([1.0, 1.0]); J = np.array([[1.0, 1.0]])
>>> sd = subdifferential(th, np.ones(2), 2.0, 1e-3)      # ∇ Σ θ_k² / 2 = θ
>>> lam, g, r, method = solve_multipliers(J, sd, np.zeros(1))
>>> float(lam[0]), r < 1e-12, method
(1.0, True, 'nnls')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog, lsq_linear, nnls

__all__ = [
    "SIMPLEX_WEIGHT",
    "Subdifferential",
    "closest_multipliers",
    "solve_multipliers",
    "stationarity_residual",
    "subdifferential",
]

#: Weight of the row Σμ = 1 in the l_∞ NNLS, relative to the largest subgradient entry.
SIMPLEX_WEIGHT = 1e4


@dataclass(frozen=True)
class Subdifferential:
    """∂G(θ̃) = {g0 + C ξ : lo <= ξ <= hi (and Σξ = 1 if simplex)}; norm0 = dist(0, ∂G)."""

    g0: NDArray[np.float64]
    C: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    simplex: bool
    norm0: float


def subdifferential(th: NDArray[np.float64], w: NDArray[np.float64], p: float, tau: float
                    ) -> Subdifferential:
    """∂G at θ̃ for G = Σ |θ_k/κ_k|^p / p, ‖θ/κ‖_1 or ‖θ/κ‖_∞ (``w`` = 1/κ, ``tau`` as ZERO_TOL)."""
    a = np.abs(th) * w                      # |θ_k| / κ_k
    amax = float(a.max())
    s = np.sign(th)
    P = th.size
    if math.isinf(p):                       # conv{s_k w_k e_k : k maximal}
        A = np.flatnonzero(a >= (1.0 - tau) * amax)
        C = np.zeros((P, A.size))
        C[A, np.arange(A.size)] = s[A] * w[A]
        norm0 = float(np.sum(w[A] ** -2.0) ** -0.5)
        return Subdifferential(np.zeros(P), C, np.zeros(A.size), np.full(A.size, np.inf), True,
                               norm0)
    if p == 1.0:                            # s_k w_k off Z, [-w_k, w_k] on Z
        zero = a <= tau * amax
        Z = np.flatnonzero(zero)
        g0 = np.where(zero, 0.0, s * w)
        C = np.zeros((P, Z.size))
        C[Z, np.arange(Z.size)] = 1.0
        return Subdifferential(g0, C, -w[Z], w[Z], False, float(np.linalg.norm(g0)))
    g0 = s * a ** (p - 1.0) * w             # ∇ Σ |θ_k/κ_k|^p / p
    empty = np.zeros(0)
    return Subdifferential(g0, np.zeros((P, 0)), empty, empty, False, float(np.linalg.norm(g0)))


def closest_multipliers(J: NDArray[np.float64], sd: Subdifferential
             ) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """(λ, ξ) minimising ‖g0 + C ξ - J^T λ‖_2 over λ >= 0 and the subdifferential."""
    n, m = J.shape[0], sd.C.shape[1]
    if m == 0 or (sd.simplex and m == 1):
        xi = np.ones(m)
        lam, _ = nnls(J.T, sd.g0 + sd.C @ xi, maxiter=50 * max(n, 1))
        return lam, xi, "nnls"
    if sd.simplex:
        # NNLS in (μ, λ) with the row M (Σμ - 1); then rescale to Σμ = 1 exactly
        M = SIMPLEX_WEIGHT * float(np.abs(sd.C).max())
        A = np.block([[sd.C, -J.T], [np.full((1, m), M), np.zeros((1, n))]])
        x, _ = nnls(A, np.concatenate([-sd.g0, [M]]), maxiter=50 * (n + m))
        total = float(x[:m].sum())
        return x[m:] / total, x[:m] / total, "nnls-simplex"
    res = lsq_linear(np.hstack([J.T, -sd.C]), sd.g0, method="bvls", tol=1e-14,
                     max_iter=50 * (n + m),
                     bounds=(np.concatenate([np.zeros(n), sd.lo]),
                             np.concatenate([np.full(n, np.inf), sd.hi])))
    return np.clip(res.x[:n], 0.0, None), np.clip(res.x[n:], sd.lo, sd.hi), "bvls"


def stationarity_residual(J: NDArray[np.float64], sd: Subdifferential, lam: NDArray[np.float64],
              xi: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    g = sd.g0 + sd.C @ xi
    return g, float(np.linalg.norm(g - J.T @ lam))


def solve_multipliers(J: NDArray[np.float64], sd: Subdifferential, slack: NDArray[np.float64]
           ) -> tuple[NDArray[np.float64], NDArray[np.float64], float, str]:
    """(λ, g, ‖g - J^T λ‖, method): the least residual, then the least δ among its λ."""
    lam, xi, method = closest_multipliers(J, sd)
    g, r = stationarity_residual(J, sd, lam, xi)
    delta = float(lam @ slack)
    unique = sd.C.shape[1] == 0 and np.linalg.matrix_rank(J) == J.shape[0]
    if unique or delta <= 1e-15 * float(lam @ (slack + 1.0)):
        return lam, g, r, method
    # The residual vector g - J^T λ at the minimum is unique, λ and g need not be: the LP
    # min Σ λ_i s_i over {(λ, ξ) : g0 + C ξ - J^T λ = g - J^T λ*} picks the least δ.
    n, m = J.shape[0], sd.C.shape[1]
    scale = sd.norm0
    A_eq = np.hstack([-J.T, sd.C]) / scale
    b_eq = (g - J.T @ lam - sd.g0) / scale
    if sd.simplex:
        A_eq = np.vstack([A_eq, np.concatenate([np.zeros(n), np.ones(m)])])
        b_eq = np.concatenate([b_eq, [1.0]])
    bounds = [(0.0, None)] * n + [(float(lo), None if np.isinf(hi) else float(hi))
                                  for lo, hi in zip(sd.lo, sd.hi, strict=True)]
    lp = linprog(np.concatenate([slack, np.zeros(m)]), A_eq=A_eq, b_eq=b_eq, bounds=bounds,
                 method="highs", options={"primal_feasibility_tolerance": 1e-10,
                                          "dual_feasibility_tolerance": 1e-10})
    if lp.status != 0:
        return lam, g, r, method
    lam_lp, xi_lp = np.clip(lp.x[:n], 0.0, None), lp.x[n:]
    cands = [(lam_lp, xi_lp, 1e-9 * scale)]
    keep = lam_lp > 1e-12 * float(lam_lp.max()) if lam_lp.max() > 0 else lam_lp > 0
    if keep.any():       # polish: the least residual again, on the samples the LP kept
        lam_k, xi_pol, _ = closest_multipliers(J[keep], sd)
        lam_pol = np.zeros(n)
        lam_pol[keep] = lam_k
        cands.insert(0, (lam_pol, xi_pol, 1e-9 * r + 1e-14 * scale))
    method_out = method
    for cand_lam, cand_xi, r_tol in cands:
        r_c = stationarity_residual(J, sd, cand_lam, cand_xi)[1]
        if r_c <= r + r_tol and float(cand_lam @ slack) < delta:
            lam, xi, method_out = cand_lam, cand_xi, method + "+lp"
            break
    g, r = stationarity_residual(J, sd, lam, xi)
    return lam, g, r, method_out
