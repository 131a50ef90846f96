"""Curation actions on samples: accept, reject, move to a class, mark ambiguous, and undo.

A sample's curation state is its ``review`` (unset, "accepted", "rejected" or
"ambiguous") and its class (``ground_truth.label``, ``wnid``, ``class_index``).
Each action changes that state for a set of samples in one bulk write and is logged
(``curation.log``) with the state it replaced, so that ``undo`` and ``replay`` are exact.
The plugin's operators and the tests call these functions; nothing else writes curation.
"""
from __future__ import annotations

import getpass
import uuid
from datetime import datetime, timezone

from datasets.vocabulary import Vocabulary, load_vocabulary

from .load import KEY, class_label
from .log import CurationLog

ACTIONS = ("accept", "reject", "move", "ambiguous", "undo")
REVIEW = {"accept": "accepted", "reject": "rejected", "move": "accepted", "ambiguous": "ambiguous"}
STATE = ("review", "wnid", "class_index", "ground_truth.label")  # a state is these, in this order


def read_states(dataset, image_ids: list[str]) -> dict[str, list]:
    """The current state of each listed sample that exists, by image id."""
    from fiftyone import ViewField as F

    view = dataset.match(F(KEY).is_in(list(image_ids)))
    ids, *columns = view.values([KEY, *STATE])
    return {i: list(state) for i, state in zip(ids, zip(*columns))}


def write_states(dataset, states: dict[str, list]) -> None:
    """Set each sample's state, one bulk write per field."""
    if not states:
        return
    for j, field in enumerate(STATE):
        dataset.set_values(field, {i: s[j] for i, s in states.items()}, key_field=KEY)


def target_state(action: str, state: list, to: dict | None) -> list:
    """The state an action leaves a sample in (``to``: the class of a move)."""
    review, wnid, index, label = state
    if action == "move":
        wnid, index, label = to["wnid"], to["class_index"], to["label"]
    return [REVIEW[action], wnid, index, label]


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
           vocab: Vocabulary | None = None) -> dict:
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
    extra = {"to": target} if target else {}
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
    write_states(dataset, {i: s for i, s in last["before"].items() if i in now})
    return log.append(_record("undo", list(now), now, dataset=dataset.name, undoes=last["id"],
                              undoes_action=last["action"], undone=last))


def apply_record(dataset, record: dict) -> int:
    """Redo a logged action on ``dataset`` (replay); return how many of its samples are not there."""
    if record["action"] == "undo":
        restore = record["undone"]["before"]
    else:
        target = record.get("to")
        restore = {i: target_state(record["action"], s, target) for i, s in record["before"].items()}
    present = read_states(dataset, list(restore))
    write_states(dataset, {i: s for i, s in restore.items() if i in present})
    return len(restore) - len(present)
