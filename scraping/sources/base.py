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
    # An SVG document held in memory, for collections that pack many drawings into one
    # file (Iconify's icons.json); ``path`` is then that file.
    data: bytes | None = field(default=None, compare=False, repr=False)


class Source:
    """A collection of image files. Subclasses set ``name`` and implement ``files``.

    ``meta`` of each file carries ``style`` (how it is drawn), ``set`` (the collection),
    ``license`` (SPDX id where there is one), ``license_url``, ``author`` and, where the
    collection has them, ``title`` and ``keywords``.
    """

    name: ClassVar[str]
    noise_words: ClassVar[frozenset[str]] = frozenset()
    embedded: ClassVar[bool] = False  # part of ``--source embedded``: the offline library

    def files(self) -> Iterator[SourceFile]:
        raise NotImplementedError
