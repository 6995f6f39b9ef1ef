"""Every notebook in ``notebooks/`` runs top to bottom, and is stored with its figures.

Each ``notebooks/*.ipynb`` is executed cell by cell with nbclient in a fresh ``python3`` kernel
(the installed ipykernel; no registered kernelspec is needed), in fast mode
(``MIRRORFLOW_FAST=1``), with ``notebooks/`` as working directory and this checkout first on
``PYTHONPATH``, so the notebook exercises the code under test even if another copy of
mirrorflow is installed. The executed copy is thrown away: the stored file keeps the outputs
of a normal run, which must include at least one figure and no error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300          # seconds per cell; the fast mode needs a few seconds per cell
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
ANSI = re.compile(r"\x1b\[[0-9;]*m")      # colour codes in kernel tracebacks

notebook_params = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
#: Executed in the slow suite only: notebook 03's fast mode repeats test_claim2's quick run
#: (gradient flow to log t = 1e8, cosh to 1e3; 37 s of the default suite). Its stored outputs
#: and paired script are still checked by default.
SLOW_TO_EXECUTE = ("03_exponentially_slow.ipynb",)
executed_params = pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_TO_EXECUTE else p
    for p in NOTEBOOKS], ids=[p.name for p in NOTEBOOKS])


def _code_outputs(nb: nbformat.NotebookNode) -> list[tuple[int, dict]]:
    return [(i, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", [])]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@executed_params
def test_notebook_executes_in_fast_mode(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("MIRRORFLOW_FAST", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                pytest.fail(f"{path.name}, cell {index} raised:\n{ANSI.sub('', str(exc))}",
                            pytrace=False)
            except (CellTimeoutError, DeadKernelError) as exc:
                pytest.fail(f"{path.name}, cell {index} did not finish ({type(exc).__name__}): "
                            f"{exc}\n--- cell source ---\n{cell.source}", pytrace=False)


@notebook_params
def test_stored_notebook_shows_figures(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    outputs = _code_outputs(nb)
    errors = [i for i, out in outputs if out.get("output_type") == "error"]
    assert not errors, f"{path.name} is stored with errors in cell(s) {errors}"
    images = [i for i, out in outputs if any(t in out.get("data", {}) for t in IMAGE_TYPES)]
    assert images, (f"{path.name} is stored without figures: execute it in normal mode "
                    "(MIRRORFLOW_FAST unset) and save it with its outputs")


@notebook_params
def test_paired_script_matches_notebook(path: Path) -> None:
    """A jupytext-paired ``.py`` (percent format), if present, has the notebook's cells."""
    script = path.with_suffix(".py")
    if not script.exists():
        pytest.skip(f"{path.name} has no paired script")
    jupytext = pytest.importorskip("jupytext")

    def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
        return [(c.cell_type, c.source.strip()) for c in nb.cells]

    assert cells(jupytext.read(script)) == cells(nbformat.read(path, as_version=4)), (
        f"{script.name} and {path.name} differ: run `jupytext --sync {path.relative_to(ROOT)}` "
        "(then re-execute and save the notebook)")
