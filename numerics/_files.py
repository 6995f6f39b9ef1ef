"""Files the toolkit writes: checked before any work, written atomically with the user's umask.

Every output path (``--save``, ``--plot``, ``--out``, checkpoints, results tables) goes through
:func:`check_writable` before the computation starts, so a bad path costs a one-line error,
not a finished run; every file is written by :func:`atomic_write_text` (temp file + rename: an
interrupted write leaves the old file) with the permissions ``open()`` would give.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "check_writable", "umask_mode"]


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` with the process umask applied (what ``open(path, "w")`` would create).

    Examples
    --------
    >>> old = os.umask(0o027)
    >>> oct(umask_mode())
    '0o640'
    >>> _ = os.umask(old)
    """
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def check_writable(path: str | os.PathLike, what: str, *,
                   suffixes: tuple[str, ...] | None = None) -> Path:
    """Refuse, before any work, a path that cannot be written: a missing parent directory, a
    directory in its place, no write permission, or a suffix outside ``suffixes``.

    Returns the path. The parent directory is not created (a typo should not create folders).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_writable(os.path.join(d, "run.json"), "--save").name
    'run.json'
    >>> check_writable(os.path.join(d, "no", "run.json"), "--save")
    Traceback (most recent call last):
    ...
    ValueError: --save .../no/run.json: the directory .../no does not exist; create it first
    >>> check_writable(os.path.join(d, "fig.xyz"), "--plot", suffixes=(".png", ".pdf"))
    Traceback (most recent call last):
    ...
    ValueError: --plot .../fig.xyz: unknown format '.xyz'; use one of .pdf, .png
    """
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {p}: unknown format {p.suffix or '(none)'!r}; use one of "
                         f"{', '.join(sorted(suffixes))}")
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"{what} {p}: is a directory; give a file name inside it")
    if not parent.is_dir():
        raise ValueError(f"{what} {p}: the directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{what} {p}: not writable (permission denied); choose another path")
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same directory + rename), with
    the permissions a plain ``open()`` would give under the current umask."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
