"""Microsoft's Fluent emoji (npm ``fluentui-emoji``, MIT): the same concepts in three styles.

``icons/{flat,modern,high-contrast}/<name>.svg``. People come in skin tones
(``-default``, ``-light`` ... ``-dark``); only the default is read.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from scraping.library import npm_root

from . import register
from .base import LibrarySource, SourceFile

STYLES = ("flat", "modern", "high-contrast")
TONES = ("-light", "-medium-light", "-medium", "-medium-dark", "-dark")
META = {
    "set": "Fluent Emoji",
    "license": "MIT",
    "license_url": "https://github.com/microsoft/fluentui-emoji/blob/main/LICENSE",
    "author": "Microsoft Corporation",
    "author_url": "https://github.com/microsoft/fluentui-emoji",
}


def concept(stem: str, stems: set[str]) -> str | None:
    """The name to match, or None for a skin-tone copy of another file."""
    for tone in TONES:
        if stem.endswith(tone) and f"{stem[: -len(tone)]}-default" in stems:
            return None
    return stem.removesuffix("-default")


@register
class FluentEmojiSource(LibrarySource):
    name = "fluentui-emoji"
    what = "Fluent emoji (the package's icons/ folder)"

    @staticmethod
    def candidates() -> list[Path]:
        return [npm_root() / "fluentui-emoji" / "icons"]

    def files(self) -> Iterator[SourceFile]:
        for style in STYLES:
            folder = self.root / style
            if not folder.is_dir():
                continue
            stems = {f[: -len(".svg")] for f in os.listdir(folder) if f.endswith(".svg")}
            for stem in sorted(stems):
                text = concept(stem, stems)
                if text is not None:
                    meta = {**META, "style": f"fluent-{style}", "title": text}
                    yield SourceFile(folder / f"{stem}.svg", self.name, f"{style}/{stem}.svg", text, meta=meta)
