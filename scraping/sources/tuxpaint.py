"""Tux Paint's stamps (Debian ``tuxpaint-stamps-default``, GPL-2+): drawings for children.

``<category>/.../<stem>.{svg,png}`` with ``<stem>.txt``, whose first line describes
the stamp in English ("A zebra.") and whose other lines translate it. The
description is what is matched; a stamp drawn both ways is read from its SVG, and
``_mirror`` copies (pre-flipped variants) are skipped.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


from . import register
from .base import LibrarySource, SourceFile

META = {
    "style": "tuxpaint",
    "set": "Tux Paint stamps",
    "license": "GPL-2.0-or-later",
    "license_url": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "author": "Bill Kendrick and the Tux Paint contributors",
    "author_url": "https://tuxpaint.org/",
}


def read_description(path: Path) -> str | None:
    """The English line of a stamp's ``.txt``: the first one that is not ``<lang>.utf8=...``."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        line = line.strip()
        if line and ".utf8=" not in line.split(" ", 1)[0]:
            return line
    return None


@register
class TuxPaintSource(LibrarySource):
    name = "tuxpaint"
    what = "Tux Paint stamps (their stamps/ folder)"
    noise_words = frozenset({"mirror", "cartoon"})
    debian = ("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps")

    def files(self) -> Iterator[SourceFile]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            names = set(filenames)
            for fname in sorted(filenames):
                stem, ext = os.path.splitext(fname)
                ext = ext.lower()
                if ext not in (".svg", ".png") or stem.endswith("_mirror"):
                    continue
                if ext == ".png" and f"{stem}.svg" in names:
                    continue
                path = Path(dirpath) / fname
                rel = path.relative_to(self.root).as_posix()
                description = read_description(path.with_suffix(".txt"))
                meta = {**META, "title": description or stem, "keywords": rel.split("/")[:-1]}
                yield SourceFile(path, self.name, rel, description or stem, self.noise_words, meta)
