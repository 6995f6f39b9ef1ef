"""``mirrorflow derive EXPR``: mirror map, inverse, conjugate, balance function, horizon and
predicted rates of a potential typed in sympy syntax."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import mpmath
import sympy as sp

from theory import Potential, balance_law, wall_clock_limit

from ._common import EXIT_INCOMPLETE, EXIT_OK, CliError, parse_params, positive_seconds

__all__ = ["MAX_DEPTH", "MAX_DIM", "MAX_DPS", "add_derive_parser", "derive_report",
           "parse_invert", "run_derive"]

#: Upper bounds of --depth, --dim and --dps (larger values only make output nobody reads,
#: and --dim 100000 would build a 100000-term gauge).
MAX_DEPTH, MAX_DIM, MAX_DPS = 1000, 1000, 10_000
#: Default wall-clock budget of ``mirrorflow derive`` (--timeout), in seconds.
DEFAULT_TIMEOUT = 600.0


class _OutOfTime(BaseException):
    """--timeout expired. A BaseException, so that no ``except Exception`` (or the
    ``except TimeoutError`` around each symbolic attempt) inside theory or sympy swallows it."""


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
    d.add_argument("--depth", type=int, default=1,
                   help=f"homogeneity degree L (1 to {MAX_DEPTH}, default 1)")
    d.add_argument("--dim", type=int, default=2,
                   help=f"dimension for the horizon gauge (1 to {MAX_DIM}, default 2)")
    d.add_argument("--invert", metavar="Z", help="evaluate (f')^{-1}(Z) (a finite number)")
    d.add_argument("--dps", type=int, default=50,
                   help=f"significant digits for --invert (1 to {MAX_DPS}, default 50)")
    d.add_argument("--latex", action="store_true", help="print formulas as LaTeX")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT,
                   metavar="SECONDS", help="wall-clock budget; past it, stop with exit status "
                   f"{EXIT_INCOMPLETE} (default {DEFAULT_TIMEOUT:g})")
    d.set_defaults(func=run_derive)
    return d


def _num(value) -> float | str | None:
    """JSON form of a sympy number: float, "inf"/"-inf", None, or the exact text of a number
    that is not a finite float (beyond 1e308, complex, undefined)."""
    if value is None:
        return None
    if value in (sp.oo, -sp.oo):
        return "inf" if value == sp.oo else "-inf"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)
    return number if math.isfinite(number) else str(value)


def parse_invert(text: str) -> str:
    """Check ``--invert Z``: a finite real number (decimal text, kept for full precision).

    Examples
    --------
    >>> parse_invert(" 2.5e3 ")
    '2.5e3'
    >>> parse_invert("nan")
    Traceback (most recent call last):
    ...
    numerics.cli._common.CliError: --invert needs a finite number, e.g. --invert 2.5, got 'nan'
    """
    value = text.strip()
    try:
        finite = math.isfinite(float(value))
        mpmath.mpf(value)
    except (ValueError, TypeError):
        finite = False
    if not finite:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise CliError(f"--invert needs a finite number, e.g. --invert 2.5, got {shown!r}")
    return value


def _check_options(depth: int, dim: int, dps: int) -> None:
    for name, value, top in (("--depth", depth, MAX_DEPTH), ("--dim", dim, MAX_DIM),
                             ("--dps", dps, MAX_DPS)):
        if not 1 <= value <= top:
            raise CliError(f"{name} must be an integer from 1 to {top}, got {value}")


def derive_report(expr: str, params: dict[str, str], depth: int = 1, dim: int = 2,
                  invert: str | None = None, dps: int = 50) -> dict:
    """Everything ``mirrorflow derive`` prints, as a JSON-ready dict.

    Examples
    --------
    >>> rep = derive_report("x*asinh(x/b) - sqrt(x**2 + b**2)", {"b": "0.1"})
    >>> rep["mirror_map"], rep["inverse_mirror_map"], rep["horizon"]["norm"]
    ('asinh(10*x)', 'sinh(z)/10', 'l1')
    """
    _check_options(depth, dim, dps)
    if invert is not None:
        invert = parse_invert(invert)
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
        "inverse_method": (pot.inverse_mirror_map.method if inv is None or pot.stable_inverse
                           else f"closed form not used for numbers: it loses "
                                f"{pot.inverse_digits_lost:.0f} of 30 digits to cancellation; "
                                "bracketing + Newton instead"),
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
        if s is None:
            return "(numeric)"
        if not latex:
            return s
        try:
            return sp.latex(sp.sympify(s, locals=names))
        except (sp.SympifyError, TypeError, ValueError, AttributeError, RecursionError):
            return s                             # not re-parsable: the plain text

    h, r = rep["horizon"], rep["rates"]
    lines = [
        f"potential        f(x)      = {show(rep['potential'])}",
        f"mirror map       f'(x)     = {show(rep['mirror_map'])}",
        f"Hessian          f''(x)    = {show(rep['hessian'])}",
        f"inverse map      (f')^-1(z)= {show(rep['inverse_mirror_map'])}"
        + ("" if rep["inverse_method"] == "symbolic" else f"  [{rep['inverse_method']}]"),
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
    """Run ``mirrorflow derive`` for parsed ``args``: print the report and return 0, or 3
    (one line on stderr) if the derivation ran past ``--timeout``.

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
    numerics.cli._common.CliError: --depth must be an integer from 1 to 1000, got 0
    """
    _check_options(args.depth, args.dim, args.dps)
    invert = None if args.invert is None else parse_invert(args.invert)
    params = parse_params(args.param)
    timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
    try:
        with wall_clock_limit(timeout, _OutOfTime):
            rep = derive_report(args.expr, params, args.depth, args.dim, invert, args.dps)
    except _OutOfTime:
        print(f"mirrorflow derive: stopped: the derivation did not finish within --timeout "
              f"{timeout:g} s; raise --timeout or simplify f", file=sys.stderr)
        return EXIT_INCOMPLETE
    if args.json:
        print(json.dumps(rep, indent=2, allow_nan=False))
    else:
        _print_human(rep, args.latex)
    return EXIT_OK
