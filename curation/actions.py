"""Curation actions on samples: accept, reject, move to a class, mark ambiguous, and undo; and the review of
``evaluation.suggest``'s suggestions: accept a suggestion, refuse one ("not this class").

A sample's curation state is its ``review`` (unset, "accepted", "rejected" or
"ambiguous") and its class (``ground_truth.label``, ``wnid``, ``class_index``); see ``curation.state``.
Each action changes that state for a set of samples in one bulk write and is logged
(``curation.log``) with the state it replaced, so that ``undo`` and ``replay`` are exact.
An action holds the dataset's curation lock from reading that state to completing its
record, so curators acting at once are applied one after the other, each on what the one
before left. ``undo`` takes back the caller's own last action (``curation.curators``), or
anyone's with ``any_curator``; it refuses, changing nothing, when someone changed those
samples since.
Accepting a suggestion is a ``move`` to the suggested class (one record per class, marked
``"via": "suggestion"``); refusing one is a ``refuse`` record that adds the suggested wnid to
the sample's ``refused_suggestions``, which later write-backs never propose again.
Confirming a label ``evaluation.verify`` rejected (``confirm_rejected``) is likewise a ``move``, back to
the rejected class, marked ``"via": "label check"``: undone and replayed like every other action.
A decision on a whole mapping (``curation.mappings``) is a record of its own that ``undo`` takes back like
these, rewriting the mapping rules file after it.
The plugin's operators and the tests call these functions; nothing else writes curation.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from datasets.vocabulary import Vocabulary, load_vocabulary

from .curators import describe
from .log import CurationLog
from .rules_log import MAPPING
from .state import (
    KEY,
    REFUSED,
    REVIEW,
    class_label,
    read_fields,
    read_refused,
    read_states,
    target_state,
    write_states,
)

ACTIONS = ("accept", "reject", "move", "ambiguous", "refuse", "undo")
MAX_SAMPLES = 50_000  # per action: its record (ids and states) must fit in one 16 MB MongoDB document
SUGGESTION = "suggestion"  # evaluation.suggest's Classification, with its ``wnid`` attribute
LABEL_CHECK = "label check"  # a move that gives back a class evaluation.verify rejected


def class_target(key: str, vocab: Vocabulary | None = None) -> dict:
    """A move's destination from a wnid, an index or a unique name; an unknown or shared name is an error."""
    vocab = vocab or load_vocabulary()
    try:
        matches = vocab.resolve(str(key))
    except KeyError:  # a wnid that is no ILSVRC class
        matches = []
    if len(matches) != 1:
        found = ", ".join(f"{c.name} ({c.wnid})" for c in matches) or "nothing"
        raise ValueError(f"class {key!r} must name one ILSVRC class; it names {found}")
    cls = matches[0]
    return {"wnid": cls.wnid, "class_index": cls.index, "label": class_label(vocab, cls.wnid)}


class UndoRefused(ValueError):
    """The action to undo has samples someone changed since: undoing it would overwrite their change."""


def _record(log: CurationLog, action: str, image_ids: list[str], before: dict, **extra) -> dict:
    return {"id": uuid.uuid4().hex, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **{k: log.curator[k] for k in ("user", "curator", "host", "pid")}, "action": action,
            "image_ids": list(image_ids), "before": before, **extra}


def curate(dataset, action: str, image_ids: list[str], *, to: str | None = None, log: CurationLog | None = None,
           vocab: Vocabulary | None = None, **extra) -> dict:
    """Apply ``action`` ("accept", "reject", "move" with ``to``, "ambiguous") to samples; return its log record."""
    if action not in REVIEW:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(REVIEW)} (or undo())")
    if action == "move" and not to:
        raise ValueError("move needs the class to move to")
    target = class_target(to, vocab) if action == "move" else None
    if target:
        extra["to"] = target
    log = log or CurationLog(dataset)
    with log.locked():
        before = read_states(dataset, image_ids)
        if not before:
            raise ValueError("none of the given samples is in the dataset")
        if len(before) > MAX_SAMPLES:
            raise ValueError(f"{action} on {len(before):,} samples at once: the limit is {MAX_SAMPLES:,} a record "
                             f"(its ids and states must fit in one MongoDB document); narrow the view")
        after = {i: target_state(action, s, target) for i, s in before.items()}
        record = _record(log, action, list(before), before, dataset=dataset.name, **extra)
        return log.commit(record, lambda: write_states(dataset, after))


def changed_since(dataset, record: dict, now: dict[str, list]) -> list[str]:
    """The samples of ``record`` whose state is no longer what it left (``now``: their states today)."""
    if record["action"] == "refuse":
        refused = read_refused(dataset, list(record["refused"]))
        return [i for i, wnid in record["refused"].items() if i in refused and wnid not in refused[i]]
    if "after" in record:  # a record that kept its result (a mapping decision), other fields included
        left = record.get("fields_after") or {}
        fields = read_fields(dataset, list(left), sorted({f for v in left.values() for f in v}))
        return [i for i, s in record["after"].items() if i in now and (
            now[i] != s or any(fields[i].get(f) != v for f, v in left.get(i, {}).items()))]
    return [i for i, s in record["before"].items()
            if i in now and now[i] != target_state(record["action"], s, record.get("to"))]


