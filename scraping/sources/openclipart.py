"""OpenClipart 0.18, as Debian's ``openclipart-svg`` installs it (public domain).

Names look like ``category/object_author_NN.svg``, cut to 24 characters before the
number, so the author tail is often truncated (``siringa_architetto_franc_01``).
Each SVG's RDF metadata names its creator; that tail is removed before matching.
"""
from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path


from . import register
from .base import LibrarySource, SourceFile

TRUNCATED_AT = 22  # stems this long may end in a cut-off author name
HEAD = 1 << 14  # Inkscape writes the RDF block first: all 8,121 files have it in 16 KiB

_CREATOR = re.compile(rb"<dc:creator>\s*<cc:Agent>\s*<dc:title>([^<]*)</dc:title>", re.S)
_TITLE = re.compile(rb"<cc:Work\b.*?<dc:title>([^<]*)</dc:title>", re.S)
_SUBJECT = re.compile(rb"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(rb"<rdf:li>([^<]*)</rdf:li>")
_LICENSE = re.compile(rb'<cc:license\s+rdf:resource="([^"]+)"')
# What the RDF licence URLs mean (the Debian package: "public domain", bar two GPL files).
LICENSES = {
    "publicdomain": ("public domain", "https://creativecommons.org/publicdomain/mark/1.0/"),
    "gpl/2.0": ("GPL-2.0-or-later", "https://creativecommons.org/licenses/GPL/2.0/"),
}
_TOKEN = re.compile(r"[0-9A-Za-z]+")


def _text(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", "replace")).strip()


def read_metadata(data: bytes) -> dict:
    """Creator, title and keywords from an OpenClipart SVG's RDF block."""
    meta: dict = {}
    if m := _CREATOR.search(data):
        meta["author"] = _text(m.group(1))
    if m := _TITLE.search(data):
        meta["title"] = _text(m.group(1))
    if m := _SUBJECT.search(data):
        meta["keywords"] = [k for k in (_text(li) for li in _LI.findall(m.group(1))) if k]
    url = m.group(1).decode("ascii", "replace").lower() if (m := _LICENSE.search(data)) else ""
    key = next((k for k in LICENSES if k in url.replace("/cc/", "/")), "publicdomain")
    meta["license"], meta["license_url"] = LICENSES[key]
    return meta


def strip_author_tail(stem: str, author: str | None) -> str:
    """``venus_dan_gerhards_01`` -> ``venus``; a cut-off tail only where the name was cut."""
    spans = [(m.start(), m.group().lower()) for m in _TOKEN.finditer(stem)]
    while spans and spans[-1][1].isdigit():
        spans.pop()
    if not spans:
        return ""
    kept_end = spans[-1][0] + len(spans[-1][1])
    words = [w for _, w in spans]
    author_words = [m.group().lower() for m in _TOKEN.finditer(author or "")]
    truncated = len("_".join(words)) >= TRUNCATED_AT
    for j in range(min(len(words) - 1, len(author_words)), 0, -1):
        tail, head = words[-j:], author_words[:j]
        whole = tail == head and j == len(author_words)
        cut = truncated and tail[:-1] == head[:-1] and head[-1].startswith(tail[-1])
        if whole or cut:
            return stem[: spans[-j][0]].rstrip("_- .")
    return stem[:kept_end]


@register
class OpenClipartSource(LibrarySource):
    name = "openclipart"
    what = "OpenClipart (its svg/ folder)"
    noise_words = frozenset({"openclipart", "clipart", "remix", "clip", "art"})
    debian = ("openclipart-svg", "usr/share/openclipart/svg")

    def files(self) -> Iterator[SourceFile]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for fname in sorted(filenames):
                if not fname.lower().endswith(".svg"):
                    continue
                path = Path(dirpath) / fname
                try:
                    with open(path, "rb") as fh:
                        head = fh.read(HEAD)
                        if b"</rdf:RDF>" not in head:
                            head += fh.read()
                    meta = read_metadata(head)
                except OSError:
                    meta = {}  # unreadable: the builder rejects it with the reason
                rel = path.relative_to(self.root).as_posix()
                meta.setdefault("license", LICENSES["publicdomain"][0])
                meta.update(style="openclipart", set="OpenClipart 0.18", category=str(Path(rel).parent))
                text = strip_author_tail(Path(fname).stem, meta.get("author"))
                yield SourceFile(path, self.name, rel, text, self.noise_words, meta)
