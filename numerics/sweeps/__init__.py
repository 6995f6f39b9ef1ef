"""Parameter sweeps on Dask: which potentials, widths and seeds reach which limit, how fast.

A sweep is a SPEC (:func:`parse_spec`, :func:`load_spec`): a base ``mirrorflow integrate``
config, a ``grid`` of dotted config paths and values (the runs are their cartesian product)
and optional ``zip`` lists (paired values); its ``kind`` (:data:`TASK_KINDS`) is
``integrate`` (default) or ``mirror_descent`` (:func:`run_descent_task`, e.g. claim 3's MNIST
grid). :func:`run_sweep` runs every resolved config as
one Dask task (:func:`run_task`) on a ``LocalCluster``, an existing scheduler (e.g. from
dask-jobqueue on SLURM/PBS) or a given client, saves each solution to
``DIR/runs/<run_id>.json`` and adds its row to ``DIR/results.parquet`` as it finishes;
:func:`write_report` draws figures across the grid from that table.

Needs the ``sweep`` extra (``pip install 'mirrorflow[sweep]'``: dask[distributed], pyarrow);
``import numerics`` never imports Dask, and this package imports it only to run.

Examples
--------
>>> spec = parse_spec({"base": {"model": {"kind": "linear"}, "potential": "x**2/2",
...                             "data": {"kind": "two_d", "n": 6, "seed": 0},
...                             "until": {"log_t": 5}},
...                    "grid": {"init.seed": [0, 1]}, "certify": False})
>>> [run.values for run in spec.runs]
[{'init.seed': 0}, {'init.seed': 1}]
>>> import tempfile
>>> row = run_task(spec.runs[0].config, tempfile.mkdtemp(), certify=False)  # no cluster
>>> row["status"], row["run_id"] == spec.runs[0].run_id
('reached', True)
"""

from ._descent import DescentConfig, load_descent_run, parse_descent_config, run_descent_task
from ._engine import (
    LOCAL_CLUSTER_CONFIG,
    SweepInterrupted,
    check_address,
    local_client,
    prepare_out,
    probe_address,
    run_sweep,
)
from ._ids import canonical_json, run_id
from ._kinds import DEFAULT_KIND, TASK_KINDS, TaskKind, task_kind
from ._report import write_report
from ._spec import Run, SweepSpec, get_path, load_spec, parse_spec
from ._table import TABLE_NAME, read_table, write_table
from ._task import FINISHED, RESULT_FIELDS, is_failed, measure_row, run_task

__all__ = [
    "DEFAULT_KIND",
    "FINISHED",
    "LOCAL_CLUSTER_CONFIG",
    "RESULT_FIELDS",
    "TABLE_NAME",
    "TASK_KINDS",
    "DescentConfig",
    "Run",
    "SweepInterrupted",
    "SweepSpec",
    "TaskKind",
    "canonical_json",
    "check_address",
    "get_path",
    "is_failed",
    "load_descent_run",
    "load_spec",
    "local_client",
    "measure_row",
    "parse_descent_config",
    "parse_spec",
    "prepare_out",
    "probe_address",
    "read_table",
    "run_descent_task",
    "run_id",
    "run_sweep",
    "run_task",
    "task_kind",
    "write_report",
    "write_table",
]
