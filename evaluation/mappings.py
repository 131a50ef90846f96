"""The first stage of ``evaluation.verify``: each mapping (lemma -> class), phrase and file judged on the
picture's rank of the class and the word's sense share.

**The mapping** (lemma -> class, over all its files) is supported when
``share ** prior_weight / typical_rank >= 1 / mapping_rank``, with the typical rank the geometric mean
of its files' (rank + 1): heads never look like promontories, e-mail icons never like chain mail.
Every file of a supported mapping is accepted; one whose picture shows no sign of the class (rank
``unsure_rank`` or worse, below the median drawing) is ``unsure``. A *phrase* of a supported mapping (the
content word before the match, with ``phrase_min_files`` files or more: "oil drum", "speech balloon") is
judged the same way on its own files, and where it is not supported its files are judged as those of an
unsupported mapping. **A file** of an unsupported mapping (or phrase) is accepted only when its own picture
says so (``share / (rank + 1) >= 1 / file_rank``: a soap bubble among chat bubbles), else rejected. The
margins are in natural-log units: >= 0 supported.

Measured on the judged sample of the embedded library (``tests/fixtures/labels/judged_sample.jsonl``, 320
files), with EfficientNet-Lite1: the class's own rank separates right from wrong files with AUC 0.83, the
mapping's typical rank with 0.91, both with the sense share 0.95. The defaults (1.5, 200, 20) gave 96.1%
precision keeping 84.1% of the right labels, and phrases 97.2% keeping 83.1%. ``evaluation.verify`` then
weighs these verdicts with more evidence (``evaluation.label_model``).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from datasets.lexicon import stop_words
from datasets.match import name_stem, sense_share, split_words


@dataclass
class StageConfig:
    prior_weight: float = 1.5  # the exponent of the sense share in the mapping's evidence
    mapping_rank: float = 200.0  # a mapping is supported when share**prior_weight / typical rank >= 1/this
    file_rank: float = 20.0  # a file of an unsupported mapping is accepted when share / (rank+1) >= 1/this
    unsure_rank: int = 500  # a file of a supported mapping ranked this or worse is "unsure"
    phrase_min_files: int = 3  # a phrase of a supported mapping with this many files is judged on its own


@dataclass
class Mapping:
    lemma: str
    wnid: str
    label: str
    lang: str
    rows: list[int]  # manifest row numbers
    share: float  # sense share of the lemma for the class
    typical_rank: float  # geometric mean of the files' (rank + 1)
    margin: float  # log evidence minus log threshold: >= 0 supported

    @property
    def supported(self) -> bool:
        return self.margin >= 0


def mappings_of(rows: list[dict], ranks: dict[int, int], cfg: StageConfig) -> list[Mapping]:
    """The (lemma, class) mappings of the labelled rows that have a picture rank."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.get("wnid") and i in ranks:
            groups[(row.get("lemma") or row["label"], row["wnid"], row.get("lang") or "eng")].append(i)
    out = []
    for (lemma, wnid, lang), members in groups.items():
        first = rows[members[0]]
        share = min(max(sense_share(lemma, wnid, lang, first.get("sense_rank")), 1e-3), 1.0)
        log_typical = float(np.mean([math.log1p(ranks[i]) for i in members]))
        margin = cfg.prior_weight * math.log(share) - log_typical + math.log(cfg.mapping_rank)
        out.append(Mapping(lemma, wnid, first["label"], lang, members, share, math.exp(log_typical), margin))
    return out


def judge_file(m: Mapping, rank: int, cfg: StageConfig) -> dict:
    """The ``label_check`` of one file of mapping ``m`` whose picture ranks the class ``rank``."""
    own = math.log(m.share) - math.log1p(rank) + math.log(cfg.file_rank)
    where = f"'{m.lemma}' -> {m.label}"
    evidence = (f"the files of {where} rank the class {m.typical_rank:.0f} of 1000 typically, sense share "
                f"{m.share:.3g}; this picture ranks it {rank + 1}")
    if m.supported:
        verdict = "unsure" if rank + 1 >= cfg.unsure_rank else "accepted"
        reason = (f"{evidence}: the mapping is supported" +
                  (", but this picture shows no sign of the class" if verdict == "unsure" else ""))
        score = max(m.margin, own)
    elif own >= 0:
        verdict, reason, score = "accepted", f"{evidence}: the mapping is not supported, this picture is", own
    else:
        verdict, reason, score = "rejected", f"{evidence}: neither the mapping nor this picture is supported", max(m.margin, own)
    return {"verdict": verdict, "reason": reason, "score": round(float(score), 4),
            "mapping_score": round(float(m.margin), 4)}


def phrase_of(row: dict, stop: frozenset[str]) -> str | None:
    """The content word right before the matched words in the file's title or name: "oil" of ``oil-drum``,
    "speech" of ``speech-balloon``; None when they come first."""
    matched = list(row.get("matched_words") or [])
    for text in (row.get("title"), name_stem(row.get("original_name") or "").split(":")[-1]):
        words = split_words(text or "")
        for k in range(len(words) - len(matched) + 1):
            if matched and words[k:k + len(matched)] == matched:
                before = [w for w in words[:k] if w not in stop]
                return before[-1] if before else None
    return None


def phrases_of(rows: list[dict], m: Mapping, ranks: dict[int, int], cfg: StageConfig) -> list[Mapping]:
    """The phrases of a supported mapping ("oil drum" within "drum") with ``phrase_min_files`` files or more,
    each judged as a mapping of its own."""
    groups: dict[str, list[int]] = defaultdict(list)
    stop = stop_words()
    for i in m.rows:
        word = phrase_of(rows[i], stop)
        if word:
            groups[word].append(i)
    out = []
    for word, members in sorted(groups.items()):
        if len(members) >= cfg.phrase_min_files and len(members) < len(m.rows):
            log_typical = float(np.mean([math.log1p(ranks[i]) for i in members]))
            margin = cfg.prior_weight * math.log(m.share) - log_typical + math.log(cfg.mapping_rank)
            out.append(Mapping(f"{word} {m.lemma}", m.wnid, m.label, m.lang, members, m.share,
                               math.exp(log_typical), margin))
    return out


def judge(rows: list[dict], ranks: dict[int, int], cfg: StageConfig) -> tuple[list[dict | None], list[Mapping]]:
    """(``label_check`` of every row, None where it has no label; the mappings). A file of a supported mapping
    is judged by its phrase where the phrase is not supported ("oil drum"), else by its mapping."""
    checks: list[dict | None] = [None] * len(rows)
    maps = mappings_of(rows, ranks, cfg)
    for m in maps:
        for i in m.rows:
            checks[i] = judge_file(m, ranks[i], cfg)
        for phrase in (phrases_of(rows, m, ranks, cfg) if m.supported else []):
            if not phrase.supported:
                for i in phrase.rows:
                    checks[i] = dict(judge_file(phrase, ranks[i], cfg), phrase=phrase.lemma)
    for i, row in enumerate(rows):
        if row.get("wnid") and checks[i] is None:
            checks[i] = {"verdict": "unsure", "reason": "no picture evidence: the image could not be read",
                         "score": 0.0, "mapping_score": 0.0}
    return checks, maps
