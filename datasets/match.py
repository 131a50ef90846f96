"""Map clip-art file names to ILSVRC-2012 classes.

Two modes:

* ``thesis`` is Algorithm 1 of Zaragoza (2016) as it stands: a file goes into every
  class one of whose name words equals one of the file's words (``dog.png`` lands in
  "hotdog, hot dog, red hot"). Kept as the historical baseline.
* ``strict`` (default) needs every word of one lemma, in order and adjacent, with
  plurals folded by WordNet's morphy. Stop words count here as words of the phrase,
  so "can opener" needs the "can" and ``opener.svg`` is no can opener. Matches inside
  a longer match are dropped ("tiger shark" is not also "tiger"). A name that still
  points at more than one synset ("crane": bird and machine) is ``ambiguous`` and
  keeps every candidate.

A name with no content word (only stop words, noise words or digits) matches nothing.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from .lexicon import stop_words, wordnet
from .vocabulary import ImageNetClass, Vocabulary

Mode = Literal["strict", "thesis"]
MODES: tuple[str, ...] = ("strict", "thesis")
MEMO_SIZE = 1 << 20  # word sequences remembered per matcher

_LETTERS = re.compile(r"[^\W\d_]+")  # runs of letters in any script; digits and punctuation split
_CAMEL = re.compile(r"(?<=[^\W\d_])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])")
_ASCII_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # the same split, in one pass, for ASCII


def split_words(text: str) -> list[str]:
    """Lower-cased letter runs of ``text``, split on non-letters and on camelCase."""
    # Apostrophes join ("lady's" -> "ladys", folded to "lady"), so possessives match either way.
    if "'" in text:
        text = text.replace("'", "")
    if text.isascii():
        return [w.lower() for w in _ASCII_WORDS.findall(text)]
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "").replace("'", "")
    words = []
    for run in _LETTERS.findall(text):
        if run.islower() or run.isupper():
            words.append(run.lower())
        else:
            words.extend(part.lower() for part in _CAMEL.split(run) if part)
    return words


def name_stem(name: str) -> str:
    """The file name without folders or extension (``a/Teapot_Old.PNG`` -> ``Teapot_Old``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


class Match(NamedTuple):
    wnid: str
    class_index: int
    label: str  # the class's primary name
    lemma: str  # the lemma (strict) or synset words (thesis) that matched
    tokens: tuple[str, ...]  # the file's words that made the match
    sense_rank: int | None = None  # strict: the class's rank among the lemma's WordNet noun senses (0 = commonest)


class MatchResult(NamedTuple):
    tokens: tuple[str, ...]  # content tokens of the name, after stop and noise words
    matches: tuple[Match, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return len(self.matches) > 1


@dataclass
class Matcher:
    """Matches names against a vocabulary. Build once; ``match`` is cheap."""

    vocab: Vocabulary
    mode: Mode = "strict"
    stop: frozenset[str] = field(default_factory=stop_words)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown match mode {self.mode!r}; choose from {', '.join(MODES)}")
        self._folded: dict[str, str] = {}
        self._memo: dict[tuple[str, ...], MatchResult] = {}
        if self.mode == "strict":
            wn = wordnet()
            self._morphy = wn.morphy
            # phrase -> [(wnid, index, name, lemma, sense rank)]; a one-word phrase is keyed by
            # the word itself, longer ones by their tuple. _lengths: first word -> phrase lengths.
            self._phrases: dict[str | tuple[str, ...], list[tuple[str, int, str, str, int]]] = {}
            lengths: dict[str, set[int]] = {}
            for cls in self.vocab:
                synset = wn.synset_from_pos_and_offset("n", int(cls.wnid[1:]))
                seen = set()
                for lemma in cls.lemmas:
                    toks = tuple(self._fold(w) for w in split_words(lemma))
                    if toks and toks not in seen:
                        seen.add(toks)
                        senses = wn.synsets(lemma.replace(" ", "_"), "n")
                        rank = senses.index(synset) if synset in senses else len(senses)
                        key = toks[0] if len(toks) == 1 else toks
                        self._phrases.setdefault(key, []).append((cls.wnid, cls.index, cls.name, lemma, rank))
                        lengths.setdefault(toks[0], set()).add(len(toks))
            self._lengths = {w: tuple(sorted(ls, reverse=True)) for w, ls in lengths.items()}
        else:
            # word -> classes having it among the words of their names (Algorithm 1)
            self._word_classes: dict[str, list[ImageNetClass]] = {}
            for cls in self.vocab:
                for word in dict.fromkeys(w for lemma in cls.lemmas for w in self.tokenize(lemma)):
                    self._word_classes.setdefault(word, []).append(cls)

    def tokenize(self, text: str, noise: Iterable[str] = ()) -> list[str]:
        """Content words of ``text``: split, lower-cased, without stop or noise words."""
        drop = self.stop.union(noise) if noise else self.stop
        return [w for w in split_words(text) if w not in drop]

    def _fold(self, token: str) -> str:
        # Singular/plural folding through WordNet's noun morphology, memoised.
        folded = self._folded.get(token)
        if folded is None:
            folded = self._morphy(token, "n") or token
            self._folded[token] = folded
        return folded

    def match(self, text: str, noise: Iterable[str] = ()) -> MatchResult:
        """Match a name (or any text; use ``name_stem`` for file names)."""
        words = split_words(text)
        if noise:
            words = [w for w in words if w not in noise]
        # Collections repeat word sequences (hammer_01, hammer_02: OpenClipart's 8,121
        # names hold 4,300), and the result depends on the words alone.
        key = tuple(words)
        result = self._memo.get(key)
        if result is None:
            stop = self.stop
            tokens = [w for w in words if w not in stop]
            if not tokens:
                result = MatchResult(())
            elif self.mode == "thesis":
                result = self._match_thesis(tokens)
            else:
                result = self._match_strict(words, tokens)
            if len(self._memo) < MEMO_SIZE:
                self._memo[key] = result
        return result

    def _match_thesis(self, tokens: list[str]) -> MatchResult:
        found: dict[int, Match] = {}
        for tok in tokens:
            for cls in self._word_classes.get(tok, ()):
                if cls.index not in found:
                    found[cls.index] = Match(cls.wnid, cls.index, cls.name, ", ".join(cls.lemmas), (tok,))
        return MatchResult(tuple(tokens), tuple(found[i] for i in sorted(found)))

    def _match_strict(self, words: list[str], tokens: list[str]) -> MatchResult:
        fold, lengths, phrases = self._folded, self._lengths, self._phrases
        hits = []  # (start, end, entries)
        folded: list[str] = []
        for i, word in enumerate(words):
            tok = fold.get(word) or self._fold(word)
            folded.append(tok)
            lens = lengths.get(tok)
            if lens is not None:
                hits.append((i, lens))
        if not hits:
            return MatchResult(tuple(tokens))
        spans = []
        for i, lens in hits:
            for length in lens:
                if length == 1:
                    spans.append((i, i + 1, phrases[folded[i]]))
                elif i + length <= len(folded):
                    entries = phrases.get(tuple(folded[i : i + length]))
                    if entries:
                        spans.append((i, i + length, entries))
        if len(spans) > 1:
            # a match inside a longer one is part of it ("tiger" in "tiger shark")
            spans = [h for h in spans if not any(o[0] <= h[0] and h[1] <= o[1] and o[1] - o[0] > h[1] - h[0] for o in spans)]
        found: dict[int, Match] = {}
        for start, end, entries in spans:
            for wnid, index, name, lemma, rank in entries:
                if index not in found:
                    found[index] = Match(wnid, index, name, lemma, tuple(words[start:end]), rank)
        matches = tuple(found.values()) if len(found) < 2 else tuple([found[i] for i in sorted(found)])
        return MatchResult(tuple(tokens), matches)
