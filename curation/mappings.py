"""python -m curation.mappings list|rules: decisions on whole mappings, and the rules file they make.

    python -m curation.mappings list                     # the undecided mappings of "label check", worst first
    python -m curation.mappings rules                    # write the mapping rules file again from the log

A *mapping* is what a file name's match says (files named *speaker* show the class loudspeaker; a phrase of
it, "oil drum" within "drum", is judged as one of its own by ``evaluation.verify``). Each sample it checked
carries it as ``label_check.mapping`` ({lemma, lang, wnid, label, phrase}) and, as text, in the field
``mapping`` ("speaker → loudspeaker"). Rather than fixing a mapping's drawings one by one, a curator who has
looked at them decides the whole mapping (``decide_mapping``, the App's "Accept mapping" and "Reject mapping"):

- **accepted**: each of its drawings gets the class (``review`` "accepted"), a rejected one its class back;
- **rejected**: each loses it and is unlabelled, so that ``evaluation.suggest`` may propose another class;
  one that had the class keeps it as ``rejected_wnid``/``rejected_label`` ("Confirm label" gives it back).

A decision acts on the mapping's drawings no curator has reviewed (and on those still as an earlier decision
on it left them); a drawing fixed one by one keeps its state. Each gets ``mapping_decision``, which takes it
out of the saved view "label check"; exceptions are then fixed with the one-by-one operators. A decision
is one curation-log record (``"action": "mapping"``) that keeps every state and field it replaced and left:
undone by ``curation.actions.undo``, replayed by ``python -m curation.log replay``, finished by recovery.
The decisions standing in the log are also kept as rules (``datasets.rules``, ``curation.rules_log``) in
the file ``dataset.info["mapping_rules"]`` (the workspace's ``mappings.jsonl``), which the next
``evaluation.verify`` applies to every file of the mapping, new ones included.
"""
from __future__ import annotations

import argparse
import sys

from datasets.rules import DECISIONS, MappingKey, mapping_text, read_rules
from datasets.vocabulary import Vocabulary
from scraping.cli import add_common_arguments, setup_logging

from .actions import MAX_SAMPLES, _record, class_target
from .log import CurationLog, rules_path
from .rules_log import MAPPING, MAPPING_KEYS
from .state import KEY, STATE

FIELD = "mapping"  # the mapping as text, a sample field for the App's filters
DECISION = "mapping_decision"  # "accepted" or "rejected" on a drawing a decision acted on
FIELDS = (DECISION, "rejected_wnid", "rejected_label")  # what a decision sets besides the state
CHECK = "label_check.mapping"
UNLABELLED = [None, None, None, None]
# a decision's record keeps each drawing's id five times and two states and field sets: a quarter of an action's
# limit keeps it well inside one 16 MB MongoDB document
MAX_DRAWINGS = MAX_SAMPLES // 4


def mapping_of(row: dict) -> dict | None:
    """A manifest row's mapping: its ``label_check.mapping``, or for a manifest verified before there was one,
    derived from its ``lemma`` (else its class name), ``lang``, class (``wnid``/``label``, else
    ``rejected_wnid``/``rejected_label``) and ``label_check.phrase``. None for a row ``evaluation.verify`` did
    not check, or with no class to derive it from. A ``label_check.mapping`` that is no mapping is a ValueError
    naming the image and the field."""
    check = row.get("label_check")
    if not isinstance(check, dict):
        return None
    given = check.get("mapping")
    if given is None:  # a manifest verified before there was one: derived as evaluation.verify derives it
        from evaluation.verdicts import mapping_of as verified_mapping

        given = verified_mapping(row, check.get("phrase"))
        if not given["wnid"] or not given["lemma"]:
            return None
    try:
        key = key_of(given)
    except ValueError as err:
        raise ValueError(f"image {row.get('id')}: label_check.mapping: {err}") from None
    return {"lemma": key.lemma, "lang": key.lang, "wnid": key.wnid, "label": given.get("label") or key.wnid,
            "phrase": key.phrase}


def key_of(mapping) -> MappingKey:
    """A mapping given as a ``MappingKey`` or a dict (lemma, wnid, and optionally phrase, lang, label)."""
    if isinstance(mapping, MappingKey):
        return mapping
    if not isinstance(mapping, dict):
        raise ValueError(f"a mapping is a dict with lemma and wnid (and phrase, lang), got {mapping!r}")
    bad = [k for k in ("lemma", "wnid") if not isinstance(mapping.get(k), str) or not mapping[k].strip()]
    bad += [k for k in ("phrase", "lang", "label") if mapping.get(k) is not None and not isinstance(mapping[k], str)]
    if bad:
        raise ValueError(f"mapping {mapping!r}: {', '.join(bad)} must be a string (lemma and wnid are required)")
    return MappingKey.of(mapping)


def key_text(key: MappingKey, label: str | None = None) -> str:
    return f"'{mapping_text(key.lemma, label or key.wnid, key.phrase)}' ({key.wnid}, {key.lang})"


def key_filter(key: MappingKey) -> dict:
    """The MongoDB filter of the samples of ``key``: a whole mapping leaves out the files of its phrases."""
    return {f"{CHECK}.lemma": key.lemma, f"{CHECK}.wnid": key.wnid, f"{CHECK}.lang": key.lang,
            f"{CHECK}.phrase": key.phrase}


def mapping_samples(dataset, key: MappingKey) -> dict[str, dict]:
    """Each sample of the mapping: {image id: {"state", "fields", "mapping"}}."""
    columns = [KEY, *STATE, *FIELDS, CHECK]
    rows = zip(*dataset.match(key_filter(key)).values(columns))
    return {r[0]: {"state": list(r[1:5]), "fields": dict(zip(FIELDS, r[5:8])), "mapping": r[8]} for r in rows}