def _refusal(log: CurationLog, record: dict, changed: list[str]) -> str:
    other = log.latest_touching(changed[0], record["seq"])
    what = (f"{other['action']} {'to ' + repr(other['to']['label']) + ' ' if other.get('to') else ''}by "
            f"{describe(other)} (record {other['seq']}, {other['time']})" if other else "a change outside curation")
    return (f"undo refused: {len(changed)} of the {len(record['before'])} samples of record {record['seq']} "
            f"({record['action']} by {describe(record)}) changed since, e.g. sample {changed[0][:12]}: {what}; "
            f"nothing was changed (undo that change first)")


def undo(dataset, *, log: CurationLog | None = None, any_curator: bool = False) -> dict | None:
    """Undo the caller's last action not undone yet (anyone's with ``any_curator``); return the undo record, or
    None when there is none. Undos are not undone. ``UndoRefused`` when its samples changed since."""
    log = log or CurationLog(dataset)
    with log.locked():
        last = log.last_action(None if any_curator else log.curator["curator"])
        if last is None:
            return None
        now = read_states(dataset, list(last["before"]))
        changed = changed_since(dataset, last, now)
        if changed:
            raise UndoRefused(_refusal(log, last, changed))
        record = log.commit(_record(log, "undo", list(now), now, dataset=dataset.name, undoes=last["id"],
                                    undoes_action=last["action"], undone=last))
        if last["action"] == MAPPING:
            log.write_rules()  # the mapping's rule goes, or an earlier decision's comes back
        return record


def suggestions(dataset, image_ids: list[str]) -> dict[str, str]:
    """The suggested wnid of each listed sample that is unlabelled and has a suggestion not refused yet."""
    from fiftyone import ViewField as F

    if SUGGESTION not in dataset.get_field_schema():
        return {}
    view = dataset.match(F(KEY).is_in(list(image_ids)) & (F("ground_truth") == None)  # noqa: E711
                         & (F(f"{SUGGESTION}.wnid") != None))  # noqa: E711
    ids, wnids, refused = view.values([KEY, f"{SUGGESTION}.wnid", REFUSED])
    return {i: w for i, w, no in zip(ids, wnids, refused) if w not in (no or [])}


def _moves(dataset, classes: dict[str, str], via: str, log: CurationLog | None, vocab: Vocabulary | None) -> list[dict]:
    """One logged ``move`` per class of ``classes`` ({image id: wnid}), marked ``via``; the records."""
    by_class: dict[str, list[str]] = {}
    for i, wnid in classes.items():
        by_class.setdefault(wnid, []).append(i)
    log = log or CurationLog(dataset)
    vocab = vocab or load_vocabulary()
    return [curate(dataset, "move", ids, to=wnid, log=log, vocab=vocab, via=via) for wnid, ids in sorted(by_class.items())]


def accept_suggestions(dataset, image_ids: list[str], *, log: CurationLog | None = None,
                       vocab: Vocabulary | None = None) -> list[dict]:
    """Give each sample its suggested class: one logged ``move`` per class; return the records."""
    chosen = suggestions(dataset, image_ids)
    if not chosen:
        raise ValueError("none of the given samples has a suggestion to accept (unlabelled, suggested, not refused)")
    return _moves(dataset, chosen, SUGGESTION, log, vocab)


def rejected_labels(dataset, image_ids: list[str]) -> dict[str, str]:
    """The class ``evaluation.verify`` rejected, of each listed sample that is still unlabelled."""
    from fiftyone import ViewField as F

    if "rejected_wnid" not in dataset.get_field_schema():
        return {}
    view = dataset.match(F(KEY).is_in(list(image_ids)) & (F("ground_truth") == None)  # noqa: E711
                         & (F("rejected_wnid") != None))  # noqa: E711
    return dict(zip(*view.values([KEY, "rejected_wnid"])))


def confirm_rejected(dataset, image_ids: list[str], *, log: CurationLog | None = None,
                     vocab: Vocabulary | None = None) -> list[dict]:
    """The curator overrules ``evaluation.verify``: each sample gets back the class it rejected (one logged
    ``move`` per class, ``"via": "label check"``); return the records."""
    chosen = rejected_labels(dataset, image_ids)
    if not chosen:
        raise ValueError("none of the given samples has a rejected label to confirm (evaluation.verify's "
                         "rejected_wnid, still unlabelled)")
    return _moves(dataset, chosen, LABEL_CHECK, log, vocab)


def refuse_suggestions(dataset, image_ids: list[str], *, log: CurationLog | None = None) -> dict:
    """"Not this class": each sample stays unlabelled and its suggestion is refused for good; return the record."""
    log = log or CurationLog(dataset)
    with log.locked():
        refused = suggestions(dataset, image_ids)
        if not refused:
            raise ValueError("none of the given samples has a suggestion to refuse (unlabelled, suggested, "
                             "not refused)")
        before = read_states(dataset, list(refused))
        return log.commit(_record(log, "refuse", list(refused), before, dataset=dataset.name, refused=refused))
