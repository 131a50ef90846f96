"""A sample's curation state, read and written in bulk, and a logged record's effect on it.

A state is ``[review, wnid, class_index, ground_truth label]`` (``STATE``). An unlabelled
sample (a file whose name matched no class, loaded from ``datasets.build --keep-unmatched``)
has no ``ground_truth``: its state is ``[review, None, None, None]``, and giving it a class
creates the Classification, as taking the class away (undo) removes it.

A suggestion a curator refused is kept in the sample's ``refused_suggestions`` (wnids), so
that no later write-back of ``evaluation.suggest`` proposes it again.

A record that says its result outright (``after``: {image id: state}, and ``fields_after``: {image id:
{field: value}} for other fields it set, e.g. a decision on a whole mapping, ``curation.mappings``) is
applied by writing exactly that, and undone by writing its ``before`` and ``fields_before``: either way the
same values however often it is applied, as recovery needs.

``curation.actions`` changes states and logs them; ``curation.log`` replays records through
``apply_record``. This module imports neither, so neither imports the other.
"""
from __future__ import annotations

from datasets.vocabulary import Vocabulary

KEY = "image_id"  # samples are keyed by the file's sha256
STATE = ("review", "wnid", "class_index", "ground_truth.label")  # a state is these, in this order
REVIEW = {"accept": "accepted", "reject": "rejected", "move": "accepted", "ambiguous": "ambiguous"}
REFUSED = "refused_suggestions"


def class_label(vocab: Vocabulary, wnid: str) -> str:
    """The class's name, with its wnid where two classes share it ("crane (n03126707)")."""
    return vocab.label(vocab.by_wnid(wnid))


def _match(dataset, image_ids):
    from fiftyone import ViewField as F

    return dataset.match(F(KEY).is_in(list(image_ids)))


def read_states(dataset, image_ids: list[str]) -> dict[str, list]:
    """The current state of each listed sample that exists, by image id."""
    ids, *columns = _match(dataset, image_ids).values([KEY, *STATE])
    return {i: list(state) for i, state in zip(ids, zip(*columns))}


def write_states(dataset, states: dict[str, list]) -> None:
    """Set each sample's state, one bulk write per field.

    A label on a sample without ``ground_truth`` creates the Classification; a state without a
    label removes it. Other samples keep their Classification (its id and attributes), label changed.
    """
    if not states:
        return
    import fiftyone as fo

    for j, field in enumerate(STATE[:-1]):
        dataset.set_values(field, {i: s[j] for i, s in states.items()}, key_field=KEY)
    has_gt = dict(zip(*_match(dataset, states).values([KEY, "ground_truth"])))
    relabel = {i: s[3] for i, s in states.items() if s[3] is not None and has_gt.get(i) is not None}
    create = {i: (None if s[3] is None else fo.Classification(label=s[3]))
              for i, s in states.items() if (s[3] is None) != (has_gt.get(i) is None)}
    if relabel:
        dataset.set_values("ground_truth.label", relabel, key_field=KEY)
    if create:
        dataset.set_values("ground_truth", create, key_field=KEY)


def target_state(action: str, state: list, to: dict | None) -> list:
    """The state an action leaves a sample in (``to``: the class of a move)."""
    review, wnid, index, label = state
    if action == "move":
        wnid, index, label = to["wnid"], to["class_index"], to["label"]
    return [REVIEW[action], wnid, index, label]


def read_refused(dataset, image_ids: list[str]) -> dict[str, list[str]]:
    """Each listed sample's refused suggestions (wnids), by image id."""
    ids, refused = _match(dataset, image_ids).values([KEY, REFUSED])
    return {i: list(r or []) for i, r in zip(ids, refused)}


def write_refused(dataset, refused: dict[str, list[str]]) -> None:
    if refused:
        dataset.set_values(REFUSED, refused, key_field=KEY)


def read_fields(dataset, image_ids: list[str], fields: list[str]) -> dict[str, dict]:
    """Each listed sample's ``fields`` ({field: value}), by image id."""
    ids, *columns = _match(dataset, image_ids).values([KEY, *fields])
    return {i: dict(zip(fields, values)) for i, values in zip(ids, zip(*columns))}


def write_fields(dataset, values: dict[str, dict]) -> None:
    """Set each sample's fields ({image id: {field: value}}), one bulk write per field."""
    for field in sorted({f for v in values.values() for f in v}):
        dataset.set_values(field, {i: v[field] for i, v in values.items() if field in v}, key_field=KEY)


def apply_record(dataset, record: dict) -> int:
    """Redo a logged action on ``dataset`` (replay); return how many of its samples are not there."""
    undone = record["undone"] if record["action"] == "undo" else None
    if (undone or record)["action"] == "refuse":
        return _apply_refusal(dataset, record if undone is None else undone, undo=undone is not None)
    fields = None
    if undone is not None:
        restore, fields = undone["before"], undone.get("fields_before")
    elif "after" in record:
        restore, fields = record["after"], record.get("fields_after")
    else:
        target = record.get("to")
        restore = {i: target_state(record["action"], s, target) for i, s in record["before"].items()}
    present = read_states(dataset, list(restore))
    write_states(dataset, {i: s for i, s in restore.items() if i in present})
    if fields:
        write_fields(dataset, {i: f for i, f in fields.items() if i in present})
    return len(restore) - len(present)


def _apply_refusal(dataset, record: dict, *, undo: bool) -> int:
    """A refusal adds each sample's refused wnid to its list; its undo takes that wnid out again."""
    now = read_refused(dataset, list(record["refused"]))
    changed = {}
    for i, wnid in record["refused"].items():
        if i in now:
            rest = [w for w in now[i] if w != wnid]
            changed[i] = rest if undo else rest + [wnid]
    write_refused(dataset, changed)
    return len(record["refused"]) - len(now)
