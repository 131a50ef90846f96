"""What every source yields: files on disk plus what their collection says about them."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".svg", ".svgz"})
VECTOR_EXTENSIONS = frozenset({".svg", ".svgz"})


@dataclass(frozen=True)
class SourceFile:
    path: Path  # the file on disk; never modified
    source: str  # name of the source that found it
    original_name: str  # name as the collection gives it, relative to its root
    text: str  # what to match: the name stem, less source-specific tails such as authors
    noise: frozenset[str] = frozenset()  # words that mean nothing in this source's names
    meta: dict = field(default_factory=dict, compare=False)  # title, author, license, style, ...


class Source:
    """A collection of image files. Subclasses set ``name`` and implement ``files``."""

    name: ClassVar[str]
    noise_words: ClassVar[frozenset[str]] = frozenset()

    def files(self) -> Iterator[SourceFile]:
        raise NotImplementedError
