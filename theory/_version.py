"""The installed version of the ``mirrorflow`` distribution (``theory`` and ``numerics``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__", "package_version"]


def package_version() -> str:
    """The version of the installed ``mirrorflow`` distribution, ``"unknown"`` if it is not
    installed (a bare checkout on ``sys.path``).

    Examples
    --------
    >>> package_version() == __version__
    True
    """
    try:
        return version("mirrorflow")
    except PackageNotFoundError:
        return "unknown"


__version__ = package_version()
