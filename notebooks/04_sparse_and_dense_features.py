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
# # Claim 3: sparse and dense features
#
# **[paper]** All mirror maps learn features, but the representations range from sparse to
# dense: l1-type horizons (hyperbolic entropy with small b) freeze most coordinates and
# activate few neurons; l_∞-type horizons (cosh) saturate all coordinates; gradient flow sits
# between (`docs/THEORY.md` §6).
#
# Two tasks, each trained from one initialisation with three potentials:
#
# * a **sparse teacher**: labels of a bias-free two-layer ReLU net with 2 neurons, learned by a
#   wider student (square-ReLU activation: C¹, so the float64 integrator is not stopped by
#   ReLU kinks);
# * **XOR-type** data with the square activation z², which separates XOR.
#
# Measures (`numerics.sparsity`, with p_j = ‖w_j‖·|a_j|): fraction of neurons with
# p_j > tol · max p, participation ratio (Σp)²/Σp² (divided by the width), fraction of
# neurons active per input (for z² every neuron with w_j ≠ 0 is "active", so this one does
# not separate), Hoyer sparsity of the first-layer weights. Everything calls the building
# blocks of `numerics.reproduce.claim3`, the module behind `mirrorflow reproduce claim3`.
#
# **Fast mode** (`MIRRORFLOW_FAST=1`): the `tiny` setting (XOR only, 6 neurons, log t ≤ 40).

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from numerics.reproduce import claim3

FAST = os.environ.get("MIRRORFLOW_FAST", "") == "1"
plt.rcParams["figure.dpi"] = 80          # keeps the stored notebook small
setting = claim3.SETTINGS["tiny" if FAST else "quick"]
print("mode:", "fast" if FAST else "normal", "| log t target:", setting.log_t,
      "| init scale:", setting.init_scale, "| tasks:", [t.name for t in setting.tasks])

# %% [markdown]
# ## 1. Train every potential on every task

# %%
results = {}
start = time.perf_counter()
for task in setting.tasks:
    per = {}
    for name, prob in claim3.make_problems(setting, task).items():
        sol = claim3.train(prob, setting.log_t, setting.max_seconds)
        th = sol.theta[-1]
        per[name] = {"horizon": claim3.horizon_label(prob.potential),
                     "log_t_reached": float(sol.log_t[-1]),
                     "min_margin": float(sol.min_margin[-1]),
                     "neuron_products": claim3.neuron_products(prob, th),
                     **claim3.measures(prob, th, setting.tol)}
    results[task.name] = {"potentials": per, "tol": setting.tol,
                          **claim3.verdict(per, setting.margin)}
print(f"{time.perf_counter() - start:.1f} s")
for task, res in results.items():
    print(f"\n{task}: l1 clearly sparser than l_inf: {res['holds']} "
          f"(participation gap {res['participation_fraction_gap']:.2f}, "
          f"Hoyer gap {res['hoyer_gap']:.2f}; required > {setting.margin})")
    for name, m in res["potentials"].items():
        print(f"  {name:22s} [{m['horizon']:4s}] log t {m['log_t_reached']:5.1f} "
              f"min margin {m['min_margin']:8.3g} | active {m['active_neurons']:.2f} "
              f"PR/width {m['participation_fraction']:.2f} "
              f"per input {m['active_per_input']:.2f} Hoyer {m['hoyer']:.2f}")

# %% [markdown]
# ## 2. The measures side by side

# %%
fig = claim3.plot_measures(results)
plt.show()

# %% [markdown]
# ## 3. Where the weight sits: sorted neuron products
#
# With the l1-type potential a few neurons carry everything and the rest stay at their
# (frozen) initial size; with cosh the products are spread over many neurons.

# %%
fig = claim3.plot_neuron_norms(results)
plt.show()

# %% [markdown]
# ## 4. The learned XOR neurons
#
# First-layer weight vectors w_j of the XOR task, scaled by |a_j|: the l1-type potential uses
# about two directions (x₁ ± x₂, which give x₁x₂ = ((x₁+x₂)² − (x₁−x₂)²)/4); cosh spreads.

# %%
task = next(t for t in setting.tasks if t.kind == "xor")
probs = claim3.make_problems(setting, task)
fig, axes = plt.subplots(1, len(probs), figsize=(4 * len(probs), 3.8))
for ax, (name, prob) in zip(axes, probs.items(), strict=True):
    sol = claim3.train(prob, setting.log_t, setting.max_seconds)
    W, a = prob.model.unpack(sol.theta[-1], prob.d).values()
    V = W * np.abs(a)[:, None]
    for v in V:
        ax.plot([0, v[0]], [0, v[1]], "-o", ms=3)
    ax.set_aspect("equal")
    ax.set_xlabel("w₁·|a|")
    ax.set_ylabel("w₂·|a|")
    ax.set_title(f"{name} [{claim3.horizon_label(prob.potential)}]", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Change one line
#
# Try a larger b (`PotentialSpec("hyp. entropy b=1", ...)`: closer to gradient flow early on),
# a smaller init scale (`dataclasses.replace(setting, init_scale=0.1)`: more neurons stay
# dead), or `mirrorflow reproduce claim3 --quick` for PNG/PDF figures and `summary.json`.
