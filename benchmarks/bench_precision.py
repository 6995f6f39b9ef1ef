"""Arbitrary-precision Taylor path vs ``mpmath.odefun`` and scipy ``solve_ivp``; two-layer targets.

One run measures (issue 3, "Targets"):

1. **Linear model, same trajectory, equal requested accuracy.**  d = 4, n = 8 (the data of
   ``bench_clock.py`` case a), hyperbolic entropy b = 0.1, dual state ``z``, clock ``s``
   (``ds = L dt``), from ``theta0 = 0`` to the ``s = S`` at which ``log t`` reaches
   ``--linear-logt``.
   Every solver integrates ``dz/ds = -grad log L`` over ``[0, S]``:

   - ours: heyoka Taylor (compact mode) in ``real128`` and MPFR ``real`` at 113 bits, tolerance =
     machine epsilon of 113 bits (2**-112), also ``float64``;
   - ``mpmath.odefun`` (Taylor series, ``mp.prec = 113``, its default tolerance ``eps = 2**-112``);
   - scipy ``solve_ivp`` DOP853 in float64 at the smallest tolerance it accepts (rtol = 2.3e-14);
   - reference: ours in MPFR at 256 bits.

   Achieved digits = ``-log10 max_k |theta_k(S) - theta_ref_k(S)| / |theta_ref(S)|``.  ``log t``
   does not feed back into the flow; our path carries it as a state as well (so it does strictly
   more work than the others).
   Also the float64 path ``numerics.solve_float64`` vs a plain ``solve_ivp`` (``bench_float64.py``).

2. **Two-layer square-ReLU nets, hyperbolic entropy (b = 0.1), 30 digits, to log t = 1e4**, through
   the product (``numerics.solvers.precise.solve_precise``, the run ``solve_mirror_flow(dps=30)``
   certifies): m = n = 8, d = 4 and n = 32, m = 16, d = 8: seconds (wall and CPU: heyoka's
   parallel mode uses both cores), steps, Taylor order, and the largest balance residual
   ``max_j |C_j(t) - C_j(0)| / (1 + S_j)`` over the recorded points, relative to the size S_j of
   the terms (``MirrorFlowSolution``'s mpmath residuals, THEORY.md §2; results written before
   session 12 hold the absolute residual). With ``--reference``: digits of the final direction,
   margin and ``log L`` against the certificate run at 45 digits (MPFR), as ``solve_mirror_flow``
   counts them.

Run ``python benchmarks/bench_precision.py`` (full: tens of minutes on 2 cores) or ``--quick``
(a few minutes: linear to log t = 30, two-layer to log t = 300 / 100).  Prints a markdown table;
``--json PATH`` writes all rows.  Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import heyoka as hy
import mpmath
import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clock import POTENTIALS

from numerics import Dataset, MirrorFlowSolution, Problem, TwoLayer
from numerics.solvers._solve import _certify
from numerics.solvers.precise import (
    TaylorRun,
    build_mirror_flow_system,
    integrate_taylor,
    solve_precise,
    to_mpf,
)
from theory import Potential

B = 0.1
HYPENT = POTENTIALS["hypent"]
ROWS: list[dict[str, Any]] = []


# ------------------------------------------------------------------ problems
def linear_data() -> np.ndarray:
    """``A = y[:, None] * X`` of ``bench_clock.py`` case a (n = 8, d = 4, separable)."""
    rng = np.random.default_rng(0)
    X = np.round(rng.standard_normal((8, 4)), 3)
    y = np.sign(X @ np.array([1.0, -0.5, 0.25, 0.0]))
    return y[:, None] * X


def linear_margins(A: np.ndarray) -> Any:
    def margins(th: np.ndarray) -> tuple[Any, ...]:
        q = [hy.sum([float(A[i, k]) * th[k] for k in range(A.shape[1])]) for i in range(len(A))]

        def vjp(w: list[Any]) -> list[Any]:
            n, d = A.shape
            return [hy.sum([float(A[i, k]) * w[i] for i in range(n)]) for k in range(d)]

        return q, vjp

    return margins


def two_layer_data(m: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The data and start of ``bench_clock.py`` case b, for any size (labels alternate)."""
    X = np.round(np.random.default_rng(1).standard_normal((n, d)), 3)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    th0 = np.round(np.random.default_rng(3).standard_normal(m * d + m) * 0.5, 3)
    return X, y, [float(v) for v in th0]


