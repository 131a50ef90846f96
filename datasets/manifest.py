"""The dataset manifest: JSON Lines, one row per (image, class), written atomically.

``filepath`` is stored relative to the manifest's folder when the image lives under
it (renders), so an output folder can be moved or copied to a GPU machine whole;
``read_manifest`` returns absolute paths either way.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

# the manifest is written as every file is (scraping.files): whole or not at all
from scraping.files import JSONLinesError, atomic_write_text, iter_jsonl, write_json, write_jsonl  # noqa: F401

REQUIRED = ("id", "filepath", "original_name", "label", "wnid", "class_index", "split", "matched_words", "ambiguous", "source")


# a manifest is JSON Lines: a bad line and a missing field are the same kind of error
ManifestError = JSONLinesError


def safe_text(text: str) -> str:
    """File names as JSON can hold them: undecodable bytes become ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_json_object(path: Path, what: str = "JSON file", fix: str = "") -> dict:
    """A JSON object file, or {} where there is no file; a bad one is a ValueError naming it, ``what`` it should
    be, and ``fix``."""
    path = Path(path)
    if not path.is_file():
        return {}
    fix = f"; {fix}" if fix else ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable {what} ({err}){fix}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a {what} (expected a JSON object){fix}")
    return data


def _resolved_dir(folder: Path) -> Path:
    # only absolute folders are remembered: a relative one depends on the working directory
    return _resolved_abs(folder) if folder.is_absolute() else folder.resolve()


@functools.lru_cache(maxsize=1024)
def _resolved_abs(folder: Path) -> Path:
    return folder.resolve()


def relative_filepath(filepath: Path, root: Path) -> str:
    """``filepath`` relative to ``root`` where it lies inside it, else absolute; links resolved."""
    filepath = Path(filepath)
    # Renders share a few folders: resolve each folder once, not each of thousands of files.
    real = filepath.resolve() if filepath.is_symlink() else _resolved_dir(filepath.parent) / filepath.name
    try:
        return real.relative_to(_resolved_dir(Path(root))).as_posix()
    except ValueError:
        return str(real)


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a manifest with absolute ``filepath``; a missing field names file and line."""
    path = Path(path)
    rows = []
    for lineno, row in iter_jsonl(path):
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise ManifestError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        row["filepath"] = str((path.parent / row["filepath"]).resolve())
        rows.append(row)
    return rows
