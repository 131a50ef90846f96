"""The walkthroughs in notebooks/ run, top to bottom, on the embedded data, on CPU, and are committed without outputs.

Each notebook writes under ``$DRAWNET_NOTEBOOK_OUT`` (here a temporary folder) and runs its
small version unless ``DRAWNET_NOTEBOOK_FULL=1``. The executed copies go to
``$DRAWNET_TEST_ARTIFACTS/notebooks/`` for a person to look at.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = Path(os.environ.get("DRAWNET_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "notebooks"
NEEDS_FIFTYONE = {"02_curate.ipynb"}


def read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_build_and_match.ipynb", "02_curate.ipynb",
                                           "03_baseline_and_svm.ipynb", "04_finetune.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_says_what_it_shows(path):
    nb = read(path)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} cell {k}: outputs not stripped"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "minute" in first.source, \
        f"{path.name}: the first cell should say what the notebook shows and how long it takes"


@pytest.fixture(scope="session")
def render_cache(tmp_path_factory) -> Path:
    """One render cache for all notebooks of a run: the SVGs are rendered once, not once per notebook."""
    return tmp_path_factory.mktemp("renders")


@pytest.mark.slow
@pytest.mark.library
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, request, render_cache):
    from nbclient import NotebookClient

    from tests.conftest import require_library

    require_library("openclipart")
    if path.name in NEEDS_FIFTYONE:
        request.getfixturevalue("fiftyone")  # the run's throwaway database, through FIFTYONE_DATABASE_URI
    monkeypatch.setenv("DRAWNET_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("DRAWNET_RENDER_CACHE", str(render_cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = read(path)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    finally:
        import nbformat

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, ARTIFACTS / path.name)
