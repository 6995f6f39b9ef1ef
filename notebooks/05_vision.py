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
# # Vision: sparse and dense first-layer filters on 8×8 digits
#
# **Claim 3 [paper]** (Jacobs & Montúfar, arXiv:2605.19458; `docs/THEORY.md` §6): mirror
# flow learns features under every potential, but the representation ranges from **sparse**
# (l1-type horizons: hyperbolic entropy with small $b$; few neurons carry the network) to
# **dense** (l∞-type horizons: $\cosh$; all neurons take part), with gradient descent between.
#
# Here we look at it on real images: a **bias-free two-layer ReLU network**
# $\Phi(\theta; x) = \sum_j a_j\,\mathrm{relu}(\langle w_j, x\rangle)$ (2-homogeneous in
# $\theta$, `numerics.MLP(widths=(m,))`), trained by **discrete mirror descent**
# $z_{k+1} = z_k - \eta\nabla\mathcal L(\theta_k)$, $\theta = (f')^{-1}(z)$
# (`numerics.mirror_descent`, exponential loss), on one binary task from the 8×8 digits that ship
# with scikit-learn (`pip install 'mirrorflow[vision]'`). Each neuron's incoming weights
# $w_j \in \mathbb R^{64}$ are an 8×8 **filter**, shown as an image.
#
# Statements are tagged as in THEORY.md: **[paper]**, **[lit]** prior work, **[derived]** derived
# for this toolkit and checked on small cases. What this notebook shows is an **experiment**:
# finite training, one seed, one pair of digits.
#
# **Fast mode.** `MIRRORFLOW_FAST=1` (set by `tests/test_notebooks.py`) trains a narrower
# network for fewer steps; the stored outputs come from a normal run.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from numerics import MLP, Problem, mirror_descent, sparsity
from numerics.vision import accuracy, load_digits_binary, train_test_split
from theory import Potential

FAST = os.environ.get("MIRRORFLOW_FAST", "") == "1"
PAIR = (3, 8)                       # digit a -> y = +1, digit b -> y = -1
WIDTH = 12 if FAST else 32          # hidden neurons m
STEPS = 300 if FAST else 3000       # mirror-descent steps per potential
SEED = 0
INIT_SCALE = 0.1                    # W1 ~ 0.1 N(0, 1/64), W2 ~ 0.1 N(0, 1/m)
TOL = 1e-3                          # a neuron is active if p_j > TOL * max_j p_j
plt.rcParams["figure.dpi"] = 90
t_start = time.perf_counter()
print(f"mode: {'FAST' if FAST else 'normal'}; width {WIDTH}, {STEPS} steps per potential")

# %% [markdown]
# ## 1. The task: digit 3 against digit 8
#
# `load_digits_binary(a, b)` keeps the two digits of `sklearn.datasets.load_digits`, labels them
# ±1 and scales the 17 grey levels to $[0, 1]$ (features = pixels row by row, $d = 64$).
# A stratified 70/30 split gives a test set.

# %%
data = load_digits_binary(*PAIR)
train, test = train_test_split(data, test_fraction=0.3, seed=SEED)
shape = data.info["image_shape"]
print(data)
print(f"train: {train.n} images ({int((train.y > 0).sum())} of digit {PAIR[0]}), "
      f"test: {test.n} images")

