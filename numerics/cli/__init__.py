"""The ``mirrorflow`` command line.

``mirrorflow derive EXPR`` derives mirror map, inverse, conjugate, balance function, horizon
and predicted rates for a potential typed in sympy syntax. Bad input exits with status 2
and a one-line reason on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _parse_params(items: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise CliError(f"--param expects NAME=VALUE (e.g. --param b=0.1), got {item!r}")
        params[name.strip()] = value.strip()
    return params


def _num(value) -> float | str | None:
    """JSON form of a sympy number: float, "inf"/"-inf", or None."""
    import sympy as sp

    if value is None:
        return None
    if value in (sp.oo, -sp.oo):
        return "inf" if value == sp.oo else "-inf"
    return float(value)


def derive_report(expr: str, params: dict[str, str], depth: int = 1, dim: int = 2,
                  invert: str | None = None, dps: int = 50) -> dict:
    """Everything ``mirrorflow derive`` prints, as a JSON-ready dict.

    Examples
    --------
    >>> rep = derive_report("x*asinh(x/b) - sqrt(x**2 + b**2)", {"b": "0.1"})
    >>> rep["mirror_map"], rep["inverse_mirror_map"], rep["horizon"]["norm"]
    ('asinh(10*x)', 'sinh(z)/10', 'l1')
    """
    import mpmath
    import sympy as sp

    from theory import Potential, balance_law

    pot = Potential(expr, **params)
    h, r = pot.horizon, pot.rates(depth)
    inv, conj = pot.inverse_mirror_map.expr, pot.conjugate.expr

    def bound(e):
        return None if e is None else str(pot.bind(e))

    rep: dict = {
        "potential": str(pot.f),
        "params": {k: str(v) for k, v in pot.params.items()},
        "mirror_map": bound(pot.mirror_map.expr),
        "hessian": bound(pot.hessian.expr),
        "inverse_mirror_map": bound(inv),
        "inverse_method": pot.inverse_mirror_map.method,
        "conjugate": bound(conj),
        "balance_function": bound(pot.balance_function.expr),
        "horizon": {
            "positive_index": _num(h.positive_index),
            "negative_index": _num(h.negative_index),
            "norm": h.norm,
            "p": None if h.p is None or h.p == sp.oo else float(h.p),
            "side_ratio": _num(h.side_ratio),
            "gauge": None if h.p is None else str(h.gauge(dim)),
            "predictor_norm_p": None if h.p is None else _num(h.predictor_norm(depth)),
            "reason": h.reason,
        },
        "rates": {
            "depth": depth,
            "regime": r.regime,
            "loss": str(r.loss),
            "primal_norm": str(r.primal_norm),
            "dual_norm": str(pot.bind(r.dual_norm)),
            "loss_exponent": None if r.loss_exponent is None else str(r.loss_exponent),
        },
        "balance_law_two_layer": str(balance_law((dim, 1), 1, pot).quantities[0].expr),
        "parametric": {
            "potential": str(pot.expr),
            "mirror_map": str(pot.mirror_map.expr),
            "inverse_mirror_map": None if inv is None else str(inv),
            "conjugate": None if conj is None else str(conj),
            "balance_function": str(pot.balance_function.expr),
        },
    }
    if invert is not None:
        value = pot.inverse(invert, dps=dps)
        with mpmath.workdps(dps):
            rep["inverse_at"] = mpmath.nstr(value, dps, strip_zeros=False)
        rep["inverse_at_z"] = invert
        rep["inverse_at_dps"] = dps
    return rep


def _print_human(pot_expr: str, rep: dict, latex: bool) -> None:
    import sympy as sp

    names = {n: sp.Symbol(n, real=True) for n in ("x", "z", "t", "rho")}
    names["gamma"] = sp.Symbol("gamma", positive=True)   # not the Gamma function

    def show(s):
        return "(numeric)" if s is None else (sp.latex(sp.sympify(s, locals=names))
                                              if latex else s)

    h, r = rep["horizon"], rep["rates"]
    lines = [
        f"potential        f(x)      = {show(rep['potential'])}",
        f"mirror map       f'(x)     = {show(rep['mirror_map'])}",
        f"Hessian          f''(x)    = {show(rep['hessian'])}",
        f"inverse map      (f')^-1(z)= {show(rep['inverse_mirror_map'])}"
        + ("" if rep["inverse_mirror_map"] else f"  [{rep['inverse_method']}]"),
        f"conjugate        f*(z)     = {show(rep['conjugate'])}",
        f"balance function g(x)      = {show(rep['balance_function'])}",
        f"horizon: {h['norm']} (p = {h['p'] if h['p'] is not None else 'inf'}), growth index "
        f"{h['positive_index']} at +inf, {h['negative_index']} at -inf; side ratio "
        f"{h['side_ratio']}",
        f"  gauge: {show(h['gauge'])}",
        f"  {h['reason']}",
        f"  predictor-space exponent for depth-{r['depth']} diagonal nets: {h['predictor_norm_p']}",
        f"rates (L = {r['depth']}, margin gamma): {r['regime']}",
        f"  loss ~ {show(r['loss'])}",
        f"  primal norm ~ {show(r['primal_norm'])}",
        f"  dual norm ~ {show(r['dual_norm'])}",
        f"balance law (two-layer, one neuron): C = {show(rep['balance_law_two_layer'])}",
    ]
    if "inverse_at" in rep:
        lines.append(f"(f')^-1({rep['inverse_at_z']}) = {rep['inverse_at']}")
    print("\n".join(lines))


def _cmd_derive(args: argparse.Namespace) -> int:
    if args.depth < 1:
        raise CliError(f"--depth must be >= 1, got {args.depth}")
    if args.dim < 1:
        raise CliError(f"--dim must be >= 1, got {args.dim}")
    if args.dps < 1:
        raise CliError(f"--dps must be >= 1, got {args.dps}")
    rep = derive_report(args.expr, _parse_params(args.param), args.depth, args.dim,
                        args.invert, args.dps)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        _print_human(args.expr, rep, args.latex)
    return 0


def _theta_strings(sol) -> list[str]:
    """Final θ as decimal strings: every stored digit of a high-precision run, else repr."""
    if sol.theta_mp is None:
        return [repr(float(v)) for v in sol.theta[-1]]
    import mpmath

    dps = int(sol.meta.get("dps_stored", 40))
    return [mpmath.nstr(v, dps, strip_zeros=False) for v in sol.theta_mp[-1]]


def integrate_summary(cfg, sol) -> dict:
    """The JSON summary of ``mirrorflow integrate`` (see the README for the keys)."""
    import numpy as np

    from ..checks import q_margin

    theta = sol.theta[-1]
    try:
        margin = float(q_margin(cfg.problem, theta))
    except (NotImplementedError, ValueError):
        margin = None                        # e.g. per-layer potentials with mixed horizons
    return {
        "log_t": float(sol.log_t[-1]),
        "log_loss": float(sol.log_loss[-1]),
        "margin": margin,
        "min_margin": float(sol.min_margin[-1]),
        "theta": _theta_strings(sol),
        "balance_residual_max": float(np.max(sol.balance_residual_max)),
        "digits": sol.meta.get("digits"),
        "rhs_evals": sol.rhs_evals,
        "seconds": sol.seconds,
        "status": sol.status,
        "method": sol.method,
        "precision_bits": sol.precision_bits,
    }


def _plot(sol, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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


def _cmd_integrate(args: argparse.Namespace) -> int:
    from ..problem import load_config
    from ..solvers import solve_mirror_flow

    cfg = load_config(args.config)
    every = args.checkpoint_every
    if args.resume:
        if not args.save:
            raise ValueError("--resume continues the run saved in --save RUN.json; give --save")
        from pathlib import Path

        from ..solvers import resume
        from ..solvers._solution import MirrorFlowSolution, problem_to_dict

        if not Path(args.save).exists():
            raise ValueError(f"--resume: {args.save} does not exist; run once without --resume")
        previous = MirrorFlowSolution.load(args.save)
        if previous.meta.get("problem") != problem_to_dict(cfg.problem):
            raise ValueError(f"--resume: {args.save} holds a run of a different configuration; "
                             "use another --save file or drop --resume")
        if float(previous.log_t[-1]) >= cfg.log_t:
            sol = previous
        else:
            sol = resume(previous, cfg.problem, log_t=cfg.log_t, max_seconds=args.max_seconds,
                         progress=not args.json, checkpoint=args.save, checkpoint_every=every)
    else:
        extra = {"method": cfg.method} if cfg.dps is not None else {}
        sol = solve_mirror_flow(cfg.problem, log_t=cfg.log_t, dps=cfg.dps, **extra,
                                max_seconds=args.max_seconds, progress=not args.json,
                                checkpoint=args.save, checkpoint_every=every)
    if args.plot:
        _plot(sol, args.plot)
    summary = integrate_summary(cfg, sol)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        d = summary["digits"] or {}
        print(f"status {summary['status']}: log t = {summary['log_t']:.6g}, log loss = "
              f"{summary['log_loss']:.6g}, normalized Q-margin = {summary['margin']}, "
              f"balance residual max = {summary['balance_residual_max']:.2e}, digits "
              f"(direction) = {d.get('direction', 'n/a')}, {summary['rhs_evals']} RHS "
              f"evaluations in {summary['seconds']:.2f} s [{summary['method']}]")
    if summary["status"] == "interrupted":
        where = (f"saved to {args.save}; continue with: mirrorflow integrate {args.config} "
                 f"--save {args.save} --resume" if args.save else
                 "nothing saved (give --save RUN.json to keep a run)")
        print(f"interrupted at log t = {summary['log_t']:.6g}; {where}", file=sys.stderr)
        return 130
    return 0 if summary["status"] in ("reached", "log_loss_target") else 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="mirrorflow",
        description="Implicit bias of mirror flow in homogeneous networks: derive, integrate, "
                    "verify, reproduce.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="derive mirror map, inverse, conjugate, balance law, "
                                      "horizon and rates for a potential")
    d.add_argument("expr", help="f(x) in sympy syntax, e.g. 'x*asinh(x/b) - sqrt(x**2+b**2)'")
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="parameter value, e.g. --param b=0.1 (repeatable)")
    d.add_argument("--depth", type=int, default=1, help="homogeneity degree L (default 1)")
    d.add_argument("--dim", type=int, default=2, help="dimension for the horizon gauge")
    d.add_argument("--invert", metavar="Z", help="evaluate (f')^{-1}(Z)")
    d.add_argument("--dps", type=int, default=50, help="significant digits for --invert")
    d.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=_cmd_derive)
    i = sub.add_parser("integrate", help="integrate mirror flow for a JSON configuration")
    i.add_argument("config", help="CONFIG.json (see README: model, potential, params, loss, "
                                  "data, init, until, precision)")
    i.add_argument("--json", action="store_true", help="print one JSON summary")
    i.add_argument("--plot", metavar="OUT.png", help="write loss / norms / direction plots")
    i.add_argument("--save", metavar="RUN.json", help="save the full trajectory (atomic)")
    i.add_argument("--max-seconds", type=float, default=600.0, help="wall-clock budget")
    i.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help="with --save and precision.dps: save the run so far this often")
    i.add_argument("--resume", action="store_true",
                   help="continue the run saved in --save to the config's until.log_t")
    i.set_defaults(func=_cmd_integrate)
    from ..checks import add_verify_parser
    from ..reproduce.cli import add_reproduce_parser
    add_verify_parser(sub)
    add_reproduce_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mirrorflow`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ValueError, ArithmeticError, NotImplementedError) as exc:
        msg = " ".join(str(exc).split())
        print(f"mirrorflow {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mirrorflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # our own bug: one line, traceback on request
        if os.environ.get("MIRRORFLOW_DEBUG"):
            raise
        print(f"mirrorflow {args.command}: internal error ({type(exc).__name__}: "
              f"{' '.join(str(exc).split())[:300]}); rerun with MIRRORFLOW_DEBUG=1 for the "
              "traceback and please report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
