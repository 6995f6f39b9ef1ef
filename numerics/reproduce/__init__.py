"""``mirrorflow reproduce``: run the paper's claims and write figures + ``summary.json``.

Each claim lives in its own module ``numerics.reproduce.claimN`` with the interface
``run(quick: bool, out: Path, progress: bool) -> dict`` (the dict holds a boolean
``"holds"``); modules are imported lazily, so a claim that is missing or raises is reported as
failed in the summary while the other claims are still run and written.

``summary.json`` (written atomically after every claim, so an interrupted run keeps what it
finished)::

    {"format": "mirrorflow-reproduce", "version": 1, "package_version": "...",
     "quick": true, "claims": {"claim1": {...,"holds": true}, "claim2": {"holds": false,
     "error": "ModuleNotFoundError: ..."}, ...}}

Sections of claims that were not requested are kept from a previous valid summary of the same
mode in the same directory (marked ``"from_previous_run": true``); a corrupt previous summary
is moved aside to ``summary.json.corrupt`` and reported in ``"warnings"``. Non-finite floats
in a claim's section are stored as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (strict JSON).
"""

from __future__ import annotations

import importlib
import json
import os
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from theory import package_version

from .._files import atomic_write_text
from ._common import finite

__all__ = ["CLAIMS", "FORMAT", "FORMAT_VERSION", "load_summary", "run_reproduce"]

FORMAT, FORMAT_VERSION = "mirrorflow-reproduce", 1
CLAIMS = ("claim1", "claim2", "claim3")


def load_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a ``summary.json``; a foreign or corrupt file raises ValueError.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "summary.json"
    >>> _ = p.write_text("{not json")
    >>> load_summary(p)
    Traceback (most recent call last):
    ...
    ValueError: ... is not a mirrorflow reproduce summary (invalid JSON: ...); delete it or re-run
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a mirrorflow reproduce summary (invalid JSON: {exc}); "
                         "delete it or re-run") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not a mirrorflow reproduce summary (no format={FORMAT!r}); "
                         "delete it or choose another --out")
    if raw.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} has summary version {raw.get('version')}, this mirrorflow "
                         f"writes version {FORMAT_VERSION}: re-run to replace it")
    if not isinstance(raw.get("claims"), dict):
        raise ValueError(f"{path} is a corrupt summary ('claims' missing); re-run")
    return raw


def _write_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=False))


def _check_claims(claims: Sequence[str]) -> list[str]:
    if isinstance(claims, str):
        claims = [claims]
    wanted = list(CLAIMS) if "all" in claims else list(dict.fromkeys(claims))
    bad = [c for c in wanted if c not in CLAIMS]
    if bad or not wanted:
        raise ValueError(f"unknown claim(s) {bad or claims}; choose from {[*CLAIMS, 'all']}")
    return wanted


def _previous(path: Path, quick: bool, warnings: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        old = load_summary(path)
    except ValueError as exc:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warnings.append(f"{exc} -- moved aside to {aside.name}")
        return {}
    if old.get("quick") != quick:
        warnings.append(f"previous {path.name} was a {'quick' if old.get('quick') else 'full'} "
                        "run; its sections were dropped")
        return {}
    return {k: {**v, "from_previous_run": True} for k, v in old["claims"].items()
            if k in CLAIMS and isinstance(v, dict)}


def _run_claim(name: str, quick: bool, out: Path, progress: bool,
               options: Mapping[str, Any]) -> dict[str, Any]:
    try:
        module = importlib.import_module(f"{__name__}.{name}")
        result = module.run(quick=quick, out=out, progress=progress, **options)
        if not isinstance(result, dict) or not isinstance(result.get("holds"), bool):
            raise TypeError(f"{name}.run returned no boolean 'holds' (got "
                            f"{type(result).__name__}); fix {name}.py")
        result = finite(result)                  # numpy -> Python, inf/nan -> "inf"/"nan"
        json.dumps(result, allow_nan=False)      # JSON-safe, or reported as an error
        return result
    except Exception as exc:
        return {"holds": False, "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}


def run_reproduce(claims: Sequence[str], quick: bool, out: Path, progress: bool = True,
                  *, claim_options: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> dict[str, Any]:
    """Run the requested claims, write ``out/summary.json`` and the figures, return the summary.

    Parameters
    ----------
    claims
        Names from :data:`CLAIMS`, or ``["all"]``.
    quick
        Quick mode (a few minutes on 2 cores for all claims).
    out
        Output directory (created; must not be a file).
    progress
        tqdm progress bars.
    claim_options
        Extra keyword arguments per claim, e.g. ``{"claim1": {"setting": "tiny"}}``.

    Returns
    -------
    dict
        The summary as written.

    Examples
    --------
    >>> run_reproduce(["claim9"], True, Path("unused"))
    Traceback (most recent call last):
    ...
    ValueError: unknown claim(s) ['claim9']; choose from ['claim1', 'claim2', 'claim3', 'all']
    """
    wanted = _check_claims(claims)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create the directory ({exc.strerror}); choose "
                         "another --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: not writable (permission denied); choose another --out")
    path = out / "summary.json"
    warnings: list[str] = []
    sections = _previous(path, quick, warnings)
    summary: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION,
                               "package_version": package_version(), "quick": bool(quick),
                               "requested": wanted, "claims": sections, "warnings": warnings}
    options = claim_options or {}
    for name in wanted:
        sections[name] = _run_claim(name, quick, out, progress, options.get(name, {}))
        _write_atomic(path, summary)
    summary["all_hold"] = all(sections[n]["holds"] for n in wanted)
    _write_atomic(path, summary)
    return summary
