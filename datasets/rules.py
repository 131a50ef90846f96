"""A curator's decisions on whole mappings, kept as rules in the workspace: ``WORKSPACE/mappings.jsonl``.

A *mapping* is what a file name's match says: files whose names hold the lemma ``speaker`` show the class
loudspeaker; a *phrase* of it narrows that to the files whose name has one word before the lemma ("oil drum"
within "drum": ``evaluation.verify`` judges such a phrase on its own). A curator who has looked at a
mapping's drawings accepts or rejects it as a whole (``curation.mappings``); the decision is logged like
every curation action and kept here as a rule, one JSON object a line:

    {"lemma": "speaker", "lang": "eng", "wnid": "n03691459", "label": "loudspeaker", "phrase": null,
     "decision": "accepted", "who": "alice@host", "when": "2026-12-07T21:00:00+00:00",
     "dataset": "drawnet-demo", "record": "<curation log record id>"}

``evaluation.verify`` applies the rules to every file of the mapping, new ones included, and says so in its
``label_check.reason``. A rule for a phrase takes precedence over the rule for its whole mapping. The file
is written whole after each decision and undo (it holds the decisions standing now), atomically.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .manifest import JSONLinesError, atomic_write_text, iter_jsonl

RULES_FILE = "mappings.jsonl"
DECISIONS = ("accepted", "rejected")
ARROW = "→"


@dataclass(frozen=True)
class MappingKey:
    """A mapping (``phrase`` None) or one phrase of it: what a rule decides."""
    lemma: str
    wnid: str
    phrase: str | None = None
    lang: str = "eng"

    @classmethod
    def of(cls, obj: dict) -> MappingKey:
        """The key of a rule, or of a ``label_check.mapping`` dict (``lemma``, ``wnid``, ``phrase``, ``lang``)."""
        return cls(str(obj["lemma"]), str(obj["wnid"]), obj.get("phrase") or None, obj.get("lang") or "eng")

    def whole(self) -> MappingKey:
        """The mapping this phrase belongs to (itself when it is a whole mapping)."""
        return MappingKey(self.lemma, self.wnid, None, self.lang)


def mapping_text(lemma: str, label: str, phrase: str | None = None) -> str:
    """How a mapping is shown: ``speaker → loudspeaker``, ``oil drum → drum``."""
    return f"{phrase or lemma} {ARROW} {label}"


def read_rules(path: str | os.PathLike | None) -> dict[MappingKey, dict]:
    """The rules of a mappings file by key (a later line for the same key wins); {} where there is no file.

    A line that is no rule is a ValueError naming the file, the line and the field."""
    if path is None or not Path(path).is_file():
        return {}
    rules: dict[MappingKey, dict] = {}
    try:
        for lineno, rule in iter_jsonl(Path(path)):
            missing = [k for k in ("lemma", "wnid", "decision") if not isinstance(rule.get(k), str)]
            if missing:
                raise ValueError(f"{path}:{lineno}: a mapping rule needs {', '.join(missing)} (strings)")
            if rule["decision"] not in DECISIONS:
                raise ValueError(f"{path}:{lineno}: decision must be one of {', '.join(DECISIONS)}, "
                                 f"got {rule['decision']!r}")
            rules[MappingKey.of(rule)] = rule
    except JSONLinesError as err:
        raise ValueError(str(err)) from None
    return rules


def write_rules(path: str | os.PathLike, rules: list[dict]) -> None:
    """Write the rules standing now, whole and atomically, sorted by lemma, class and phrase."""
    ordered = sorted(rules, key=lambda r: (r["lemma"], r["wnid"], r.get("phrase") or "", r.get("lang") or "eng"))
    atomic_write_text(Path(path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))


def rule_for(rules: dict[MappingKey, dict], key: MappingKey, *, whole: bool = True) -> dict | None:
    """The rule deciding a file of ``key``: its phrase's rule, else (``whole``) its whole mapping's, else None.

    A file ``evaluation.verify`` judged within a phrase of its own is shown in that phrase's group, so a decision
    on the whole mapping did not cover it: look it up with ``whole=False``."""
    if not rules:
        return None
    return rules.get(key) or (rules.get(key.whole()) if key.phrase and whole else None)


def describe_rule(rule: dict) -> str:
    """One line for ``label_check.reason``: who decided what, and when."""
    what = mapping_text(rule["lemma"], rule.get("label") or rule["wnid"], rule.get("phrase"))
    who = rule.get("who") or "a curator"
    when = f" on {str(rule['when'])[:10]}" if rule.get("when") else ""
    return f"the curator's rule for '{what}': {rule['decision']} by {who}{when} ({RULES_FILE})"
