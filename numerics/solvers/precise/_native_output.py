"""Keep what heyoka's C++ logger prints off the process's stdout, and count it.

heyoka logs warnings (e.g. "deducing a cooldown of zero for a terminal event") through spdlog to
file descriptor 1, below Python's ``sys.stdout``: redirecting ``sys.stdout`` does not catch them,
and they would break ``mirrorflow integrate --json``, whose stdout is one JSON object.
:func:`capture_native_stdout` points fd 1 at a temporary file while heyoka runs and restores it
in ``finally`` (also on Ctrl-C); the lines heyoka wrote are counted, never printed, and anything
else written to fd 1 meanwhile is written back to the real stdout when the capture ends.

Captures nest and may overlap across threads: the first one in redirects fd 1, the last one out
restores it, and each reports the heyoka lines written while it was open (overlapping captures
in different threads see each other's lines).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["NativeOutput", "capture_native_stdout"]

#: heyoka's log lines carry this tag, e.g. ``[2026-01-01 00:00:00.000] [heyoka-7.13.0] [warning]``.
HEYOKA_TAG = "[heyoka"

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "saved": None, "file": None}


@dataclass
class NativeOutput:
    """The heyoka log lines written to fd 1 during one capture.

    Examples
    --------
    >>> out = NativeOutput(["[heyoka-7] [warning] a", "[heyoka-7] [warning] b"])
    >>> out.summary()
    {'count': 2, 'first': '[heyoka-7] [warning] a'}
    """

    lines: list[str]

    def summary(self) -> dict[str, Any]:
        """``{"count": N, "first": line}`` (``first`` only when ``N > 0``), for ``meta``."""
        out: dict[str, Any] = {"count": len(self.lines)}
        if self.lines:
            out["first"] = self.lines[0]
        return out


def _flush_c_stdio() -> None:
    """Flush C's stdio buffers (spdlog writes through ``FILE*``); a no-op where unavailable."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


def _flush_python() -> None:
    for stream in (sys.stdout, sys.__stdout__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _enter() -> int:
    """Redirect fd 1 (first capture only); the capture file's offset where this one starts."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _flush_python()
            _flush_c_stdio()
            tmp = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed in _leave)
            saved = os.dup(1)
            try:
                os.dup2(tmp.fileno(), 1)
            except BaseException:
                os.close(saved)
                tmp.close()
                raise
            _STATE.update(saved=saved, file=tmp)
        _STATE["depth"] += 1
        return os.lseek(_STATE["file"].fileno(), 0, os.SEEK_END)


def _read_from(tmp: Any, start: int) -> bytes:
    """The capture file's bytes from ``start`` on, leaving the offset fd 1 writes at alone."""
    size = os.fstat(tmp.fileno()).st_size
    if hasattr(os, "pread"):
        return os.pread(tmp.fileno(), size - start, start)
    end = os.lseek(tmp.fileno(), 0, os.SEEK_CUR)
    os.lseek(tmp.fileno(), start, os.SEEK_SET)
    try:
        return os.read(tmp.fileno(), size - start)
    finally:
        os.lseek(tmp.fileno(), end, os.SEEK_SET)


def _leave(start: int) -> bytes:
    """Read this capture's bytes; restore fd 1 if it is the last one out."""
    with _LOCK:
        _flush_python()
        _flush_c_stdio()
        tmp = _STATE["file"]
        data = _read_from(tmp, start)
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            os.dup2(_STATE["saved"], 1)
            os.close(_STATE["saved"])
            tmp.close()
            _STATE.update(saved=None, file=None)
        return data


def _split(data: bytes) -> tuple[list[str], bytes]:
    """heyoka's lines, and every other byte written (to be given back to stdout)."""
    heyoka, other = [], []
    for line in data.splitlines(keepends=True):
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if HEYOKA_TAG in text:
            heyoka.append(text)
        else:
            other.append(line)
    return heyoka, b"".join(other)


@contextlib.contextmanager
def capture_native_stdout() -> Iterator[NativeOutput]:
    """Capture fd 1 while the block runs; yields a :class:`NativeOutput` filled at the end.

    Examples
    --------
    >>> with capture_native_stdout() as out:
    ...     _ = os.write(1, b"[heyoka-7.13.0] [warning] a message\\n")
    >>> out.summary()["count"]
    1
    """
    out = NativeOutput([])
    start = _enter()
    try:
        yield out
    finally:
        data = _leave(start)
        out.lines[:], other = _split(data)
        if other:
            with contextlib.suppress(OSError):
                os.write(1, other)