fig, axes = plt.subplots(2, 8, figsize=(8, 2.3))
for row, label in enumerate((1.0, -1.0)):
    for ax, x in zip(axes[row], train.X[train.y == label][:8], strict=True):
        ax.imshow(x.reshape(shape), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(f"y = {label:+.0f}\n(digit {PAIR[row]})", fontsize=8)
fig.suptitle("training images (features = pixel / 16)", fontsize=10)
plt.show()

# %% [markdown]
# ## 2. Three potentials, three horizons
#
# One scalar $f$ per parameter, $\varphi(\theta) = \sum_k f(\theta_k)$. The horizon (the limit
# shape of the sublevel sets of $\varphi$; **[lit]** Pesme et al. 2024 for linear models,
# **[paper]** for homogeneous networks) is computed by `theory`, not typed in:
#
# | potential | $f(x)$ | horizon | expected representation [paper] |
# |---|---|---|---|
# | hyperbolic entropy, $b = 0.01$ | $x\,\mathrm{asinh}(x/b) - \sqrt{x^2 + b^2}$ | l1 | sparse |
# | gradient descent | $x^2/2$ | l2 | between |
# | cosh | $\cosh x$ | l∞ | dense |
#
# The step size differs per potential: the loss is a *sum* over ~250 images, so the
# gradient is large at the start, and a step that is stable for the hyperbolic entropy (which
# moves small coordinates slowly, $d\theta/dz = \sqrt{\theta^2 + b^2}$) makes gradient descent
# diverge. Each $\eta$ below is about the largest stable one we found, divided by 2-4.

# %%
POTENTIALS = {
    "hyperbolic entropy (b = 0.01)": (Potential.hyperbolic_entropy(0.01), 2e-3),
    "gradient descent": (Potential.quadratic(), 5e-4),
    "cosh": (Potential.cosh(), 5e-4),
}
model = MLP(widths=(WIDTH,), activation="relu")
for name, (phi, eta) in POTENTIALS.items():
    h = phi.horizon
    gauge = f"l{h.p}" if h.norm == "lp" else h.norm
    print(f"{name:30s} f = {phi.expr!s:36s} horizon: {gauge:4s}  eta = {eta:g}")
print(f"model: {model}, degree L = {model.degree}, {model.n_params(data.d)} parameters")

# %% [markdown]
# ## 3. Training
#
# All potentials start from the same $\theta_0$ (same seed and scale). `mirror_descent` records
# $\theta$ along the way together with $\log\mathcal L$ and the smallest margin
# $\min_i y_i\Phi(\theta; x_i)$. A recorded state with $\mathcal L = \sum_i e^{-q_i} \le 1$ has
# every margin $q_i > 0$, i.e. it separates the training set; we compare the potentials at
# the **first recorded state with $\mathcal L \le 1$** (equal training loss, so the comparison
# is not one of "who trained longer"), or at the last state if a run did not get there.

# %%
runs = {}
for name, (phi, eta) in POTENTIALS.items():
    problem = Problem.create(train, model, phi, loss="exp", scale=INIT_SCALE, seed=SEED)
    sol = mirror_descent(problem, eta=eta, steps=STEPS, record_every=max(1, STEPS // 100))
    below = np.flatnonzero(sol.log_loss <= 0.0)
    k = int(below[0]) if below.size else len(sol.log_loss) - 1
    runs[name] = {"problem": problem, "sol": sol, "k": k, "theta": sol.theta[k],
                  "step": round(float(np.exp(sol.log_t[k])) / eta)}
    print(f"{name:30s} {sol.status:8s} {sol.seconds:6.1f} s   compared at step "
          f"{runs[name]['step']:5d}: log L = {sol.log_loss[k]:+.3f}"
          + ("" if below.size else "   (L <= 1 not reached: last state)"))

# %% [markdown]
# ## 4. Accuracy and sparsity
#
# `numerics.sparsity` (THEORY.md §6), with $p_j = \lVert w_j\rVert_2\,\lvert a_j\rvert$ the size
# of neuron $j$'s contribution:
#
# * **active neurons**: fraction with $p_j > 10^{-3}\max_j p_j$;
# * **participation ratio** $(\sum_j p_j)^2 / \sum_j p_j^2$: the effective number of neurons
#   (1 if one neuron carries everything, $m$ if all are equal);
# * **active per input**: mean fraction of neurons with $\langle w_j, x_i\rangle > 0$;
# * **Hoyer** sparsity of the first-layer weights (0: all magnitudes equal, 1: a single one).
#
# The first row is the common initialisation. The margin column is unnormalised
# ($\min_i y_i\Phi$ grows with $\lVert\theta\rVert^2$), so it only says "separated or not";
# it is not comparable across potentials.

# %%
first = next(iter(runs.values()))["problem"]
rows = [("initialisation", first.theta0, np.nan, np.nan)]
rows += [(name, r["theta"], r["sol"].log_loss[r["k"]], r["sol"].min_margin[r["k"]])
         for name, r in runs.items()]
header = (f"{'':30s} {'log L':>7s} {'margin':>8s} {'train':>6s} {'test':>6s} "
          f"{'active':>7s} {'PR':>6s} {'per-input':>9s} {'Hoyer':>6s}")
print(header)
print("-" * len(header))
summary = {}
for name, theta, log_loss, margin in rows:
    s = sparsity(first, theta, tol=TOL)
    summary[name] = s
    print(f"{name:30s} {log_loss:7.3f} {margin:8.3g} {accuracy(model, theta, train):6.3f} "
          f"{accuracy(model, theta, test):6.3f} {s['active_neurons']:7.3f} "
          f"{s['participation_ratio']:6.2f} {s['active_per_input']:9.3f} {s['hoyer']:6.3f}")

# %% [markdown]
# ## 5. Training curves

# %%
fig, (ax_loss, ax_margin) = plt.subplots(1, 2, figsize=(10, 3.4))
for name, r in runs.items():
    sol = r["sol"]
    steps = np.exp(sol.log_t) / POTENTIALS[name][1]            # t = eta k
    (line,) = ax_loss.plot(steps, sol.log_loss, label=name)
    ax_margin.plot(steps, sol.min_margin, color=line.get_color(), label=name)
    ax_loss.plot(r["step"], sol.log_loss[r["k"]], "o", color=line.get_color())
ax_loss.axhline(0.0, color="gray", lw=0.8, ls=":")
ax_margin.axhline(0.0, color="gray", lw=0.8, ls=":")
ax_loss.set(xlabel="mirror-descent step k", ylabel=r"$\log \mathcal{L}$",
            title="training loss (dots: compared states)")
ax_margin.set(xlabel="mirror-descent step k", ylabel=r"$\min_i\, y_i \Phi(\theta; x_i)$",
              title="smallest training margin")
ax_margin.set_ylim(bottom=max(ax_margin.get_ylim()[0], -2.0))
ax_loss.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. The learned first-layer filters
#
# Each row is one potential, each panel one hidden neuron's incoming weights $w_j$ as an 8×8
# image, neurons sorted by their contribution $p_j$ (the title gives $p_j / \max_k p_k$).
# Colours are scaled per panel (red positive, blue negative), so a panel shows the *shape* of
# a filter; its weight in the network is the number above it. The sign of $a_j$ says for which
# digit the neuron votes.

# %%
N_SHOW = min(8, WIDTH)
fig, axes = plt.subplots(len(runs), N_SHOW, figsize=(1.25 * N_SHOW, 1.55 * len(runs)))
for row, (name, r) in enumerate(runs.items()):
    blocks = model.unpack(r["theta"], data.d)
    W, a = blocks["W1"], blocks["W2"].ravel()
    p = np.linalg.norm(W, axis=1) * np.abs(a)
    order = np.argsort(p)[::-1]
    for col, j in enumerate(order[:N_SHOW]):
        ax = axes[row, col]
        lim = np.abs(W[j]).max() or 1.0
        ax.imshow(W[j].reshape(shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"{p[j] / p.max():.2g} ({'+' if a[j] > 0 else '-'})", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name.replace(" (", "\n("), fontsize=7)
fig.suptitle(r"first-layer filters $w_j$, by contribution $p_j/\max p$ (sign of $a_j$)",
             fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 7. How many neurons carry the network?
#
# The sorted contributions $p_j / \max_k p_k$ on a log scale: a sparse representation drops
# by orders of magnitude after a few neurons, a dense one stays flat. The dotted line is the
# threshold of "active neurons" in the table.

# %%
fig, (ax_p, ax_w) = plt.subplots(1, 2, figsize=(10, 3.4))
for name, theta, *_ in rows:
    blocks = model.unpack(theta, data.d)
    W, a = blocks["W1"], blocks["W2"].ravel()
    p = np.sort(np.linalg.norm(W, axis=1) * np.abs(a))[::-1]
    style = {"color": "gray", "ls": "--"} if name == "initialisation" else {}
    ax_p.semilogy(np.arange(1, WIDTH + 1), p / p[0], marker=".", label=name, **style)
    v = np.sort(np.abs(W.ravel()))[::-1]
    ax_w.loglog(np.arange(1, v.size + 1), v / v[0], label=name, **style)
ax_p.axhline(TOL, color="gray", lw=0.8, ls=":")
ax_p.set(xlabel="neuron rank", ylabel=r"$p_j / \max p$", title="neuron contributions")
ax_w.set(xlabel="rank", ylabel=r"$|W_{1,jk}| / \max$", title="first-layer weight magnitudes")
ax_p.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 8. Reading the result
#
# * All three potentials separate the training set and generalise to the test images:
#   every map learns features **[paper]**.
# * The hyperbolic entropy with small $b$ concentrates the network on a few neurons (small
#   participation ratio, most $p_j$ orders of magnitude below the top one) with localised
#   filters (high Hoyer sparsity): the l1-type, sparse regime **[paper]**.
# * "Active per input" stays near 1/2 for every potential: a ReLU neuron fires on about half
#   of the images whatever its size, so this measure does not separate the regimes here; the
#   participation ratio and the Hoyer sparsity do.
# * Gradient descent and cosh keep many neurons with comparable contributions and spread-out
#   filters. cosh only differs from gradient descent once weights are of order 1 (its
#   $f'' = \cosh\theta \approx 1$ near 0), so within a short training run the two stay close,
#   with cosh at least as dense; the l∞ horizon governs the limit $t \to \infty$, which
#   `03_exponentially_slow` shows can be extremely far away **[paper]**.
#
# Caveats: one pair of digits, one seed, finite training, and per-potential step sizes. The
# numbers are an illustration of claim 3, not a measurement of the limit.
#
# ## 9. Your own MNIST or CIFAR-10 files
#
# The same pipeline reads user-supplied files (nothing is downloaded):
#
# ```python
# from numerics.vision import binary_task, load_cifar10_batch, load_idx
# images, labels = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
# data = binary_task(images, labels, 3, 8, downsample=4)            # 28x28 -> 7x7, d = 49
# images, labels = load_cifar10_batch("cifar-10-batches-py/data_batch_1")
# data = binary_task(images, labels, 3, 5, grayscale=True, downsample=4)   # d = 64
# ```
#
# Both readers validate the files (magic numbers, sizes, keys; the CIFAR pickle is read by a
# restricted unpickler that refuses anything but numpy arrays). Set `MIRRORFLOW_MNIST_DIR` to a
# folder with the four MNIST files to run the next cell on MNIST.

# %%
mnist_dir = os.environ.get("MIRRORFLOW_MNIST_DIR")
if mnist_dir:
    from numerics.vision import binary_task, load_idx

    images, labels = load_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"),
                              os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))
    mnist = binary_task(images[:2000], labels[:2000], 3, 8, downsample=4)
    print(mnist, mnist.info["image_shape"])
else:
    print("MIRRORFLOW_MNIST_DIR not set: skipping the MNIST cell")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s ({'FAST' if FAST else 'normal'})")
