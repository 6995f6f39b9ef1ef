"""Run configurations (the JSON read by ``mirrorflow integrate``) -> Problem + run options.

Every invalid field raises :class:`ConfigError` (a ValueError) whose message starts with the
field's path, e.g. ``model.width: must be a positive integer, got -3``.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from theory import Potential

from ._data import Dataset, make_dataset
from ._models import Model, make_model
from ._problem import LOSSES, Problem

__all__ = ["CONFIG_FIELDS", "PROBLEM_FIELDS", "ConfigError", "RunConfig", "check_keys",
           "load_config", "parse_config", "parse_problem"]

#: Top-level fields of a config that describe the problem (data, model, potential, loss, θ0).
PROBLEM_FIELDS = frozenset({"model", "potential", "params", "loss", "data", "init"})
#: Every top-level field of an ``integrate`` config: the problem, how far, how precisely.
CONFIG_FIELDS = PROBLEM_FIELDS | {"until", "precision"}
_TOP = set(CONFIG_FIELDS)
_INIT = {"scale", "seed", "theta"}
_UNTIL = {"log_t"}
_PRECISION = {"dps", "method"}
_DATA_ARRAYS = {"X", "y"}


class ConfigError(ValueError):
    """A configuration field is missing or invalid; the message names the field."""


@dataclass(frozen=True)
class RunConfig:
    """A parsed configuration: the problem and how far / how precisely to integrate."""

    problem: Problem
    log_t: float
    dps: int | None
    raw: dict[str, Any]
    method: str = "auto"


def _need(cond: bool, field: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{field}: {msg}")


def check_keys(spec: dict[str, Any], known: set[str], path: str) -> None:
    """Refuse keys of ``spec`` outside ``known``, naming the dotted path and the key that was
    probably meant.

    Examples
    --------
    >>> check_keys({"scael": 1}, {"scale", "seed", "theta"}, "init")
    Traceback (most recent call last):
    ...
    numerics.problem._config.ConfigError: init.scael: unknown field; did you mean 'scale'? ...
    """
    for key in sorted(set(spec) - known, key=str):
        same_case = [k for k in sorted(known) if k.lower() == str(key).lower()]
        near = same_case or difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}? " if near else ""
        where = f"{path}.{key}" if path else str(key)
        raise ConfigError(f"{where}: unknown field; {hint}(known: {', '.join(sorted(known))})")


def _number(value: Any, field: str, *, positive: bool = False) -> float:
    """A finite JSON number (not a bool), optionally > 0."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 or not positive)
    _need(ok, field, f"must be a {'positive ' if positive else ''}finite number, got {value!r}")
    return float(value)


def _model(spec: Any) -> Model:
    _need(isinstance(spec, dict), "model", "must be an object like {\"kind\": \"two_layer\", "
          "\"width\": 8, \"activation\": \"square_relu\"}")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    _need(kind in ("linear", "diagonal", "two_layer", "mlp"), "model.kind",
          f"must be one of linear, diagonal, two_layer, mlp; got {kind!r}")
    if kind == "mlp" and "width" in spec and "widths" not in spec:
        width, depth = spec.pop("width"), spec.pop("depth", 2)
        _need(isinstance(depth, int) and depth >= 2, "model.depth", "an mlp needs depth >= 2")
        spec["widths"] = [width] * (depth - 1)
    for key in ("width", "depth"):
        if key in spec:
            _need(isinstance(spec[key], int) and not isinstance(spec[key], bool)
                  and spec[key] >= 1, f"model.{key}", f"must be a positive integer, got "
                  f"{spec[key]!r}")
    try:
        return make_model(kind, **spec)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def _data(spec: Any) -> Dataset:
    _need(isinstance(spec, dict), "data", "must be {\"X\": [[...]], \"y\": [...]} or "
          "{\"kind\": \"separable_gaussian\", \"n\": ..., \"d\": ..., \"seed\": ...}")
    if "X" in spec or "y" in spec:
        _need("X" in spec and "y" in spec, "data", "give both X and y")
        check_keys(spec, _DATA_ARRAYS, "data")
        try:
            X = np.asarray(spec["X"], dtype=float)
            y = np.asarray(spec["y"], dtype=float)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"data.X/data.y: must be numbers ({exc})") from None
        _need(bool(np.all(np.isfinite(X))) and bool(np.all(np.isfinite(y))), "data.X/data.y",
              "must be finite numbers (no NaN or infinity)")
        try:
            return Dataset.from_arrays(X, y)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"data.X/data.y: {exc}") from None
    spec = dict(spec)
    kind = spec.pop("kind", None)
    try:
        return make_dataset(kind, **spec)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"data.kind: {exc}") from None


@functools.lru_cache(maxsize=64)
def _cached_potential(expr: str, params: tuple[tuple[str, str, Any], ...]) -> Potential:
    """One Potential per (expression, parameters) and process: its sympy derivations (inverse
    mirror map, horizon, ...) are cached on it, so a sweep worker or a loop over configs with
    the same potential derives them once instead of once per run (~0.3 s each)."""
    return Potential(expr, **{name: value for name, _, value in params})


