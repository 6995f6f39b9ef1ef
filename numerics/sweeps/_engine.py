"""Run a sweep on Dask: a LocalCluster, an existing scheduler or a given client.

Every run is one task, :func:`~numerics.sweeps.run_task` of its resolved config. Rows are
added to ``DIR/results.parquet`` as they finish (atomically), so a killed sweep loses only the
runs in flight, and the same call again computes only the run ids the table lacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._ids import canonical_json
from ._kinds import task_kind
from ._spec import Run, SweepSpec, load_spec, parse_spec
from ._table import TABLE_NAME, read_table, write_table
from ._task import is_failed

__all__ = ["LOCAL_CLUSTER_CONFIG", "SweepInterrupted", "check_address", "local_client",
           "prepare_out", "probe_address", "run_sweep"]

#: Dask settings of the sweep's own LocalCluster: no statistical profiler in the workers (it
#: samples every task thread's stack every 10 ms; measured: runs whose time goes into deep
#: sympy derivations took about 1/6 longer). One BLAS / OpenMP thread per worker process is
#: set by :func:`local_client` through the environment.
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False}

_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a hook's KeyboardInterrupt) stopped a sweep; finished rows are kept.

    ``summary`` is the sweep summary at the time of the interruption.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__("sweep interrupted")
        self.summary = summary


def check_address(address: str) -> str:
    """Validate a scheduler address ``tcp://HOST:PORT`` (also tls, ws, wss, ucx).

    Examples
    --------
    >>> check_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> check_address("127.0.0.1:8786")
    Traceback (most recent call last):
    ...
    ValueError: --scheduler: '127.0.0.1:8786' is not a scheduler address like tcp://HOST:PORT
    """
    match = _ADDRESS.match(str(address))
    if not match or not 0 < int(match.group(3)) < 65536:
        raise ValueError(f"--scheduler: {address!r} is not a scheduler address like "
                         "tcp://HOST:PORT")
    return str(address)


def probe_address(address: str, timeout: float = 5.0) -> str:
    """Check that something listens at a ``tcp://HOST:PORT`` scheduler address (one TCP connect).

    A refused or unresolvable address fails at once instead of after the client's connect
    timeout; other protocols (tls, ws, ucx) are only checked by :func:`check_address`.

    Raises
    ------
    ValueError
        One line naming the address and the reason.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as s:                  # a port that nothing listens on
    ...     s.bind(("127.0.0.1", 0))
    ...     port = s.getsockname()[1]
    >>> probe_address(f"tcp://127.0.0.1:{port}")
    Traceback (most recent call last):
    ...
    ValueError: --scheduler tcp://127.0.0.1:...: cannot connect (ConnectionRefusedError: ...)
    """
    match = _ADDRESS.match(check_address(address))
    assert match is not None                     # check_address accepted it
    if match.group(1) != "tcp":
        return address
    host = match.group(2).strip("[]")
    try:
        with socket.create_connection((host, int(match.group(3))), timeout=timeout):
            pass
    except OSError as exc:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        raise ValueError(f"--scheduler {address}: cannot connect ({reason})") from None
    return address


def prepare_out(out: str | Path) -> Path:
    """Create ``out`` and ``out/runs``, check that files can be written there; ``out`` absolute.

    Raises
    ------
    ValueError
        If the directory cannot be created or written (naming it and the reason).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = prepare_out(pathlib.Path(tempfile.mkdtemp()) / "sweep")
    >>> sorted(p.name for p in out.iterdir())
    ['runs']
    >>> _ = (out / "file").write_text("")
    >>> prepare_out(out / "file" / "sub")
    Traceback (most recent call last):
    ...
    ValueError: --out .../file/sub: cannot write there (Not a directory)
    """
    out = Path(out).absolute()          # workers may run elsewhere (another cwd)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
        with open(out / f".write-check-{os.getpid()}", "w") as fh:
            fh.write("ok")
        os.unlink(out / f".write-check-{os.getpid()}")
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    return out


@contextlib.contextmanager
def local_client(workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` of a LocalCluster as :func:`run_sweep` starts it (closed after).

    ``workers`` one-thread worker processes (default: the number of cores) on 127.0.0.1 (every
    port chosen by the OS), no dashboard, one BLAS / OpenMP thread each (set before the
    processes start), and :data:`LOCAL_CLUSTER_CONFIG`. Pass it as ``client=`` to run several
    sweeps on one cluster.

    Examples
    --------
    >>> with local_client(1) as client:                 # doctest: +SKIP
    ...     run_sweep(spec, "out", client=client)
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("sweeps run on Dask: pip install 'mirrorflow[sweep]'  (or: pip "
                          "install 'dask[distributed]' pyarrow)") from exc

    from ._worker import THREAD_ENV

    n = workers or os.cpu_count() or 1
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **THREAD_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                          **LOCAL_CLUSTER_CONFIG}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None, env=dict(THREAD_ENV),
                         # no dashboard; the scheduler's health/metrics HTTP server on a free
                         # port of 127.0.0.1 (its default 8787 may be taken by another cluster)
                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                         silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _cluster(workers: int | None, scheduler: str | None, client: Any,
             timeout: float) -> Iterator[tuple[Any, bool]]:
    """The client to run on (``client``, one connected to ``scheduler``, or a LocalCluster's)
    and whether the sweep started its workers itself."""
    if client is not None:
        yield client, False
        return
    if scheduler is None:
        with local_client(workers) as local:
            yield local, True
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError("sweeps run on Dask: pip install 'mirrorflow[sweep]'  (or: pip "
                          "install 'dask[distributed]' pyarrow)") from exc
    probe_address(scheduler, timeout)
    try:
        remote = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler {scheduler}: cannot connect within {timeout:g} s "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") \
            from None
    with remote:
        yield remote, False


def _summary(spec: SweepSpec, rows: dict[str, dict[str, Any]], computed: int, skipped: int,
             lost: int, table: Path) -> dict[str, Any]:
    failed = sum(1 for r in spec.runs if r.run_id in rows and is_failed(rows[r.run_id]))
    return {"runs": len(spec.runs), "computed": computed, "skipped": skipped,
            "failed": failed, "lost": lost, "table": str(table)}


def _stored(row: dict[str, Any], run: Run) -> dict[str, Any]:
    if row.get("run_id") != run.run_id:          # the worker saw another config: a bug
        raise RuntimeError(f"run {run.run_id}: the worker returned run id {row.get('run_id')}")
    return {**row, "config": canonical_json(run.config)}


@dataclass
class _Count:
    computed: int = 0
    lost: int = 0


def _compute(client: Any, spec: SweepSpec, todo: list[Run], out: Path,
             rows: dict[str, dict[str, Any]], count: _Count, progress: bool,
             on_row: Callable[[dict[str, Any]], None] | None) -> None:
    """Submit ``todo`` and store rows as they finish, counting them in ``count``."""
    from distributed import as_completed
    from tqdm import tqdm

    token = uuid.uuid4().hex[:8]
    task = task_kind(spec.kind).run
    futures = {client.submit(task, run.config, str(out / "runs"), spec.max_seconds,
                             spec.certify, key=f"mirrorflow-run-{run.run_id}-{token}",
                             pure=False): run for run in todo}
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress, leave=True)
    try:
        for future in as_completed(list(futures)):
            run = futures.pop(future)
            try:
                row = future.result()
                if row.get("status") == "interrupted":    # Ctrl-C reached the worker
                    raise RuntimeError("the run was interrupted on its worker")
            except Exception as exc:          # a lost worker, not a property of the run
                count.lost += 1
                print(f"mirrorflow sweep: run {run.run_id} lost ({type(exc).__name__}: "
                      f"{' '.join(str(exc).split())[:200]}); rerun the sweep to compute it",
                      file=sys.stderr)
                continue
            rows[run.run_id] = _stored(row, run)
            write_table(out / TABLE_NAME, list(rows.values()), spec.paths)
            count.computed += 1
            bar.update(1)
            if on_row is not None:
                on_row(rows[run.run_id])
    finally:
        bar.close()
        if futures:
            client.cancel(list(futures))


def run_sweep(spec: SweepSpec | dict[str, Any] | str | Path, out: str | Path, *,
              workers: int | None = None, scheduler: str | None = None, client: Any = None,
              retry_failed: bool = False, progress: bool = True,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              cache_root: str | None = None, connect_timeout: float = 10.0) -> dict[str, Any]:
    """Run every run of ``spec`` that ``out/results.parquet`` lacks, on Dask.

    Parameters
    ----------
    spec
        A :class:`SweepSpec`, a raw spec dict or a SPEC file path (JSON or TOML).
    out
        Output directory: ``results.parquet`` and ``runs/<run_id>.json``.
    workers
        Worker processes of the default ``LocalCluster`` (one thread each, on 127.0.0.1);
        default: the number of cores.
    scheduler
        Address ``tcp://HOST:PORT`` of an existing Dask scheduler to use instead (e.g. one
        started by dask-jobqueue on SLURM/PBS); its workers must see ``out``.
    client
        An existing ``distributed.Client`` to use (not closed here).
    retry_failed
        Also recompute rows that failed before (otherwise they are kept with their reason).
    progress
        A tqdm bar counting finished runs.
    on_row
        Called with each stored row (after the table is written); raising
        ``KeyboardInterrupt`` there stops the sweep as Ctrl-C does.
    cache_root
        Parent of the per-worker heyoka cache directories (default: on each worker,
        ``~/.cache/mirrorflow/heyoka-workers``).
    connect_timeout
        Seconds to wait for ``scheduler``.

    Returns
    -------
    dict
        ``runs`` (in the spec), ``computed`` (now, failed ones included), ``skipped`` (already
        in the table), ``failed`` (rows of the spec's runs that did not reach their target),
        ``lost`` (tasks whose worker died; rerun to compute them) and ``table`` (its path).

    Raises
    ------
    ValueError
        A bad spec, an unwritable ``out``, a refused results table or an unreachable
        scheduler, all before any run starts.
    SweepInterrupted
        On Ctrl-C; its ``summary`` counts what was finished and kept.

    Examples
    --------
    Two runs on a LocalCluster of 2 processes (started and closed here; a few seconds):

    >>> spec = {"base": {"model": {"kind": "linear"}, "potential": "x**2/2",
    ...                  "data": {"kind": "two_d", "n": 6, "seed": 0},
    ...                  "until": {"log_t": 5}},
    ...         "grid": {"init.seed": [0, 1]}, "certify": False}
    >>> import tempfile
    >>> run_sweep(spec, tempfile.mkdtemp(), workers=2, progress=False)  # doctest: +SKIP
    {'runs': 2, 'computed': 2, 'skipped': 0, 'failed': 0, 'lost': 0, 'table': '.../results.parquet'}
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec) if isinstance(spec, str | Path) else parse_spec(spec)
    if scheduler is not None:
        check_address(scheduler)
    out = prepare_out(out)
    table = out / TABLE_NAME
    rows = {r["run_id"]: r for r in read_table(table)[0]} if table.exists() else {}
    todo = [run for run in spec.runs if run.run_id not in rows
            or (retry_failed and is_failed(rows[run.run_id]))]
    skipped = len(spec.runs) - len(todo)
    count = _Count()
    if todo:
        try:
            with _cluster(workers, scheduler, client, connect_timeout) as (cl, owned):
                from ._worker import WorkerSetup

                # our own workers share the terminal's process group: Ctrl-C is the client's
                cl.register_plugin(WorkerSetup(cache_root, ignore_sigint=owned))
                _compute(cl, spec, todo, out, rows, count, progress, on_row)
        except KeyboardInterrupt:
            raise SweepInterrupted(_summary(spec, rows, count.computed, skipped, count.lost,
                                            table)) from None
    if not table.exists():                       # every task was lost: an empty table
        write_table(table, list(rows.values()), spec.paths)
    return _summary(spec, rows, count.computed, skipped, count.lost, table)
