"""Float64 path vs a plain scipy ``solve_ivp`` on the same time-changed RHS (one run).

Target (issue 3): mirrorflow's float64 path within 3x of plain scipy. The plain baseline is
the RHS a user would write by hand for a linear model and hyperbolic entropy (numpy, no
model abstraction); both integrate the same system with DOP853 at the same tolerances.
Run: ``python benchmarks/bench_float64.py``. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

from numerics import Linear, Problem, solve_float64, two_d
from theory import Potential

LOG_T, B, RTOL = 300.0, 0.1, 1e-10


def plain_scipy(X, y, theta0):
    A = y[:, None] * X

    def rhs(_s, st):
        z, lt = st[:-1], st[-1]
        th = B * np.sinh(z)                    # (f')^{-1} for the hyperbolic entropy
        q = A @ th
        ll = logsumexp(-q)
        w = np.exp(-q - ll)
        return np.append(w @ A, np.exp(min(-lt - ll, 700.0)))

    def ev(_s, st):
        return st[-1] - LOG_T
    ev.terminal = True
    z0 = np.arcsinh(theta0 / B)
    s_end, state, n = 1.0, np.append(z0, 0.0), 0
    while True:
        sol = solve_ivp(rhs, (0, s_end), state, method="DOP853", rtol=RTOL, atol=RTOL * 1e-2,
                        events=ev)
        n += sol.nfev
        if sol.status == 1:
            return B * np.sinh(sol.y[:-1, -1]), n
        s_end *= 2


def main() -> None:
    data = two_d(40, seed=0)
    prob = Problem.create(data, Linear(), Potential.hyperbolic_entropy(B), seed=0)
    t0 = time.perf_counter()
    ours = solve_float64(prob, log_t=LOG_T, rtol=RTOL, atol=RTOL * 1e-2)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theta_plain, n_plain = plain_scipy(data.X, data.y, prob.theta0)
    t_plain = time.perf_counter() - t0
    agree = np.max(np.abs(ours.theta[-1] - theta_plain)) / np.max(np.abs(theta_plain))
    print(f"linear model, n=40, hyperbolic entropy b={B}, log t = {LOG_T}, DOP853 rtol={RTOL}")
    print(f"  mirrorflow float64 : {t_ours:7.3f} s  ({ours.rhs_evals} RHS evals)")
    print(f"  plain solve_ivp    : {t_plain:7.3f} s  ({n_plain} RHS evals)")
    print(f"  ratio ours/plain   : {t_ours / t_plain:7.2f}   relative difference of θ: {agree:.1e}")


if __name__ == "__main__":
    main()
