"""Parameter sweeps on Dask (numerics.sweeps, ``mirrorflow sweep``): specs, the engine on a
2-process LocalCluster, resume after an interruption, failures, the results table, the CLI.

Every row is checked against :func:`numerics.solve_mirror_flow` run directly on the row's
resolved config in this process (an independent computation of the same run).
"""
import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import numerics
from numerics import MirrorFlowSolution, parse_config, solve_mirror_flow
from numerics.cli import add_sweep_parser
from numerics.solvers import compared_state, safeguarded_descent
from numerics.sweeps import (
    SweepInterrupted,
    get_path,
    load_descent_run,
    load_spec,
    parse_descent_config,
    parse_spec,
    read_table,
    run_id,
    run_sweep,
    write_report,
)

BASE = {"model": {"kind": "linear"}, "potential": "x**2/2",
        "data": {"kind": "separable_gaussian", "n": 6, "d": 2, "seed": 0},
        "init": {"scale": 0.1, "seed": 0}, "until": {"log_t": 5}}
SPEC = {"base": BASE, "grid": {"potential": ["x**2/2", "cosh(x)"], "init.seed": [0, 1]},
        "zip": {"data.seed": [0], "until.log_t": [5]}, "certify": False}
# a linear model cannot separate x and -x with the same label: solve_mirror_flow refuses it
BAD_DATA = {"X": [[1.0, 0.0], [-1.0, 0.0]], "y": [1, 1]}


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of 2 worker processes on 127.0.0.1 for the whole file, as run_sweep
    starts it (numerics.sweeps.local_client)."""
    from numerics.sweeps import local_client

    with local_client(2) as c:
        yield c


@pytest.fixture(scope="module")
def full_sweep(client, tmp_path_factory):
    """The 4-run SPEC swept in two goes: an interrupted first call, then a resume."""
    out = tmp_path_factory.mktemp("sweep")
    seen = []

    def stop_after_one(row):
        seen.append(row["run_id"])
        raise KeyboardInterrupt            # what Ctrl-C does, after the first finished row

    with pytest.raises(SweepInterrupted) as exc:
        run_sweep(SPEC, out, client=client, progress=False, on_row=stop_after_one)
    first, _ = read_table(out / "results.parquet")
    resumed = run_sweep(SPEC, out, client=client, progress=False)
    return out, seen, exc.value.summary, first, resumed


# ---------------------------------------------------------------- specs


def test_spec_expands_grid_times_zip_with_stable_ids():
    spec = parse_spec(SPEC)
    assert spec.paths == ["potential", "init.seed", "data.seed", "until.log_t"]
    assert len(spec.runs) == 4 and len({r.run_id for r in spec.runs}) == 4
    for run in spec.runs:
        assert run.run_id == run_id(run.config)
        for path, value in run.values.items():
            assert get_path(run.config, path) == value
    # the same config twice (a repeated grid value) is one run
    twice = parse_spec({"base": BASE, "grid": {"init.seed": [3, 3]}, "certify": False})
    assert len(twice.runs) == 1
    # missing objects on a path are created: params.b for the hyperbolic entropy
    hyp = parse_spec({"base": {**BASE, "potential": "x*asinh(x/b) - sqrt(x**2+b**2)"},
                      "grid": {"params.b": [0.1, 1.0]}})
    assert [r.config["params"] for r in hyp.runs] == [{"b": 0.1}, {"b": 1.0}]


@pytest.mark.parametrize("spec, named", [
    ({**SPEC, "grdi": {}}, "grdi: unknown top-level key"),
    ({"grid": {}}, "base: missing"),
    ({"base": BASE, "grid": {"modle.width": [1]}}, "grid.modle.width: modle: unknown field; did "
                                                   "you mean 'model'?"),
    ({"base": BASE, "grid": {"init.seed": []}}, "grid.init.seed: must be a non-empty list"),
    ({"base": BASE, "grid": {}, "zip": {"init.seed": [0, 1], "data.seed": [0]}},
     "zip: all lists must have the same length"),
    ({"base": BASE, "grid": {"init": [{}], "init.seed": [1]}}, "path 'init.seed' is set twice"),
    ({"base": BASE, "grid": {"init.seed": [1]}, "zip": {"init.seed": [2]}},
     "path 'init.seed' is in both grid and zip"),
    ({"base": BASE, "grid": {"potential.x": [1]}}, "potential.x: base.potential is 'x**2/2'"),
    ({"base": BASE, "grid": {"init.seed": [0, "two"]}},
     "run with init.seed='two': init.seed: must be an integer, got 'two'"),
    ({"base": BASE, "grid": {"potential": ["x**2/2", "x**3"]}}, "run with potential='x**3': "
                                                                 "potential:"),
    ({"base": BASE, "grid": {}, "max_seconds": -1}, "max_seconds: must be a positive number"),
])
def test_bad_specs_are_refused_by_name(spec, named):
    with pytest.raises(ValueError) as exc:
        parse_spec(spec)
    assert named in str(exc.value)
    assert "\n" not in str(exc.value)


def test_spec_files_json_and_toml(tmp_path):
    (tmp_path / "s.toml").write_text(
        '[base]\npotential = "cosh(x)"\nmodel = {kind = "linear"}\n'
        'data = {kind = "two_d", n = 6, seed = 0}\nuntil = {log_t = 5}\n'
        '[grid]\n"init.seed" = [0, 1]\n')
    assert len(load_spec(tmp_path / "s.toml").runs) == 2
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"s\.json: not valid JSON"):
        load_spec(tmp_path / "s.json")
    with pytest.raises(ValueError, match="no such spec file"):
        load_spec(tmp_path / "missing.json")


# ---------------------------------------------------------------- the engine


def test_interrupted_sweep_keeps_finished_rows_and_resumes_only_the_rest(full_sweep):
    out, seen, interrupted, first, resumed = full_sweep
    assert interrupted["computed"] == 1 and interrupted["runs"] == 4
    assert [r["run_id"] for r in first] == seen            # the finished row was kept
    assert resumed == {"runs": 4, "computed": 3, "skipped": 1, "failed": 0, "lost": 0,
                       "table": str(out / "results.parquet")}
    rows, _ = read_table(out / "results.parquet")
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in parse_spec(SPEC).runs)
    again = run_sweep(SPEC, out, progress=False, client=None, workers=1)  # nothing to do:
    assert again["computed"] == 0 and again["skipped"] == 4             # no cluster started


def test_rows_equal_direct_single_runs(full_sweep):
    out = full_sweep[0]
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results.parquet").to_pylist()
    for row in table:
        config = json.loads(row["config"])
        assert row["run_id"] == run_id(config)
        assert row["potential"] == config["potential"]
        assert row["init.seed"] == config["init"]["seed"]
        cfg = parse_config(config)
        direct = solve_mirror_flow(cfg.problem, log_t=cfg.log_t, certify=False)
        saved = MirrorFlowSolution.load(out / row["solution"])
        np.testing.assert_allclose(saved.theta[-1], direct.theta[-1], rtol=1e-12, atol=1e-14)
        assert row["log_loss"] == pytest.approx(float(direct.log_loss[-1]), rel=1e-12)
        assert row["min_margin"] == pytest.approx(float(direct.min_margin[-1]), rel=1e-12)
        assert row["status"] == "reached" and row["error"] is None
        assert row["log_t"] == pytest.approx(5.0) and row["digits"] is None
        # normalized Q-margin, recomputed: l2 (x**2/2) and l_inf (cosh) gauges, degree 1
        theta = direct.theta[-1]
        q = cfg.problem.data.y * (cfg.problem.data.X @ theta)
        gauge = np.abs(theta).max() if row["potential"] == "cosh(x)" else np.linalg.norm(theta)
        assert row["margin"] == pytest.approx(q.min() / gauge, rel=1e-9)


def test_failures_are_recorded_and_retried_only_on_request(client, tmp_path):
    spec = {"base": BASE, "grid": {"data": [BAD_DATA, BASE["data"]]}, "certify": False}
    first = run_sweep(spec, tmp_path, client=client, progress=False)
    assert first["computed"] == 2 and first["failed"] == 1
    rows = {r["status"]: r for r in read_table(tmp_path / "results.parquet")[0]}
    bad = rows["error"]
    assert bad["error"].startswith("ValueError: the dataset is not linearly separable")
    assert bad["solution"] is None and bad["log_loss"] is None
    assert rows["reached"]["error"] is None
    again = run_sweep(spec, tmp_path, client=client, progress=False)
    assert again["computed"] == 0 and again["failed"] == 1           # kept, not retried
    retried = run_sweep(spec, tmp_path, client=client, progress=False, retry_failed=True)
    assert retried["computed"] == 1 and retried["failed"] == 1 and retried["skipped"] == 1
    import pyarrow.parquet as pq

    column = pq.read_table(tmp_path / "results.parquet").column("data").to_pylist()
    assert BAD_DATA in [json.loads(v) for v in column]           # objects as JSON text


def test_workers_get_one_thread_and_their_own_heyoka_cache(client, tmp_path):
    run_sweep({"base": BASE, "grid": {"init.seed": [5]}, "certify": False}, tmp_path,
              client=client, progress=False, cache_root=str(tmp_path / "cache"))
    env = client.run(lambda: {k: os.environ.get(k) for k in (
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
        "MIRRORFLOW_HEYOKA_CACHE_DIR")})
    caches = [e.pop("MIRRORFLOW_HEYOKA_CACHE_DIR") for e in env.values()]
    assert all(e == dict.fromkeys(e, "1") for e in env.values())
    assert len(set(caches)) == 2 and all(c.startswith(str(tmp_path / "cache")) for c in caches)


def test_tampered_or_foreign_tables_are_refused(full_sweep, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(full_sweep[0] / "results.parquet")
    margins = table.column("margin").to_pylist()
    edited = table.set_column(table.column_names.index("margin"), "margin",
                              pa.array([m + 0.1 for m in margins]))
    pq.write_table(edited, tmp_path / "results.parquet")            # metadata kept
    with pytest.raises(ValueError, match="changed after the sweep wrote them"):
        read_table(tmp_path / "results.parquet")
    with pytest.raises(ValueError, match="changed after the sweep wrote them"):
        run_sweep(SPEC, tmp_path, progress=False, workers=1)        # before any cluster
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "results.parquet")
    with pytest.raises(ValueError, match="no mirrorflow sweep metadata"):
        read_table(tmp_path / "results.parquet")
    (tmp_path / "results.parquet").write_bytes(b"garbage, not parquet")
    with pytest.raises(ValueError, match="not a valid mirrorflow sweep table"):
        read_table(tmp_path / "results.parquet")


def test_report_draws_png_and_pdf(full_sweep):
    files = write_report(full_sweep[0])
    assert [f.name for f in files] == ["sweep.png", "sweep.pdf"]
    assert all(f.stat().st_size > 5_000 for f in files)


# ---------------------------------------------------------------- the CLI


def sweep_cli(argv):
    parser = argparse.ArgumentParser(prog="mirrorflow")
    add_sweep_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", *argv])
    return args.func(args)


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        ([str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")], "no such spec file"),
        ([str(spec)], "give a SPEC file and --out DIR"),
        ([str(spec), "--out", str(blocker / "sub")], "cannot write there"),
        ([str(spec), "--out", str(tmp_path / "o"), "--workers", "0"], "positive integer"),
        ([str(spec), "--out", str(tmp_path / "o"), "--scheduler", "localhost"],
         "not a scheduler address"),
        ([str(spec), "--out", str(tmp_path / "o"), "--scheduler", "tcp://h:1", "--workers",
          "2"], "give one of them"),
        (["--report", str(tmp_path / "none")], "no sweep results table"),
    ]
    for argv, message in cases:
        assert sweep_cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("mirrorflow sweep: error: ") and message in err, (argv, err)
        assert err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"base": BASE, "grid": {"until.log_t": [5, 0]}}))
    assert sweep_cli([str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "run with until.log_t=0: until.log_t: must be a positive" in capsys.readouterr().err


def test_cli_resume_summary_and_report(full_sweep, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = full_sweep[0]
    assert sweep_cli([str(spec), "--out", str(out), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 0 and summary["skipped"] == 4
    assert sweep_cli(["--report", str(out)]) == 0
    assert "sweep.png" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_runs_a_local_cluster_and_exits_3_on_failures(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": BASE, "grid": {"data": [BAD_DATA, BASE["data"]]},
                                "certify": False}))
    assert sweep_cli([str(spec), "--out", str(tmp_path / "o"), "--workers", "2",
                      "--no-progress"]) == 3
    assert "2 computed, 0 already in the table, 1 failed" in capsys.readouterr().out


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound by us, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_exits_2_at_once(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    start = time.perf_counter()
    assert sweep_cli([str(spec), "--out", str(tmp_path / "o"), "--scheduler",
                      f"tcp://127.0.0.1:{_closed_port()}"]) == 2
    assert time.perf_counter() - start < 5                 # no client connect timeout
    err = capsys.readouterr().err
    assert err.startswith("mirrorflow sweep: error: --scheduler tcp://127.0.0.1:")
    assert "cannot connect (ConnectionRefusedError" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()                   # refused before any work


def test_import_numerics_does_not_import_dask():
    import subprocess

    code = ("import sys, numerics, numerics.sweeps; "
            "print(sorted(m for m in ('dask', 'distributed', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- task kinds

DESCENT_BASE = {"model": {"kind": "linear"}, "potential": "x**2/2",
                "data": {"kind": "two_d", "n": 8, "seed": 0}, "init": {"scale": 0.1, "seed": 0},
                "descent": {"eta": 0.5, "steps": 200, "chunk": 50, "target_log_loss": -2.0}}


@pytest.mark.parametrize("spec, named", [
    ({"kind": "descent", "base": BASE, "grid": {}}, "kind: must be one of 'integrate', "
                                                    "'mirror_descent'; got 'descent'"),
    ({"kind": "mirror_descent", "base": DESCENT_BASE, "grid": {"until.log_t": [5]}},
     "grid.until.log_t: until: unknown field"),
    ({"kind": "mirror_descent", "base": {**DESCENT_BASE, "descent": {"eta": 0.5}}, "grid": {}},
     "descent.steps: missing (required)"),
    ({"kind": "mirror_descent", "base": DESCENT_BASE, "grid": {"descent.eta": [0.1, -1]}},
     "run with descent.eta=-1: descent.eta: must be a positive finite number"),
    ({"kind": "mirror_descent", "base": DESCENT_BASE, "grid": {"descent.etta": [0.1]}},
     "descent.etta: unknown field; did you mean 'eta'?"),
    ({"base": DESCENT_BASE, "grid": {}}, "descent: unknown field"),     # kind integrate
])
def test_task_kinds_are_validated_by_name(spec, named):
    with pytest.raises(ValueError) as exc:
        parse_spec(spec)
    assert named in str(exc.value) and "\n" not in str(exc.value)


def test_mirror_descent_rows_equal_direct_descents(client, tmp_path):
    spec = {"kind": "mirror_descent", "base": DESCENT_BASE, "certify": False,
            "grid": {"potential": ["x**2/2", "cosh(x)"], "init.seed": [0, 1]}}
    summary = run_sweep(spec, tmp_path, client=client, progress=False)
    assert summary["computed"] == 4 and summary["failed"] == 0
    rows, paths = read_table(tmp_path / "results.parquet")
    assert paths == ["potential", "init.seed"] and len(rows) == 4
    for row in rows:
        config = json.loads(row["config"])
        cfg = parse_descent_config(config)
        direct = safeguarded_descent(cfg.problem, 0.5, 200, 50, target_log_loss=-2.0)
        saved = load_descent_run(tmp_path / row["solution"])
        assert saved["run_id"] == row["run_id"] == run_id(config)
        assert saved["steps"] == direct.steps and row["method"] == "mirror_descent"
        np.testing.assert_allclose(saved["theta_final"], direct.thetas[-1], rtol=1e-12)
        assert row["log_loss"] == pytest.approx(direct.log_loss[-1], rel=1e-12)
        assert saved["compared_index"] == compared_state(direct.log_loss, -2.0)
        assert row["status"] == "reached"
        assert row["log_t"] is None and row["digits"] is None
    again = run_sweep(spec, tmp_path, client=client, progress=False)
    assert again["computed"] == 0 and again["skipped"] == 4


# ---------------------------------------------------------------- a cluster started by hand

REPO = Path(numerics.__file__).resolve().parents[1]


def _cluster_env(tmp_path: Path) -> dict[str, str]:
    """This checkout first on the path (workers import numerics from it), one BLAS thread."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               XDG_CACHE_HOME=str(tmp_path / "cache"),
               DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False")
    return env


