"""Radau IIA (numerics.solvers.precise) against heyoka's explicit Taylor method on stiff
mirror flows.

Cases (the models of ``benchmarks/bench_clock.py``):

(a) linear model, 8 separable points in d = 4;
(b) two-layer square-ReLU net, m = 8, n = 8, d = 4 (bench_clock.py's margins);
(n) the 8/8/4 square-ReLU net of ``bench_precision.py`` through the user API
    (``Problem.create(..., TwoLayer(8, "square_relu"), Potential.cosh())``, P = 40), cosh only;
(r), (l) the same net with ReLU and leaky ReLU (slope 0.1): activation patterns switched at
    kinks, units sliding on kinks (Filippov), cosh only.

Potentials: cosh (l_inf horizon, the stiff case) and hyperbolic entropy (b = 0.1).  For each case
and potential, in one run:

- the implicit path at 30 digits (140 bits, tol ~ 1e-32; primal state, clock ``u = log s``, then
  ``log u``) to the target ``log t``;
- a reference: the same at 170 bits and tol 1e-38; achieved digits = agreement of ``theta/|theta|``
  and of ``log L`` with it;
- heyoka's Taylor integrator (real128, dual state, clock ``s``, ``log t`` in the ODE; as the
  measured default of bench_clock.py) with the same wall-clock budget: where it stalls.

Run ``python benchmarks/bench_implicit.py`` (targets 1e4) or ``--quick`` (targets 1e3, case a);
``--only abn``, ``--pots cosh,hypent``, ``--budget`` (seconds per run), ``--stages``,
``--jacobian-points`` (Jacobians per Radau solve; default 3 on networks, all stages otherwise).
Set ``OPENBLAS_NUM_THREADS=1`` on a shared machine: the small LU factorisations get slower with
threads fighting for the cores.

Measured (2 loaded cores, one process): case (n), cosh, 30 digits (140 bits), 3 Jacobians per
solve: log t = 1e4 in 188 s wall (2175 steps, 33 kinks cut), 32.5 digits of ``theta/|theta|``
against the 170-bit reference (743 s, 7099 steps).  Cases (r) and (l) to log t = 1e3 (shared
machine): see ``numerics/solvers/precise/_radau.py``; Taylor on them is held at the first
sliding mode (kink events firing over and over: ReLU log t = -3.5 after 300 s).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import mpmath

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clock import POTENTIALS, linear_case, relu2_case
from bench_precision import two_layer_data

from numerics import Dataset, Problem, TwoLayer
from numerics.solvers.precise import (
    TaylorRun,
    build_mirror_flow_system,
    compile_implicit,
    integrate_implicit,
    integrate_taylor,
    problem_system,
    to_mpf,
)
from theory import Potential

CASES = {"a": ("linear", linear_case), "b": ("relu2 m8", relu2_case),
         "n": ("net 8/8/4", "square_relu"), "r": ("relu 8/8/4", "relu"),
         "l": ("leaky 8/8/4", "leaky_relu(0.1)")}
REF_BITS, REF_TOL = 170, 1e-38  # the reference: 30 more bits, a 1e6 times tighter tolerance


def unit(v: Any) -> list[Any]:
    with mpmath.workprec(400):
        w = [to_mpf(x) for x in v]
        n = mpmath.sqrt(mpmath.fsum(x * x for x in w))
        return [x / n for x in w]


def digits(a: list[Any], b: list[Any]) -> float:
    with mpmath.workprec(400):
        err = max(abs(to_mpf(x) - to_mpf(y)) for x, y in zip(a, b, strict=True))
        scale = max(abs(to_mpf(y)) for y in b)
        return 99.0 if err == 0 else float(-mpmath.log10(err / scale))


HEADER = (
    f"{'case':9} {'pot':6} {'method':18} {'target':>7} {'status':8} {'logt_end':>9} {'steps':>7} "
    f"{'newton':>7} {'jac':>6} {'lu':>6} {'kinks':>5} {'comp_s':>6} {'int_s':>7} {'dig_dir':>7} "
    f"{'dig_LL':>6}"
)


def net_system(pot: str, activation: str) -> tuple[Any, Any, list[float]]:
    """Cases (n, r, l): the user-API system (primal, clock log s) and the Taylor system."""
    X, y, th0 = two_layer_data(8, 8, 4)
    potential = {"cosh": Potential.cosh()}[pot]
    prob = Problem.create(Dataset(X, y), TwoLayer(8, activation), potential, theta0=th0)
    return (problem_system(prob, state="primal", clock="log_s"), problem_system(prob), th0)


def row(case: str, pot: str, method: str, target: float, run: TaylorRun, ref: TaylorRun | None):
    dd = dl = math.nan
    if ref is not None and run.status == "reached" and ref.status == "reached":
        dd = digits(unit(run.theta[-1]), unit(ref.theta[-1]))
        dl = digits([run.log_loss[-1]], [ref.log_loss[-1]])
    st = run.stats
    print(
        f"{case:9} {pot:6} {method:18} {target:7.0e} {run.status:8} {run.final_logt:9.4g} "
        f"{st['steps']:7d} {st.get('newton_iterations', 0):7d} "
        f"{st.get('jacobian_evaluations', 0):6d} {st.get('lu_factorizations', 0):6d} "
        f"{st.get('kinks_cut', st.get('kinks_crossed', 0)):5d} {st['compile_seconds']:6.1f} "
        f"{st['seconds']:7.1f} {dd:7.1f} {dl:6.1f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="target log t = 1e3, case a only")
    p.add_argument("--only", default=None, help="cases, e.g. 'ab' (default: ab; quick: a)")
    p.add_argument("--pots", default="cosh,hypent")
    p.add_argument("--target", type=float, default=None)
    p.add_argument("--budget", type=float, default=None, help="seconds per run")
    p.add_argument("--stages", type=int, default=9)
    p.add_argument("--jacobian-points", type=int, default=None)
    p.add_argument("--no-ref", action="store_true", help="skip the 170-bit reference runs")
    p.add_argument("--no-taylor", action="store_true", help="skip the Taylor runs")
    args = p.parse_args(argv)
    target = args.target or (1e3 if args.quick else 1e4)
    budget = args.budget or (120.0 if args.quick else 600.0)
    only = args.only or ("a" if args.quick else "ab")
    t0 = time.perf_counter()
    print(HEADER, flush=True)
    for c in only:
        label, make = CASES[c]
        for pot in args.pots.split(","):
            if isinstance(make, str):
                if pot != "cosh":
                    continue
                sysm, taylor_sys, th0 = net_system(pot, make)
            else:
                margins, P, th0 = make()
                sysm = build_mirror_flow_system(
                    margins, P, POTENTIALS[pot], state="primal", clock="log_s"
                )
                taylor_sys = build_mirror_flow_system(margins, P, POTENTIALS[pot])
            jp = args.jacobian_points or (None if c == "a" else 3)
            kw = {"stages": args.stages, "jacobian_points": jp}
            run = integrate_implicit(compile_implicit(sysm, 140), th0, target,
                                     budget_seconds=budget, **kw)
            ref = None
            if not args.no_ref:
                ref = integrate_implicit(compile_implicit(sysm, REF_BITS), th0, target,
                                         budget_seconds=3 * budget, tol=REF_TOL, **kw)
            row(label, pot, f"radau{args.stages} 140b", target, run, ref)
            if ref is not None:
                row(label, pot, f"radau{args.stages} {REF_BITS}b ref", target, ref, None)
            if args.no_taylor:
                continue
            tay = integrate_taylor(
                taylor_sys, th0, target, fp_type="real128", budget_seconds=budget, per_decade=1
            )
            row(label, pot, "taylor real128", target, tay, ref)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
