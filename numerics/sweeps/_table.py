"""The sweep's results table: ``DIR/results.parquet``, one row per run, written atomically.

Columns: ``run_id``, one column per swept dotted path (its value in the run's config), the
measured :data:`~numerics.sweeps._task.RESULT_FIELDS` and ``config`` (the resolved config as
canonical JSON). The schema metadata holds the format, its version, the swept paths and a
sha256 digest of the rows, so an edited, truncated or foreign file is refused on reading
instead of being resumed from.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._ids import canonical_json, run_id
from ._spec import get_path
from ._task import FLOAT_FIELDS, RESULT_FIELDS

__all__ = ["TABLE_NAME", "read_table", "write_table"]

TABLE_NAME = "results.parquet"
FORMAT, VERSION = "mirrorflow-sweep", 1
_META_KEY = b"mirrorflow_sweep"
#: What a stored row holds (grid columns are derived from ``config`` when writing).
ROW_FIELDS = ("run_id", *RESULT_FIELDS, "config")


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("sweep results tables need pyarrow: pip install "
                          "'mirrorflow[sweep]'  (or: pip install pyarrow)") from exc
    return pa, pq


def _digest(rows: list[dict[str, Any]]) -> str:
    """sha256 over the stored fields of every row (floats by repr: no digit escapes it)."""
    def cell(v: Any) -> Any:
        return repr(v) if isinstance(v, float) else v
    text = json.dumps([[cell(r.get(k)) for k in ROW_FIELDS] for r in rows], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(key: str, value: Any) -> Any:
    """A stored cell as it reads back: floats as float, other cells as str (or None)."""
    if value is None:
        return None
    return float(value) if key in FLOAT_FIELDS else str(value)


def _column(pa: Any, values: list[Any]) -> Any:
    """A typed Arrow array for one grid column: bool, int64, float64, string or JSON text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if all(isinstance(v, str) for v in present):
        return pa.array(values, pa.string())
    return pa.array([None if v is None else canonical_json(v) for v in values], pa.string())


def write_table(path: str | Path, rows: list[dict[str, Any]], paths: list[str]) -> Path:
    """Write ``rows`` to ``path`` as Parquet, atomically (temp file + ``os.replace``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cfg = {"potential": "cosh(x)", "init": {"seed": 1}}
    >>> row = {"run_id": run_id(cfg), "status": "reached", "log_t": 5.0,
    ...        "config": canonical_json(cfg)}
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.parquet"
    >>> _ = write_table(path, [row], ["potential", "init.seed"])
    >>> back, cols = read_table(path)
    >>> cols, back[0]["status"], back[0]["log_t"], back[0]["margin"]
    (['potential', 'init.seed'], 'reached', 5.0, None)
    """
    pa, pq = _pa()
    path = Path(path)
    rows = [{k: _normal(k, r.get(k)) for k in ROW_FIELDS} for r in rows]
    configs = [json.loads(r["config"]) for r in rows]
    columns: dict[str, Any] = {"run_id": pa.array([r["run_id"] for r in rows], pa.string())}
    for p in paths:
        columns[p] = _column(pa, [get_path(c, p) for c in configs])
    for key in ROW_FIELDS[1:]:
        kind = pa.float64() if key in FLOAT_FIELDS else pa.string()
        columns[key] = pa.array([r[key] for r in rows], kind)
    meta = {"format": FORMAT, "version": VERSION, "paths": list(paths), "digest": _digest(rows)}
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _refuse(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not a valid mirrorflow sweep table ({why}); move it away (or "
                      "delete it) to start the sweep over")


def _check_row(path: Path, i: int, row: dict[str, Any]) -> None:
    try:
        config = json.loads(row["config"])
    except (TypeError, ValueError):
        raise _refuse(path, f"row {i}: 'config' is not JSON") from None
    if not isinstance(config, dict) or row["run_id"] != run_id(config):
        raise _refuse(path, f"row {i}: run_id {row['run_id']!r} is not the digest of its "
                            "config")
    if not isinstance(row["status"], str) or not row["status"]:
        raise _refuse(path, f"row {i}: no status")


def read_table(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Read and check a results table: its rows (stored fields) and its swept paths.

    Raises
    ------
    FileNotFoundError
        If there is no table.
    ValueError
        Naming the file: not Parquet, not written by a sweep, a newer format version, missing
        columns, a row whose ``run_id`` is not its config's digest, or rows changed after
        they were written (digest mismatch).
    """
    pa, pq = _pa()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no sweep results table here; run the sweep first")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _refuse(path, f"unreadable Parquet: {' '.join(str(exc).split())[:200]}") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError):
        raise _refuse(path, "no mirrorflow sweep metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(path, "no mirrorflow sweep metadata")
    if meta.get("version") != VERSION:
        raise _refuse(path, f"format version {meta.get('version')!r}, this mirrorflow reads "
                            f"version {VERSION}")
    missing = [k for k in ROW_FIELDS if k not in table.column_names]
    if missing:
        raise _refuse(path, f"missing column(s) {missing}")
    rows = [{k: r[k] for k in ROW_FIELDS} for r in table.select(list(ROW_FIELDS)).to_pylist()]
    for i, row in enumerate(rows):
        _check_row(path, i, row)
    if meta.get("digest") != _digest(rows):
        raise _refuse(path, "its rows were changed after the sweep wrote them: content digest "
                            "mismatch")
    paths = meta.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _refuse(path, "bad 'paths' metadata")
    return rows, paths
