"""Coverage: every potential family x model x numeric path, to log t = 1e3 (issue 10, item 5).

Each cell is one ``mirrorflow integrate`` config run through the sweep machinery
(:mod:`numerics.sweeps`: one Dask worker, a Parquet table, per-run solutions, resumable: an
interrupted benchmark started again computes only the missing cells). Per cell the table keeps
the status, the wall seconds of the run *and* its certificate (float64: a rerun at rtol 3e-14;
30 digits: the same run at 45 digits), and the certified digits (the least of direction, margin
and log loss). A cell that stops short names why (the run's one-line reason).

Usage::

    python benchmarks/bench_coverage.py                 # log t = 1e3, 600 s per cell
    python benchmarks/bench_coverage.py --quick         # log t = 100, 120 s per cell
    python benchmarks/bench_coverage.py --out DIR --log-t 300 --max-seconds 300
    python benchmarks/bench_coverage.py --paths float64 taylor --models linear   # a part
    python benchmarks/bench_coverage.py --paths radau --potentials cosh "exp(x²/2)"

It prints a Markdown table (rows: potential x model; columns: paths) and writes it to
``DIR/coverage.md``; the README's coverage table is that file. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from pathlib import Path
from typing import Any

#: name -> (expression, parameters, why it is in the table)
POTENTIALS: dict[str, tuple[str, dict[str, Any], str]] = {   # no parameters: grid, not zip
    "x²/2": ("x**2/2", {}, "gradient flow, l2"),
    "hyp. entropy": ("x*asinh(x) - sqrt(x**2 + 1)", {}, "l1"),
    "|x|³/3": ("abs(x)**3/3", {}, "l3, f''(0) = 0 (branch point)"),
    "|x|^1.5/1.5": ("abs(x)**(3/2)/(3/2)", {}, "l1.5, f''(0) = inf"),
    "x²/2+|x|³/3": ("x**2/2 + abs(x)**3/3", {}, "l3, f''' jumps at 0"),
    "x²/2+log cosh": ("x**2/2 + log(cosh(x))", {}, "l2, log form"),
    "cosh": ("cosh(x)", {}, "l_inf, stiff"),
    "exp(x²/2)": ("exp(x**2/2)", {}, "l_inf, Lambert-W inverse"),
}
#: name -> (model config, init config).  The depth-3 MLP starts from init scale 0.5, seed 18:
#: from seed 0 every sample is dead before log t = 15 ('stuck' in every path), from seed 3
#: samples 4 and 5 die (margin 0, loss >= l(0)).  Seed 18 is one of the init seeds 0-39 with a
#: unit of each sample's sign active at the start whose 30-digit Taylor run separates every
#: sample by log t = 30 (x²/2 and hyperbolic entropy) and reaches log t = 1e3 at 31.6 and 31.8
#: certified digits; of the others, 26, 38 and 12 lose samples, 28 stalls at log t = 61 (x²/2),
#: 24 stalls at once, and 37 also reaches but certifies fewer potentials.
MODELS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {   # networks first
    "2-layer sq-ReLU": ({"kind": "two_layer", "width": 4, "activation": "square_relu"},
                        {"scale": 0.5, "seed": 0}),
    "2-layer ReLU": ({"kind": "two_layer", "width": 4, "activation": "relu"},
                     {"scale": 0.5, "seed": 0}),
    "MLP 3/3 ReLU": ({"kind": "mlp", "widths": [3, 3], "activation": "relu"},
                     {"scale": 0.5, "seed": 18}),
    "linear": ({"kind": "linear"}, {"scale": 0.5, "seed": 0}),
    "diagonal(2)": ({"kind": "diagonal", "depth": 2}, {"scale": 0.5, "seed": 0}),
}
#: name -> precision block (None: float64)
PATHS: dict[str, dict[str, Any] | None] = {
    "float64": None,
    "taylor": {"dps": 30, "method": "taylor"},
    "radau": {"dps": 30, "method": "radau"},
}
DATA = {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 0}


def spec(log_t: float, max_seconds: float, paths: list[str] | None = None,
         models: list[str] | None = None, potentials: list[str] | None = None
         ) -> dict[str, Any]:
    """The sweep SPEC of the table: every potential x path, times each (model, init) pair
    (or the named ``paths``, ``models`` and ``potentials`` only)."""
    base = {"model": {"kind": "linear"}, "potential": "x**2/2", "data": DATA,
            "init": {"scale": 0.5, "seed": 0}, "until": {"log_t": log_t}}
    chosen = [MODELS[m] for m in (models or MODELS)]
    return {"base": base, "max_seconds": max_seconds, "certify": True,
            "grid": {"potential": [POTENTIALS[p][0] for p in (potentials or POTENTIALS)],
                     "precision": [PATHS[p] for p in (paths or PATHS)]},
            "zip": {"model": [v[0] for v in chosen], "init": [v[1] for v in chosen]}}


def _name(table: dict[str, Any], value: Any) -> str:
    return next(k for k, v in table.items() if v == value)


def certified_digits(out: Path, row: dict[str, Any]) -> float | str | None:
    """The least certified digits of direction, margin and log loss (from the saved run), or
    the reason the run has no certificate."""
    if not row.get("solution"):
        return None
    meta = json.loads((out / row["solution"]).read_text()).get("meta", {})
    digits = meta.get("digits") or {}
    return min(digits.values()) if digits else str(meta.get("certificate", "no certificate"))


def cell(row: dict[str, Any], digits: float | str | None) -> str:
    """``seconds s, digits d`` for a run that reached its target, else its status, the log t
    it stopped at and its reason."""
    if row.get("status") == "reached":
        if isinstance(digits, str):
            return f"{row['seconds']:.0f} s · no certificate ({_clip(digits)})"
        d = "—" if digits is None or math.isnan(digits) else f"{digits:.1f}"
        return f"{row['seconds']:.0f} s · {d} d"
    why = row.get("error") or ""
    at = row.get("log_t")
    where = f" at log t = {at:.4g}" if isinstance(at, float) and math.isfinite(at) else ""
    return f"**{row.get('status')}**{where}" + (f" ({_clip(why)})" if why else "")


def _clip(reason: str, width: int = 90) -> str:
    """A one-line reason cut at a word boundary (an ellipsis marks the cut)."""
    return textwrap.shorten(reason, width, placeholder=" …")


def markdown(rows: list[dict[str, Any]], log_t: float, out: Path) -> str:
    """The coverage table: one line per potential x model, one column per path."""
    by_key: dict[tuple[str, str, str], str] = {}
    for row in rows:
        cfg = json.loads(row["config"])
        pot = next(k for k, v in POTENTIALS.items() if v[0] == cfg["potential"])
        model = next(k for k, v in MODELS.items() if v[0] == cfg["model"])
        key = (pot, model, _name(PATHS, cfg.get("precision")))
        by_key[key] = cell(row, certified_digits(out, row))
    head = (f"| potential | model | {' | '.join(PATHS)} |\n"
            f"|---|---|{'---|' * len(PATHS)}\n")
    lines = []
    for pot in POTENTIALS:
        for model in MODELS:
            cells = [by_key.get((pot, model, p), "not run") for p in PATHS]
            cells = [c.replace("|", "\\|") for c in [pot, model, *cells]]
            lines.append(f"| {' | '.join(cells)} |")
    note = (f"\nlog t = {log_t:g}; seconds include the certificate run; d = certified digits "
            "(least of direction, margin, log loss).\n")
    return head + "\n".join(lines) + note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="log t = 100, 120 s per cell")
    parser.add_argument("--log-t", type=float, default=None)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/coverage")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=None,
                        help="run these columns only (the table shows every row on file)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                        metavar="MODEL", help=f"run these models only, of {list(MODELS)}")
    parser.add_argument("--potentials", nargs="+", choices=list(POTENTIALS), default=None,
                        metavar="POTENTIAL",
                        help=f"run these potentials only, of {list(POTENTIALS)}")
    args = parser.parse_args(argv)
    log_t = args.log_t or (100.0 if args.quick else 1e3)
    max_seconds = args.max_seconds or (120.0 if args.quick else 600.0)
    from numerics.sweeps import TABLE_NAME, parse_spec, read_table, run_sweep

    out = Path(args.out)
    run_sweep(parse_spec(spec(log_t, max_seconds, args.paths, args.models, args.potentials)), out,
              workers=args.workers, progress=True)
    rows, _ = read_table(out / TABLE_NAME)
    text = markdown(rows, log_t, out)
    (out / "coverage.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
