# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Claim 1: distinct potentials, one horizon, one direction
#
# **[paper]** Distinct non-homogeneous mirror maps induce the same max-margin solution: what
# decides the limit direction of mirror flow is the **horizon** of the potential (the limit
# shape of its rescaled sublevel sets, `docs/THEORY.md` §3), not the potential itself.
# **[lit]** For a linear model the direction converges to argmin φ_∞(β) s.t. y_i⟨x_i, β⟩ ≥ 1
# (Gunasekar et al. 2018, Sun et al. 2022, Pesme et al. 2024): an LP for l1 / l_∞, NNLS for l2.
#
# This notebook trains a linear model and a two-layer ReLU net on 2-D data with six
# potentials, two per horizon, from **one** initialisation, and compares the final predictors.
# The horizons are *derived* by `theory`, not assumed. Everything here calls the building
# blocks of `numerics.reproduce.claim1`, the module behind `mirrorflow reproduce claim1`.
#
# **Fast mode** (`MIRRORFLOW_FAST=1`, set by the test suite): the `tiny` setting (four
# potentials, linear model only, log t ≤ 120). Stored outputs come from a normal run.

# %%
import os
import time

import matplotlib.pyplot as plt

from numerics.reproduce import claim1
from numerics.reproduce._common import horizon_label
from theory import Potential

FAST = os.environ.get("MIRRORFLOW_FAST", "") == "1"
plt.rcParams["figure.dpi"] = 80          # keeps the stored notebook small
setting = claim1.SETTINGS["tiny" if FAST else "quick"]
print("mode:", "fast" if FAST else "normal", "| log t target:", setting.log_t,
      "| tolerance on 1 - cos:", setting.tolerance)

# %% [markdown]
# ## 1. Horizons, derived
#
# `theory.Potential(...).horizon` classifies the growth of f at ±∞. Hyperbolic entropy is
# l1 for every b; x²/2 + log cosh x is l2 (log cosh grows only linearly); cosh x and cosh(x/2)
# are l_∞. A tempting "l2 with a small perturbation", x²/2 + x⁴/100, is **not** l2: the quartic
# term sets the horizon (l4), however small its coefficient.

# %%
for spec in setting.potentials:
    h = spec.potential().horizon
    print(f"{spec.name:24s} f = {spec.expr:36s} horizon {horizon_label(spec.potential()):5s}"
          f" (growth index {h.positive_index})")
print(f"{'x²/2 + x⁴/100':24s} {'':40s} horizon {horizon_label(Potential('x**2/2 + x**4/100'))}")

# %% [markdown]
# ## 2. Linear model: one direction per horizon, and it is the max-margin one
#
# Every potential starts from the same θ0. l_∞ potentials stop at log t = 55: the float64
# solver stalls for cosh near log t ≈ 65 (THEORY.md §7), and the summary says so.

# %%
start = time.perf_counter()
linear = claim1.run_model(setting, "linear")
print(f"{time.perf_counter() - start:.1f} s")
names = linear["cosine"]["names"]
for name in names:
    r = linear["potentials"][name]
    print(f"{name:24s} [{r['horizon']:4s}] log t = {r['log_t_reached']:6.1f}  "
          f"cos to max-margin = {r['cosine_to_max_margin']:.6f}  "
          f"gap (horizon norm) = {r['max_margin_gap']:.2e}")
print("same-horizon min cos:", round(linear["same_horizon_min_cosine"], 6),
      "| cross-horizon max cos:", round(linear["cross_horizon_max_cosine"], 6),
      "| holds:", linear["holds"])

# %%
fig = claim1.plot_directions(setting.data(), linear["potentials"], linear["_mm"],
                             title="linear model")
plt.show()

# %% [markdown]
# Pairwise cosines (rows and columns in the order printed above). Blocks of ones along the
# diagonal are the horizons.

# %%
fig, ax = plt.subplots(figsize=(5.2, 4.4))
im = ax.imshow(linear["cosine"]["matrix"], vmin=0.9, vmax=1.0, cmap="viridis")
ax.set_xticks(range(len(names)), [f"{n} [{linear['potentials'][n]['horizon']}]" for n in names],
              rotation=60, ha="right", fontsize=7)
ax.set_yticks(range(len(names)), names, fontsize=7)
fig.colorbar(im, label="cosine between final directions")
ax.set_title("linear model: cosine of final directions")
plt.show()

# %% [markdown]
# **How fast?** Same horizon does not mean same speed (THEORY.md §3): hyperbolic entropy
# approaches its l1 limit at a rate ~1/log(ρ/b), so larger b is slower; gradient flow
# approaches l2 like 1/log t. Both axes are logarithmic.

# %%
labels = {k: v["horizon"] for k, v in linear["potentials"].items()}
fig = claim1.plot_gap(linear["_curves"], labels)
plt.show()

# %% [markdown]
# ## 3. Two-layer ReLU net
#
# For a network, parameters are compared through the **predictor** Φ(θ; u) on 64 points u of
# the unit circle (for the linear model this cosine equals the parameter cosine). Same
# horizon, same predictor direction; different horizons, visibly different predictors.
# The verdict for the net is by KKT residuals (THEORY.md §4.1): each run's parameters are nearer
# a KKT point of their own horizon's margin problem than of the other groups' (`net["kkt"]`);
# the cosines are information. (Skipped in fast mode.)

# %%
if "two_layer" in setting.models:
    net = claim1.run_model(setting, "two_layer")
    print("same-horizon min cos:", round(net["same_horizon_min_cosine"], 5),
          "| cross-horizon max cos:", round(net["cross_horizon_max_cosine"], 5),
          "| per horizon:", {k: round(v, 5) for k, v in net["group_min_cosine"].items()},
          "| cosines hold:", net["cosine_holds"], "| KKT verdict holds:", net["holds"])
    for name, r in net["kkt"]["runs"].items():
        table = net["potentials"][name]["kkt"]
        eps = {h: f"{v['eps']:.3g} ({v['slope']:+.2f})" for h, v in table.items()}
        print(f"  {name:24s} [{r['horizon']}] eps (slope) per horizon problem: {eps}"
              + ("" if r["judged"] else "  (not judged: l_inf)"))
    fig = claim1.plot_directions(setting.data(), net["potentials"], title="two-layer ReLU net")
    plt.show()
else:
    print("fast mode: two-layer net skipped")

# %% [markdown]
# ## Change one line
#
# Try `setting = claim1.SETTINGS["quick"]` with another potential in `setting.potentials`
# (e.g. `PotentialSpec("hyp. entropy b=0.01", claim1._HE, (("b", 0.01),))` from
# `numerics.reproduce._common`), a different dataset seed (`dataclasses.replace(setting,
# seed=...)`; seeds with two nearly tied support vectors converge extremely slowly, claim 2),
# or `mirrorflow reproduce claim1 --quick` for the figures as PNG/PDF and `summary.json`.
