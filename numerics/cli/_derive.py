"""``mirrorflow derive EXPR``: mirror map, inverse, conjugate, balance function, horizon and
predicted rates of a potential typed in sympy syntax."""

from __future__ import annotations

import argparse
import json
from typing import Any

import mpmath
import sympy as sp

from theory import Potential, balance_law

from ._common import EXIT_OK, CliError, parse_params

__all__ = ["add_derive_parser", "derive_report", "run_derive"]


def add_derive_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``derive`` to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_derive_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["derive", "cosh(x)", "--depth", "2"])
    >>> args.depth, args.dim, args.func is run_derive
    (2, 2, True)
    """
    d = subparsers.add_parser("derive", help="derive mirror map, inverse, conjugate, balance "
                                             "law, horizon and rates for a potential")
    d.add_argument("expr", help="f(x) in sympy syntax, e.g. 'x*asinh(x/b) - sqrt(x**2+b**2)'")
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="parameter value, e.g. --param b=0.1 (repeatable)")
    d.add_argument("--depth", type=int, default=1, help="homogeneity degree L (default 1)")
    d.add_argument("--dim", type=int, default=2, help="dimension for the horizon gauge")
    d.add_argument("--invert", metavar="Z", help="evaluate (f')^{-1}(Z)")
    d.add_argument("--dps", type=int, default=50, help="significant digits for --invert")
    d.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=run_derive)
    return d


def _num(value) -> float | str | None:
    """JSON form of a sympy number: float, "inf"/"-inf", or None."""
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


def _print_human(rep: dict, latex: bool) -> None:
    """Print ``rep`` (:func:`derive_report`) as aligned lines, formulas as text or LaTeX."""
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


def run_derive(args: argparse.Namespace) -> int:
    """Run ``mirrorflow derive`` for parsed ``args``: print the report, return 0.

    Raises
    ------
    CliError, ValueError, theory.InvalidPotentialError
        For bad input (:func:`numerics.cli.main` prints one line and exits with status 2).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="mirrorflow")
    >>> _ = add_derive_parser(parser.add_subparsers(dest="command"))
    >>> run_derive(parser.parse_args(["derive", "x**2/2", "--depth", "0"]))
    Traceback (most recent call last):
    ...
    numerics.cli._common.CliError: --depth must be >= 1, got 0
    """
    if args.depth < 1:
        raise CliError(f"--depth must be >= 1, got {args.depth}")
    if args.dim < 1:
        raise CliError(f"--dim must be >= 1, got {args.dim}")
    if args.dps < 1:
        raise CliError(f"--dps must be >= 1, got {args.dps}")
    rep = derive_report(args.expr, parse_params(args.param), args.depth, args.dim,
                        args.invert, args.dps)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        _print_human(rep, args.latex)
    return EXIT_OK
