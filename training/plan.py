"""Where a training.finetune run's data and folder come from when the user names neither.

    python -m training.finetune --epochs 239      # in a workspace: nothing else

Data: where FiftyOne is importable, the workspace's dataset is exported as it is curated now
(``curation.export``'s rules: rejected samples left out, moved samples in their new class)
into ``RUN/data/``, and the run records the last curation-log record that export includes.
Where FiftyOne is absent (a GPU box), the workspace's latest export is used, and said so.
Folder: a new numbered ``WORKSPACE/runs/NNN-<backbone>-<recipe>/``; nothing is overwritten.
``RUN/source.json`` says all of this, and which dataset the results go back to.
The export itself is ``training.workflow.export_current``: step 2 reaches the curation from there only.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from datasets.manifest import atomic_write_text, read_json_object
from datasets.workspace import (
    Workspace,
    WorkspaceError,
    new_run_dir,
    now,
    open_workspace,
    read_workspace,
    workspace_root,
)

logger = logging.getLogger(__name__)
SOURCE = "source.json"
HINT = "--manifest MANIFEST (and --out RUN_DIR)"


@dataclass
class RunPlan:
    data: Path  # the manifest to train on
    out: Path  # the run folder (created)
    source: dict = field(default_factory=dict)  # RUN/source.json: where the data came from, where results go


def fiftyone_available() -> bool:
    return importlib.util.find_spec("fiftyone") is not None


def latest_export(ws: Workspace) -> dict:
    """The workspace's latest export, for a machine without FiftyOne; an error if there is none."""
    latest = ws.latest_export or {}
    manifest = ws.path(latest.get("manifest"))
    if manifest is None or not manifest.is_file():
        where = f" ({manifest} is missing)" if manifest else ""
        raise WorkspaceError(f"FiftyOne is not installed here and {ws.file} has no export to train on{where}: give "
                             f"{HINT}, or run training.finetune (or curation.export) once where the dataset lives")
    if latest.get("dataset") != ws.dataset:
        logger.warning("the latest export is of dataset %r, not of the current %r", latest.get("dataset"), ws.dataset)
    logger.info("FiftyOne is not installed here: training on the workspace's latest export, %s (dataset %s, "
                "exported %s, curation log up to record %s)", manifest, latest.get("dataset"),
                latest.get("exported_at"), latest.get("log_seq"))
    return {"kind": "latest export", **latest, "manifest": str(manifest)}


def plan_run(workspace: str | Path | None, data: Path | None, out: Path | None, backbone: str, recipe: str,
             *, export_to: Callable[[Workspace, Path], dict] | None = None) -> RunPlan:
    """The run's data and folder: the options where given, the workspace for the rest.

    ``export_to(ws, folder)`` exports the workspace's dataset as curated now into ``folder`` and returns its source
    record (``training.workflow.export_current``); without it the workspace's latest export is used."""
    if data is not None and out is not None:
        return RunPlan(Path(data), Path(out), {"kind": "manifest", "manifest": str(data)})
    if data is None:
        ws = open_workspace(workspace, option_hint=HINT)
    else:  # a manifest of one's own, in a new numbered folder of the workspace (or the current folder)
        root = workspace_root(workspace)
        ws = read_workspace(root) or Workspace(root=root)
    folder = Path(out) if out is not None else new_run_dir(ws, backbone, recipe)
    if data is not None:
        source = {"kind": "manifest", "manifest": str(data)}
    elif export_to is not None:
        source = export_to(ws, folder / "data")
    else:
        source = latest_export(ws)
    if data is None:
        source.update(workspace=str(ws.root), database_uri=ws.database_uri)
    source["planned_at"] = now()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / SOURCE, json.dumps(source, indent=2) + "\n")
    return RunPlan(Path(source["manifest"]), folder, source)


def read_source(run: Path) -> dict:
    """RUN/source.json, or {} for a run started with --manifest and --out before it existed."""
    return read_json_object(Path(run) / SOURCE, "run source file")
