"""A scraped store: content-addressed images, a journal of every URL, and a manifest made from it.

    STORE/images/<sha256>.<ext>   each distinct file once, whatever URLs served it
    STORE/journal.sqlite          every page and image URL: queued, done, failed or skipped, and why
    STORE/manifest.jsonl          one row per image, rewritten whole (by rename) from the journal

The journal is the truth. A file is written (temporary name, fsync, rename) before the
journal says so, and the journal commits each URL's outcome together with what it found,
so a process killed at any moment leaves a store that the same command finishes: queued
URLs are fetched again, and a file that was already written is recognised by its hash.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write_bytes, atomic_write_text, write_jsonl
from .phash import first_near, phash_bits

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL, kind TEXT NOT NULL, query TEXT NOT NULL DEFAULT '', source TEXT NOT NULL,
    page_url TEXT, title TEXT, author TEXT, license TEXT, depth INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued', reason TEXT, sha TEXT, updated REAL,
    UNIQUE (url, kind, query)
);
CREATE TABLE IF NOT EXISTS images (
    sha TEXT PRIMARY KEY, ext TEXT NOT NULL, original_name TEXT, url TEXT, page_url TEXT, title TEXT,
    author TEXT, license TEXT, query TEXT, width INTEGER, height INTEGER, phash TEXT, fetched_at TEXT,
    source TEXT, near_duplicate_of TEXT, first_seq INTEGER
);
CREATE TABLE IF NOT EXISTS image_urls (
    sha TEXT NOT NULL, url TEXT NOT NULL, page_url TEXT, query TEXT, PRIMARY KEY (sha, url)
);
"""
STATES = ("queued", "done", "failed", "skipped")
FORMAT = "drawnet-store/1"


@dataclass
class Task:
    seq: int
    url: str
    kind: str  # "page" (a listing or detail page) or "image"
    query: str
    source: str
    page_url: str | None = None
    title: str | None = None
    author: str | None = None
    license: str | None = None
    depth: int = 0