# ------------------------------------------------------------------ measurement helpers
def digits_vs(theta: Any, ref: Any) -> float:
    """``-log10 max |theta - ref| / |ref|`` (relative to the norm of the reference)."""
    with mpmath.workprec(600):
        t = [to_mpf(v) for v in theta]
        r = [to_mpf(v) for v in ref]
        nr = mpmath.sqrt(mpmath.fsum(v * v for v in r))
        err = max(abs(a - b) for a, b in zip(t, r, strict=True)) / nr
    return 99.0 if err == 0 else float(-mpmath.log10(err))


def emit(row: dict[str, Any]) -> None:
    ROWS.append(row)
    shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()
             if not isinstance(v, list)}
    print("  " + "  ".join(f"{k}={v}" for k, v in shown.items()), flush=True)


# ------------------------------------------------------------------ 1. linear model
def mp_force(A: np.ndarray) -> Any:
    """``dz/ds = sum_i w_i A_i``, ``theta = b sinh(z)``, ``w = softmax(-A theta)`` in mpmath."""
    Am = [[mpmath.mpf(float(v)) for v in row] for row in A]
    b = mpmath.mpf(1) / 10

    def f(_s: Any, z: list[Any]) -> list[Any]:
        th = [b * mpmath.sinh(v) for v in z]
        q = [mpmath.fsum(a * t for a, t in zip(row, th, strict=True)) for row in Am]
        qmin = min(q)
        e = [mpmath.exp(qmin - qi) for qi in q]
        tot = mpmath.fsum(e)
        return [mpmath.fsum(e[i] * Am[i][k] for i in range(len(Am))) / tot
                for k in range(len(z))]

    return f


def np_force(A: np.ndarray) -> Any:
    def f(_s: float, z: np.ndarray) -> np.ndarray:
        q = A @ (B * np.sinh(z))
        return np.exp(-q - logsumexp(-q)) @ A

    return f


def linear_section(logt: float, budget: float) -> dict[str, Any]:
    A = linear_data()
    P = A.shape[1]
    systems = {c: build_mirror_flow_system(linear_margins(A), P, HYPENT, state="dual", clock=c)
               for c in ("s", "log_s")}
    th0 = [0.0] * P
    probe = integrate_taylor(systems["s"], th0, logt, fp_type="real", prec=256, per_decade=0,
                             budget_seconds=budget)
    # The common end point: u = log s = U, a double (exact in every type); S = exp(U).
    U = float(mpmath.log(probe.s[-1]))
    with mpmath.workprec(300):
        S_mp = mpmath.exp(mpmath.mpf(U))
    S_f = float(S_mp)  # for the s clock (its own reference, see below) and scipy
    print(f"\n## linear model d=4 n=8, hyperbolic entropy b=0.1: s in [0, S], S = exp({U!r}) "
          f"(log t = {probe.final_logt:.6g})", flush=True)

    def ours(fp: str, prec: int | None, clock: str, opts: dict | None = None) -> TaylorRun:
        end = U if clock == "log_s" else S_f
        return integrate_taylor(systems[clock], th0, 10 * logt + 100, fp_type=fp, prec=prec,
                                max_clock=end, per_decade=0, budget_seconds=budget,
                                tol=2.0**-112 if fp != "float64" else None,
                                heyoka_options=opts)

    refs = {c: ours("real", 256, c).theta[-1] for c in ("log_s", "s")}
    out: dict[str, Any] = {"S": float(S_mp), "U": U, "logt": probe.final_logt}

    def row(name: str, seconds: float, cpu: float, theta: Any, extra: str = "",
            compile_s: float = 0.0, clock: str = "log_s") -> None:
        emit({"section": "linear", "solver": name, "logt": round(probe.final_logt, 4),
              "seconds": seconds, "cpu_seconds": cpu, "compile_seconds": compile_s,
              "digits": digits_vs(theta, refs[clock]), "note": extra})
        out[name] = ROWS[-1]

    for fp, prec, clock, opts, label in (
        ("real128", None, "log_s", {"opt_level": 0}, "ours: heyoka Taylor real128, u = log s"),
        ("real128", None, "s", {"opt_level": 0}, "ours: heyoka Taylor real128, s clock"),
        ("real128", None, "log_s", None, "ours: real128, u = log s, opt_level 3"),
        ("real", 113, "log_s", {"opt_level": 0}, "ours: heyoka Taylor MPFR 113 bits, u = log s"),
        ("float64", None, "log_s", {"opt_level": 0}, "ours: heyoka Taylor float64, u = log s"),
    ):
        t0, c0 = time.perf_counter(), time.process_time()
        run = ours(fp, prec, clock, opts)
        row(label, time.perf_counter() - t0, time.process_time() - c0, run.theta[-1],
            f"{run.stats['steps']} steps, order {run.stats['order']}",
            run.stats["compile_seconds"], clock)

    # scipy DOP853 in float64: the smallest tolerance solve_ivp accepts without warning
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve_ivp(np_force(A), (0.0, S_f), np.arcsinh(np.zeros(P) / B), method="DOP853",
                    rtol=2.3e-14, atol=1e-16)
    row("scipy solve_ivp DOP853 float64", time.perf_counter() - t0, time.process_time() - c0,
        B * np.sinh(sol.y[:, -1]), f"rtol 2.3e-14, {sol.nfev} RHS evals", clock="s")

    # mpmath.odefun at 113 bits (tol = eps = 2**-112, as ours), evaluated at S = exp(U)
    t0, c0 = time.perf_counter(), time.process_time()
    with mpmath.workprec(113):
        f = mpmath.odefun(mp_force(A), 0, [mpmath.mpf(0)] * P)
        z_end = f(+S_mp)
        theta_mp = [mpmath.mpf(1) / 10 * mpmath.sinh(v) for v in z_end]
    row("mpmath.odefun (113 bits)", time.perf_counter() - t0, time.process_time() - c0,
        theta_mp, "Taylor series, default tol")
    return out


