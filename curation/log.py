"""python -m curation.log export|replay|recover: the curation log, kept in the dataset and on disk.

    python -m curation.log export [--out curation.jsonl]     # the workspace's dataset
    python -m curation.log replay --dataset drawnet-fresh --log out/embedded/curation/drawnet-demo.jsonl
    python -m curation.log recover

Every curation action (accept, reject, move, ambiguous, refuse, undo; see ``curation.actions``)
is one record, written twice: into the dataset's own execution store, which goes with
the dataset, and appended as one line to a JSON Lines file on disk, which survives
losing the database. A record names its samples by ``image_id`` (the file's sha256),
so ``replay`` rebuilds the curation on a fresh ``curation.load`` of the same manifest.
Each record also keeps the samples' state before it, which is what ``undo`` restores.

Several curators at once (App sessions, notebooks, scripts; one MongoDB):

- **One action at a time.** An action holds the dataset's lock (``curation.lock``) from
  reading the samples' state to completing its record, so the state a record keeps is the
  state that action saw, and replaying the records in order gives the live state.
- **Numbering.** A record's number is its key (``seq``, 10 digits) in the store, claimed by an
  insert that the collection's unique index lets only one writer win (with retry): numbers
  are unique, gap-free and in the order the actions were applied.
- **Atomicity: a pending record, finished on recovery.** FiftyOne's own MongoDB is a
  standalone server, which has no multi-document transactions (they need a replica set), so
  an action writes its record first, marked pending, then changes the samples, then marks
  the record done. A process killed in between leaves its record pending and the lock held;
  the next action (or ``recover``) takes the dead holder's lock over and finishes the pending
  record: it applies it again (every record's effect is idempotent: it sets states) and
  completes it. Rolling forward rather than back keeps the curator's action, and it needs
  nothing the record does not hold. A kill before the insert changed nothing.
- **The file on disk** is this machine's mirror: after each action the file gets every
  record it lacks, in order (a torn last line from a kill is cut off first), so on every
  machine it is a prefix of the database's log ending at that machine's latest action.
  ``export`` writes it whole from the database.
- **Reads** are one query each, whatever the log's length: the records in order (``records``),
  the caller's last action (undo), the latest record that touched a sample (an undo refused).
- **The mapping rules file** (``curation.rules_log``): decisions on whole mappings (``curation.mappings``)
  are records too; the file of rules they stand for (``dataset.info["mapping_rules"]``) is rewritten from
  the log under the lock after each decision, the undo of one, a replay, and a recovery.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from datasets.manifest import write_jsonl
from scraping.cli import add_common_arguments, setup_logging

from . import curators
from .database import add_dataset_arguments, dataset_and_uri, existing_dataset, exit_code
from .lock import CurationLock, utcnow
from .rules_log import MAPPING, default_rules_path, rewrite_rules
from .state import apply_record

logger = logging.getLogger(__name__)
STORE = "drawnet_curation_log"
ENV = "DRAWNET_CURATION_LOG"  # a file for every dataset, overriding the default next to the manifest
COLLECTION = "execution_store"  # FiftyOne's execution-store collection (MongoExecutionStoreRepo.COLLECTION_NAME)
SEQ_KEYS = {"$gte": "0", "$lt": ":"}  # the record keys (10 digits), not "lock" or "schema"
PENDING = "pending"
BOOKKEEPING = ("status", "undone_by")  # kept in the database for the queries, never in a record as logged
SCHEMA = 2  # 2: records carry undone_by and status; older logs are upgraded on their first locked action
INDEXES = {  # partial: only this store's documents are indexed
    "drawnet_log_seq": [("dataset_id", 1), ("key", 1)],
    "drawnet_log_id": [("dataset_id", 1), ("value.id", 1)],
    "drawnet_log_curator": [("dataset_id", 1), ("value.curator", 1), ("key", -1)],
    "drawnet_log_samples": [("dataset_id", 1), ("value.image_ids", 1), ("key", -1)],
}
_indexed: set[int] = set()


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


def rules_path(dataset) -> Path:
    """Where ``dataset``'s mapping decisions are kept as rules: what load recorded (the workspace's
    ``mappings.jsonl``), else ``<log folder>/<dataset>.mappings.jsonl``."""
    recorded = (dataset.info or {}).get("mapping_rules")
    return Path(recorded) if recorded else default_rules_path(default_log_path(dataset), dataset.name)


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


def append_jsonl(path: str | os.PathLike, *records: dict) -> None:
    """The records as lines, one write, flushed to disk: a crash can tear at most the last line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _key(seq: int) -> str:
    return f"{seq:010d}"


