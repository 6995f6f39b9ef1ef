"""Per-worker set-up of a sweep's Dask workers (imports ``distributed``: loaded lazily).

Each worker gets one BLAS/OpenMP thread (the runs are small, and N workers on N cores must
not oversubscribe them) and its own heyoka disk cache for compiled integrators, so workers
do not contend for one cache directory. The variables are also set before the worker
processes of a :class:`distributed.LocalCluster` start (``THREAD_ENV``), which is what makes
them effective for numpy's BLAS; the plugin repeats them (and applies ``threadpoolctl``) for
workers of an existing cluster that were started elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from ._task import HEYOKA_CACHE_ENV

__all__ = ["THREAD_ENV", "WorkerSetup", "default_cache_root"]

#: One thread per worker for OpenMP, OpenBLAS and MKL.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/mirrorflow/heyoka-workers`` (``~/.cache/...`` by default).

    Examples
    --------
    >>> default_cache_root().parts[-2:]
    ('mirrorflow', 'heyoka-workers')
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mirrorflow" / "heyoka-workers"


class WorkerSetup(WorkerPlugin):
    """Threads and heyoka cache of one worker (registered with ``Client.register_plugin``).

    Parameters
    ----------
    cache_root
        Parent of the per-worker cache directories ``worker-<name>``; None: the worker's
        :func:`default_cache_root` (evaluated on the worker, whose home may differ).
    ignore_sigint
        Ignore Ctrl-C in the worker (only for workers of a LocalCluster started by the sweep;
        never for the workers of an existing cluster).
    """

    name = "mirrorflow-sweep-setup"

    def __init__(self, cache_root: str | None = None, ignore_sigint: bool = False) -> None:
        self.cache_root = cache_root
        self.ignore_sigint = ignore_sigint

    def setup(self, worker: Any) -> None:
        """Called by Dask on each worker (also on workers that join later)."""
        if self.ignore_sigint and threading.current_thread() is threading.main_thread():
            # workers of our own LocalCluster share the terminal's process group: Ctrl-C is
            # the client's to handle (it cancels the tasks and closes the cluster)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.environ.update(THREAD_ENV)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1)        # BLAS libraries already loaded in the worker
        except ImportError:                    # pragma: no cover - a core dependency
            pass
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(worker.name))
        root = Path(self.cache_root) if self.cache_root else default_cache_root()
        os.environ[HEYOKA_CACHE_ENV] = str(root / f"worker-{safe}")
