"""Run ids: the canonical JSON of a resolved config and its short sha256 digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["RUN_ID_LENGTH", "canonical_json", "run_id"]

RUN_ID_LENGTH = 16


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces (what run ids digest).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_id(config: dict[str, Any]) -> str:
    """Short sha256 digest (16 hex digits) of the canonical JSON of a resolved config.

    Examples
    --------
    >>> a = run_id({"potential": "cosh(x)", "until": {"log_t": 5}})
    >>> a == run_id({"until": {"log_t": 5}, "potential": "cosh(x)"}), len(a)
    (True, 16)
    """
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:RUN_ID_LENGTH]
