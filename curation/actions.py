"""Curation actions on samples: accept, reject, move to a class, mark ambiguous, and undo; and the review of
``evaluation.suggest``'s suggestions: accept a suggestion, refuse one ("not this class").

A sample's curation state is its ``review`` (unset, "accepted", "rejected" or
"ambiguous") and its class (``ground_truth.label``, ``wnid``, ``class_index``); see ``curation.state``.
Each action changes that state for a set of samples in one bulk write and is logged
(``curation.log``) with the state it replaced, so that ``undo`` and ``replay`` are exact.
Accepting a suggestion is a ``move`` to the suggested class (one record per class, marked
``"via": "suggestion"``); refusing one is a ``refuse`` record that adds the suggested wnid to
the sample's ``refused_suggestions``, which later write-backs never propose again.
The plugin's operators and the tests call these functions; nothing else writes curation.
"""
from __future__ import annotations

import getpass
import uuid
from datetime import datetime, timezone

from datasets.vocabulary import Vocabulary, load_vocabulary

from .log import CurationLog
from .state import (
    KEY,
    REFUSED,
    REVIEW,
    apply_record,
    class_label,
    read_states,
    target_state,
    write_states,
)

ACTIONS = ("accept", "reject", "move", "ambiguous", "refuse", "undo")
SUGGESTION = "suggestion"  # evaluation.suggest's Classification, with its ``wnid`` attribute


def class_target(key: str, vocab: Vocabulary | None = None) -> dict:
    """A move's destination from a wnid, an index or a unique name; an unknown or shared name is an error."""
    vocab = vocab or load_vocabulary()
    matches = vocab.resolve(str(key))
    if len(matches) != 1:
        found = ", ".join(f"{c.name} ({c.wnid})" for c in matches) or "nothing"
        raise ValueError(f"class {key!r} must name one ILSVRC class; it names {found}")
    cls = matches[0]
    return {"wnid": cls.wnid, "class_index": cls.index, "label": class_label(vocab, cls.wnid)}


def _record(action: str, image_ids: list[str], before: dict, **extra) -> dict:
    return {"id": uuid.uuid4().hex, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "user": getpass.getuser(), "action": action, "image_ids": list(image_ids), "before": before, **extra}


def curate(dataset, action: str, image_ids: list[str], *, to: str | None = None, log: CurationLog | None = None,
           vocab: Vocabulary | None = None, **extra) -> dict:
    """Apply ``action`` ("accept", "reject", "move" with ``to``, "ambiguous") to samples; return its log record."""
    if action not in REVIEW:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(REVIEW)} (or undo())")
    if action == "move" and not to:
        raise ValueError("move needs the class to move to")
    target = class_target(to, vocab) if action == "move" else None
    before = read_states(dataset, image_ids)
    if not before:
        raise ValueError("none of the given samples is in the dataset")
    write_states(dataset, {i: target_state(action, s, target) for i, s in before.items()})
    if target:
        extra["to"] = target
    log = log or CurationLog(dataset)
    return log.append(_record(action, list(before), before, dataset=dataset.name, **extra))


def undo(dataset, *, log: CurationLog | None = None) -> dict | None:
    """Undo the latest action not undone yet (undos are not undone); return the undo record, or None."""
    log = log or CurationLog(dataset)
    records = log.records()
    undone = {r["undoes"] for r in records if r["action"] == "undo"}
    last = next((r for r in reversed(records) if r["action"] != "undo" and r["id"] not in undone), None)
    if last is None:
        return None
    now = read_states(dataset, list(last["before"]))
    if last["action"] == "refuse":
        apply_record(dataset, {"action": "undo", "undone": last})
    else:
        write_states(dataset, {i: s for i, s in last["before"].items() if i in now})
    return log.append(_record("undo", list(now), now, dataset=dataset.name, undoes=last["id"],
                              undoes_action=last["action"], undone=last))


def suggestions(dataset, image_ids: list[str]) -> dict[str, str]:
    """The suggested wnid of each listed sample that is unlabelled and has a suggestion not refused yet."""
    from fiftyone import ViewField as F

    if SUGGESTION not in dataset.get_field_schema():
        return {}
    view = dataset.match(F(KEY).is_in(list(image_ids)) & (F("ground_truth") == None)  # noqa: E711
                         & (F(f"{SUGGESTION}.wnid") != None))  # noqa: E711
    ids, wnids, refused = view.values([KEY, f"{SUGGESTION}.wnid", REFUSED])
    return {i: w for i, w, no in zip(ids, wnids, refused) if w not in (no or [])}


def accept_suggestions(dataset, image_ids: list[str], *, log: CurationLog | None = None,
                       vocab: Vocabulary | None = None) -> list[dict]:
    """Give each sample its suggested class: one logged ``move`` per class; return the records."""
    by_class: dict[str, list[str]] = {}
    for i, wnid in suggestions(dataset, image_ids).items():
        by_class.setdefault(wnid, []).append(i)
    if not by_class:
        raise ValueError("none of the given samples has a suggestion to accept (unlabelled, suggested, not refused)")
    log = log or CurationLog(dataset)
    vocab = vocab or load_vocabulary()
    return [curate(dataset, "move", ids, to=wnid, log=log, vocab=vocab, via=SUGGESTION)
            for wnid, ids in sorted(by_class.items())]


def refuse_suggestions(dataset, image_ids: list[str], *, log: CurationLog | None = None) -> dict:
    """"Not this class": each sample stays unlabelled and its suggestion is refused for good; return the record."""
    refused = suggestions(dataset, image_ids)
    if not refused:
        raise ValueError("none of the given samples has a suggestion to refuse (unlabelled, suggested, not refused)")
    before = read_states(dataset, list(refused))
    apply_record(dataset, {"action": "refuse", "refused": refused})
    log = log or CurationLog(dataset)
    return log.append(_record("refuse", list(refused), before, dataset=dataset.name, refused=refused))
