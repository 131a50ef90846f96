"""What every source yields: files on disk plus what their collection says about them."""
from __future__ import annotations

import os
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


class LibrarySource(Source):
    """A collection of the embedded library: the copy ``make demo`` installs, or one at ``root``."""

    embedded = True
    what: ClassVar[str]  # the error's name for it, with the folder it expects
    # (Debian package, its folder): the copy ``python -m scraping.library --install`` unpacks, or the system's
    debian: ClassVar[tuple[str, str] | None] = None

    @classmethod
    def candidates(cls) -> list[Path]:
        """Where an installed copy may be; ``python -m scraping.library --install`` fills the first."""
        if cls.debian is None:
            raise NotImplementedError(f"{cls.__name__} names neither candidates() nor debian")
        from scraping.library import debian_root

        package, folder = cls.debian
        return [debian_root(package) / folder, Path("/") / folder]

    @classmethod
    def default_root(cls) -> Path | None:
        """The first candidate folder that exists."""
        return next((p for p in cls.candidates() if p.is_dir()), None)

    def __init__(self, root: str | os.PathLike | None = None):
        found = Path(root) if root else self.default_root()
        if found is None or not found.is_dir():
            raise FileNotFoundError(
                f"{self.what} not found at {found or self.candidates()[0]}. Install it with "
                "`python -m scraping.library --install` (make demo does), or pass a copy you have as NAME=ROOT."
            )
        self.root = found


def discover() -> None:
    """Import every module of this package, so that each registers its classes."""
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name != "base":
            importlib.import_module(f"{package}.{mod.name}")


class Registry:
    """Classes by their ``name``, filled by the ``register`` decorator as the package's modules are imported."""

    def __init__(self, what: str):
        self.what = what  # "source", "web source": for the error message
        self.classes: dict[str, type] = {}

    def register(self, cls: type) -> type:
        self.classes[cls.name] = cls
        return cls

    def names(self) -> list[str]:
        discover()
        return sorted(self.classes)

    def get(self, name: str) -> type:
        discover()
        try:
            return self.classes[name]
        except KeyError:
            raise ValueError(f"unknown {self.what} {name!r}; available: {', '.join(sorted(self.classes))}") from None

    def create(self, name: str, **kwargs):
        return self.get(name)(**kwargs)