def decided_state(decision: str, target: dict) -> list:
    """The state a decision leaves a drawing in (``target``: the mapping's class)."""
    if decision == "accepted":
        return ["accepted", target["wnid"], target["class_index"], target["label"]]
    return list(UNLABELLED)


def undecided(sample: dict, target: dict) -> bool:
    """Whether a decision acts on the sample: no curator reviewed it, or it is as an earlier decision left it."""
    earlier = sample["fields"][DECISION]
    return sample["state"][0] is None if earlier is None else sample["state"] == decided_state(earlier, target)


def decided(decision: str, sample: dict, target: dict) -> tuple[list, dict]:
    """(state, fields) a decision leaves the sample in: a rejected class is kept as ``rejected_*``."""
    state, fields = sample["state"], {**sample["fields"], DECISION: decision}
    if decision == "rejected" and state[1] is not None:
        fields.update(rejected_wnid=state[1], rejected_label=state[3])
    return decided_state(decision, target), fields


def pending(dataset, key: MappingKey, target: dict | None = None, vocab: Vocabulary | None = None) -> dict:
    """What a decision on ``key`` would act on: {image id: sample} (see ``mapping_samples``)."""
    target = target or class_target(key.wnid, vocab)
    return {i: s for i, s in mapping_samples(dataset, key).items() if undecided(s, target)}


def decide_mapping(dataset, mapping, decision: str, *, log: CurationLog | None = None,
                   vocab: Vocabulary | None = None) -> dict:
    """Accept or reject a whole mapping (``mapping``: a dict or ``MappingKey``); return its log record.

    Acts on the drawings ``undecided`` says, logs one record and rewrites the rules file, under the lock."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    key = key_of(mapping)
    target = class_target(key.wnid, vocab)
    log = log or CurationLog(dataset)
    with log.locked():
        read_rules(rules_path(dataset))  # a rules file that cannot be read stops the decision before any change
        samples = mapping_samples(dataset, key)
        if not samples:
            raise ValueError(f"dataset {dataset.name!r} has no drawing of the mapping {key_text(key)}")
        todo = {i: s for i, s in samples.items() if undecided(s, target)}
        if len(todo) > MAX_DRAWINGS:
            raise ValueError(f"mapping {key_text(key)} has {len(todo):,} drawings to decide: the limit is "
                             f"{MAX_DRAWINGS:,} a decision (its record must fit in one MongoDB document)")
        results = {i: decided(decision, s, target) for i, s in todo.items()}
        label = (next(iter(samples.values()))["mapping"] or {}).get("label") or target["label"]
        shown = {"lemma": key.lemma, "lang": key.lang, "wnid": key.wnid, "label": label, "phrase": key.phrase}
        record = _record(log, MAPPING, list(todo), {i: s["state"] for i, s in todo.items()}, dataset=dataset.name,
                         decision=decision, mapping=shown,
                         mapping_text=mapping_text(key.lemma, shown["label"], key.phrase),
                         after={i: r[0] for i, r in results.items()},
                         fields_before={i: s["fields"] for i, s in todo.items()},
                         fields_after={i: r[1] for i, r in results.items()})
        record = log.commit(record)  # applied by curation.state.apply_record, as recovery and replay apply it
        log.write_rules()
        return record


def mapping_summaries(view) -> list[dict]:
    """The mappings of a view's samples, the least supported first: each with its key, text, drawings, verdict
    counts and ``mapping_score`` (the lowest of its drawings')."""
    groups: dict[MappingKey, dict] = {}
    for m, verdict, score in zip(*view.values([CHECK, "label_check.verdict", "label_check.mapping_score"])):
        if not m:
            continue
        key = MappingKey.of(m)
        g = groups.setdefault(key, {"mapping": {k: m.get(k) for k in MAPPING_KEYS}, "drawings": 0, "accepted": 0,
                                    "unsure": 0, "rejected": 0, "mapping_score": score,
                                    "text": mapping_text(key.lemma, m.get("label") or key.wnid, key.phrase)})
        g["drawings"] += 1
        if verdict in ("accepted", "unsure", "rejected"):
            g[verdict] += 1
        if score is not None and (g["mapping_score"] is None or score < g["mapping_score"]):
            g["mapping_score"] = score
    inf = float("inf")
    return sorted(groups.values(), key=lambda g: (inf if g["mapping_score"] is None else g["mapping_score"],
                                                  g["text"], g["mapping"]["wnid"]))


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Decisions on whole mappings: the undecided ones, the rules file.",
                                add_help=add_help)
    add_common_arguments(p)
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help='the undecided mappings of the saved view "label check", worst first')
    rules = sub.add_parser("rules", help="write the mapping rules file again from the curation log")
    from .database import add_dataset_arguments

    for s in (ls, rules):
        add_dataset_arguments(s)
    return p


def main(args: argparse.Namespace) -> int:
    from .database import dataset_and_uri, existing_dataset, exit_code
    from .views import LABEL_CHECK, curation_views

    setup_logging(args)
    try:
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        dataset = existing_dataset(name, uri)
        if args.command == "rules":
            log = CurationLog(dataset)
            with log.locked():
                n = log.write_rules(strict=True)
            print(f"{name}: {'no mapping decided yet' if n is None else f'{n} rules written'} "
                  f"({rules_path(dataset)})")
        else:
            for g in mapping_summaries(curation_views(dataset)[LABEL_CHECK]):
                print(f"{g['mapping_score']!s:>8}  {g['drawings']:5d} drawings ({g['rejected']} rejected, "
                      f"{g['unsure']} unsure)  {g['text']}  [{g['mapping']['wnid']}]")
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code("curation.mappings", err)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