def _after(seq: int) -> dict:
    """The record keys numbered above ``seq``."""
    return {"$gt": _key(seq), "$lt": ":"}


def _logged(value: dict) -> dict:
    """A record as logged: without the database's bookkeeping."""
    return {k: v for k, v in value.items() if k not in BOOKKEEPING}


def read_tail(path: Path) -> dict | None:
    """The last whole record of a log file (None when it has none); a torn last line is cut off first."""
    try:
        f = open(path, "rb+")
    except FileNotFoundError:
        return None
    with f:
        end = f.seek(0, os.SEEK_END)
        pos, tail = end, b""
        while pos > 0 and tail.count(b"\n") < 2:
            step = min(pos, 1 << 16)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
        if tail and not tail.endswith(b"\n"):
            keep = pos + tail.rfind(b"\n") + 1
            logger.warning("%s: cut off an incomplete last line (%d bytes: a crash mid-write)", path, end - keep)
            f.truncate(keep)
            tail = tail[:tail.rfind(b"\n") + 1]
        lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except ValueError:
        return None


class CurationLog:
    """A dataset's curation log: records in its execution store, mirrored to a JSON Lines file.

    Reading needs nothing else; writing happens inside ``with log.locked():`` through ``commit``.
    """

    def __init__(self, dataset, path: str | os.PathLike | None = None, curator: dict | None = None):
        import fiftyone.core.odm as foo
        from fiftyone.operators.store import ExecutionStore

        self.dataset = dataset
        self.path = Path(path) if path else default_log_path(dataset)
        self.curator = curator or curators.curator()
        # the dataset's id: FiftyOne 1.22 has no public accessor (its operators' ctx.store reads _doc.id too)
        dataset_id = dataset._doc.id
        ExecutionStore.create(STORE, dataset_id=dataset_id)  # registers the store with FiftyOne
        self._coll = foo.get_db_conn()[COLLECTION]
        self._scope = {"store_name": STORE, "dataset_id": dataset_id}
        self._lock: CurationLock | None = None
        self.recovered: dict | None = None  # the pending record the last locked() finished, if any
        self._upgraded = False
        self._foreign_warned = False
        if id(self._coll.database.client) not in _indexed:
            for name, keys in INDEXES.items():
                self._coll.create_index(keys, name=name, partialFilterExpression={"store_name": STORE})
            _indexed.add(id(self._coll.database.client))

    # ---------------------------------------------------------------- reading: one query each

    def _records(self, query: dict, *, order: int = 1, limit: int = 0) -> list[dict]:
        cursor = self._coll.find({**self._scope, "key": SEQ_KEYS, **query}, {"_id": 0, "value": 1},
                                 sort=[("key", order)], limit=limit)
        return [d["value"] for d in cursor]

    def records(self, after: int = 0) -> list[dict]:
        """The completed records numbered above ``after`` (all by default), oldest first, as logged."""
        query = {"key": _after(after)} if after else {}
        return [_logged(v) for v in self._records({**query, "value.status": {"$exists": False}})]

    def ids(self) -> set[str]:
        return {d["value"]["id"] for d in self._coll.find({**self._scope, "key": SEQ_KEYS}, {"_id": 0, "value.id": 1})}

    def last(self) -> dict | None:
        """The latest record, pending or not, with its bookkeeping."""
        found = self._records({}, order=-1, limit=1)
        return found[0] if found else None

    def last_action(self, curator: str | None = None) -> dict | None:
        """The latest completed action that is no undo and not undone yet: ``curator``'s own, or anyone's (None)."""
        query = {"value.action": {"$ne": "undo"}, "value.undone_by": {"$exists": False},
                 "value.status": {"$exists": False}, **({"value.curator": curator} if curator else {})}
        found = self._records(query, order=-1, limit=1)
        return _logged(found[0]) if found else None

    def latest_touching(self, image_id: str, after: int) -> dict | None:
        """The latest completed record numbered above ``after`` that names the sample."""
        query = {"key": _after(after), "value.image_ids": image_id,
                 "value.status": {"$exists": False}}
        found = self._records(query, order=-1, limit=1)
        return _logged(found[0]) if found else None

    # ---------------------------------------------------------------- writing, under the dataset's lock

    @contextlib.contextmanager
    def locked(self):
        """Hold the dataset's curation lock; a dead holder's pending record is finished first."""
        if self._lock is not None:  # re-entered (replay holds it for its whole run)
            yield self
            return
        self._lock = CurationLock(self._coll, self._scope)
        try:
            with self._lock:
                self._upgrade()
                self.recovered = self.recover()
                if self._lock.taken_over is not None and self.recovered is None:
                    self.sync_mirror()  # the dead holder completed its record but may not have written its line
                if self._lock.taken_over is not None or self.recovered is not None:
                    self.write_rules()  # ...or its rules file
                yield self
        finally:
            self._lock = None

    def commit(self, record: dict, apply=None, *, mirror: bool = True) -> dict:
        """Number ``record``, store it pending, ``apply()`` it (default: ``state.apply_record``), complete it.

        Must run inside ``locked()``. Returns the record as logged, with its ``seq``.
        """
        from pymongo.errors import DuplicateKeyError

        if self._lock is None:
            raise RuntimeError("CurationLog.commit outside `with log.locked():`")
        last = self.last()
        record = {**_logged(record), "seq": (last["seq"] if last else 0) + 1}
        while True:
            try:
                value = {**record, "status": PENDING}
                self._coll.insert_one({**self._scope, "key": _key(record["seq"]), "value": value,
                                       "created_at": utcnow(), "updated_at": utcnow(), "expires_at": None,
                                       "policy": "persist"})
                break
            except DuplicateKeyError:  # only when a lock was broken under a live holder: take the next number
                record["seq"] += 1
        self._lock.renew()
        (apply or (lambda: apply_record(self.dataset, record)))()
        self._complete(record)
        if mirror:
            self.sync_mirror()
        return record

    def write_rules(self, *, strict: bool = False) -> int | None:
        """Rewrite the mapping rules file from the log (inside ``locked()``); return the rules written, or None
        when the log holds no decision on a mapping (nothing written). A file that cannot be read or written is
        an error with ``strict``, else a warning: the curation is done and logged, and
        ``python -m curation.mappings rules`` writes the file again."""
        decisions = self._records({"value.action": MAPPING, "value.status": {"$exists": False}})
        if not decisions:
            return None
        path = rules_path(self.dataset)
        try:
            return rewrite_rules(path, decisions, self.ids())
        except (ValueError, OSError) as err:
            if strict:
                raise
            logger.warning("mapping rules not written to %s (%s); the decisions are in the curation log: fix the "
                           "file, then run python -m curation.mappings rules --dataset %s", path, err,
                           self.dataset.name)
            return None

    def _complete(self, record: dict) -> None:
        if record["action"] == "undo":
            self._coll.update_one({**self._scope, "key": SEQ_KEYS, "value.id": record["undoes"]},
                                  {"$set": {"value.undone_by": record["seq"]}})
        self._coll.update_one({**self._scope, "key": _key(record["seq"])},
                              {"$unset": {"value.status": ""}, "$set": {"updated_at": utcnow()}})

    def recover(self) -> dict | None:
        """Finish the pending record a killed curator left (it is always the latest); return it, or None."""
        last = self.last()
        if not last or last.get("status") != PENDING:
            return None
        record = _logged(last)
        missing = apply_record(self.dataset, record)
        self._complete(record)
        self.sync_mirror()
        logger.warning("finished record %d (%s of %d samples by %s), left pending by a curator that stopped "
                       "mid-action%s", record["seq"], record["action"], len(record["image_ids"]),
                       curators.describe(record), f"; {missing} of its samples are gone" if missing else "")
        return record

    def _upgrade(self) -> None:
        """Logs written before SCHEMA 2 get their undone_by marks, once."""
        if self._upgraded:
            return
        query = {**self._scope, "key": "schema"}
        if not self._coll.find_one(query):
            for undo in self._records({"value.action": "undo"}):
                self._coll.update_one({**self._scope, "key": SEQ_KEYS, "value.id": undo["undoes"]},
                                      {"$set": {"value.undone_by": undo["seq"]}})
            self._coll.update_one(query, {"$set": {"value": SCHEMA, "updated_at": utcnow()},
                                          "$setOnInsert": {"created_at": utcnow(), "expires_at": None,
                                                           "policy": "persist"}}, upsert=True)
        self._upgraded = True

    def sync_mirror(self) -> int:
        """Append to the file on disk every completed record it lacks, in order; return how many."""
        tail = read_tail(self.path)
        after = int((tail or {}).get("seq") or 0)
        if tail is not None:
            known = self._records({"key": _key(after)}, limit=1)
            if not known or known[0].get("id") != tail.get("id"):
                if not self._foreign_warned:
                    logger.warning("%s is not %s's log (its last record, %s, is not in the database): not "
                                   "appended to; `python -m curation.log export --dataset %s --out FILE` writes "
                                   "a copy", self.path, self.dataset.name, tail.get("id"), self.dataset.name)
                    self._foreign_warned = True
                return 0
        new = self.records(after)
        if new:
            append_jsonl(self.path, *new)
        return len(new)


