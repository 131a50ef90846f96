"""Curation actions, the curation log, replay onto a fresh load, saved views and the plugin's operators."""
import json

import pytest

from curation import actions
from curation.load import load
from curation.log import CurationLog, read_jsonl_log
from curation.log import get_args_parser as log_args
from curation.log import main as log_main
from curation.views import AMBIGUOUS, LABEL_CHECK, REJECTED, SUGGESTIONS, TO_REVIEW, UNLABELLED
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
IDS = [f"{i:064x}" for i in range(6)]


def state(ds, image_id):
    s = ds.match({"image_id": image_id}).first()
    return s.review, s.wnid, s.class_index, s.ground_truth.label


def curated_dataset(fiftyone, tmp_path, name):
    m = make_manifest(tmp_path)
    load(m, name)
    return fiftyone.load_dataset(name), m


def test_actions_change_state_and_are_logged_twice(fiftyone, tmp_path):
    ds, m = curated_dataset(fiftyone, tmp_path, "act-basic")
    assert ds.info["curation_log"] == str(tmp_path / "curation" / "act-basic.jsonl")
    actions.curate(ds, "accept", IDS[:2])
    actions.curate(ds, "reject", [IDS[3], "f" * 64])  # an unknown id is ignored
    moved = actions.curate(ds, "move", [IDS[1], IDS[4]], to="hammer")
    actions.curate(ds, "ambiguous", [IDS[5]])
    assert state(ds, IDS[0]) == ("accepted", "n04398044", 849, "teapot")
    assert state(ds, IDS[1]) == ("accepted", "n03481172", 587, "hammer")
    assert state(ds, IDS[3]) == ("rejected", "n04398044", 849, "teapot")
    assert state(ds, IDS[5]) == ("ambiguous", "n02012849", 134, "crane (n02012849)")
    assert moved["before"][IDS[4]] == [None, "n04507155", 879, "umbrella"]
    on_disk = read_jsonl_log(ds.info["curation_log"])
    assert [r["action"] for r in on_disk] == ["accept", "reject", "move", "ambiguous"]
    assert on_disk == CurationLog(ds).records() and [r["seq"] for r in on_disk] == [1, 2, 3, 4]
    assert on_disk[1]["image_ids"] == [IDS[3]]
    with pytest.raises(ValueError, match="names crane"):
        actions.curate(ds, "move", [IDS[0]], to="crane")  # two classes share the name
    with pytest.raises(ValueError, match="none of the given samples"):
        actions.curate(ds, "accept", ["e" * 64])


def test_undo_restores_the_exact_state_in_order(fiftyone, tmp_path):
    ds, _ = curated_dataset(fiftyone, tmp_path, "act-undo")
    actions.curate(ds, "accept", IDS[:3])
    actions.curate(ds, "move", IDS[1:3], to="n03126707")
    assert state(ds, IDS[2])[3] == "crane (n03126707)"
    undo = actions.undo(ds)
    assert undo["undoes_action"] == "move"
    assert state(ds, IDS[1]) == ("accepted", "n04507155", 879, "umbrella")
    actions.undo(ds)
    assert state(ds, IDS[0]) == (None, "n04398044", 849, "teapot")
    assert actions.undo(ds) is None  # nothing left; undos are not undone
    assert [r["action"] for r in read_jsonl_log(ds.info["curation_log"])] == ["accept", "move", "undo", "undo"]


