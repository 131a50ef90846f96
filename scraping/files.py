"""Files that appear whole or not at all: every stage's atomic writes, in one place.

A file is written beside its destination under a hidden temporary name (``.name.<pid>.tmp``) and
renamed over it, so a reader, or a process killed half-way, never sees half a file: at worst the old one
stays, with a stray temporary beside it that the next write of the same process replaces. ``durable=True``
also fsyncs the file and its folder, for files whose loss after a power cut would cost work (checkpoints,
feature shards, downloaded images).

This module is in the pipeline's first package so that every later one may use it.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class JSONLinesError(ValueError):
    """A JSON Lines file that is not what it should be; the message names the file and line."""


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where the file system cannot (some network mounts)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_path(path: Path, suffix: str = "") -> Path:
    """The hidden temporary beside ``path`` that this process writes before the rename (``.name.<pid>.tmp``);
    another thread's has its id too, so download threads writing the same file never share one.

    ``suffix`` keeps a file type for writers that read it from the name (Matplotlib: ``.png``).
    """
    path = Path(path)
    thread = "" if threading.current_thread() is threading.main_thread() else f".{threading.get_ident()}"
    return path.with_name(f".{path.name}.{os.getpid()}{thread}.tmp{suffix}")


@contextmanager
def atomic_path(path: Path, *, durable: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on an error it is removed.

    >>> with atomic_path(Path("out/model.joblib")) as tmp:  # doctest: +SKIP
    ...     joblib.dump(bundle, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str, *, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, obj, *, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write ``rows`` as JSON Lines to ``path`` atomically; return the count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line names file and line, a missing file its path."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: a folder, not a JSON Lines file") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise JSONLinesError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise JSONLinesError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row
