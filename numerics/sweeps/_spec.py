"""Sweep specifications: a base ``integrate`` config, a grid and paired (``zip``) values.

A SPEC is one JSON (or TOML) object::

    {"kind": "integrate",
     "base": {...an integrate config...},
     "grid": {"potential": ["cosh(x)", "x**2/2"], "init.seed": [0, 1, 2]},
     "zip":  {"data.n": [10, 20], "until.log_t": [10, 20]},
     "max_seconds": 600, "certify": true}

The runs are the cartesian product of the ``grid`` lists, times the ``zip`` lists taken
together (all of equal length). Each run's config is ``base`` with every dotted path set to
its value; its id is a short sha256 digest of that config's canonical JSON, so the same
config is never run twice. ``kind`` (default ``integrate``) says what a run is
(:mod:`numerics.sweeps._kinds`: ``integrate`` or ``mirror_descent``); every resolved config is
validated by its kind (:func:`numerics.parse_config` for ``integrate``) before any run starts.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..problem import ConfigError, check_keys
from ._ids import canonical_json, run_id
from ._kinds import DEFAULT_KIND, TaskKind, task_kind

__all__ = ["Run", "SweepSpec", "canonical_json", "get_path", "load_spec", "parse_spec",
           "run_id"]

SPEC_KEYS = ("kind", "base", "grid", "zip", "max_seconds", "certify")


def get_path(config: dict[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of ``config`` (None where the path is absent).

    Examples
    --------
    >>> get_path({"init": {"seed": 3}}, "init.seed"), get_path({}, "params.b")
    (3, None)
    """
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``config`` in place, creating missing objects on the way."""
    keys = path.split(".")
    node = config
    for i, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(keys[: i + 1])
            raise ValueError(f"{path}: base.{where} is {child!r}, not an object, so it has no "
                             f"field {keys[i + 1]!r}")
        node = child
    node[keys[-1]] = copy.deepcopy(value)


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its id, its grid values (by dotted path) and resolved config."""

    run_id: str
    values: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep: the base config, the swept paths and the unique runs."""

    base: dict[str, Any]
    grid: dict[str, list[Any]]
    zip: dict[str, list[Any]]
    runs: tuple[Run, ...]
    max_seconds: float = 600.0
    certify: bool = True
    kind: str = DEFAULT_KIND

    @property
    def paths(self) -> list[str]:
        """The swept dotted paths: grid first, then zip (the table's value columns)."""
        return [*self.grid, *self.zip]


def _check_path(path: Any, where: str, kind: TaskKind) -> str:
    ok = isinstance(path, str) and path != "" and all(path.split("."))
    if not ok:
        raise ValueError(f"{where}: {path!r} is not a dotted config path like 'init.seed'")
    top = path.split(".")[0]
    try:
        check_keys({top: None}, set(kind.fields), "")
    except ConfigError as exc:
        raise ValueError(f"{where}.{path}: {exc}") from None
    return path


def _value_lists(section: Any, where: str, kind: TaskKind) -> dict[str, list[Any]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"{where}: must be an object {{dotted path: [values]}}, got "
                         f"{type(section).__name__}")
    out = {}
    for path, values in section.items():
        _check_path(path, where, kind)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}.{path}: must be a non-empty list of values, got "
                             f"{values!r}")
        out[path] = list(values)
    return out


def _check_overlaps(paths: list[str]) -> None:
    if len(set(paths)) < len(paths):
        twice = sorted({p for p in paths if paths.count(p) > 1})
        raise ValueError(f"grid/zip: path {twice[0]!r} is in both grid and zip; sweep each "
                         "field in one place")
    for a, b in itertools.permutations(paths, 2):
        if b.startswith(a + "."):
            raise ValueError(f"grid/zip: path {b!r} is set twice (also by {a!r}); sweep each "
                             "field in one place")


def _options(raw: dict[str, Any]) -> tuple[float, bool]:
    max_seconds = raw.get("max_seconds", 600.0)
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) \
            or not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(f"max_seconds: must be a positive number of seconds per run, got "
                         f"{max_seconds!r}")
    certify = raw.get("certify", True)
    if not isinstance(certify, bool):
        raise ValueError(f"certify: must be true or false, got {certify!r}")
    return float(max_seconds), certify


