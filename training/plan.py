"""Where a training.finetune run's data and folder come from when the user names neither.

    python -m training.finetune --epochs 239      # in a workspace: nothing else

Data: where FiftyOne is importable, the workspace's dataset is exported as it is curated now
(``curation.export``'s rules: rejected samples left out, moved samples in their new class)
into ``RUN/data/``, and the run records the last curation-log record that export includes.
Where FiftyOne is absent (a GPU box), the workspace's latest export is used, and said so.
Folder: a new numbered ``WORKSPACE/runs/NNN-<backbone>-<recipe>/``; nothing is overwritten.
``RUN/source.json`` says all of this, and which dataset the results go back to.
FiftyOne is imported here only, lazily, at that edge.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from datasets.manifest import atomic_write_text, read_json_object
from datasets.workspace import (
    Workspace,
    WorkspaceError,
    new_run_dir,
    now,
    open_workspace,
    read_workspace,
    record_export,
    workspace_root,
)

logger = logging.getLogger(__name__)
SOURCE = "source.json"
HINT = "--data MANIFEST (and --out RUN_DIR)"


@dataclass
class RunPlan:
    data: Path  # the manifest to train on
    out: Path  # the run folder (created)
    source: dict = field(default_factory=dict)  # RUN/source.json: where the data came from, where results go


def fiftyone_available() -> bool:
    return importlib.util.find_spec("fiftyone") is not None


def last_log_seq(dataset_name: str, database_uri: str | None) -> int | None:
    """The number of the dataset's newest curation record (None for an empty log)."""
    from curation.database import fiftyone_module
    from curation.log import CurationLog

    fo = fiftyone_module(database_uri)
    records = CurationLog(fo.load_dataset(dataset_name)).records()
    return records[-1].get("seq") if records else None


def export_current(ws: Workspace, folder: Path) -> dict:
    """Export the workspace's dataset as curated now into ``folder``; return the source record."""
    from curation.database import fiftyone_module
    from curation.export import export

    fo = fiftyone_module(ws.database_uri)
    if not fo.dataset_exists(ws.dataset):
        raise WorkspaceError(f"{ws.file}: its dataset {ws.dataset!r} is not in the database; load it again with "
                             "python -m curation.load, or give --data MANIFEST")
    seq = last_log_seq(ws.dataset, ws.database_uri)  # read first: the export holds at least every record up to it
    summary = export(ws.dataset, folder, database_uri=ws.database_uri, layout_tree=False)
    manifest = folder / "manifest.jsonl"
    record_export(ws, manifest, log_seq=seq)
    logger.info("exported %s as curated now (%d images in %d classes, %d moved, left out: %s; curation log up to "
                "record %s) to %s", ws.dataset, summary["images"], summary["classes"], summary["moved"],
                summary["left_out"] or "none", seq, manifest)
    return {"kind": "export", "dataset": ws.dataset, "manifest": str(manifest), "log_seq": seq,
            "exported_at": ws.latest_export.get("exported_at"), "images": summary["images"],
            "classes": summary["classes"], "moved": summary["moved"], "left_out": summary["left_out"]}


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
             *, export: bool | None = None) -> RunPlan:
    """The run's data and folder: the options where given, the workspace for the rest.

    ``export``: export the current curation (default: where FiftyOne is importable)."""
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
    elif export if export is not None else fiftyone_available():
        source = export_current(ws, folder / "data")
    else:
        source = latest_export(ws)
    if data is None:
        source.update(workspace=str(ws.root), database_uri=ws.database_uri)
    source["planned_at"] = now()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / SOURCE, json.dumps(source, indent=2) + "\n")
    return RunPlan(Path(source["manifest"]), folder, source)


def read_source(run: Path) -> dict:
    """RUN/source.json, or {} for a run started with --data and --out before it existed."""
    return read_json_object(Path(run) / SOURCE, "run source file")
