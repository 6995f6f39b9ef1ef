"""Parameter sweeps on Dask: which potentials, widths and seeds reach which limit, how fast.

A sweep is a SPEC (:func:`parse_spec`, :func:`load_spec`): a base ``mirrorflow integrate``
config, a ``grid`` of dotted config paths and values (the runs are their cartesian product)
and optional ``zip`` lists (paired values). :func:`run_sweep` runs every resolved config as
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

from ._engine import SweepInterrupted, check_address, prepare_out, run_sweep
from ._report import write_report
from ._spec import Run, SweepSpec, canonical_json, get_path, load_spec, parse_spec, run_id
from ._table import TABLE_NAME, read_table, write_table
from ._task import FINISHED, RESULT_FIELDS, is_failed, measure_row, run_task

__all__ = [
    "FINISHED",
    "RESULT_FIELDS",
    "TABLE_NAME",
    "Run",
    "SweepInterrupted",
    "SweepSpec",
    "canonical_json",
    "check_address",
    "get_path",
    "is_failed",
    "load_spec",
    "measure_row",
    "parse_spec",
    "prepare_out",
    "read_table",
    "run_id",
    "run_sweep",
    "run_task",
    "write_report",
    "write_table",
]
