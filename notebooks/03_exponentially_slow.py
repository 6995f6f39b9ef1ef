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
# # Exponentially slow convergence (claim 2)
#
# **Claim [paper]** (Jacobs & Montúfar, arXiv:2605.19458; THEORY.md §5): mirror flow converges in
# direction, but it can be *extremely* slow. On a one-sample diagonal network under gradient flow
# with nearly tied coordinates the direction needs $\log t$ of order $10^{15}$ to get within a few
# percent of its limit; cosh-type potentials still sit about 1 % away when the loss is $10^{-305}$.
#
# **Setting.** $\beta = u\odot u - v\odot v$ (2-homogeneous), one sample $x = (1, 0.9)$, $y = +1$,
# exponential loss, $u_0 = (\alpha, \alpha)$ with $\alpha = 0.1$, $v_0 = 0$ (then $v \equiv 0$,
# which removes the fast relaxing components from the flow). With the clock $ds = \mathcal L\,dt$
# every coordinate follows its own scalar equation $f''(\theta_k)\,\dot\theta_k = 2x_k\theta_k$,
# so $\Psi(\theta_k(s)) = 2x_k s$ with $\Psi(\theta) = \int_\alpha^\theta f''(r)/r\,dr$: an exact
# invariant we use to check the integrator independently.
#
# **Limit [lit, derived].** In predictor space the direction goes to the max-margin solution of
# $\min \|\beta\|_{p/L}$ s.t. $\langle x,\beta\rangle \ge 1$ (THEORY.md §4): $\ell_1$ for gradient
# flow (limit $e_1$), $\ell_\infty$ for cosh (limit $(1,1)$). We take it from `theory.max_margin`,
# never from a run.
#
# **Predicted deviation.** Gradient flow [paper]: $(x_1\alpha^2/\log t)^{1-x_2/x_1}$, a power
# $-0.1$ of $\log t$. Cosh [derived here, heuristic]: $\theta_k \approx \log z_k$ and
# $z_1/z_2 \to x_1/x_2$ give $2\log(x_1/x_2)/\rho$ with $\rho = (\log t/\gamma)^{1/2}$ from
# `Potential.rates`.
#
# **Numerics (THEORY.md §7).** Time in log scale, loss in the log domain, and precision beyond
# float64: the high-precision runs are `numerics.solve_mirror_flow(problem, log_t=..., dps=39)`
# (heyoka's Taylor method in MPFR, certified by the same run at 58 digits); the float64 baseline
# is `numerics.solve_mirror_flow(problem, log_t=...)`.
# Everything below calls `numerics/reproduce/claim2.py` (the code behind
# `mirrorflow reproduce claim2`).
#
# **Fast mode.** `MIRRORFLOW_FAST=1` (set by `tests/test_notebooks.py`) uses fewer checkpoints,
# gradient flow only up to $\log t = 10^{8}$, cosh up to $10^3$ and a 1 s float64 budget; the
# stored outputs come from a normal run.

# %%
import os
import time

import matplotlib.pyplot as plt

from numerics.reproduce import claim2
from theory import Potential

FAST = os.environ.get("MIRRORFLOW_FAST", "") == "1"
plt.rcParams["figure.dpi"] = 90
t_start = time.perf_counter()
print(f"mode: {'FAST' if FAST else 'normal'}")

# %% [markdown]
# ## 1. The limit, from the max-margin program, and how long the theory says it takes
#
# `limit_direction` solves the predictor-space max-margin program with the exponent
# `Horizon.predictor_norm(2)`: $2/2 = 1$ for gradient flow, $\infty$ for cosh. Inverting the
# predicted deviation tells how large $\log t$ must be for a given accuracy.

# %%
x1, x2 = claim2.X_DATA
for key, setting in claim2.SETTINGS.items():
    prob = claim2.make_problem(setting.potential())
    beta_star, p, gamma = claim2.limit_direction(prob)
    print(f"{key:>14}: predictor norm l_{p:g}, limit beta* = {beta_star.round(12)}, "
          f"margin {gamma:.4g}, predicted exponent {claim2.predicted_exponent(key):.2g}")

print("\ngradient flow: log t needed for a given deviation, (x1 a^2 / log t)^(1 - x2/x1) = dev")
for dev in (0.1, 0.05, 0.02, 0.01, 0.001):
    need = x1 * claim2.ALPHA**2 * dev ** (-1 / (1 - x2 / x1))
    print(f"  deviation {dev:>6}: log t = {need:.1e}   "
          f"(check: formula gives {claim2.predicted_deviation('gradient_flow', need):.3g})")

# %% [markdown]
# ## 2. The runs
#
# `run_setting` integrates in MPFR (`bits=128`, i.e. 39 digits) up to the target $\log t$,
# repeats the run at 58 digits (`ref_bits=192`, the certificate), checks the invariant
# $\Psi(\theta_k(s)) = 2x_k s$, and runs the float64 baseline under a wall-clock budget.
# Gradient flow goes to $\log t = 10^{16}$ (a dozen Taylor steps, thanks to $\log t$ by
# quadrature); cosh needs Taylor steps roughly linear in $\log t$.

