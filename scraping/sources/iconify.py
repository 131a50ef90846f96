"""Iconify icon sets (npm ``@iconify-json/<set>`` or the whole ``@iconify/json``).

A set is one JSON file of SVG bodies keyed by icon name (``noto:teapot``); aliases
give the same drawing more names, and each alias is matched too (the builder merges
the identical drawings back into one image). Colour sets under a licence that allows
reuse are read; skin-tone variants of one drawing are skipped.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from scraping.library import NPM_PACKAGES, npm_root

from . import register
from .base import LibrarySource, SourceFile

# Licences whose terms a dataset can meet by attribution (see datasets.licenses).
LICENSES = frozenset({"Apache-2.0", "MIT", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
                      "OFL-1.1", "ISC", "BSD-3-Clause", "Unlicense"})
SKIN_TONE = re.compile(r"(-(light|medium-light|medium|medium-dark|dark)-skin-tone|-tone[1-5])(-|$)")
_DEFAULT_SETS = tuple(p.split("/", 1)[1] for p in NPM_PACKAGES if p.startswith("@iconify-json/"))


def find_sets(root: Path) -> list[tuple[str, Path, Path | None]]:
    """(prefix, icons file, info file or None) for each set under ``root``.

    Takes a folder of per-set packages (``<set>/icons.json``), a single set's
    folder, or ``@iconify/json``'s ``json/<set>.json`` files (info inside).
    """
    if (root / "icons.json").is_file():
        return [(root.name, root / "icons.json", root / "info.json")]
    if (root / "json").is_dir():
        root = root / "json"
    found = []
    for entry in sorted(os.listdir(root)):
        path = root / entry
        if (path / "icons.json").is_file():
            found.append((entry, path / "icons.json", path / "info.json"))
        elif entry.endswith(".json") and path.is_file() and entry not in ("collections.json", "package.json"):
            found.append((entry[: -len(".json")], path, None))
    return found


def categories(data: dict, metadata_path: Path | None) -> dict[str, list[str]]:
    """Icon name -> the set's categories for it ("Food & Drink"), kept as keywords."""
    cats = data.get("categories")
    if cats is None and metadata_path is not None and metadata_path.is_file():
        try:
            cats = json.loads(metadata_path.read_text(encoding="utf-8")).get("categories")
        except (OSError, ValueError):
            cats = None  # keywords are a nicety: a broken metadata file costs only them
    out: dict[str, list[str]] = {}
    for category, icons in (cats or {}).items():
        for icon in icons:
            out.setdefault(icon, []).append(category)
    return out


def svg_document(icon: dict, defaults: dict) -> bytes:
    """An Iconify icon as a standalone SVG document (Iconify's own defaults: 16 x 16 at 0,0)."""
    left, top = icon.get("left", defaults.get("left", 0)), icon.get("top", defaults.get("top", 0))
    width, height = icon.get("width", defaults.get("width", 16)), icon.get("height", defaults.get("height", 16))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="{left} {top} {width} {height}">{icon["body"]}</svg>'
    ).encode()


def icon_names(data: dict) -> dict[str, list[str]]:
    """Icon name -> its names (itself, then its plain aliases); hidden icons and skin tones left out."""
    icons = data.get("icons", {})
    names = {n: [n] for n, icon in icons.items() if not icon.get("hidden") and not SKIN_TONE.search(n)}
    aliases = data.get("aliases", {})
    for alias, spec in aliases.items():
        parent, hops = spec, 0
        # only aliases that are the same drawing: no rotation, flip or new size
        while set(parent) == {"parent"} and parent["parent"] in aliases and hops < 10:
            parent, hops = aliases[parent["parent"]], hops + 1
        target = parent.get("parent")
        if set(spec) == {"parent"} and set(parent) <= {"parent"} and target in names and not SKIN_TONE.search(alias):
            names[target].append(alias)
    return names


@register
class IconifySource(LibrarySource):
    name = "iconify"
    what = "Iconify icon sets (@iconify-json/ or @iconify/json)"
    noise_words = frozenset({"emoji", "icon"})

    @staticmethod
    def candidates() -> list[Path]:
        return [npm_root() / "@iconify-json", npm_root() / "@iconify" / "json" / "json"]

    def __init__(self, root: str | os.PathLike | None = None, sets: tuple[str, ...] | None = None):
        super().__init__(root)
        # The library's own sets by default; any colour set with a reusable licence under a root given.
        self.sets = sets if sets is not None else (_DEFAULT_SETS if root is None else None)

    def files(self) -> Iterator[SourceFile]:
        for prefix, icons_path, info_path in find_sets(self.root):
            if self.sets is not None and prefix not in self.sets:
                continue
            try:
                data = json.loads(icons_path.read_text(encoding="utf-8"))
                info = json.loads(info_path.read_text(encoding="utf-8")) if info_path else data.get("info", {})
            except (OSError, ValueError) as err:
                raise ValueError(f"{icons_path}: not an Iconify icon set ({err})") from None
            licence = info.get("license", {})
            if not info.get("palette") or licence.get("spdx") not in LICENSES:
                continue  # monochrome, or a licence we cannot honour
            meta = {
                "style": prefix,
                "set": info.get("name", prefix),
                "license": licence.get("spdx"),
                "license_url": licence.get("url"),
                "author": info.get("author", {}).get("name"),
                "author_url": info.get("author", {}).get("url"),
            }
            icons = data["icons"]
            keywords = categories(data, icons_path.with_name("metadata.json") if info_path else None)
            for icon, names in icon_names(data).items():
                svg = svg_document(icons[icon], data)
                icon_meta = {**meta, "title": icon, **({"keywords": keywords[icon]} if icon in keywords else {})}
                for name in names:
                    yield SourceFile(icons_path, self.name, f"{prefix}:{name}", name, self.noise_words, icon_meta, svg)
