"""A store written by ``python -m scraping.crawl``: its files, matched on original name and title."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from . import register
from .base import Source, SourceFile
from .folder import SCRAPED_NOISE


def is_store(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (folder / "store.json").is_file() and (folder / "manifest.jsonl").is_file()


@register
class StoreSource(Source):
    name = "store"
    noise_words = SCRAPED_NOISE

    def __init__(self, root: str | os.PathLike):
        from ..files import iter_jsonl

        self.root = Path(root)
        if not is_store(self.root):
            raise FileNotFoundError(f"{self.root}: not a scraping store (no store.json and manifest.jsonl)")
        self.rows = [row for _, row in iter_jsonl(self.root / "manifest.jsonl")]

    def files(self) -> Iterator[SourceFile]:
        for row in self.rows:
            name = row.get("original_name") or row["id"]
            # the title often names the object when the file name does not ("Red teapot" vs "img_0042.png")
            text = " ".join(filter(None, [Path(name).stem, row.get("title")]))
            meta = {"style": "clipart", "set": row.get("source") or "scraped", "license": row.get("license"),
                    "author": row.get("author"), "title": row.get("title"), "url": row.get("url"),
                    "page_url": row.get("page_url")}
            yield SourceFile(self.root / row["filepath"], self.name, name, text, self.noise_words,
                             {k: v for k, v in meta.items() if v})
