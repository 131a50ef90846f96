"""python -m curation.log export|replay: the curation log, kept in the dataset and on disk.

    python -m curation.log export --dataset drawnet [--out curation.jsonl]
    python -m curation.log replay --dataset drawnet-fresh --log out/embedded/curation/drawnet.jsonl

Every curation action (accept, reject, move, ambiguous, refuse, undo; see ``curation.actions``)
is one record, written twice: into the dataset's own execution store, which goes with
the dataset, and appended as one line to a JSON Lines file on disk, which survives
losing the database. A record names its samples by ``image_id`` (the file's sha256),
so ``replay`` rebuilds the curation on a fresh ``curation.load`` of the same manifest.
Each record also keeps the samples' state before it, which is what ``undo`` restores.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from datasets.manifest import write_jsonl

from .database import fiftyone_module
from .state import apply_record

logger = logging.getLogger(__name__)
STORE = "drawnet_curation_log"
ENV = "DRAWNET_CURATION_LOG"  # a file for every dataset, overriding the default next to the manifest


def default_log_path(dataset) -> Path:
    """Where ``dataset``'s log lives on disk: what load recorded, else next to its first manifest."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    info = dataset.info or {}
    if info.get("curation_log"):
        return Path(info["curation_log"])
    manifests = info.get("manifests") or []
    folder = Path(manifests[0]).parent if manifests else Path.home() / ".cache" / "drawnet"
    return folder / "curation" / f"{dataset.name}.jsonl"


def read_jsonl_log(path: str | os.PathLike) -> list[dict]:
    """The records of a log file in order; a torn last line (a crash mid-write) is skipped with a warning."""
    path = Path(path)
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            if lineno == len(lines):
                logger.warning("%s:%d: incomplete last record skipped", path, lineno)
                continue
            raise ValueError(f"{path}:{lineno}: not a JSON record ({err})") from None
        if not isinstance(record, dict) or "id" not in record or "action" not in record:
            raise ValueError(f"{path}:{lineno}: not a curation record (needs 'id' and 'action')")
        records.append(record)
    return records


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """One line, one write, flushed to disk: a crash can tear at most the line being written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


class CurationLog:
    """A dataset's curation log: its execution store, mirrored to a JSON Lines file."""

    def __init__(self, dataset, path: str | os.PathLike | None = None):
        from fiftyone.operators.store import ExecutionStore

        self.dataset = dataset
        self.path = Path(path) if path else default_log_path(dataset)
        self._store = ExecutionStore.create(STORE, dataset_id=dataset._doc.id)

    def records(self) -> list[dict]:
        """Every record in the dataset, oldest first."""
        return [self._store.get(k) for k in sorted(self._store.list_keys())]

    def store(self, record: dict) -> dict:
        """Number the record and store it in the dataset only (its line is already on disk)."""
        keys = self._store.list_keys()
        record = {**record, "seq": int(max(keys)) + 1 if keys else 1}
        self._store.set(f"{record['seq']:010d}", record)
        return record

    def append(self, record: dict) -> dict:
        """Store the record in the dataset and on disk."""
        record = self.store(record)
        append_jsonl(self.path, record)
        return record

    def ids(self) -> set[str]:
        return {r["id"] for r in self.records()}


def export(dataset_name: str, out: Path | None = None, *, database_uri: str | None = None) -> tuple[Path, int]:
    """Write the dataset's copy of its log (for when the file on disk was lost); return (path, records)."""
    fo = fiftyone_module(database_uri)
    dataset = fo.load_dataset(dataset_name)
    log = CurationLog(dataset)
    records = log.records()
    path = out or log.path
    write_jsonl(Path(path), records)
    return path, len(records)


def replay(dataset_name: str, log_file: Path, *, database_uri: str | None = None) -> dict:
    """Apply a log file's records that the dataset has not seen yet, in order; return counts."""
    records = read_jsonl_log(log_file)
    fo = fiftyone_module(database_uri)
    dataset = fo.load_dataset(dataset_name)
    log = CurationLog(dataset)
    seen = log.ids()
    same_file = log.path.exists() and log.path.resolve() == Path(log_file).resolve()
    applied = skipped = missing = 0
    for record in records:
        if record["id"] in seen:
            skipped += 1
            continue
        missing += apply_record(dataset, record)
        stored = {k: v for k, v in record.items() if k != "seq"}
        # a record replayed from the dataset's own file is already on disk
        if same_file:
            log.store(stored)
        else:
            log.append(stored)
        applied += 1
    return {"applied": applied, "skipped": skipped, "missing_samples": missing, "log": str(log.path)}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Export or replay a dataset's curation log.", add_help=add_help)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write the dataset's copy of its log to a JSON Lines file")
    e.add_argument("--dataset", required=True)
    e.add_argument("--out", type=Path, default=None, help="default: the dataset's log file")
    r = sub.add_parser("replay", help="apply a log file to a dataset (e.g. a fresh load of the same manifest)")
    r.add_argument("--dataset", required=True)
    r.add_argument("--log", type=Path, required=True, help="a curation log (JSON Lines)")
    for s in (e, r):
        s.add_argument("--database-uri", default=None, help="a shared MongoDB (default: FiftyOne's own)")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "export":
            path, n = export(args.dataset, args.out, database_uri=args.database_uri)
            print(f"{args.dataset}: {n} curation records written to {path}")
        else:
            if not args.log.is_file():
                raise ValueError(f"{args.log}: no such curation log")
            s = replay(args.dataset, args.log, database_uri=args.database_uri)
            print(f"{args.dataset}: {s['applied']} records replayed from {args.log}, {s['skipped']} already applied; "
                  f"{s['missing_samples']} sample references not in the dataset; log: {s['log']}")
    except (ValueError, OSError) as err:
        print(f"curation.log: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