def _potential(expr: Any, params: Any) -> Potential:
    _need(isinstance(expr, str) and expr.strip() != "", "potential",
          "must be a string in sympy syntax, e.g. \"x*asinh(x/b) - sqrt(x**2+b**2)\"")
    _need(isinstance(params, dict), "params", "must be an object like {\"b\": 0.1}")
    try:
        # the value's type is part of the key: b=1 and b=1.0 are different sympy numbers
        key = tuple(sorted((str(k), type(v).__name__, v) for k, v in params.items()))
        hash(key)
    except TypeError:                        # unhashable values: refused by Potential below
        key = None
    try:
        if key is not None and all(isinstance(k, str) for k in params):
            return _cached_potential(expr, key)
        return Potential(expr, **params)
    except ValueError as exc:
        raise ConfigError(f"potential: {' '.join(str(exc).split())}") from None


def parse_problem(raw: dict[str, Any], data: Dataset | None = None) -> Problem:
    """Validate the problem fields of a config (:data:`PROBLEM_FIELDS`) and build the Problem.

    Only ``model``, ``potential``, ``params``, ``loss``, ``data`` and ``init`` are read; the
    caller checks which other top-level keys it accepts (:func:`parse_config` accepts
    ``until`` and ``precision``; a sweep's mirror-descent task accepts ``descent``).

    Parameters
    ----------
    raw
        The config object.
    data
        A dataset built by the caller (e.g. a training split of MNIST) to use instead of
        ``raw["data"]``, which is then not read.

    Examples
    --------
    >>> prob = parse_problem({"model": {"kind": "linear"}, "potential": "x**2/2",
    ...                       "data": {"X": [[1.0, 0.5]], "y": [1]}, "init": {"seed": 3}})
    >>> prob.n_params, prob.init
    (2, {'scale': 0.1, 'seed': 3})
    >>> parse_problem({"model": {"kind": "linear"}, "data": {"X": [[1.0]], "y": [1]}})
    Traceback (most recent call last):
    ...
    numerics.problem._config.ConfigError: potential: missing (required)
    """
    _need(isinstance(raw, dict), "config", "must be a JSON object")
    for key in ("model", "potential", "data"):
        _need(key in raw or (key == "data" and data is not None), key, "missing (required)")
    model = _model(raw["model"])
    data = _data(raw["data"]) if data is None else data
    pot = _potential(raw["potential"], raw.get("params", {}))
    loss = raw.get("loss", "exp")
    _need(loss in LOSSES, "loss", f"must be one of {list(LOSSES)}, got {loss!r}")
    init = raw.get("init", {"scale": 0.1, "seed": 0})
    _need(isinstance(init, dict), "init", "must be {\"scale\": ..., \"seed\": ...} or "
          "{\"theta\": [...]}")
    check_keys(init, _INIT, "init")
    theta0 = None
    if "theta" in init:
        theta0 = init["theta"]
        n = model.n_params(data.X.shape[1])
        _need(isinstance(theta0, list) and len(theta0) == n, "init.theta",
              f"must be a list of {n} numbers (the model's parameters in documented order)")
        theta0 = [_number(v, f"init.theta[{i}]") for i, v in enumerate(theta0)]
    scale, seed = init.get("scale", 0.1), init.get("seed", 0)
    _number(scale, "init.scale", positive=True)
    _need(isinstance(seed, int) and not isinstance(seed, bool), "init.seed",
          f"must be an integer, got {seed!r}")
    try:
        return Problem.create(data, model, pot, loss=loss, scale=float(scale), seed=seed,
                              theta0=theta0)
    except ValueError as exc:
        raise ConfigError(f"init: {exc}") from None


def _precision(precision: Any) -> tuple[int | None, str]:
    if precision is None:
        return None, "auto"
    _need(isinstance(precision, dict), "precision", "must be {\"dps\": 30} (optionally "
          "with \"method\"); omit it for float64")
    check_keys(precision, _PRECISION, "precision")
    dps_ok = isinstance(precision.get("dps"), int) and not isinstance(precision["dps"], bool)
    _need(dps_ok and precision["dps"] >= 16, "precision.dps",
          "must be an integer >= 16 (decimal digits); omit precision for float64")
    method = precision.get("method", "auto")
    _need(method in ("auto", "taylor", "radau"), "precision.method",
          f"must be 'auto', 'taylor' or 'radau', got {method!r}")
    return precision["dps"], method


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a configuration dict and build the :class:`Problem`.

    Examples
    --------
    >>> cfg = parse_config({"model": {"kind": "linear"}, "potential": "cosh(x)",
    ...                     "data": {"X": [[1.0, 0.5]], "y": [1]}, "until": {"log_t": 10}})
    >>> cfg.problem.n_params, cfg.log_t, cfg.dps
    (2, 10.0, None)
    >>> parse_config({"model": {"kind": "linear"}, "potential": "cosh(x)",
    ...               "data": {"X": [[1.0]], "y": [1]}, "until": {"log_t": -1}})
    Traceback (most recent call last):
    ...
    numerics.problem._config.ConfigError: until.log_t: must be a positive finite number, got -1
    """
    _need(isinstance(raw, dict), "config", "must be a JSON object")
    check_keys(raw, _TOP, "")
    for key in ("model", "potential", "data", "until"):
        _need(key in raw, key, "missing (required)")
    until = raw["until"]
    _need(isinstance(until, dict) and "log_t" in until, "until", "must be {\"log_t\": ...}")
    check_keys(until, _UNTIL, "until")
    log_t = _number(until["log_t"], "until.log_t", positive=True)
    dps, method = _precision(raw.get("precision"))
    problem = parse_problem(raw)
    return RunConfig(problem, float(log_t), dps, raw, method)


def load_config(path: str | Path) -> RunConfig:
    """Read and parse a JSON configuration file (errors name the file and the field)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return parse_config(raw)