def export(dataset_name: str, out: Path | None = None, *, database_uri: str | None = None) -> tuple[Path, int]:
    """Write the dataset's log from the database (for a lost or foreign file on disk); return (path, records).

    Rewriting the dataset's own file holds the curation lock, so no action appends to it meanwhile.
    """
    dataset = existing_dataset(dataset_name, database_uri)
    log = CurationLog(dataset)
    path = Path(out or log.path)
    own = path.resolve() == log.path.resolve()
    with log.locked() if own else contextlib.nullcontext():
        records = log.records()
        write_jsonl(path, records)
    return path, len(records)


def replay(dataset_name: str, log_file: Path, *, database_uri: str | None = None) -> dict:
    """Apply a log file's records that the dataset has not seen yet, in order; return counts.

    Each record is committed as an action is (pending, applied, completed), under the lock for the
    whole replay; the records get this dataset's numbers, in the file's order.
    """
    records = read_jsonl_log(log_file)
    dataset = existing_dataset(dataset_name, database_uri)
    log = CurationLog(dataset)
    applied = skipped = 0
    missing = [0]
    with log.locked():
        seen = log.ids()
        for record in records:
            if record["id"] in seen:
                skipped += 1
                continue

            def apply(record=record):
                missing[0] += apply_record(dataset, record)

            log.commit({k: v for k, v in record.items() if k != "seq"}, apply, mirror=False)
            seen.add(record["id"])
            applied += 1
        log.sync_mirror()
        if applied:
            log.write_rules()
    return {"applied": applied, "skipped": skipped, "missing_samples": missing[0], "log": str(log.path)}


