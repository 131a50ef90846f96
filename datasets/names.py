"""What a file name says beyond its match: the drawing it names across styles, and the object it is about.

* **The concept** (:func:`concept_key`): the name's words without the words that only say how it is drawn
  (``-flat``, ``-duo``, ``-default``, ``-one``, digits). Fluent's ``flat/otter.svg``, ``modern/otter.svg`` and
  ``high-contrast/otter.svg``, the emoji sets' ``noto:otter`` and ``twemoji:otter``, Streamline's
  ``inbox-tray-1-flat`` and ``inbox-tray-2``: one concept each, drawn in several styles. Files of one concept
  and one class are *siblings*: ``evaluation.verify`` judges them together, so the confident ones vouch for
  a high-contrast silhouette the network cannot read.
* **The head noun** (:func:`head_noun`): the object a name is about is its last object noun, not a colour
  or a modifier before it. ``desk_lamp`` is a lamp, ``folder_orange_open`` a folder, ``wallet-purse`` a
  purse, ``laptop_battery`` a battery: a class matched by another word of the name (desk, orange, wallet,
  laptop) is then only a modifier of the object. Words after "with", "and", "of" ... name something else
  the picture holds (``ear-with-hearing-aid`` is an ear), and a container's content is no modifier
  (``lotion-bottle`` shows lotion). WordNet alone decides what an object noun is.
"""
from __future__ import annotations

import functools

from .compounds import _class_synset, _hypernyms
from .lexicon import wordnet
from .match import name_stem, split_words

# words that say how a file is drawn, never what it shows
STYLE_WORDS = frozenset({"flat", "duo", "default", "color", "colour", "filled", "fill", "outline", "outlined",
                         "solid", "bw", "alt", "alternate", "one", "two", "three", "four", "svg", "png"})
CONNECTORS = frozenset({"with", "and", "of", "in", "on", "for", "from", "to", "at", "by", "without"})
# WordNet lexicographer files of things a drawing can be about (body parts are not: a tiger-face is a tiger)
OBJECT_FILES = frozenset({"noun.artifact", "noun.animal", "noun.food", "noun.plant", "noun.object",
                          "noun.substance", "noun.person"})


def name_words(row: dict) -> list[str]:
    """The words of a row's title, else of its file name (without folders, extension or set prefix)."""
    text = row.get("title") or name_stem(row.get("original_name") or "").split(":")[-1]
    return split_words(text)


def concept_key(row: dict) -> str:
    """The concept a file draws: its name's words without style words and digits (``inbox tray``)."""
    return " ".join(w for w in name_words(row) if w not in STYLE_WORDS)


@functools.lru_cache(maxsize=None)
def is_object_noun(word: str) -> bool:
    """Whether WordNet reads ``word`` first as a noun for a thing (an artifact, animal, food, plant, object,
    substance or person) more often than as any adjective, verb or adverb."""
    if len(word) < 3:
        return False
    wn = wordnet()
    base = wn.morphy(word, "n")
    nouns = wn.synsets(base, "n") if base else []
    if not nouns:
        return False
    others = sum(len(wn.synsets(word, pos)) for pos in ("a", "s", "v", "r"))
    return len(nouns) > others and any(s.lexname() in OBJECT_FILES for s in nouns[:2])


@functools.lru_cache(maxsize=None)
def is_colour(word: str) -> bool:
    """A colour word ("orange", "red"): a noun sense under WordNet's colour that is also an adjective."""
    wn = wordnet()
    colour = wn.synset("color.n.01")
    return (any(colour in s.closure(lambda x: x.hypernyms()) for s in wn.synsets(word, "n"))
            and bool(wn.synsets(word, "a") + wn.synsets(word, "s")))


@functools.lru_cache(maxsize=None)
def is_container(word: str) -> bool:
    """A container noun (bottle, jar, box): what it holds is no modifier of it."""
    wn = wordnet()
    base = wn.morphy(word, "n")
    synsets = wn.synsets(base, "n")[:1] if base else []
    container = wn.synset("container.n.01")
    return any(container in s.closure(lambda x: x.hypernyms()) for s in synsets)


def _span(words: list[str], matched: list[str]) -> int | None:
    for k in range(len(words) - len(matched) + 1):
        if matched and words[k:k + len(matched)] == matched:
            return k
    return None


@functools.lru_cache(maxsize=None)
def kin(word: str, wnid: str) -> bool:
    """Whether a sense of ``word`` is the class, a kind of it or a kind it is (``dalmatian_dog``: a dog)."""
    wn = wordnet()
    base = wn.morphy(word, "n")
    target = _class_synset(wnid)
    above = _hypernyms(target)
    return any(s == target or s in above or target in _hypernyms(s) for s in (wn.synsets(base, "n") if base else []))


def head_noun(row: dict) -> str | None:
    """The object noun a name is about, where the matched words only modify it: an object noun after them
    ("lamp" of ``desk_lamp``), or before them when they are a colour ("folder" of ``folder_orange_open``).
    None when the match is the name's object, lies after a connector ("with", "and" ...), or the other noun
    is kin to the class: the class, a kind of it or a kind it is (``dalmatian_dog``, ``slot machine``)."""
    matched = list(row.get("matched_words") or [])
    words = [w for w in name_words(row) if w not in STYLE_WORDS]
    start = _span(words, matched)
    if start is None or not row.get("wnid"):
        return None
    cut = next((i for i, w in enumerate(words) if w in CONNECTORS), len(words))
    if start >= cut:
        return None
    end = start + len(matched)
    after = [w for w in words[end:cut] if is_object_noun(w) and not is_colour(w)]
    before = [w for w in words[:start] if is_object_noun(w) and not is_colour(w)] if is_colour(matched[-1]) else []
    head = (after or before or [None])[-1]
    if head is None or kin(head, row["wnid"]):
        return None
    if after and is_container(head) and not is_container(matched[-1]):
        return None  # lotion-bottle: the lotion is in the picture
    return head
