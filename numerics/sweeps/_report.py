"""Figures across a sweep's grid, drawn from its results table (PNG and PDF, Agg).

One row of panels per swept path; columns: final normalized Q-margin, certified direction
digits, seconds per run, and the count of finished / failed runs per value. Each dot is one
run (failed runs as red crosses where they have a value), the black bar the median per value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._spec import canonical_json, get_path
from ._table import TABLE_NAME, read_table
from ._task import is_failed

__all__ = ["METRICS", "write_report"]

#: (column, axis label, log scale) of the report's value panels.
METRICS = (("margin", "final normalized Q-margin", False),
           ("digits", "certified direction digits", False),
           ("seconds", "seconds per run", True))


def _label(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def _groups(rows: list[dict[str, Any]], path: str) -> tuple[list[str], list[int]]:
    """Category labels (sorted: numbers by value) and each row's category index."""
    values = [get_path(json.loads(r["config"]), path) for r in rows] if path else [None] * len(
        rows)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    keys = sorted({_label(v) for v in values},
                  key=(lambda s: float(s)) if numeric else (lambda s: s))
    index = {k: i for i, k in enumerate(keys)}
    return keys, [index[_label(v)] for v in values]


def _panel(ax: Any, rows: list[dict[str, Any]], groups: list[int], n: int,
           metric: tuple[str, str, bool]) -> None:
    key, label, log = metric
    rng = np.random.default_rng(0)
    if all(r[key] is None or not math.isfinite(r[key]) for r in rows):
        ax.text(0.5, 0.5, f"no {key} values" + (" (certify off?)" if key == "digits" else ""),
                transform=ax.transAxes, ha="center", va="center", fontsize=8, color="grey")
    for failed, style in ((False, {"marker": "o", "color": "C0"}),
                          (True, {"marker": "x", "color": "red"})):
        pts = [(g, r[key]) for r, g in zip(rows, groups, strict=True)
               if is_failed(r) == failed and r[key] is not None and math.isfinite(r[key])
               and (r[key] > 0 or not log)]
        if pts:
            x, y = np.array(pts, dtype=float).T
            ax.scatter(x + rng.uniform(-0.15, 0.15, x.size), y, s=14, alpha=0.7,
                       label="failed" if failed else "finished", **style)
    for g in range(n):
        vals = [r[key] for r, gi in zip(rows, groups, strict=True) if gi == g
                and r[key] is not None and math.isfinite(r[key]) and (r[key] > 0 or not log)]
        if vals:
            ax.hlines(np.median(vals), g - 0.3, g + 0.3, color="black", lw=1.5)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(label, fontsize=8)


def _counts(ax: Any, rows: list[dict[str, Any]], groups: list[int], n: int) -> None:
    ok = np.bincount([g for r, g in zip(rows, groups, strict=True) if not is_failed(r)],
                     minlength=n)
    bad = np.bincount([g for r, g in zip(rows, groups, strict=True) if is_failed(r)],
                      minlength=n)
    ax.bar(range(n), ok, color="C0", label="finished")
    ax.bar(range(n), bad, bottom=ok, color="red", label="failed")
    ax.set_ylabel("runs", fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)


def write_report(out: str | Path) -> list[Path]:
    """Draw the sweep in ``out`` (its ``results.parquet``) into ``out/report/sweep.{png,pdf}``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileNotFoundError, ValueError
        No table in ``out``, or a table that :func:`read_table` refuses.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from numerics.sweeps import canonical_json, run_id, write_table
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"run_id": run_id(c), "status": "reached", "margin": 0.1 * c["init"]["seed"],
    ...          "seconds": 1.0, "config": canonical_json(c)}
    ...         for c in ({"init": {"seed": s}} for s in range(3))]
    >>> _ = write_table(out / "results.parquet", rows, ["init.seed"])
    >>> [f.name for f in write_report(out)]
    ['sweep.png', 'sweep.pdf']
    """
    from matplotlib.figure import Figure  # the object API: Agg, no pyplot state

    out = Path(out)
    rows, paths = read_table(out / TABLE_NAME)
    paths = paths or [""]
    ncols = len(METRICS) + 1
    fig = Figure(figsize=(3.6 * ncols, 2.9 * len(paths)))
    axes = fig.subplots(len(paths), ncols, squeeze=False)
    for row_axes, path in zip(axes, paths, strict=True):
        labels, groups = _groups(rows, path)
        for ax, metric in zip(row_axes, METRICS, strict=False):
            _panel(ax, rows, groups, len(labels), metric)
        _counts(row_axes[-1], rows, groups, len(labels))
        for ax in row_axes:
            ax.set_xticks(range(len(labels)), [s[:18] for s in labels],
                          rotation=30 if len(labels) > 3 else 0, fontsize=7, ha="right"
                          if len(labels) > 3 else "center")
            ax.set_xlabel(path or "all runs", fontsize=8)
            ax.set_xlim(-0.5, len(labels) - 0.5)
            ax.tick_params(axis="y", labelsize=7)
    for ax, (_, title, _) in zip(axes[0], (*METRICS, ("", "runs per value", False)),
                                 strict=True):
        ax.set_title(title, fontsize=9)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"sweep {out.name}: {len(rows)} runs, "
                 f"{sum(is_failed(r) for r in rows)} failed", fontsize=10)
    fig.tight_layout()                          # once, for both files
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    files = [report / f"sweep.{ext}" for ext in ("png", "pdf")]
    for f in files:
        fig.savefig(f, dpi=100)
    return files
