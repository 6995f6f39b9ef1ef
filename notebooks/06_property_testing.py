# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Property testing: hold a potential to the theory
#
# The toolkit exists to check theorems. For a potential you type in, `verify` integrates mirror
# flow on a few small problems and compares what the trajectories do with what the theory
# (`docs/THEORY.md`) predicts:
#
# | property | statement | tag |
# |---|---|---|
# | balance law | $C_j = \sum_{in} g - k\sum_{out} g$ constant, $g = xf' - f$ | §2 [derived] |
# | global identity | $\frac{d}{dt}\sum_m g(\theta_m) = L\sum_i(-\ell'(q_i))\,q_i$ | §2 [derived] |
# | smoothed margin | non-decreasing once $\mathcal L < 1$ | §4 [paper] |
# | direction | the limit is the max-margin direction for the **horizon** norm | §3-4 [paper] |
# | rates | log-log slopes of loss and norms against $\log t$ | §5 [derived] |
#
# The same battery is the command `mirrorflow verify EXPR [--claim-horizon NORM]`, and the
# hypothesis strategies in `numerics.testing` let you write your own properties.
#
# **Fast mode.** `MIRRORFLOW_FAST=1` (set by `tests/test_notebooks.py`) shrinks the budgets;
# the stored outputs come from a normal run.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from numerics import Dataset, Linear, Problem, solve_mirror_flow, verify
from theory import Potential, max_margin

FAST = os.environ.get("MIRRORFLOW_FAST", "") == "1"
BUDGET = 12.0 if FAST else 60.0
print("fast mode" if FAST else "normal mode", "- budget per battery:", BUDGET, "s")

# %% [markdown]
# ## 1. A potential outside the built-in table
#
# $f(x) = x^2/2 + |x|^3/3$: quadratic near 0, cubic growth. The symbolic layer derives its
# horizon before anything is integrated.

# %%
pot = Potential("x**2/2 + abs(x)**3/3")
hz = pot.horizon
print("horizon:", hz.norm, "p =", hz.p)
print("rates (linear model, margin 1):", pot.rates(depth=1, margin=1.0))

# %%
t0 = time.perf_counter()
report = verify(pot, model="linear", budget=BUDGET, seeds=(0,))
print(report.table())
print(f"\n{time.perf_counter() - t0:.1f} s")

# %% [markdown]
# ## 2. A wrong claim fails visibly
#
# Claim that this potential has an $\ell_2$ horizon (what gradient descent would have). The
# trajectories are reused from the cache; only the claim is checked again.

# %%
wrong = verify(pot, model="linear", claim_horizon="l2", budget=BUDGET, seeds=(0,))
for c in wrong.checks:
    if "horizon" in c.name or not c.passed:
        print(("pass " if c.passed else "FAIL ") + f"{c.name}: predicted {c.predicted}, "
              f"measured {c.measured}")
print("battery passed:", wrong.passed)

# %% [markdown]
# ## 3. Look at it: which max-margin direction does the flow approach?
#
# On a small dataset, integrate the flow and measure the angle between $\theta(t)$ and the
# max-margin directions for $\ell_2$, $\ell_3$ (the derived horizon) and $\ell_\infty$, computed
# independently by `theory.max_margin` (a convex program with a duality-gap certificate).

# %%
X = np.array([[1.0, 0.2], [0.4, 1.0], [-0.3, -1.0], [-1.0, 0.1]])
y = np.array([1.0, 1.0, -1.0, -1.0])
prob = Problem.create(Dataset.from_arrays(X, y), Linear(), pot, theta0=[0.0, 0.0])
sol = solve_mirror_flow(prob, log_t=30.0 if FAST else 200.0)
keep = sol.log_t > 0.5
fig, ax = plt.subplots(figsize=(6.5, 4))
for p, style in [(2.0, "--"), (3.0, "-"), (np.inf, ":")]:
    u = np.asarray(max_margin(X, y, p).direction, dtype=float)
    th = sol.theta[keep] / np.linalg.norm(sol.theta[keep], axis=1)[:, None]
    ang = np.arccos(np.clip(th @ (u / np.linalg.norm(u)), -1, 1))
    ax.plot(sol.log_t[keep], ang, style, label=f"angle to l{p:g} max-margin direction")
ax.set(xscale="log", yscale="log", xlabel="log t", ylabel="angle (rad)",
       title="x²/2 + |x|³/3 on a linear model: the l3 direction wins")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. Your own property with hypothesis
#
# `numerics.testing` draws potentials (built-in families with random parameters, and random
# sums of convex terms of different growth) and separable datasets with a controlled margin.
# Here: the global identity of §2 on random potentials and datasets, integrated over
# $\log t \in [0, 5]$ (the battery's `check_global_identity` does the bookkeeping).

# %%
from hypothesis import given, settings

from numerics.checks import check_global_identity
from numerics.testing import potentials, separable_datasets

results = []


@settings(max_examples=3 if FAST else 12, deadline=None, database=None)
@given(potentials(), separable_datasets(n=(4, 8), d=(2, 3)))
def global_identity_holds(potential, data):
    problem = Problem.create(data, Linear(), potential, scale=0.1, seed=0)
    solution = solve_mirror_flow(problem, log_t=5.0, certify=False, max_seconds=20)
    check = check_global_identity(problem, solution)
    results.append((str(potential.expr), check.measured, check.passed))
    assert check.passed, check


global_identity_holds()
for expr, measured, ok in results:
    print("pass" if ok else "FAIL", expr[:50].ljust(50), measured)
