"""The workspace: the folder a user works in, which dataset is its current one, and its runs.

    WORKSPACE/drawnet-workspace.json     which dataset is current, where its latest export is
    WORKSPACE/runs/NNN-<backbone>-<recipe>/   one folder per training.finetune run, never reused
    WORKSPACE/mappings.jsonl             the curator's decisions on whole mappings (datasets.rules)

The folder is ``--workspace DIR``, else ``$DRAWNET_WORKSPACE``, else the current directory.
``curation.load`` records its dataset there; ``curation.app``, ``training.finetune`` and
``curation.writeback`` then need no dataset name and no paths. The file is small JSON
for people to read; paths in it are relative to the workspace when they lie inside it,
so a workspace copied to a GPU machine still finds its exports.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .manifest import atomic_write_text, read_json_object
from .rules import RULES_FILE

FILE = "drawnet-workspace.json"
ENV = "DRAWNET_WORKSPACE"
RUNS = "runs"
RUN_NAME = re.compile(r"^(\d{3,})-")


class WorkspaceError(ValueError):
    """No workspace, or an unreadable one; the message says in one line how to fix it."""


@dataclass
class Workspace:
    root: Path
    dataset: str | None = None  # the current FiftyOne dataset
    manifest: str | None = None  # what curation.load loaded it from
    database_uri: str | None = None  # a shared MongoDB, when curation.load was given one
    loaded_at: str | None = None
    # the newest curated export: {"dataset", "manifest", "log_seq", "exported_at"}; a GPU box without
    # FiftyOne trains on it
    latest_export: dict = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.root / FILE

    @property
    def runs(self) -> Path:
        return self.root / RUNS

    @property
    def rules(self) -> Path:
        """The curator's mapping decisions (``datasets.rules``): applied by the next ``evaluation.verify``."""
        return self.root / RULES_FILE

    def path(self, stored: str | None) -> Path | None:
        """A path as stored in the file, made absolute."""
        return None if stored is None else (self.root / stored).resolve()

    def stored(self, path: str | os.PathLike) -> str:
        """A path as the file stores it: relative to the workspace when inside it."""
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def workspace_root(option: str | os.PathLike | None = None) -> Path:
    """``--workspace DIR``, else ``$DRAWNET_WORKSPACE``, else the current directory."""
    chosen = option or os.environ.get(ENV) or os.getcwd()
    return Path(chosen).expanduser().resolve()


def rules_path(option: str | os.PathLike | None = None) -> Path:
    """The workspace's mapping rules file (``datasets.rules``), whether or not it exists yet."""
    return workspace_root(option) / RULES_FILE


def missing_message(root: Path, option_hint: str) -> str:
    """One line: where no workspace was found, and the two ways to fix it."""
    return (f"{root} is not a drawnet workspace (no {FILE}): give {option_hint}, or run "
            f"`python -m curation.load --manifest MANIFEST --dataset NAME` in it first")


def read_workspace(root: Path) -> Workspace | None:
    """The workspace at ``root``, or None where it has no file; an unreadable file is an error naming it."""
    path = root / FILE
    if not path.is_file():
        return None
    try:
        data = read_json_object(path, "workspace file", "fix or delete it, then run curation.load again")
    except ValueError as err:
        raise WorkspaceError(str(err)) from None
    known = {k: v for k, v in data.items() if k in Workspace.__dataclass_fields__ and k != "root"}
    return Workspace(root=root, **known)


def open_workspace(option: str | os.PathLike | None = None, *, option_hint: str = "--dataset NAME",
                   need_dataset: bool = True) -> Workspace:
    """The workspace, or a WorkspaceError saying which option to give instead."""
    root = workspace_root(option)
    ws = read_workspace(root)
    if ws is None or (need_dataset and not ws.dataset):
        raise WorkspaceError(missing_message(root, option_hint))
    return ws


def save_workspace(ws: Workspace) -> None:
    data = {k: v for k, v in asdict(ws).items() if k != "root"}
    data = {"about": "drawnet workspace: the current dataset and its latest export (written by curation.load "
                     "and training.finetune)", **data}
    ws.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ws.file, json.dumps(data, indent=2, default=str) + "\n")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_dataset(root: str | os.PathLike | None, dataset: str, manifest: str | os.PathLike,
                   database_uri: str | None = None) -> Workspace:
    """Make ``dataset`` the workspace's current one (curation.load); return the workspace."""
    root = workspace_root(root)
    ws = read_workspace(root) or Workspace(root=root)
    ws.dataset, ws.manifest, ws.database_uri, ws.loaded_at = dataset, ws.stored(manifest), database_uri, now()
    save_workspace(ws)
    return ws


def record_export(ws: Workspace, manifest: str | os.PathLike, *, log_seq: int | None) -> None:
    """Remember a curated export of the current dataset as the latest one."""
    fresh = read_workspace(ws.root) or ws  # another command may have written the file since
    fresh.latest_export = {"dataset": ws.dataset, "manifest": fresh.stored(manifest), "log_seq": log_seq,
                           "exported_at": now()}
    save_workspace(fresh)
    ws.latest_export = fresh.latest_export


def run_number(path: Path) -> int | None:
    m = RUN_NAME.match(path.name)
    return int(m.group(1)) if m else None


def new_run_dir(ws: Workspace, *parts: str) -> Path:
    """A new numbered folder ``runs/NNN-part-part``, created here and now: never one that exists."""
    ws.runs.mkdir(parents=True, exist_ok=True)
    taken = [n for n in (run_number(p) for p in ws.runs.iterdir()) if n is not None]
    number = max(taken, default=0) + 1
    suffix = "-".join(re.sub(r"[^0-9A-Za-z_.]+", "-", p).strip("-") for p in parts if p)
    while True:
        path = ws.runs / f"{number:03d}-{suffix}" if suffix else ws.runs / f"{number:03d}"
        try:
            path.mkdir()  # atomic: two runs started at once get two numbers
            return path
        except FileExistsError:
            number += 1


def latest_run(ws: Workspace, suffix: str | None = None) -> Path | None:
    """The highest-numbered run (whose name ends with ``-suffix``, if given), or None."""
    if not ws.runs.is_dir():
        return None
    runs = [p for p in ws.runs.iterdir() if p.is_dir() and run_number(p) is not None
            and (suffix is None or p.name.endswith(f"-{suffix}"))]
    return max(runs, key=run_number, default=None)