def _combinations(grid: dict[str, list[Any]],
                  zipped: dict[str, list[Any]]) -> list[dict[str, Any]]:
    lengths = {path: len(v) for path, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"zip: all lists must have the same length, got {lengths}")
    n_zip = next(iter(lengths.values()), 1)
    combos = []
    for values in itertools.product(*grid.values()):
        for k in range(n_zip):
            combos.append({**dict(zip(grid, values, strict=True)),
                           **{path: v[k] for path, v in zipped.items()}})
    return combos


def _resolve(base: dict[str, Any], values: dict[str, Any], kind: TaskKind) -> Run:
    config = copy.deepcopy(base)
    for path, value in values.items():
        _set_path(config, path, value)
    try:
        kind.validate(copy.deepcopy(config))
    except ConfigError as exc:
        shown = ", ".join(f"{p}={v!r}" for p, v in values.items()) or "the base config"
        raise ValueError(f"run with {shown}: {' '.join(str(exc).split())}") from None
    try:
        rid = run_id(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"run with {values}: config is not plain JSON ({exc})") from None
    return Run(rid, values, config)


def parse_spec(raw: Any) -> SweepSpec:
    """Validate a sweep specification and resolve (and validate) every run's config.

    Raises
    ------
    ValueError
        One line naming the offending key: an unknown top-level key, a path that is not a
        config field, an empty value list, zip lists of different lengths, an unknown ``kind``,
        or a run whose config its kind refuses (:func:`numerics.parse_config` for
        ``integrate``; named by its grid values).

    Examples
    --------
    >>> base = {"model": {"kind": "linear"}, "potential": "x**2/2",
    ...         "data": {"kind": "two_d", "n": 6, "seed": 0}, "until": {"log_t": 5}}
    >>> spec = parse_spec({"base": base, "grid": {"potential": ["x**2/2", "cosh(x)"],
    ...                                           "init.seed": [0, 1]}})
    >>> len(spec.runs), spec.paths, spec.runs[1].values
    (4, ['potential', 'init.seed'], {'potential': 'x**2/2', 'init.seed': 1})
    >>> parse_spec({"base": base, "grid": {"modle.width": [2]}})
    Traceback (most recent call last):
    ...
    ValueError: grid.modle.width: modle: unknown field; did you mean 'model'? ...
    >>> parse_spec({"base": base, "grid": {"until.log_t": [5, -1]}})
    Traceback (most recent call last):
    ...
    ValueError: run with until.log_t=-1: until.log_t: must be a positive finite number, got -1
    """
    if not isinstance(raw, dict):
        raise ValueError(f"spec: must be an object with 'base' and 'grid', got "
                         f"{type(raw).__name__}")
    for key in raw:
        if key not in SPEC_KEYS:
            raise ValueError(f"{key}: unknown top-level key of a sweep spec (known: "
                             f"{', '.join(SPEC_KEYS)})")
    for key in ("base", "grid"):
        if key not in raw:
            raise ValueError(f"{key}: missing (a spec needs 'base' and 'grid')")
    kind = task_kind(raw.get("kind", DEFAULT_KIND))
    if not isinstance(raw["base"], dict):
        raise ValueError(f"base: must be a config object of a {kind.name} run (see mirrorflow "
                         "integrate)")
    grid = _value_lists(raw["grid"], "grid", kind)
    zipped = _value_lists(raw.get("zip"), "zip", kind)
    _check_overlaps([*grid, *zipped])
    max_seconds, certify = _options(raw)
    runs: dict[str, Run] = {}
    for values in _combinations(grid, zipped):
        run = _resolve(raw["base"], values, kind)
        runs.setdefault(run.run_id, run)        # equal configs: one run
    return SweepSpec(copy.deepcopy(raw["base"]), grid, zipped, tuple(runs.values()),
                     max_seconds, certify, kind.name)


def load_spec(path: str | Path) -> SweepSpec:
    """Read a SPEC file (``.toml`` as TOML, anything else as JSON) and :func:`parse_spec` it.

    Raises
    ------
    ValueError
        Naming the file: missing, unreadable, not valid JSON/TOML, or an invalid spec.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "spec.toml"
    >>> _ = path.write_text('''
    ... [base]
    ... potential = "cosh(x)"
    ... model = {kind = "linear"}
    ... data = {kind = "two_d", n = 6, seed = 0}
    ... until = {log_t = 5}
    ... [grid]
    ... "init.seed" = [0, 1, 2]
    ... ''')
    >>> [run.values["init.seed"] for run in load_spec(path).runs]
    [0, 1, 2]
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the spec ({exc})") from None
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ValueError(f"{path}: not valid {kind} ({exc})") from None
    try:
        return parse_spec(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
