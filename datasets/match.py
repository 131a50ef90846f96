"""Map clip-art file names to ILSVRC-2012 classes.

Two modes:

* ``thesis`` is Algorithm 1 of Zaragoza (2016) as it stands: a file goes into every
  class one of whose name words equals one of the file's words (``dog.png`` lands in
  "hotdog, hot dog, red hot"). Kept as the historical baseline.
* ``strict`` (default) needs every word of one lemma, in order and adjacent, with
  plurals folded by WordNet's morphy. A one-word lemma that is also an adjective does
  not match right before a noun: ``orange-book`` is a book, ``light-bulb`` no lighter,
  but ``umbrella_red`` is an umbrella and ``dalmatian_dog`` a dalmatian (a dog is what
  a dalmatian is). Stop words count here as words of the phrase,
  so "can opener" needs the "can" and ``opener.svg`` is no can opener. Matches inside
  a longer match are dropped ("tiger shark" is not also "tiger"). A name that still
  points at more than one synset ("crane": bird and machine) is ``ambiguous`` and
  keeps every candidate, unless its candidates all come from the same words and one
  of two rules settles them (``resolve``):

  1. *primary name*: exactly one candidate has the matched lemma as its primary name
     (``harp`` is the harp, not the harmonica whose lemmas also hold "harp");
  2. *sense frequency*: one candidate is the lemma's commonest WordNet noun sense by
     SemCor tag count, with at least ``SENSE_RATIO`` times and ``SENSE_MARGIN`` more
     tags than any other sense of it (``tub`` is the bathtub, 7 tags, not the vat, 1).
     A clear count wins over rule 1 where they disagree; English lemmas only, as only
     they have counts.

  Neither rule touches candidates that come from different words (``tiger_and_lion``)
  or an even tie (``crane``: both classes are named "crane", and neither sense is
  tagged). The chosen class is ``matches``; ``candidates`` still lists them all.

A name with no content word (only stop words, noise words or digits) matches nothing.

Strict mode also reads names in other languages through the Open Multilingual Wordnet
(``siringa`` -> syringe, ``paraguas`` -> umbrella). Only words that are not English are
tried, accents folded, and ``languages`` is an order of precedence: a word that is
already a lemma of an earlier language is read in that one (Italian ``cubo`` is a cube,
not Spanish for bucket), even where that sense is no ILSVRC class.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from .compounds import compound_spans, is_abbreviation, related
from .lexicon import omw_lemmas, stop_words, wordnet
from .vocabulary import ImageNetClass, Vocabulary

Mode = Literal["strict", "thesis"]
MODES: tuple[str, ...] = ("strict", "thesis")
MEMO_SIZE = 1 << 20  # word sequences remembered per matcher
# The languages of OpenClipart's non-English names, most frequent first.
DEFAULT_LANGUAGES: tuple[str, ...] = ("ita", "spa", "fra", "por")
MIN_FOREIGN_WORD = 3  # shorter words collide across languages too often
# Sense frequency settles a shared lemma only on a clear lead: SemCor's counts are small,
# and harp 1 vs harmonica 0 or panther 2 (jaguar) vs 0 (cougar) is no evidence.
SENSE_RATIO = 2  # the commonest sense has at least twice the next sense's tag count
SENSE_MARGIN = 3  # ... and at least this many tags more
PRIMARY_NAME, SENSE_FREQUENCY = "primary name", "sense frequency"  # MatchResult.resolved_by

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


def fold_accents(word: str) -> str:
    """``théière`` -> ``theiere``: file names drop accents as often as they keep them."""
    if word.isascii():
        return word
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


def name_stem(name: str) -> str:
    """The file name without folders or extension (``a/Teapot_Old.PNG`` -> ``Teapot_Old``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


@functools.lru_cache(maxsize=None)
def sense_counts(lemma: str) -> dict[str, int]:
    """wnid -> SemCor tag count (NLTK's ``Lemma.count``) of the English noun ``lemma`` in each of its synsets."""
    name = lemma.replace(" ", "_").casefold()
    return {
        f"n{synset.offset():08d}": sum(lem.count() for lem in synset.lemmas() if lem.name().casefold() == name)
        for synset in wordnet().synsets(name, "n")
    }


def sense_share(lemma: str, wnid: str, lang: str = "eng", sense_rank: int | None = None) -> float:
    """How often the word means this class, from WordNet: the share of the English noun ``lemma``'s
    SemCor tags that go to the class's sense, with one more tag for each sense (Laplace): "bubble"
    is the soap bubble 7 times in 10, "file" the filing cabinet 2 in 24, "head" the promontory 1 in
    288. Other languages have no counts: ``1 / (1 + sense_rank)``. A signal for
    ``evaluation.verify``, which weighs it against the picture, not a filter."""
    if lang != "eng":
        return 1.0 / (1 + sense_rank) if sense_rank is not None else 0.5
    counts = sense_counts(lemma)
    if not counts:
        return 0.5  # a lemma WordNet has no noun senses for (it came from a class's own list)
    return (counts.get(wnid, 0) + 1) / (sum(counts.values()) + len(counts))


class Match(NamedTuple):
    wnid: str
    class_index: int
    label: str  # the class's primary name
    lemma: str  # the lemma (strict) or synset words (thesis) that matched
    tokens: tuple[str, ...]  # the file's words that made the match
    sense_rank: int | None = None  # strict: the class's rank among the lemma's WordNet noun senses (0 = commonest)
    lang: str = "eng"  # ISO 639-3 code of the lemma's language


class MatchResult(NamedTuple):
    tokens: tuple[str, ...]  # content tokens of the name, after stop and noise words
    matches: tuple[Match, ...] = ()  # the classes the name is given (several: ambiguous)
    resolved_from: tuple[Match, ...] = ()  # strict: every candidate where a rule chose ``matches`` among them
    resolved_by: str | None = None  # the rule that chose: PRIMARY_NAME or SENSE_FREQUENCY

    @property
    def ambiguous(self) -> bool:
        return len(self.matches) > 1

    @property
    def candidates(self) -> tuple[Match, ...]:
        """Every class the name pointed at, chosen or not, by class index."""
        return self.resolved_from or self.matches


@dataclass
class Matcher:
    """Matches names against a vocabulary. Build once; ``match`` is cheap."""

    vocab: Vocabulary
    mode: Mode = "strict"
    stop: frozenset[str] = field(default_factory=stop_words)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES  # strict only; () for English alone

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown match mode {self.mode!r}; choose from {', '.join(MODES)}")
        self._folded: dict[str, str] = {}
        self._memo: dict[tuple[str, ...], MatchResult] = {}
        self._foreign: list[tuple[str, frozenset[str], dict, tuple[int, ...]]] = []
        if self.mode == "strict":
            wn = wordnet()
            self._morphy = wn.morphy
            # morphy finds a word's base form in WordNet's index without building synsets
            self._is_english = functools.lru_cache(maxsize=None)(lambda w: any(wn.morphy(w, p) for p in "nvar"))
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
            # One-word lemmas that are also adjectives ("orange", "spiral", "light", "rubber"),
            # each with the words of its classes' hypernyms ("dalmatian dog" is a dalmatian).
            self._is_adjective = functools.lru_cache(maxsize=None)(lambda w: wn.morphy(w, "a") is not None)
            self._modifiers: dict[str, frozenset[str]] = {}
            for word, entries in self._phrases.items():
                if isinstance(word, str) and self._is_adjective(word):
                    heads = set()
                    for wnid, *_ in entries:
                        synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
                        for hyper in synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()):
                            heads.update(name.lower() for name in hyper.lemma_names() if "_" not in name)
                    self._modifiers[word] = frozenset(heads)
            self._foreign = [self._foreign_index(lang) for lang in self.languages]
            self._foreign_longest = max((ls[0] for *_, ls in self._foreign if ls), default=1)
        else:
            # word -> classes having it among the words of their names (Algorithm 1)
            self._word_classes: dict[str, list[ImageNetClass]] = {}
            for cls in self.vocab:
                for word in dict.fromkeys(w for lemma in cls.lemmas for w in self.tokenize(lemma)):
                    self._word_classes.setdefault(word, []).append(cls)

    def _foreign_index(self, lang: str) -> tuple[str, frozenset[str], dict, tuple[int, ...]]:
        """(lang, every lemma of the language, ILSVRC phrases -> entries, phrase lengths longest first)."""
        table = omw_lemmas(lang)
        known = frozenset(fold_accents(lemma.lower()) for lemma in table)
        targets = {f"{cls.wnid[1:]}-n": cls for cls in self.vocab}
        phrases: dict[tuple[str, ...], list] = {}
        for lemma, keys in table.items():
            nouns = [k for k in keys if k.endswith("-n")]
            for rank, key in enumerate(nouns):
                cls = targets.get(key)
                if cls is None:
                    continue
                toks = tuple(fold_accents(w) for w in split_words(lemma.replace("_", " ")))
                entries = phrases.setdefault(toks, [])
                if toks and len("".join(toks)) >= MIN_FOREIGN_WORD and all(e[0] != cls.wnid for e in entries):
                    entries.append((cls.wnid, cls.index, cls.name, lemma.replace("_", " "), rank))
        phrases = {k: v for k, v in phrases.items() if v}
        lengths = tuple(sorted({len(k) for k in phrases}, reverse=True))
        return lang, known, phrases, lengths

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
        fold, lengths, phrases, modifiers = self._folded, self._lengths, self._phrases, self._modifiers
        hits = []  # (start, end, entries)
        folded: list[str] = []
        for i, word in enumerate(words):
            tok = fold.get(word) or self._fold(word)
            folded.append(tok)
            lens = lengths.get(tok)
            if lens is not None:
                hits.append((i, lens))
        spans = []
        if self._foreign:
            spans += self._foreign_spans(words, {i for i, _ in hits})
        if not hits and not spans:
            return MatchResult(tuple(tokens))
        for i, lens in hits:
            for length in lens:
                if length == 1:
                    if folded[i] in modifiers and i + 1 < len(words) and self._modifies(folded[i], words[i + 1]):
                        continue  # an adjective before a noun: orange-book, spiral-shell, light-bulb
                    spans.append((i, i + 1, phrases[folded[i]]))
                elif i + length <= len(folded):
                    entries = phrases.get(tuple(folded[i : i + length]))
                    if entries:
                        spans.append((i, i + length, entries))
        if len(spans) > 1:
            # a match inside a longer one is part of it ("tiger" in "tiger shark")
            spans = [h for h in spans if not any(o[0] <= h[0] and h[1] <= o[1] and o[1] - o[0] > h[1] - h[0] for o in spans)]
        spans = self._read_as_written(folded, spans)
        found: dict[int, Match] = {}
        for start, end, entries, *lang in spans:
            for wnid, index, name, lemma, rank in entries:
                if index not in found:
                    found[index] = Match(wnid, index, name, lemma, tuple(words[start:end]), rank, *lang)
        if len(found) < 2:
            return MatchResult(tuple(tokens), tuple(found.values()))
        matches = tuple([found[i] for i in sorted(found)])
        chosen = self.resolve(matches)
        if chosen is None:
            return MatchResult(tuple(tokens), matches)
        return MatchResult(tuple(tokens), (chosen[0],), matches, chosen[1])

    def _read_as_written(self, words: list[str], spans: list[tuple]) -> list[tuple]:
        """English spans without the classes that a longer WordNet compound around them rules
        out ("baseball" in "baseball cap"), nor abbreviations read as a lower-case class ("ai")."""
        kept = []
        for start, end, entries, *lang in spans:
            if not lang:
                around = compound_spans(words, self.stop, (start, end))
                word = words[end - 1]
                entries = [e for e in entries if all(related(tuple(words[a:b]), e[0], word) for a, b in around)]
                if end - start == 1 and is_abbreviation(words[start]):
                    entries = [e for e in entries if e[3].isupper()]  # "ATM" is a class's own lemma
            if entries:
                kept.append((start, end, entries, *lang))
        return kept

    def resolve(self, matches: tuple[Match, ...]) -> tuple[Match, str] | None:
        """(the class, the rule) where one of several candidates from the same words is
        settled by its primary name or by sense frequency; None otherwise."""
        if len({m.tokens for m in matches}) > 1:
            return None  # different words of the name: two objects, not two senses
        primary = [m for m in matches if m.label.casefold() == m.lemma.casefold()]
        frequent = self._commonest_sense(matches)
        if len(primary) == 1 and frequent in (None, primary[0]):
            return primary[0], PRIMARY_NAME
        return None if frequent is None else (frequent, SENSE_FREQUENCY)

    @staticmethod
    def _commonest_sense(matches: tuple[Match, ...]) -> Match | None:
        """The candidate that is the lemma's clearly commonest WordNet noun sense, if one is.

        The lead is over every other sense, candidate or not: "wagon" is mostly the
        cart (24 tags), so police van's 1 against beach wagon's 0 decides nothing.
        """
        if any(m.lang != "eng" for m in matches) or len({m.lemma.casefold() for m in matches}) > 1:
            return None
        counts = sorted(sense_counts(matches[0].lemma).items(), key=lambda kv: -kv[1]) + [("", 0)]
        (wnid, top), (_, after) = counts[:2]
        if top >= SENSE_RATIO * after and top - after >= SENSE_MARGIN:
            return next((m for m in matches if m.wnid == wnid), None)
        return None

    def _modifies(self, word: str, following: str) -> bool:
        """Whether ``word`` reads as an adjective of the noun ``following`` (not as a class)."""
        if following in self.stop or self._is_adjective(following):
            return False  # "umbrella red": the adjective is the other word
        return self._fold(following) not in self._modifiers[word]

    def _foreign_spans(self, words: list[str], english: set[int]) -> list[tuple]:
        """Spans read in the first language, in order of precedence, that knows their first word."""
        spans = []
        stop, is_english = self.stop, self._is_english
        for i, word in enumerate(words):
            if i in english or word in stop or len(word) < MIN_FOREIGN_WORD or is_english(word):
                continue
            folded = tuple(fold_accents(w) for w in words[i : i + self._foreign_longest])
            for lang, known, phrases, lengths in self._foreign:
                n = next((n for n in lengths if n <= len(folded) and folded[:n] in phrases), 0)
                if n:
                    spans.append((i, i + n, phrases[folded[:n]], lang))
                    break
                if folded[0] in known:
                    break
        return spans