# %%
results = {}
targets = {"gradient_flow": 1e8 if FAST else 1e16, "cosh": 1e3 if FAST else 1e4}
for key, setting in claim2.SETTINGS.items():
    results[key] = claim2.run_setting(
        setting, log_t=targets[key], per_decade=1 if FAST else 2,
        f64_log_t=1e4, f64_budget=1.0 if FAST else 20.0, progress=True)

# %%
rows = ("log_t_reached", "status", "deviation", "predicted_deviation", "fitted_exponent",
        "predicted_exponent", "log_loss", "bits", "taylor_steps", "seconds", "closed_form_digits")


def cell(v):
    return v if isinstance(v, str) else f"{v:.6g}"


print(f"{'':>22}" + "".join(f"{k:>22}" for k in results))
for row in rows:
    print(f"{row:>22}" + "".join(f"{cell(r[row]):>22}" for r in results.values()))
for k, r in results.items():
    d = r["digits"]
    print(f"{k}: digits vs a {d['reference_bits']}-bit run: direction {d['direction']:.1f}, "
          f"log L {d['log_loss']:.1f}")

# %% [markdown]
# ## 3. Deviation against $\log t$
#
# Solid: MPFR; dashed: the predictions; dotted: float64. Gradient flow is still 2 % away at
# $\log t = 10^{15}$ and would need $\log t \approx 10^{18}$ for 1 %: the slope is
# $-(1 - x_2/x_1) = -0.1$. Cosh falls like $(\log t)^{-1/2}$.

# %%
fig, ax = plt.subplots(figsize=(8, 5))
claim2.plot_deviation(results, ax)
fig.tight_layout()
plt.show()

for k, r in results.items():
    extra = {kk: v for kk, v in r.items() if kk.startswith(("deviation_at", "log_t_at"))}
    print(k, {kk: f"{v:.4g}" for kk, v in extra.items()})

# %% [markdown]
# ## 4. Loss and norms against $\log t$, with the derived rates
#
# The rates come from `Potential.rates(depth=2, margin=gamma)` (THEORY.md §5, [derived]
# heuristics; gradient flow [lit, Lyu & Li]). The loss is shown as $-\log(t\,\mathcal L)$, the
# factor by which it misses $1/t$: for gradient flow $\log(4\log t)$ (about 38 at
# $\log t = 10^{16}$, the difference of two numbers of size $10^{16}$, computed at 128 bits), for
# cosh the super-polylog factor $\cosh\rho$. $\rho$ is the horizon-gauge size of $\theta$
# ($\ell_2$ for gradient flow, $\ell_\infty$ for cosh) and the dual carries $f'(\rho)$.

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
claim2.plot_loss_norms(results, axes)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. float64 against high precision
#
# The float64 solver (scipy DOP853, state $z$ and $\log t$) carries the stiff mode
# $d\log t/ds = e^{-\log t - \log\mathcal L}$, whose rate grows like $\log t$: its step count grows
# linearly with $\log t$ and it stalls within its budget. Where it gets, it agrees with MPFR to
# float64 accuracy; the late, slow regime is out of its reach. (Heyoka's float64 Taylor method
# with $\log t$ by quadrature reaches further, but for cosh it drifts: see `benchmarks/`.)

# %%
for k, r in results.items():
    f = r["float64"]
    print(f"{k}: float64 {f['status']} at log t = {f['log_t_reached']:.4g} "
          f"({f['rhs_evals']} rhs evaluations, {f['seconds']:.1f} s); deviation there "
          f"{f['deviation']:.6g}, MPFR {f['high_precision_deviation_there']:.6g}; digits vs MPFR: "
          f"direction {f['digits_vs_high_precision']['direction']:.1f}, "
          f"log L {f['digits_vs_high_precision']['log_loss']:.1f}")
    print(f"   MPFR reached log t = {r['log_t_reached']:.3g} in {r['taylor_steps']} Taylor steps")

# %% [markdown]
# ## 6. What to change
#
# - Untie the coordinates: `claim2.make_problem(Potential.quadratic(), x=(1.0, 0.5))` converges
#   with exponent $-0.5$, i.e. within 1 % at $\log t \approx 10^{2}$.
# - Try another potential: any `theory.Potential` with a closed-form inverse mirror map runs
#   through `claim2.integrate_high_precision(problem, log_t, bits=...)`.

# %%
prob = claim2.make_problem(Potential.quadratic(), x=(1.0, 0.5))
beta_star, p, _ = claim2.limit_direction(prob)
hp = claim2.integrate_high_precision(prob, 1e3 if FAST else 1e4, bits=96, per_decade=1)
dev = [float(claim2.deviation(claim2.predictor(th), beta_star, p)) for th in hp.theta]
for lt, d in zip(hp.log_t, dev, strict=True):
    if lt >= 1:
        print(f"x = (1, 0.5): log t = {lt:8.3g}  deviation {d:.4f}   "
              f"predicted {claim2.predicted_deviation('gradient_flow', lt, x=(1.0, 0.5)):.4f}")
print(f"\ntotal {time.perf_counter() - t_start:.1f} s")