def test_replay_on_a_fresh_load_reproduces_the_curation(fiftyone, tmp_path):
    ds, m = curated_dataset(fiftyone, tmp_path, "act-replay")
    actions.curate(ds, "accept", IDS)
    actions.curate(ds, "move", [IDS[0], IDS[2]], to="hammer")
    actions.curate(ds, "reject", [IDS[3]])
    actions.curate(ds, "ambiguous", [IDS[4]])
    actions.undo(ds)
    actions.curate(ds, "move", [IDS[5]], to="n03126707")
    log_file = tmp_path / "kept.jsonl"
    log_file.write_bytes((tmp_path / "curation" / "act-replay.jsonl").read_bytes())
    ds.delete()  # the database is lost; the manifest and the log file are not

    load(m, "act-replay-fresh", curation_log=tmp_path / "fresh.jsonl")
    fresh = fiftyone.load_dataset("act-replay-fresh")
    args = log_args().parse_args(["replay", "--dataset", "act-replay-fresh", "--log", str(log_file)])
    assert log_main(args) == 0
    expected = {IDS[0]: ("accepted", "n03481172", 587, "hammer"), IDS[1]: ("accepted", "n04507155", 879, "umbrella"),
                IDS[2]: ("accepted", "n03481172", 587, "hammer"), IDS[3]: ("rejected", "n04398044", 849, "teapot"),
                IDS[4]: ("accepted", "n04507155", 879, "umbrella"),
                IDS[5]: ("accepted", "n03126707", 517, "crane (n03126707)")}
    assert {i: state(fresh, i) for i in IDS} == expected
    assert len(read_jsonl_log(tmp_path / "fresh.jsonl")) == 6
    assert log_main(args) == 0  # a second replay applies nothing twice
    assert len(CurationLog(fresh).records()) == 6
    out = tmp_path / "exported.jsonl"
    assert log_main(log_args().parse_args(["export", "--dataset", "act-replay-fresh", "--out", str(out)])) == 0
    assert [r["id"] for r in read_jsonl_log(out)] == [r["id"] for r in read_jsonl_log(log_file)]


def test_replay_cli_names_a_bad_log(fiftyone, tmp_path, capsys):
    curated_dataset(fiftyone, tmp_path, "act-badlog")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "action": "accept"}\nnot json\n{"id": "2"')
    assert log_main(log_args().parse_args(["replay", "--dataset", "act-badlog", "--log", str(bad)])) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"id": "2"')  # a crash mid-line: skipped, not fatal
    assert read_jsonl_log(torn) == []


def test_saved_views_follow_the_curation(fiftyone, tmp_path):
    ds, _ = curated_dataset(fiftyone, tmp_path, "act-views")
    assert set(ds.list_saved_views()) == {TO_REVIEW, REJECTED, AMBIGUOUS, UNLABELLED, SUGGESTIONS, LABEL_CHECK}  # none per class
    assert len(ds.load_saved_view(LABEL_CHECK)) == 0  # an unverified manifest: nothing to check
    assert len(ds.load_saved_view(TO_REVIEW)) == 6
    assert ds.load_saved_view(AMBIGUOUS).values("image_id") == [IDS[2]]  # its name matched both cranes
    actions.curate(ds, "reject", [IDS[0]])
    actions.curate(ds, "accept", [IDS[2]])
    assert len(ds.load_saved_view(TO_REVIEW)) == 4
    assert ds.load_saved_view(REJECTED).values("image_id") == [IDS[0]]
    assert len(ds.load_saved_view(AMBIGUOUS)) == 0


def test_plugin_operators_act_on_the_selection(fiftyone, tmp_path):
    import fiftyone.operators as foo
    import fiftyone.plugins as fop

    assert "@drawnet/curation" in [p.name for p in fop.list_plugins()]
    ds, _ = curated_dataset(fiftyone, tmp_path, "act-plugin")
    first = ds.match({"image_id": IDS[1]}).first().id

    def run(op, selected, params=None):
        result = foo.execute_operator(f"@drawnet/curation/{op}",
                                      ctx={"dataset": ds, "view": ds.view(), "selected": selected,
                                           "params": params or {}})
        assert result.error is None, result.error_message
        return result.result

    assert run("move_to_class", [first], {"wnid": "n03481172"}) == {
        "action": "move", "samples": 1, "record": CurationLog(ds).records()[-1]["id"]}
    assert state(ds, IDS[1]) == ("accepted", "n03481172", 587, "hammer")
    assert run("accept", [])["samples"] == 6  # nothing selected: the whole view
    assert run("undo", [])["undone"] == "accept"
    assert run("reject", [first])["samples"] == 1 and state(ds, IDS[1])[0] == "rejected"
    assert run("mark_ambiguous", [first])["samples"] == 1
    records = [json.loads(line) for line in open(ds.info["curation_log"])]
    assert [r["action"] for r in records] == ["move", "accept", "undo", "reject", "ambiguous"]
