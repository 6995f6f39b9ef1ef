"""``mirrorflow integrate CONFIG.json``: integrate mirror flow for a JSON configuration,
optionally saving, resuming and plotting the run."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from .._files import check_writable
from ..checks import kkt, q_margin, q_margin_mp
from ..problem import RunConfig, load_config
from ..solvers import MirrorFlowSolution, problem_to_dict, resume, solve_mirror_flow
from ._common import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STUCK,
    json_text,
    positive_seconds,
)

#: Image formats ``--plot`` writes (matplotlib's Agg and vector backends).
PLOT_FORMATS = (".png", ".pdf", ".svg", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff",
                ".webp", ".pgf", ".svgz")

__all__ = ["add_integrate_parser", "integrate_summary", "run_integrate"]


def add_integrate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``integrate`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_integrate_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["integrate", "run.json", "--save", "out.json"])
    >>> args.max_seconds, args.resume, args.func is run_integrate
    (600.0, False, True)
    """
    i = subparsers.add_parser("integrate", help="integrate mirror flow for a JSON configuration")
    i.add_argument("config", help="CONFIG.json (see README: model, potential, params, loss, "
                                  "data, init, until, precision)")
    i.add_argument("--json", action="store_true", help="print one JSON summary")
    i.add_argument("--plot", metavar="OUT.png", help="write loss / norms / direction plots")
    i.add_argument("--save", metavar="RUN.json", help="save the full trajectory (atomic)")
    i.add_argument("--max-seconds", type=positive_seconds, default=600.0,
                   help="wall-clock budget in seconds (> 0)")
    i.add_argument("--checkpoint-every", type=positive_seconds, default=60.0, metavar="SECONDS",
                   help="with --save and precision.dps: save the run so far this often")
    i.add_argument("--resume", action="store_true",
                   help="continue the run saved in --save to the config's until.log_t")
    i.add_argument("--overwrite", action="store_true",
                   help="let --save replace a file that holds a different run")
    i.set_defaults(func=run_integrate)
    return i


def run_integrate(args: argparse.Namespace) -> int:
    """Run ``mirrorflow integrate`` for parsed ``args``; returns the exit status.

    0 if the run reached its target, 3 if it stopped early, 130 if interrupted (Ctrl-C; what
    was computed is saved with ``--save``). Bad input raises ``ValueError`` (exit status 2
    in :func:`numerics.cli.main`).
    """
    cfg = load_config(args.config)
    _check_outputs(args, cfg)                  # before any work: nothing computed is lost
    # overflow / 0-division warnings of extreme data are noise on a terminal: the status and
    # its message say what happened (the library itself keeps numpy's defaults)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _run_and_report(args, cfg)