def float64_vs_scipy() -> None:
    """``numerics.solve_float64`` vs a hand-written ``solve_ivp`` (``bench_float64.py``)."""
    import bench_float64 as bf

    from numerics import Linear, Problem, solve_float64, two_d

    data = two_d(40, seed=0)
    prob = Problem.create(data, Linear(), Potential.hyperbolic_entropy(bf.B), seed=0)
    t0 = time.perf_counter()
    ours = solve_float64(prob, log_t=bf.LOG_T, rtol=bf.RTOL, atol=bf.RTOL * 1e-2)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theta_plain, _ = bf.plain_scipy(data.X, data.y, prob.theta0)
    t_plain = time.perf_counter() - t0
    rel = float(np.max(np.abs(ours.theta[-1] - theta_plain)) / np.max(np.abs(theta_plain)))
    emit({"section": "float64", "solver": "numerics.solve_float64 vs plain solve_ivp",
          "logt": bf.LOG_T, "seconds": t_ours, "plain_seconds": t_plain,
          "ratio": t_ours / t_plain, "rel_diff": rel})


# ------------------------------------------------------------------ 2. two-layer targets
def two_layer_problem(m: int, n: int, d: int) -> Problem:
    X, y, th0 = two_layer_data(m, n, d)
    return Problem.create(Dataset(X, y), TwoLayer(m, "square_relu"),
                          Potential.hyperbolic_entropy(B), theta0=th0)


def two_layer_run(problem: Problem, logt: float, budget: float, dps: int = 30,
                  tol: float | None = None) -> tuple[MirrorFlowSolution, float, float]:
    """One run through the product (``solve_precise``, the run ``solve_mirror_flow(dps=...)``
    certifies): dual state, clock u = log s, log t in the ODE, tol 10^-(dps+2), heyoka's parallel
    mode in real128 on 2+ cores, the square-ReLU vector-Jacobian product."""
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve_precise(problem, log_t=logt, dps=dps, max_seconds=budget, tol=tol)
    return sol, time.perf_counter() - t0, time.process_time() - c0


def two_layer_section(sizes: list[tuple[int, int, int, float]], budget: float,
                      reference: bool, tol: float | None) -> None:
    for m, n, d, logt in sizes:
        print(f"\n## two-layer relu^2 m={m} n={n} d={d}, hyperbolic entropy, log t = {logt:g}",
              flush=True)
        prob = two_layer_problem(m, n, d)
        sol, sec, cpu = two_layer_run(prob, logt, budget, tol=tol)
        st = sol.meta["solver"]
        row: dict[str, Any] = {
            "section": "two_layer", "size": f"m={m} n={n} d={d}", "logt": float(sol.log_t[-1]),
            "status": sol.status, "fp": st["fp_type"], "tol": st["tol"],
            "seconds": sec, "cpu_seconds": cpu, "integrate_seconds": st["seconds"],
            "compile_seconds": st["compile_seconds"], "steps": st["steps"],
            "order": st["order"], "kinks_crossed": st["kinks_crossed"],
            "log_loss": float(sol.log_loss_mp[-1]),
            "balance_max": float(np.max(sol.balance_residual_max)),
            "theta_final": [str(v) for v in sol.theta_mp[-1]],
        }
        if reference and sol.status == "reached":
            # the certificate of solve_mirror_flow: the same run at dps + max(10, dps // 2)
            ref, ref_sec, _ = two_layer_run(prob, logt, 20 * budget, dps=45)
            if ref.status == "reached":
                row["ref_bits"] = ref.precision_bits
                row["ref_seconds"] = ref_sec
                row["theta_ref_final"] = [str(v) for v in ref.theta_mp[-1]]
                row.update({f"digits_{k}": v for k, v in _certify(sol, ref).items()})
        emit(row)