def _spawn(args: list[str], tmp_path: Path, log: str) -> subprocess.Popen:
    """``python -m ARGS`` in its own process group (killed as a group), output to a log."""
    with open(tmp_path / log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=_cluster_env(tmp_path),
                                cwd=tmp_path)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, sig)
        deadline = time.monotonic() + wait
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))


def _scheduler_address(proc: subprocess.Popen, path: Path, tmp_path: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dask scheduler exited: {(tmp_path / 'scheduler.log').read_text()}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            return json.loads(path.read_text())["address"]
        time.sleep(0.2)
    pytest.fail("dask scheduler wrote no scheduler file within 60 s")


@pytest.fixture
def hand_cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker --nthreads 1`` processes on 127.0.0.1 (port 0:
    the OS picks free ports; the address is read from the scheduler file)."""
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(_spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--no-dashboard", "--dashboard-address",
                             "127.0.0.1:0", "--scheduler-file",
                             str(sched_file), "--idle-timeout", "600s"], tmp_path,
                            "scheduler.log"))
        address = _scheduler_address(procs[0], sched_file, tmp_path)
        for i in range(2):
            procs.append(_spawn(["distributed.cli.dask_worker", "--scheduler-file",
                                 str(sched_file), "--nthreads", "1", "--host", "127.0.0.1",
                                 "--no-dashboard", "--name", f"hand-{i}", "--death-timeout",
                                 "60s", "--local-directory", str(tmp_path / "dask")],
                                tmp_path, f"worker-{i}.log"))
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address
    finally:
        _stop(procs)


def test_sweep_on_a_scheduler_and_workers_started_by_hand(hand_cluster, tmp_path):
    from distributed import Client

    assert hand_cluster.startswith("tcp://127.0.0.1:")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "numerics.cli", "sweep", str(spec), "--out", str(out),
           "--scheduler", hand_cluster, "--json", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env=_cluster_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["runs"], summary["computed"], summary["failed"]) == (4, 4, 0)
    rows, _ = read_table(out / "results.parquet")
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in parse_spec(SPEC).runs)
    for row in rows:                       # each row against an in-process integrate run
        cfg = parse_config(json.loads(row["config"]))
        direct = solve_mirror_flow(cfg.problem, log_t=cfg.log_t, certify=False)
        saved = MirrorFlowSolution.load(out / row["solution"])
        np.testing.assert_allclose(saved.theta[-1], direct.theta[-1], rtol=1e-12, atol=1e-14)
        assert row["log_loss"] == pytest.approx(float(direct.log_loss[-1]), rel=1e-12)
        assert row["min_margin"] == pytest.approx(float(direct.min_margin[-1]), rel=1e-12)
        assert row["status"] == "reached" and row["log_t"] == pytest.approx(cfg.log_t)
    with Client(hand_cluster, timeout="30s") as c:       # the sweep's set-up reached them
        caches = c.run(lambda: os.environ.get("MIRRORFLOW_HEYOKA_CACHE_DIR"))
    assert sorted(Path(v).name for v in caches.values()) == ["worker-hand-0", "worker-hand-1"]