class Store:
    """One crawl's store; its methods are safe to call from several threads."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.images = self.root / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        for stale in self.images.glob(".*.tmp"):  # a killed write's leftovers: never complete, never referenced
            stale.unlink(missing_ok=True)
        self.db = sqlite3.connect(self.root / "journal.sqlite", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._in_batch = False

    def close(self) -> None:
        self.db.close()

    # -- the journal

    def enqueue(self, tasks: list[dict]) -> int:
        """Queue new URLs (a URL already journalled for that query is left as it is); return how many were new."""
        with self.lock:
            before = self.db.total_changes
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO tasks (url, kind, query, source, page_url, title, author, license, depth, "
                "updated) VALUES (:url, :kind, :query, :source, :page_url, :title, :author, :license, :depth, :now)",
                [{"page_url": None, "title": None, "author": None, "license": None, "depth": 0, "query": "",
                  **t, "now": time.time()} for t in tasks])
            self.db.execute("COMMIT")
            return self.db.total_changes - before

    def queued(self, kind: str, query: str, limit: int | None = None) -> list[Task]:
        rows = self.db.execute(
            "SELECT seq, url, kind, query, source, page_url, title, author, license, depth FROM tasks "
            "WHERE state='queued' AND kind=? AND query=? ORDER BY seq" + (f" LIMIT {int(limit)}" if limit else ""),
            (kind, query)).fetchall()
        return [Task(*r) for r in rows]

    def finish(self, task: Task, state: str, reason: str | None = None, sha: str | None = None,
               found: list[dict] | None = None) -> None:
        """Record a URL's outcome and, in the same transaction, the URLs it led to."""
        assert state in STATES
        with self.lock:
            self._begin()
            if found:
                self.db.executemany(
                    "INSERT OR IGNORE INTO tasks (url, kind, query, source, page_url, title, author, license, depth, "
                    "updated) VALUES (:url, :kind, :query, :source, :page_url, :title, :author, :license, :depth, "
                    ":now)",
                    [{"page_url": None, "title": None, "author": None, "license": None, "depth": 0, **t,
                      "now": time.time()} for t in found])
            self.db.execute("UPDATE tasks SET state=?, reason=?, sha=?, updated=? WHERE seq=?",
                            (state, reason, sha, time.time(), task.seq))
            self._commit()

    def images_for(self, query: str) -> int:
        """Distinct files stored for a query: a duplicate URL does not fill the quota."""
        return self.db.execute("SELECT COUNT(DISTINCT sha) FROM tasks WHERE kind='image' AND query=? AND state='done'",
                               (query,)).fetchone()[0]

    def pages_for(self, query: str, depth: int = 0) -> int:
        return self.db.execute("SELECT COUNT(*) FROM tasks WHERE kind='page' AND query=? AND depth=?",
                               (query, depth)).fetchone()[0]

    def counts(self) -> dict:
        """{"by_state": {kind: {state: n}}, "by_query": {query: {state: n}} (images), "images": distinct files}."""
        by_state: dict = {}
        for kind, state, n in self.db.execute("SELECT kind, state, COUNT(*) FROM tasks GROUP BY kind, state"):
            by_state.setdefault(kind, {})[state] = n
        by_query: dict = {}
        for query, state, n in self.db.execute(
                "SELECT query, state, COUNT(*) FROM tasks WHERE kind='image' GROUP BY query, state"):
            by_query.setdefault(query, {})[state] = n
        images = self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        reasons = dict(self.db.execute(
            "SELECT reason, COUNT(*) FROM tasks WHERE state IN ('failed', 'skipped') GROUP BY reason "
            "ORDER BY COUNT(*) DESC LIMIT 12").fetchall())
        return {"by_state": by_state, "by_query": by_query, "images": images, "reasons": reasons}

    # -- the files

    def write_file(self, data: bytes, ext: str) -> str:
        """Put ``data`` under its hash, once (temporary name, fsync, rename); return the hash.
        Touches no journal, so download threads call it; ``add_image`` then records it."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.images / f"{sha}{ext}"
        if not path.exists():
            atomic_write_bytes(path, data, durable=True)
        return sha

    @contextmanager
    def batch(self):
        """One transaction for many outcomes: one journal sync instead of one per URL. A kill inside
        it loses the batch's records, not its files, and a re-run redoes those URLs."""
        with self.lock:
            self.db.execute("BEGIN")
            self._in_batch = True
            try:
                yield self
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
            finally:
                self._in_batch = False

    def _begin(self) -> None:
        if not self._in_batch:
            self.db.execute("BEGIN")

    def _commit(self) -> None:
        if not self._in_batch:
            self.db.execute("COMMIT")

    def add_image(self, task: Task, data: bytes, info, original_name: str, sha: str | None = None) -> str:
        """Record the file (written now unless ``sha`` says it already is) and the URL that served it,
        and mark the task done; return the hash."""
        sha = sha or self.write_file(data, info.ext)
        with self.lock:
            self._begin()
            known = self.db.execute("SELECT first_seq FROM images WHERE sha=?", (sha,)).fetchone()
            if known and task.seq < known[0]:
                # the URL found first describes the file, however the downloads interleaved
                self.db.execute("DELETE FROM images WHERE sha=?", (sha,))
                known = None
            if not known:
                self.db.execute(
                    "INSERT INTO images (sha, ext, original_name, url, page_url, title, author, license, query, "
                    "width, height, phash, fetched_at, source, first_seq) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sha, info.ext, original_name, task.url, task.page_url, task.title, task.author, task.license,
                     task.query, info.width, info.height, info.phash,
                     time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), task.source, task.seq))
            self.db.execute("INSERT OR IGNORE INTO image_urls (sha, url, page_url, query) VALUES (?, ?, ?, ?)",
                            (sha, task.url, task.page_url, task.query))
            self.db.execute("UPDATE tasks SET state='done', reason=NULL, sha=?, updated=? WHERE seq=?",
                            (sha, time.time(), task.seq))
            self._commit()
        return sha

    def write_manifest(self, near_distance: int = 4) -> Path:
        """manifest.jsonl from the journal, in the order the images were first found. ``near_duplicate_of``
        names the first earlier image within ``near_distance`` bits of perceptual hash (:func:`.phash.first_near`)."""
        urls: dict[str, list] = {}
        for sha, url, page_url, query in self.db.execute(
                "SELECT sha, url, page_url, query FROM image_urls ORDER BY rowid"):
            urls.setdefault(sha, []).append({"url": url, "page_url": page_url, "query": query})
        cols = ("sha", "ext", "original_name", "url", "page_url", "title", "author", "license", "query", "width",
                "height", "phash", "fetched_at", "source")
        rows = []
        for values in self.db.execute(f"SELECT {', '.join(cols)} FROM images ORDER BY first_seq"):
            r = dict(zip(cols, values))
            sha, ext = r.pop("sha"), r.pop("ext")
            rows.append({"id": sha, "filepath": f"images/{sha}{ext}", **r, "urls": sorted(
                urls.get(sha, []), key=lambda u: u["url"]), "near_duplicate_of": None})
        hashed = [i for i, r in enumerate(rows) if r["phash"]]
        bits = phash_bits([f"{int(rows[i]['phash'], 16):016x}" for i in hashed])
        for i, j in zip(hashed, first_near(bits, near_distance).tolist()):
            if j >= 0:
                rows[i]["near_duplicate_of"] = rows[hashed[j]]["id"]
        path = self.root / "manifest.jsonl"
        write_jsonl(path, rows)
        atomic_write_text(self.root / "store.json", json.dumps({"format": FORMAT}) + "\n")
        return path