def _run_and_report(args: argparse.Namespace, cfg: RunConfig) -> int:
    sol = _resumed(args, cfg) if args.resume else _solved(args, cfg)
    if args.plot:
        _plot(sol, args.plot)
    summary = integrate_summary(cfg, sol)
    if args.json:
        print(json_text(summary))
    else:
        _print_text(summary)
    if summary["status"] == "interrupted":
        where = (f"saved to {args.save}; continue with: mirrorflow integrate {args.config} "
                 f"--save {args.save} --resume" if args.save else
                 "nothing saved (give --save RUN.json to keep a run)")
        print(f"interrupted at log t = {summary['log_t']:.6g}; {where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if summary["status"] in ("reached", "log_loss_target"):
        return EXIT_OK
    print(f"mirrorflow integrate: {summary['message']}", file=sys.stderr)
    return EXIT_STUCK if summary["status"] == "stuck" else EXIT_INCOMPLETE


def _print_text(summary: dict[str, Any]) -> None:
    d = summary["digits"] or {}
    digits = d.get("direction", f"n/a ({summary['certificate']})")
    print(f"status {summary['status']}: log t = {float(summary['log_t']):.6g}, log loss = "
          f"{float(summary['log_loss']):.6g}, normalized Q-margin = {summary['margin']}, "
          f"balance residual max (relative) = {summary['balance_residual_max']:.2e}, digits "
          f"(direction) = {digits}, {summary['rhs_evals']} RHS "
          f"evaluations in {summary['seconds']:.2f} s [{summary['method']}]")
    for key in ("precision_raised", "digits_short"):
        if summary.get(key):
            print(f"{key.replace('_', ' ')}: {summary[key]}")


def _check_outputs(args: argparse.Namespace, cfg: RunConfig) -> None:
    """Every output path is usable, and --save does not silently replace another run."""
    if args.plot:
        check_writable(args.plot, "--plot", suffixes=PLOT_FORMATS)
    if not args.save:
        return
    check_writable(args.save, "--save")
    if args.resume or args.overwrite or not Path(args.save).exists():
        return
    try:
        held = MirrorFlowSolution.load(args.save).meta.get("problem")
    except ValueError:
        held = None
    if held != problem_to_dict(cfg.problem):
        raise ValueError(f"--save {args.save} already holds a different run (or another "
                         "file); choose another path, add --resume to continue it, or "
                         "--overwrite to replace it")


def _solved(args: argparse.Namespace, cfg: RunConfig) -> MirrorFlowSolution:
    """A new run of ``cfg`` (checkpointed to ``--save``)."""
    extra = {"method": cfg.method} if cfg.dps is not None else {}
    return solve_mirror_flow(cfg.problem, log_t=cfg.log_t, dps=cfg.dps, **extra,
                             max_seconds=args.max_seconds, progress=not args.json,
                             checkpoint=args.save, checkpoint_every=args.checkpoint_every)


def _resumed(args: argparse.Namespace, cfg: RunConfig) -> MirrorFlowSolution:
    """The run saved in ``--save``, continued to the configuration's log t if needed."""
    if not args.save:
        raise ValueError("--resume continues the run saved in --save RUN.json; give --save")
    if not Path(args.save).exists():
        raise ValueError(f"--resume: {args.save} does not exist; run once without --resume")
    previous = MirrorFlowSolution.load(args.save)
    previous.require_verified(f"--resume: {args.save}")
    if previous.meta.get("problem") != problem_to_dict(cfg.problem):
        raise ValueError(f"--resume: {args.save} holds a run of a different configuration; "
                         "use another --save file or drop --resume")
    if float(previous.log_t[-1]) >= cfg.log_t:
        return previous
    return resume(previous, cfg.problem, log_t=cfg.log_t, max_seconds=args.max_seconds,
                  progress=not args.json, checkpoint=args.save,
                  checkpoint_every=args.checkpoint_every)


def _theta_strings(sol) -> list[str]:
    """Final θ as decimal strings: every stored digit of a high-precision run, else repr."""
    if sol.theta_mp is None:
        return [repr(float(v)) for v in sol.theta[-1]]
    dps = int(sol.meta.get("dps_stored", 40))
    return [mpmath.nstr(v, dps, strip_zeros=False) for v in sol.theta_mp[-1]]


def integrate_summary(cfg: RunConfig, sol: MirrorFlowSolution) -> dict[str, Any]:
    """The JSON summary of ``mirrorflow integrate`` (see the README for the keys).

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Linear, Problem, RunConfig, two_d
    >>> prob = Problem.create(two_d(6, seed=0), Linear(), Potential.quadratic())
    >>> cfg = RunConfig(prob, 5.0, None, {})
    >>> summary = integrate_summary(cfg, solve_mirror_flow(prob, log_t=5.0, certify=False))
    >>> summary["status"], summary["log_t"]
    ('reached', 5.0)
    """
    log_loss, margin, min_margin = _final_values(cfg, sol)
    return {
        "log_t": float(sol.log_t[-1]),
        "log_loss": log_loss,
        "margin": margin,
        "min_margin": min_margin,
        "theta": _theta_strings(sol),
        "balance_residual_max": float(np.max(sol.balance_residual_max)),
        "digits": sol.meta.get("digits"),
        "rhs_evals": sol.rhs_evals,
        "seconds": sol.seconds,
        "kkt": _kkt_summary(cfg, sol),
        "status": sol.status,
        "message": sol.message,
        "certificate": sol.meta.get("certificate"),
        "precision_raised": sol.meta.get("precision_raised"),
        "digits_short": sol.meta.get("digits_short"),
        "method": sol.method,
        "precision_bits": sol.precision_bits,
    }


def _kkt_summary(cfg: RunConfig, sol: MirrorFlowSolution) -> dict[str, Any]:
    """KKT residuals of the derived horizon's margin problem at the final point (THEORY.md §4):
    stationarity ε, complementarity δ, the horizon and the multipliers λ_i (which samples
    support the limit); ``{"error": reason}`` where they are undefined (margin <= 0, a
    one-sided or undetermined horizon)."""
    theta = sol.theta[-1] if sol.theta_mp is None else sol.theta_mp[-1]
    try:
        res = kkt(cfg.problem, theta)
    except (ValueError, NotImplementedError, ArithmeticError) as exc:
        return {"error": " ".join(str(exc).split()) or type(exc).__name__}
    return {"stationarity": float(res.stationarity),
            "complementarity": float(res.complementarity), "horizon": res.horizon,
            "multipliers": [float(v) for v in res.multipliers]}


def _final_values(cfg: RunConfig, sol: MirrorFlowSolution) -> tuple[Any, Any, Any]:
    """(log loss, normalized Q-margin, min margin) at the end of the run: floats for float64
    runs, decimal strings with every stored digit for precise runs (JSON floats would keep 17)."""
    try:
        if sol.theta_mp is None:
            margin: Any = float(q_margin(cfg.problem, sol.theta[-1]))
        else:
            with mpmath.workdps(int(sol.meta.get("dps_stored", 40)) + 10):
                margin = q_margin_mp(cfg.problem, sol.theta_mp[-1], sol.min_margin_mp[-1])
    except (NotImplementedError, ValueError, ArithmeticError):
        margin = None     # e.g. per-layer potentials with mixed horizons, a zero/overflowing gauge
    if sol.theta_mp is None:
        return float(sol.log_loss[-1]), margin, float(sol.min_margin[-1])
    dps = int(sol.meta.get("dps_stored", 40))

    def text(v: Any) -> str:
        return mpmath.nstr(v, dps, strip_zeros=False)
    return (text(sol.log_loss_mp[-1]), None if margin is None else text(margin),
            text(sol.min_margin_mp[-1]))


def _plot(sol: MirrorFlowSolution, path: str) -> None:
    """Write loss, norm growth and direction plots of ``sol`` to ``path``."""
    # matplotlib is deferred: it is heavy, and only --plot needs it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    keep = sol.log_t >= 1e-2                      # log axis: from t = e^0.01 on
    lt = sol.log_t[keep]
    ax[0].plot(lt, -sol.log_loss[keep])
    ax[0].set(xscale="log", yscale="symlog", xlabel="log t", ylabel="-log loss",
              title="loss (log domain)")
    norms = np.linalg.norm(sol.theta[keep], axis=1)
    ax[1].plot(lt, norms, label="||theta||_2")
    ax[1].plot(lt, np.linalg.norm(sol.z[keep], axis=1), label="||z||_2 (dual)")
    ax[1].set(xscale="log", yscale="log", xlabel="log t", title="norm growth")
    ax[1].legend()
    ax[2].plot(lt, sol.theta[keep] / norms[:, None])
    ax[2].set(xscale="log", xlabel="log t", title="direction theta/||theta||")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