# ------------------------------------------------------------------ report
def markdown() -> str:
    lines = []
    lin = [r for r in ROWS if r["section"] == "linear"]
    if lin:
        base = lin[0]
        lines += [f"Linear model (d = 4, n = 8), hyperbolic entropy b = 0.1, same trajectory "
                  f"s in [0, S] (log t = {lin[0]['logt']:g}), requested accuracy 2^-112 "
                  "(scipy: rtol 2.3e-14); digits of theta(S) vs MPFR 256-bit reference.", "",
                  "Times include heyoka's compilation (given separately).", "",
                  "| solver | wall s (compile) | CPU s | wall / first row | CPU / first row"
                  " | digits | note |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in lin:
            comp = f" ({r['compile_seconds']:.2g})" if r["compile_seconds"] else ""
            lines.append(f"| {r['solver']} | {r['seconds']:.3g}{comp} | {r['cpu_seconds']:.3g} | "
                         f"{r['seconds'] / base['seconds']:.3g}x | "
                         f"{r['cpu_seconds'] / base['cpu_seconds']:.3g}x | {r['digits']:.1f} | "
                         f"{r['note']} |")
        lines.append("")
    fl = [r for r in ROWS if r["section"] == "float64"]
    for r in fl:
        lines += [f"Float64 path vs plain scipy solve_ivp (bench_float64.py, log t = {r['logt']:g})"
                  f": {r['seconds']:.3g} s vs {r['plain_seconds']:.3g} s = {r['ratio']:.2f}x.", ""]
    tl = [r for r in ROWS if r["section"] == "two_layer"]
    if tl:
        lines += ["Two-layer square-ReLU nets, hyperbolic entropy b = 0.1, real128 Taylor (dual, "
                  "u = log s clock, log t in the ODE); wall s includes compilation:", "",
                  "| net | log t | status | wall s (compile) | CPU s | steps | order |"
                  " digits (dir / log L) | max balance residual (relative) |",
                  "|---|---:|---|---:|---:|---:|---:|---|---:|"]
        for r in tl:
            dg = (f"{r['digits_direction']:.1f} / {r['digits_log_loss']:.1f}"
                  if "digits_direction" in r else "n/a")
            lines.append(f"| {r['size']} | {r['logt']:.6g} | {r['status']} | {r['seconds']:.1f} "
                         f"({r['compile_seconds']:.1f}) |"
                         f" {r['cpu_seconds']:.1f} | {r['steps']} | {r['order']} | {dg} | "
                         f"{r['balance_max']:.2g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small targets, a few minutes")
    p.add_argument("--only", default="linear,float64,two_layer",
                   help="comma-separated sections: linear, float64, two_layer")
    p.add_argument("--linear-logt", type=float, default=None,
                   help="log t of the linear comparison (default 100, quick 30)")
    p.add_argument("--two-layer-logt", type=float, default=None,
                   help="log t of the two-layer targets (default 1e4; quick 300 and 100)")
    p.add_argument("--sizes", default="small,large",
                   help="two-layer nets: small (m=n=8, d=4), large (n=32, m=16, d=8)")
    p.add_argument("--reference", action="store_true",
                   help="certify the two-layer digits with an MPFR run (slow)")
    p.add_argument("--tol", type=float, default=None,
                   help="Taylor tolerance of the two-layer runs (default: the product's "
                        "10^-(dps+2) = 1e-32, order 38; 1e-28 loses 5 digits)")
    p.add_argument("--budget", type=float, default=900.0, help="wall-clock budget per run [s]")
    p.add_argument("--json", default="", help="write all rows here")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    t0 = time.perf_counter()
    if "linear" in only:
        linear_section(args.linear_logt or (30.0 if args.quick else 100.0), args.budget)
    if "float64" in only:
        float64_vs_scipy()
    if "two_layer" in only:
        if args.two_layer_logt:
            lt = [args.two_layer_logt] * 2
        else:
            lt = [300.0, 100.0] if args.quick else [1e4, 1e4]
        nets = {"small": (8, 8, 4, lt[0]), "large": (16, 32, 8, lt[1])}
        two_layer_section([nets[k] for k in args.sizes.split(",")], args.budget,
                          args.reference, args.tol)
    print("\n" + markdown(), flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(ROWS, indent=1))


if __name__ == "__main__":
    main()
