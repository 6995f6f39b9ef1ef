"""Strict run configs: every unknown key, at every level, is refused with its dotted path and
the key that was probably meant; numbers must be finite (issue: nothing silently ignored)."""

from __future__ import annotations

import copy
import math

import pytest

from numerics import ConfigError, parse_config

BASE = {"model": {"kind": "linear"}, "potential": "cosh(x)",
        "data": {"X": [[1.0, 0.5], [-0.5, -1.0]], "y": [1, -1]},
        "init": {"scale": 0.1, "seed": 0}, "until": {"log_t": 10},
        "precision": {"dps": 30, "method": "auto"}}


def _with(path: str, value) -> dict:
    raw = copy.deepcopy(BASE)
    *head, last = path.split(".")
    node = raw
    for key in head:
        node = node[key]
    node[last] = value
    return raw


def test_the_base_config_is_valid() -> None:
    cfg = parse_config(copy.deepcopy(BASE))
    assert cfg.log_t == 10.0 and cfg.dps == 30 and cfg.problem.n_params == 2


@pytest.mark.parametrize(("path", "meant"), [
    ("init.scael", "scale"), ("init.sed", "seed"), ("until.log_T", "log_t"),
    ("until.loss", None), ("precision.dsp", "dps"), ("precision.methd", "method"),
    ("modle", "model"), ("potental", "potential"), ("data.x", "X"),
])
def test_unknown_keys_are_named_with_their_dotted_path(path: str, meant: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with(path, 1))
    msg = str(info.value)
    assert msg.startswith(f"{path}: unknown field"), msg
    if meant is not None:
        assert f"did you mean {meant!r}" in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1", True, None, [1]])
@pytest.mark.parametrize("path", ["until.log_t", "init.scale"])
def test_numbers_must_be_finite(path: str, bad) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        parse_config(_with(path, bad))


@pytest.mark.parametrize("bad", [math.nan, math.inf, "x", None])
def test_explicit_theta_and_data_must_be_finite_numbers(bad) -> None:
    with pytest.raises(ConfigError, match=r"init\.theta\[1\]"):
        parse_config(_with("init", {"theta": [0.1, bad]}))
    with pytest.raises(ConfigError, match=r"data\.X"):
        parse_config(_with("data", {"X": [[1.0, bad], [-0.5, -1.0]], "y": [1, -1]}))


@pytest.mark.parametrize("dps", [15, 30.0, True, "30", None])
def test_precision_dps_must_be_an_integer_of_at_least_16(dps) -> None:
    with pytest.raises(ConfigError, match=r"precision\.dps"):
        parse_config(_with("precision.dps", dps))