def recover(dataset_name: str, *, database_uri: str | None = None) -> dict:
    """Finish what a killed curator left: its pending record, its lock, the mirror's missing lines."""
    log = CurationLog(existing_dataset(dataset_name, database_uri))
    with log.locked():  # takes a dead holder's lock over and finishes its pending record
        took = log._lock.taken_over
        finished = log.recovered
        appended = log.sync_mirror()
    return {"lock_taken_over": took, "finished": finished, "mirror_appended": appended,
            "records": len(log.ids()), "log": str(log.path)}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Export, replay or recover a dataset's curation log.", add_help=add_help)
    add_common_arguments(p)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write the dataset's copy of its log to a JSON Lines file")
    e.add_argument("--out", type=Path, default=None, help="default: the dataset's log file")
    r = sub.add_parser("replay", help="apply a log file to a dataset (e.g. a fresh load of the same manifest)")
    r.add_argument("--log", type=Path, required=True, help="a curation log (JSON Lines)")
    c = sub.add_parser("recover", help="finish an action a killed curator left half done, and the file on disk")
    for s in (e, r, c):
        add_dataset_arguments(s)
    return p


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        if args.command == "export":
            path, n = export(name, args.out, database_uri=uri)
            print(f"{name}: {n} curation records written to {path}")
        elif args.command == "recover":
            s = recover(name, database_uri=uri)
            took = s["lock_taken_over"]
            done = s["finished"]
            print(f"{name}: {s['records']} records; "
                  + (f"took over the lock of dead pid {took.get('pid')} on {took.get('host')}; " if took else "")
                  + (f"finished pending record {done['seq']} ({done['action']}); " if done else "no pending record; ")
                  + f"{s['mirror_appended']} records appended to {s['log']}")
        else:
            if not args.log.is_file():
                raise FileNotFoundError(f"{args.log}: no such curation log")
            s = replay(name, args.log, database_uri=uri)
            print(f"{name}: {s['applied']} records replayed from {args.log}, {s['skipped']} already applied; "
                  f"{s['missing_samples']} sample references not in the dataset; log: {s['log']}")
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code("curation.log", err)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
