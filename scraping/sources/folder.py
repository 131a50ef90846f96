"""Any folder tree of images, matched by file name only."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from . import register
from .base import Source, SourceFile

# Words that web clip-art names carry whatever they show.
SCRAPED_NOISE = frozenset(
    "clipart cliparts clip art vector vectors free download png svg jpg jpeg gif image images img pic picture "
    "pictures stock illustration illustrations icon icons hd transparent background cartoon drawing copy "
    "thumb thumbnail small large preview royalty".split()
)


@register
class FolderSource(Source):
    name = "dir"
    noise_words = SCRAPED_NOISE

    def __init__(self, root: str | os.PathLike, noise_words: frozenset[str] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"--from {self.root}: not a folder")
        if noise_words is not None:
            self.noise_words = frozenset(noise_words)

    def files(self) -> Iterator[SourceFile]:
        # Sorted walk without following links: same order on every machine, no cycles.
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fname in sorted(filenames):
                if fname.startswith("."):
                    continue
                path = Path(dirpath) / fname
                rel = path.relative_to(self.root).as_posix()
                yield SourceFile(path, self.name, rel, Path(fname).stem, self.noise_words, {"style": "clipart"})
