"""The mapping rules file (``datasets.rules``) as a dataset's curation log leaves it.

A decision on a whole mapping (``curation.mappings``) is a log record like every curation action; the rules
file is derived from the log: one rule per mapping whose latest decision is not undone, with who decided,
when, in which dataset and by which record. It is rewritten whole (``CurationLog.write_rules``, under the
dataset's curation lock) after each decision, after the undo of one, after a replay and after a recovery,
so it always says what the log says, whatever crashed in between.

The file may be shared: the workspace's ``mappings.jsonl`` also holds rules that other datasets (or an earlier
copy of this one, deleted since) decided. A rule whose record this log does not hold is kept as it is, unless
this dataset decides the same mapping, whose rule then replaces it.
"""
from __future__ import annotations

from pathlib import Path

from datasets.rules import MappingKey, read_rules, write_rules

from .curators import describe

MAPPING = "mapping"  # the action of a decision on a whole mapping, in the curation log
RULES_SUFFIX = ".mappings.jsonl"  # <log folder>/<dataset>.mappings.jsonl, when no workspace file was given
MAPPING_KEYS = ("lemma", "lang", "wnid", "label", "phrase")


def default_rules_path(log_path: Path, dataset_name: str) -> Path:
    """The rules file of a dataset loaded without a workspace's: beside its curation log."""
    return Path(log_path).parent / f"{dataset_name}{RULES_SUFFIX}"


def rule_of(record: dict) -> dict:
    """The rule a mapping record stands for, in ``datasets.rules``'s form."""
    mapping = record["mapping"]
    return {**{k: mapping.get(k) for k in MAPPING_KEYS}, "lang": mapping.get("lang") or "eng",
            "decision": record["decision"], "who": describe(record), "when": record.get("time"),
            "dataset": record.get("dataset"), "record": record["id"]}


def standing_rules(records: list[dict]) -> dict[MappingKey, dict]:
    """The rule of each mapping: its latest decision among ``records`` (oldest first) that is not undone.

    A record is undone when it carries ``undone_by`` (the log's bookkeeping) or an undo among ``records``
    names it."""
    undone = {r["undoes"] for r in records if r.get("action") == "undo"}
    rules: dict[MappingKey, dict] = {}
    for r in records:
        if r.get("action") != MAPPING:
            continue
        if r.get("undone_by") is None and r["id"] not in undone:
            rules[MappingKey.of(r["mapping"])] = rule_of(r)  # a later one replaces an earlier one
    return rules


def merged_rules(path: Path, standing: dict[MappingKey, dict], ours: set[str]) -> list[dict]:
    """The file's rules to keep (records ``ours`` does not hold, mappings ``standing`` does not decide), then
    ``standing``'s. A file that holds no rules is a ValueError naming it."""
    foreign = [r for k, r in read_rules(path).items() if r.get("record") not in ours and k not in standing]
    return foreign + list(standing.values())


def rewrite_rules(path: Path, records: list[dict], ours: set[str]) -> int:
    """Write the rules file from a log's mapping records (and their undos); return the rules written."""
    rules = merged_rules(path, standing_rules(records), ours)
    write_rules(path, rules)
    return len(rules)
