"""Sweep throughput on Dask with 1 and 2 workers, and the engine's per-task overhead.

The same grid (6 seeds x 2 potentials, x²/2 and the hyperbolic entropy b = 0.1 = 12 runs of a
linear model to log t = 100, float64, about 1 s each) is computed three ways:

* a plain loop calling :func:`numerics.sweeps.run_task` in this process (the baseline: the
  same work without Dask or the results table);
* :func:`numerics.sweeps.run_sweep` on a ``LocalCluster`` with 1 worker process;
* the same with 2 worker processes.

The clusters are :func:`numerics.sweeps.local_client`, i.e. what ``run_sweep`` starts itself
(one BLAS thread per worker, no Dask profiler). Every worker and the loop are warmed first
(imports, sympy derivations, compiled potentials: one run per potential at another seed, on
each worker), so the numbers measure throughput, not start-up; the cluster start-up is printed
separately; each timing is the best of ``REPEAT``. Target (issue 14): >= 1.6x for 2 workers
vs 1 on 2 cores. The machine's load average is printed at start and end: other jobs on the 2
cores make the ratio noisy (and pessimistic when they are steady).
Run: ``python benchmarks/bench_sweep.py [LOG_T]``. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

from numerics.sweeps import local_client, parse_spec, read_table, run_sweep, run_task

LOG_T = float(sys.argv[1]) if len(sys.argv) > 1 else 100.0
REPEAT = 2                     # each timing is the best of REPEAT (other jobs share the cores)
BASE = {"model": {"kind": "linear"}, "potential": "x**2/2",
        "data": {"kind": "separable_gaussian", "n": 20, "d": 3, "seed": 0},
        "init": {"scale": 0.1, "seed": 0}, "until": {"log_t": LOG_T}}
POTENTIALS = {"potential": ["x**2/2", "x*asinh(x/b) - sqrt(x**2 + b**2)"],
              "params": [{}, {"b": 0.1}]}               # paired: zip
SPEC = {"base": BASE, "grid": {"init.seed": list(range(6))}, "zip": POTENTIALS,
        "certify": False}
WARM = {**SPEC, "grid": {"init.seed": [99]}}


def tiny(spec: dict) -> dict:
    """The same grid at log t = 1 (runs of ~10 ms): what is left is the engine's own cost."""
    return {**spec, "base": {**BASE, "until": {"log_t": 1.0}}}


def plain_loop(spec_raw: dict = SPEC) -> float:
    spec = parse_spec(spec_raw)
    with tempfile.TemporaryDirectory() as runs:
        for run in parse_spec(WARM).runs:
            run_task(run.config, runs, certify=False)
        best = float("inf")
        for _ in range(REPEAT):
            start = time.perf_counter()
            for run in spec.runs:
                row = run_task(run.config, runs, certify=False)
                assert row["status"] == "reached", row
            best = min(best, time.perf_counter() - start)
        return best


def warm_worker(runs: str) -> int:
    """Run the warm-up configs in this (worker) process."""
    for run in parse_spec(WARM).runs:
        run_task(run.config, runs, certify=False)
    return os.getpid()


def cpu_seconds() -> float:
    """CPU seconds used so far by this (worker) process, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def workers_cpu(client) -> float:
    """CPU seconds used so far by all workers of ``client``."""
    return sum(client.run(cpu_seconds).values())


def on_cluster(n_workers: int) -> tuple[float, float, float, float, float]:
    """(cluster start-up, sweep, summed task seconds, tiny sweep seconds, CPU cores the
    workers obtained during the sweep) on ``n_workers``."""
    start = time.perf_counter()
    with local_client(n_workers) as client, tempfile.TemporaryDirectory() as out:
        startup = time.perf_counter() - start
        run_sweep(WARM, os.path.join(out, "warm"), client=client, progress=False)
        os.makedirs(os.path.join(out, "warm", "runs"), exist_ok=True)
        client.run(warm_worker, os.path.join(out, "warm", "runs"))    # every worker
        best = (float("inf"), 0.0, 0.0)
        for k in range(REPEAT):              # fresh directories: every run computed again
            cpu, start = workers_cpu(client), time.perf_counter()
            summary = run_sweep(SPEC, os.path.join(out, f"sweep{k}"), client=client,
                                progress=False)
            seconds = time.perf_counter() - start
            cores = (workers_cpu(client) - cpu) / seconds
            assert summary["computed"] == 12 and summary["failed"] == 0, summary
            busy = sum(r["seconds"] for r in read_table(summary["table"])[0])
            best = min(best, (seconds, busy, cores))
        seconds, busy, cores = best
        small = float("inf")
        for k in range(REPEAT):
            start = time.perf_counter()
            run_sweep(tiny(SPEC), os.path.join(out, f"tiny{k}"), client=client, progress=False)
            small = min(small, time.perf_counter() - start)
    return startup, seconds, busy, small, cores


def main() -> None:
    n = len(parse_spec(SPEC).runs)
    print(f"{n} runs: linear model, n=20, d=3, x**2/2 and hyperbolic entropy b=0.1, 6 seeds, "
          f"log t = {LOG_T:g}, float64, no certificate; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    loop = plain_loop()
    print(f"  plain loop (run_task in-process) : {loop:7.2f} s  ({loop / n:.2f} s per run)")
    loop_tiny = plain_loop(tiny(SPEC))
    up1, one, busy1, tiny1, cores1 = on_cluster(1)
    print(f"  sweep, 1 worker                 : {one:7.2f} s  (cluster start-up {up1:.1f} s; "
          f"tasks busy {busy1 / one:.2f} of the wall time; CPU obtained {cores1:.2f} cores)")
    up2, two, busy2, _, cores2 = on_cluster(2)
    print(f"  sweep, 2 workers                : {two:7.2f} s  (cluster start-up {up2:.1f} s; "
          f"tasks busy {busy2 / two:.2f} of the wall time: the concurrency reached; CPU "
          f"obtained {cores2:.2f} cores)")
    print(f"  speed-up 2 workers vs 1         : {one / two:7.2f}x  (target >= 1.6x; the CPU "
          f"the workers got grew {cores2 / cores1:.2f}x: other jobs share the cores)")
    print(f"  worker CPU seconds per run      : {one * cores1 / n:7.2f} s with 1 worker, "
          f"{two * cores2 / n:.2f} s with 2 (equal: the engine scales; the wall-time ratio is "
          "what the machine's other load leaves)")
    print(f"  engine overhead per task        : {(one - loop) / n * 1e3:7.0f} ms "
          f"(1-worker sweep vs plain loop; {one / loop:.2f}x)")
    print(f"  ... on runs of ~10 ms (log t = 1): {(tiny1 - loop_tiny) / n * 1e3:5.0f} ms "
          f"(sweep {tiny1:.2f} s vs loop {loop_tiny:.2f} s)")
    print(f"  load average at end             : {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
