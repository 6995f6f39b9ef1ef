"""Claim 2's figures: the deviation against log t, and the loss and norms against the theory's
rates. See :mod:`numerics.reproduce.claim2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._claim2_predictions import SETTINGS, rate_curves

__all__ = ["COLORS", "plot", "plot_deviation", "plot_loss_norms"]

COLORS = {"gradient_flow": "C0", "cosh": "C3"}


def plot_deviation(results: dict[str, dict[str, Any]], ax: Any) -> None:
    """Deviation against log t: MPFR (solid), prediction (dashed), float64 (dotted)."""
    for key, r in results.items():
        c = r["_curves"]
        col = COLORS.get(key, "k")
        ax.loglog(c["log_t"], c["deviation"], "-", color=col, lw=2,
                  label=f"{r['label']}: MPFR {r['bits']} bits")
        ax.loglog(c["log_t"], c["predicted"], "--", color="k", lw=1, alpha=0.8,
                  label=f"predicted (log t)^{r['predicted_exponent']:.2g}; "
                        f"fit {r['fitted_exponent']:.3f}")
        if len(c["f64_log_t"]):
            ax.loglog(c["f64_log_t"], c["f64_deviation"], ":", color=col, lw=3, alpha=0.6,
                      label=f"float64 (scipy): {r['float64']['status']} at log t = "
                            f"{r['float64']['log_t_reached']:.2g}")
    ax.axhline(0.01, color="0.6", lw=0.8)
    ax.set_xlabel("log t")
    ax.set_ylabel("deviation  ‖β/‖β‖ₚ − β*‖∞")
    ax.set_title("one-sample diagonal net, x = (1, 0.9): distance to the max-margin direction",
                 fontsize=10)
    ax.legend(fontsize=7.5)
    ax.grid(True, which="both", alpha=0.3)


def plot_loss_norms(results: dict[str, dict[str, Any]], axes: Any) -> None:
    """``-log(t L)``, ``rho`` and ``log ||z||`` against log t, the theory's rates dashed."""
    for key, r in results.items():
        c = r["_curves"]
        col = COLORS.get(key, "k")
        rc = rate_curves(SETTINGS[key].potential(), r["margin"], c["log_t"])
        for a, mine, rate in ((axes[0], "neg_log_tl", "neg_log_tl"),
                              (axes[1], "primal", "primal"), (axes[2], "log_dual", "log_dual")):
            draw = a.semilogx if a is axes[0] else a.loglog
            draw(c["log_t"], c[mine], "-", color=col, lw=2.5, alpha=0.7, label=r["label"])
            draw(c["log_t"], rc[rate], "--", color="k", lw=1, label="derived rate (theory)")
        if len(c["f64_log_t"]):
            axes[0].semilogx(c["f64_log_t"], c["f64_neg_log_tl"], ":", color=col, lw=3,
                             alpha=0.6, label="float64")
            axes[1].loglog(c["f64_log_t"], c["f64_primal"], ":", color=col, lw=3, alpha=0.6,
                           label="float64")
    axes[0].set_ylabel("−log(t·ℒ)   (ℒ ≈ 1/t up to this factor)")
    axes[1].set_ylabel("ρ = ‖θ‖ₚ  (horizon gauge: p = 2 GD, ∞ cosh)")
    axes[2].set_ylabel("log ‖z‖ₚ  (dual, z = f′(θ))")
    for a in axes:
        a.set_xlabel("log t")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)


def plot(results: dict[str, dict[str, Any]], out: Path) -> list[str]:
    """Write ``claim2_deviation`` and ``claim2_loss_norms`` (PNG and PDF) to ``out``."""
    # matplotlib is deferred: heavy, only the figures need it, and the backend is chosen first
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[str] = []
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    plot_deviation(results, ax)
    fig.suptitle("Claim 2: exponentially slow convergence in direction")
    fig.tight_layout()
    files += _save(fig, out / "claim2_deviation")
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    plot_loss_norms(results, axes)
    fig.suptitle("Claim 2: loss and norms against log t (solid: MPFR, dashed: theory rates)")
    fig.tight_layout()
    files += _save(fig, out / "claim2_loss_norms")
    plt.close(fig)
    return files


def _save(fig: Any, stem: Path) -> list[str]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    names = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=130)
        names.append(path.name)
    return names
