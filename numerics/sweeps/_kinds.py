"""Task kinds: what one run of a sweep is (the spec's ``kind``; default ``integrate``).

* ``integrate`` -- mirror flow as ``mirrorflow integrate`` runs it (:func:`run_task`); configs
  are ``integrate`` configs (:func:`numerics.parse_config`).
* ``mirror_descent`` -- safeguarded discrete mirror descent (:func:`run_descent_task`); configs
  have a ``descent`` object instead of ``until`` (:func:`parse_descent_config`), and MNIST data.

Each kind names its config's top-level fields (for grid paths), a validator run on every
resolved config before any run starts, and a module-level task function (pickled by reference,
so a worker imports it) with the common signature ``(config, runs_dir, max_seconds, certify)
-> row``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..problem import CONFIG_FIELDS, parse_config
from ._descent import DESCENT_FIELDS, parse_descent_config, run_descent_task
from ._task import run_task

__all__ = ["DEFAULT_KIND", "TASK_KINDS", "TaskKind", "task_kind"]


@dataclass(frozen=True)
class TaskKind:
    """One kind of sweep task: config fields, config validator and task function."""

    name: str
    fields: frozenset[str]
    validate: Callable[[dict[str, Any]], Any]
    run: Callable[..., dict[str, Any]]


TASK_KINDS = {
    "integrate": TaskKind("integrate", frozenset(CONFIG_FIELDS), parse_config, run_task),
    "mirror_descent": TaskKind("mirror_descent", frozenset(DESCENT_FIELDS),
                               parse_descent_config, run_descent_task),
}
DEFAULT_KIND = "integrate"


def task_kind(name: Any) -> TaskKind:
    """The :class:`TaskKind` called ``name``.

    Raises
    ------
    ValueError
        One line naming the known kinds.

    Examples
    --------
    >>> task_kind("mirror_descent").run.__name__
    'run_descent_task'
    >>> task_kind("descent")
    Traceback (most recent call last):
    ...
    ValueError: kind: must be one of 'integrate', 'mirror_descent'; got 'descent'
    """
    if not isinstance(name, str) or name not in TASK_KINDS:
        known = ", ".join(repr(k) for k in TASK_KINDS)
        raise ValueError(f"kind: must be one of {known}; got {name!r}")
    return TASK_KINDS[name]
