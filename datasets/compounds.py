"""Read file names the way people write them: WordNet compounds and abbreviations.

Two rules that keep a word from matching a class on its own (``datasets.match`` applies them):

* **Compounds.** Two or three adjacent words that form a WordNet noun ("baseball cap",
  "corn dog", "water closet", or written as one word: "honey-pot" is a honeypot,
  "black-board" a blackboard) name that thing, so a class named by one of their words does
  not match: a baseball cap is no baseball. The compound still lets the class through where
  WordNet relates the two: the compound is a kind of the class or the class a kind of it
  (a film projector is a projector, a one-armed bandit a slot machine), they are sister
  terms (soft ice cream and ice cream are both frozen desserts), or the matched word is the
  compound's last word and the compound is a kind of a thing named by that word (a teacup
  is a cup: which sense of "cup" the picture shows is for ``evaluation.verify`` to judge).
* **Abbreviations.** A word that WordNet writes in capitals in most of its noun senses is an
  abbreviation ("AI": artificial intelligence, Army Intelligence, artificial insemination).
  File names lose their case, so ``ai-generate-voice`` reads it as AI, not as the one
  lower-case sense, the three-toed sloth.

Both are read from WordNet alone, not from lists of file names.
"""
from __future__ import annotations

import functools

from .lexicon import wordnet

COMPOUND_WORDS = (2, 3)  # compounds of this many words are looked up


def _hypernyms(synset) -> set:
    return set(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()))


@functools.lru_cache(maxsize=None)
def compound_synsets(words: tuple[str, ...]) -> tuple:
    """The WordNet noun synsets of ``words`` read as one compound ("baseball_cap", or "honeypot"
    for two words written apart), plurals folded; () when WordNet has no such noun."""
    wn = wordnet()
    forms = ["_".join(words)] + (["".join(words)] if len(words) == 2 else [])
    for form in forms:
        base = wn.morphy(form, "n")
        if base:
            return tuple(wn.synsets(base, "n"))
    return ()


@functools.lru_cache(maxsize=None)
def _class_synset(wnid: str):
    return wordnet().synset_from_pos_and_offset("n", int(wnid[1:]))


@functools.lru_cache(maxsize=None)
def related(compound: tuple[str, ...], wnid: str, word: str) -> bool:
    """Whether the compound ``compound`` can still be a picture of class ``wnid`` matched by ``word``."""
    target = _class_synset(wnid)
    above_target = _hypernyms(target)
    parents = set(target.hypernyms() + target.instance_hypernyms())
    for synset in compound_synsets(compound):
        above = _hypernyms(synset)
        if target in above or synset in above_target or target == synset:
            return True
        if parents & set(synset.hypernyms() + synset.instance_hypernyms()):
            return True  # sister terms
        if compound[-1] == word and any(word in (n.casefold() for n in s.lemma_names()) for s in above):
            return True  # a kind of a thing named by the matched word, which is the compound's head
    return False


@functools.lru_cache(maxsize=None)
def is_abbreviation(word: str) -> bool:
    """Whether WordNet writes ``word`` in capitals in most of its noun senses ("ai": AI)."""
    senses = wordnet().synsets(word, "n")
    capital = sum(1 for s in senses if any(n.isupper() and n.casefold() == word for n in s.lemma_names()))
    return capital * 2 > len(senses)


def compound_spans(words: list[str], stop: frozenset[str], inside: tuple[int, int]) -> list[tuple[int, int]]:
    """(start, end) of every run of 2-3 words around the words ``inside`` (start, end) that is a
    WordNet noun compound longer than them; runs that start or end with a stop word are not
    tried ("bow and arrow" is a compound, "and arrow" is not)."""
    spans = []
    start, end = inside
    for n in COMPOUND_WORDS:
        for i in range(max(0, end - n), min(start, len(words) - n) + 1):
            run = tuple(words[i : i + n])
            if n > end - start and run[0] not in stop and run[-1] not in stop and compound_synsets(run):
                spans.append((i, i + n))
    return spans
