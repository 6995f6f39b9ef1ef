"""Which state / clock / log-time / precision to integrate mirror flow in: measured.

Cases (THEORY.md §5, §7):

(a) linear model, d = 4, n = 8 separable points; gradient flow, hyperbolic entropy (b = 0.1), cosh;
(b) two-layer square-ReLU net, m = 8, d = 4, n = 8; hyperbolic entropy (b = 0.1);
(c) one-sample diagonal net u*u - v*v, x = (1, 0.9), u0 = 0.1, v0 = 0.05; gradient flow.

For each run: formulation (state, clock, log-t mode), fp type, target log t, status (or where
it stalled inside the wall-clock budget), Taylor steps, compile and integration seconds, the final
``s`` and the ACHIEVED accuracy: digits to which ``theta / |theta|`` and ``log L`` at the target
agree with a reference run at higher precision (MPFR, more bits, hence a higher Taylor order
and a tighter tolerance).
A stiffness column gives the largest eigenvalue modulus of the Jacobian of the parameter flow in the
``s`` clock at the end of the reference run, and ``d log t / ds`` there (the relaxation rate of the
``log t`` equation).

Run ``python benchmarks/bench_clock.py`` (about 20 min on 2 cores) or ``--quick`` (a few min);
``--only a,c`` selects cases, ``--budget`` sets the wall-clock budget of every run in seconds.
Results are also written as JSON lines with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import heyoka as hy
import mpmath
import numpy as np
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics.solvers.precise import (
    ScalarPotential,
    TaylorRun,
    build_mirror_flow_system,
    compile_functions,
    integrate_taylor,
    to_mpf,
)

X_SYM = sp.Symbol("x", real=True)
B = sp.Rational(1, 10)
POTENTIALS = {
    "gd": ScalarPotential(X_SYM, X_SYM, sp.Integer(1), X_SYM, "gd"),
    "hypent": ScalarPotential(
        X_SYM, sp.asinh(X_SYM / B), 1 / sp.sqrt(X_SYM**2 + B**2), B * sp.sinh(X_SYM), "hypent"
    ),
    "cosh": ScalarPotential(X_SYM, sp.sinh(X_SYM), sp.cosh(X_SYM), sp.asinh(X_SYM), "cosh"),
}


# ------------------------------------------------------------------ margin functions (local)
def linear_case() -> tuple[Any, int, list[float]]:
    rng = np.random.default_rng(0)
    X = np.round(rng.standard_normal((8, 4)), 3)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    A = y[:, None] * X
    return (lambda th: (A @ th, A.astype(object))), 4, [0.0] * 4


def relu2_case(m: int = 8, n: int = 8, d: int = 4) -> tuple[Any, int, list[float]]:
    rng = np.random.default_rng(1)
    X = np.round(rng.standard_normal((n, d)), 3)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)

    def margins(th: np.ndarray) -> tuple[Any, ...]:
        W, a = th[: m * d].reshape(m, d), th[m * d :]
        q, G, kinks = [], np.empty((n, m * d + m), dtype=object), []
        for i in range(n):
            terms = []
            for j in range(m):
                h = hy.sum([float(X[i, k]) * W[j, k] for k in range(d)])
                r = hy.relu(h)
                kinks.append(h)
                terms.append(a[j] * r * r)
                for k in range(d):
                    G[i, j * d + k] = (2.0 * y[i] * X[i, k]) * (a[j] * r)
                G[i, m * d + j] = y[i] * (r * r)
            q.append(y[i] * hy.sum(terms))
        return q, G, kinks

    th0 = [float(v) for v in np.round(np.random.default_rng(3).standard_normal(m * d + m) * 0.5, 3)]
    return margins, m * d + m, th0


def diag_case(xs: tuple[float, ...] = (1.0, 0.9), alpha: float = 0.1) -> tuple[Any, int, list]:
    D = len(xs)

    def margins(th: np.ndarray) -> tuple[Any, ...]:
        u, v = th[:D], th[D:]
        q = [hy.sum([xs[k] * (u[k] * u[k] - v[k] * v[k]) for k in range(D)])]
        G = np.array(
            [[2 * xs[k] * u[k] for k in range(D)] + [-2 * xs[k] * v[k] for k in range(D)]],
            dtype=object,
        )
        return q, G

    return margins, 2 * D, [alpha] * D + [alpha / 2] * D


CASES = {"a": linear_case, "b": relu2_case, "c": diag_case}


# ------------------------------------------------------------------ measurement helpers
def unit(v: Any) -> list[Any]:
    nv = mpmath.sqrt(mpmath.fsum(x * x for x in v))
    return [x / nv for x in v]


def digits(a: list[Any], b: list[Any], rel: bool = False) -> float:
    with mpmath.workprec(400):
        err = max(abs(x - y) / (abs(y) if rel else 1) for x, y in zip(a, b, strict=True))
    return 99.0 if err == 0 else float(-mpmath.log10(err))


def summary(run: TaylorRun) -> tuple[list[Any], Any]:
    with mpmath.workprec(400):
        return unit([to_mpf(v) for v in run.theta[-1]]), to_mpf(run.log_loss[-1])


def stiffness(sysm: Any, run: TaylorRun) -> tuple[float, float]:
    """Largest |eigenvalue| of d(param rhs)/d(params) (s clock) and d log t / ds at the end."""
    if sysm.clock != "s":
        return math.nan, math.nan
    P = sysm.n_params
    f = compile_functions(sysm, [r for _, r in sysm.equations[:P]], scale=run.stats["scale"])
    x0 = np.array([float(to_mpf(v)) for v in run.states[-1]])
    J = np.empty((P, P))
    for k in range(P):
        h = 1e-6 * max(1.0, abs(x0[k]))
        xp, xm = x0.copy(), x0.copy()
        xp[k] += h
        xm[k] -= h
        J[:, k] = (f(xp) - f(xm)) / (2 * h)
    lam = float(np.max(np.abs(np.linalg.eigvals(J))))
    with mpmath.workprec(200):
        rate = mpmath.exp(-run.logt[-1] - to_mpf(run.log_loss[-1]))
    return lam, float(rate)


ROWS: list[dict[str, Any]] = []
HEADER = (
    f"{'case':4} {'pot':6} {'state':6} {'clock':5} {'logt':5} {'fp':9} {'target':>7} "
    f"{'status':8} {'logt_end':>9} {'steps':>8} {'comp_s':>6} {'int_s':>7} {'s_end':>10} "
    f"{'dig_dir':>7} {'dig_LL':>6}  note"
)


def emit(row: dict[str, Any], out: Any) -> None:
    ROWS.append(row)
    print(
        f"{row['case']:4} {row['pot']:6} {row['state']:6} {row['clock']:5} {row['mode'][:5]:5} "
        f"{row['fp']:9} {row['target']:7.0e} {row['status']:8} {row['logt_end']:9.4g} "
        f"{row['steps']:8d} {row['compile_s']:6.2f} {row['seconds']:7.2f} {row['s_end']:10.4g} "
        f"{row['dig_dir']:7.1f} {row['dig_ll']:6.1f}  {row['note']}",
        flush=True,
    )
    if out is not None:
        out.write(json.dumps(row) + "\n")
        out.flush()


def fp_label(fp: str, prec: int | None) -> str:
    return f"mpfr{prec}" if fp == "real" else fp


def measure(
    case: str,
    pot: str,
    state: str,
    clock: str,
    mode: str,
    fp: str,
    prec: int | None,
    target: float,
    budget: float,
    ref: tuple | None,
    systems: dict,
    out: Any,
    note: str = "",
) -> TaylorRun:
    key = (case, pot, state, clock)
    if key not in systems:
        margins, P, th0 = CASES[case]()
        systems[key] = (
            build_mirror_flow_system(margins, P, POTENTIALS[pot], state=state, clock=clock),
            th0,
        )
    sysm, th0 = systems[key]
    run = integrate_taylor(
        sysm,
        th0,
        target,
        fp_type=fp,
        prec=prec,
        logt_mode=mode,
        budget_seconds=budget,
        per_decade=1,
    )
    dd = dl = math.nan
    if ref is not None and run.status == "reached":
        u, ll = summary(run)
        dd, dl = digits(u, ref[0]), digits([ll], [ref[1]], rel=True)
    if run.status != "reached":
        note = (note + f" stalled at log t = {run.final_logt:.4g}").strip()
    emit(
        {
            "case": case,
            "pot": pot,
            "state": state,
            "clock": clock,
            "mode": mode,
            "fp": fp_label(fp, prec),
            "target": target,
            "status": run.status,
            "logt_end": run.final_logt,
            "steps": run.stats["steps"],
            "compile_s": run.stats["compile_seconds"],
            "seconds": run.stats["seconds"],
            "s_end": float(run.s[-1]),
            "dig_dir": dd,
            "dig_ll": dl,
            "note": note,
        },
        out,
    )
    return run


# ------------------------------------------------------------------ the campaign
def campaign(args: argparse.Namespace) -> None:
    out = open(args.json, "w") if args.json else None  # noqa: SIM115
    systems: dict = {}
    budget = args.budget
    targets = [1e2, 1e3] if args.quick else [1e2, 1e3, 1e4]
    formulations = [
        (st, cl, mode)
        for st in ("dual", "primal")
        for cl in ("s", "log_s")
        for mode in ("ode", "quadrature")
    ]
    print(HEADER, flush=True)

    if "a" in args.only:
        for pot in ("gd", "hypent", "cosh"):
            refs: dict[float, Any] = {}
            for target in targets:
                r = measure(
                    "a",
                    pot,
                    "dual",
                    "s",
                    "ode",
                    "real",
                    192,
                    target,
                    2 * budget,
                    None,
                    systems,
                    out,
                    note="reference",
                )
                if r.status == "reached":
                    refs[target] = summary(r)
                    lam, rate = stiffness(systems[("a", pot, "dual", "s")][0], r)
                    ROWS[-1]["note"] += f" |eig J|max={lam:.3g} dlogt/ds={rate:.3g}"
                    print(f"      stiffness: |eig J|max = {lam:.3g}, d log t/ds = {rate:.3g}")
                else:
                    break
            stalled: set = set()
            for target in targets:
                for st, cl, mode in formulations:
                    if (st, cl, mode) in stalled:
                        continue
                    r = measure(
                        "a",
                        pot,
                        st,
                        cl,
                        mode,
                        "float64",
                        None,
                        target,
                        budget / 3,
                        refs.get(target),
                        systems,
                        out,
                    )
                    if r.status != "reached":
                        stalled.add((st, cl, mode))
            for fp, prec in (("real128", None), ("real", 128)):
                for target in targets:
                    if target not in refs:
                        break
                    measure(
                        "a",
                        pot,
                        "dual",
                        "s",
                        "ode",
                        fp,
                        prec,
                        target,
                        budget,
                        refs.get(target),
                        systems,
                        out,
                    )
                    measure(
                        "a",
                        pot,
                        "primal",
                        "log_s",
                        "quadrature",
                        fp,
                        prec,
                        target,
                        budget,
                        refs.get(target),
                        systems,
                        out,
                    )

    if "b" in args.only:
        refs = {}
        for target in targets:
            r = measure(
                "b",
                "hypent",
                "dual",
                "s",
                "ode",
                "real",
                160,
                target,
                5 * budget,
                None,
                systems,
                out,
                note="reference",
            )
            if r.status != "reached":
                break
            refs[target] = summary(r)
            lam, rate = stiffness(systems[("b", "hypent", "dual", "s")][0], r)
            ROWS[-1]["note"] += f" |eig J|max={lam:.3g} dlogt/ds={rate:.3g}"
        for target in targets:
            for st, cl, mode in formulations:
                measure(
                    "b",
                    "hypent",
                    st,
                    cl,
                    mode,
                    "float64",
                    None,
                    target,
                    budget,
                    refs.get(target),
                    systems,
                    out,
                )
        for target in targets:
            for st, cl, mode in (("dual", "s", "ode"), ("primal", "s", "ode")):
                r = measure(
                    "b",
                    "hypent",
                    st,
                    cl,
                    mode,
                    "real128",
                    None,
                    target,
                    2 * budget,
                    refs.get(target),
                    systems,
                    out,
                )
                if r.status != "reached":
                    break

    if "c" in args.only:
        big = [1e4, 1e8] if args.quick else [1e4, 1e8, 1e16]
        refs = {}
        for target in big:
            r = measure(
                "c",
                "gd",
                "dual",
                "s",
                "quadrature",
                "real",
                256,
                target,
                2 * budget,
                None,
                systems,
                out,
                note="reference",
            )
            refs[target] = summary(r)
            with mpmath.workprec(300):  # closed form u_k = a exp(2 x_k s), v_k = a/2 exp(-2 x_k s)
                s = r.s[-1]
                exact = [0.1 * mpmath.exp(2 * x * s) for x in (1.0, 0.9)] + [
                    0.05 * mpmath.exp(-2 * x * s) for x in (1.0, 0.9)
                ]
                dig = digits(
                    [to_mpf(v) / e for v, e in zip(r.theta[-1], exact, strict=True)], [1] * 4
                )
            ROWS[-1]["note"] += f" closed-form theta(s): {dig:.1f} digits"
            print(f"      reference vs closed form theta(s): {dig:.1f} digits")
        for target in big:
            for cl in ("s", "log_s"):
                for fp, prec in (("float64", None), ("real128", None), ("real", 160)):
                    measure(
                        "c",
                        "gd",
                        "dual",
                        cl,
                        "quadrature",
                        fp,
                        prec,
                        target,
                        budget,
                        refs.get(target),
                        systems,
                        out,
                    )
        for cl in ("s", "log_s"):
            for fp, prec in (("float64", None), ("real128", None)):
                for target in big:
                    r = measure(
                        "c",
                        "gd",
                        "dual",
                        cl,
                        "ode",
                        fp,
                        prec,
                        target,
                        budget / 2,
                        refs.get(target),
                        systems,
                        out,
                    )
                    if r.status != "reached":
                        break
    if out is not None:
        out.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="targets up to 1e3 (1e8 for case c)")
    p.add_argument("--only", default="abc", help="cases to run, e.g. 'ac'")
    p.add_argument("--budget", type=float, default=60.0, help="wall-clock budget per run [s]")
    p.add_argument("--json", default="", help="also write JSON lines here")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    campaign(args)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
