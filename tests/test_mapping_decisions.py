"""Decisions on whole mappings (curation.mappings): what they change and leave, the saved views, the rules file,
undo (and its refusal), replay onto a fresh load, recovery of a pending decision, export, the operators and
the Label check panel's actions."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curation import actions
from curation.curators import curator, describe
from curation.export import export
from curation.load import load
from curation.log import CurationLog, read_jsonl_log
from curation.log import get_args_parser as log_args
from curation.log import main as log_main
from curation.mappings import FIELDS, decide_mapping, get_args_parser, main, mapping_of
from curation.state import STATE, apply_record
from curation.views import LABEL_CHECK, UNLABELLED
from datasets.manifest import iter_jsonl, read_manifest, write_jsonl
from datasets.rules import MappingKey, read_rules, write_rules
from datasets.workspace import record_dataset
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
TEAPOT, UMBRELLA, CRANE = "n04398044", "n04507155", "n02012849"
ID = [f"{i:064x}" for i in range(9)]
TEAPOTS = {"lemma": "teapot", "lang": "eng", "wnid": TEAPOT, "label": "teapot", "phrase": None}
BROLLY = {"lemma": "brolly", "lang": "eng", "wnid": UMBRELLA, "label": "umbrella", "phrase": None}
BEACH = {**BROLLY, "phrase": "beach brolly"}


def unlabelled(row: dict) -> dict:
    return {**row, "rejected_label": row["label"], "rejected_wnid": row["wnid"],
            "rejected_class_index": row["class_index"], "label": None, "wnid": None, "class_index": None}


def mapped_manifest(tmp_path, name: str = "mapped", n: int = 9) -> Path:
    """make_manifest's images (9 by default) as evaluation.verify now leaves them, each with its
    label_check.mapping: the teapots (0, 3, 6...) rejected, mapping score -2; files named *brolly* (umbrellas 1,
    4...) unsure, score -1; the phrase "beach brolly" (umbrella 7) rejected on its own, score -3; the cranes
    accepted."""
    out = []
    for r in read_manifest(make_manifest(tmp_path / name, n=n)):
        n = int(r["id"], 16)
        mapping = {"lemma": r["lemma"], "lang": "eng", "wnid": r["wnid"], "label": r["label"], "phrase": None}
        check = {"verdict": "accepted", "reason": "supported", "score": 1.0, "mapping_score": 1.0}
        if r["label"] == "teapot":
            check = {"verdict": "rejected", "reason": "not supported", "score": -2.0 - n, "mapping_score": -2.0}
            mapping, r = TEAPOTS, unlabelled(r)
        elif n == 7:
            check = {"verdict": "rejected", "reason": "phrase not supported", "score": -4.0, "mapping_score": -3.0,
                     "phrase": "beach brolly"}
            mapping, r = BEACH, unlabelled({**r, "lemma": "brolly", "matched_words": ["brolly"]})
        elif r["label"] == "umbrella":
            check = {"verdict": "unsure", "reason": "no sign of it", "score": 0.1 * n, "mapping_score": -1.0}
            mapping, r = BROLLY, {**r, "lemma": "brolly", "matched_words": ["brolly"]}
        text = f"{mapping['phrase'] or mapping['lemma']} → {mapping['label']}"
        out.append({**r, "label_check": {**check, "mapping": mapping, "mapping_text": text}})
    path = tmp_path / name / "verified" / "manifest.jsonl"
    write_jsonl(path, out)
    return path


def cli(argv: list[str]) -> int:
    return main(get_args_parser().parse_args(argv))


def nums(view):
    return [int(i, 16) for i in view.values("image_id")]


def snapshot(ds) -> dict:
    """Every sample's state and the fields a decision sets, by image id."""
    ids, *columns = ds.values(["image_id", *STATE, *FIELDS])
    return {i: list(values) for i, values in zip(ids, zip(*columns))}


def rules_file(ds) -> list[dict]:
    path = ds.info["mapping_rules"]
    return [json.loads(line) for line in open(path, encoding="utf-8")] if os.path.exists(path) else []


def test_load_gives_each_checked_sample_its_mapping(fiftyone, tmp_path, capsys):
    load(mapped_manifest(tmp_path), "map-load")
    ds = fiftyone.load_dataset("map-load")
    text = dict(zip(*ds.values(["image_id", "mapping"])))
    assert [text[ID[i]] for i in (0, 1, 2, 7)] == ["teapot → teapot", "brolly → umbrella", "crane → crane",
                                                   "beach brolly → umbrella"]
    assert ds.info["mapping_rules"] == str((tmp_path / "mapped" / "verified" / "curation" /
                                            "map-load.mappings.jsonl").resolve())
    # the least supported mapping first, one mapping's drawings together, the weakest picture first within it
    assert nums(ds.load_saved_view(LABEL_CHECK)) == [7, 6, 3, 0, 1, 4]
    assert "mapping" in ds.get_field_schema() and "mapping_decision" in ds.get_field_schema()
    assert cli(["list", "--dataset", "map-load"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[-2] for line in listed] == ["beach brolly → umbrella", "teapot → teapot",
                                                          "brolly → umbrella"], listed
    assert "3 drawings (3 rejected, 0 unsure)" in listed[1]
    assert cli(["rules", "--dataset", "map-load"]) == 0 and "no mapping decided yet" in capsys.readouterr().out
    assert cli(["rules", "--dataset", "nothing-here"]) == 1 and "no FiftyOne dataset" in capsys.readouterr().err
    assert cli(["list", "--workspace", str(tmp_path / "ws")]) == 2
    assert "is not a drawnet workspace" in capsys.readouterr().err
    record_dataset(tmp_path / "ws", "map-load", tmp_path / "mapped" / "verified" / "manifest.jsonl")
    assert cli(["list", "--workspace", str(tmp_path / "ws")]) == 0  # the workspace's dataset
    assert capsys.readouterr().out.splitlines() == listed

    # a manifest verified before label_check.mapping: derived from the row's lemma and (rejected) class
    from tests.test_label_check import verified_manifest

    old = verified_manifest(tmp_path / "old")
    load(old, "map-load-old", mapping_rules=tmp_path / "rules.jsonl")
    old_ds = fiftyone.load_dataset("map-load-old")
    s = old_ds.match({"image_id": ID[0]}).first()
    assert s.mapping == "teapot → teapot" and s.label_check["mapping"] == {**TEAPOTS, "label": "teapot"}
    assert old_ds.info["mapping_rules"] == str((tmp_path / "rules.jsonl").resolve())
    load(old, "map-load-old")  # loading again keeps the rules file it was given
    old_ds.reload()
    assert old_ds.info["mapping_rules"] == str((tmp_path / "rules.jsonl").resolve())

    bad = [dict(r) for r in read_manifest(old)]
    bad[0]["label_check"] = {**bad[0]["label_check"], "mapping": {"lemma": "teapot"}}
    write_jsonl(tmp_path / "bad.jsonl", bad)
    with pytest.raises(ValueError, match=r"bad\.jsonl: image 0+: label_check\.mapping: .*wnid"):
        load(tmp_path / "bad.jsonl", "map-load-bad")
    assert mapping_of({"id": "x", "lemma": "teapot"}) is None  # not checked by evaluation.verify


def test_decide_undo_refusal_rules_replay_and_export(fiftyone, tmp_path):
    manifest = mapped_manifest(tmp_path)
    load(manifest, "map-decide")
    ds = fiftyone.load_dataset("map-decide")
    alice, bob = CurationLog(ds, curator=curator("alice")), CurationLog(ds, curator=curator("bob"))
    actions.curate(ds, "reject", [ID[3]], log=bob)  # fixed one by one before the decision: left alone
    before = snapshot(ds)

    accepted = decide_mapping(ds, {"lemma": "teapot", "wnid": TEAPOT}, "accepted", log=alice)
    rejected = decide_mapping(ds, MappingKey("brolly", UMBRELLA), "rejected", log=alice)
    now = snapshot(ds)
    assert accepted["action"] == "mapping" and accepted["decision"] == "accepted"
    assert accepted["mapping"] == TEAPOTS and accepted["mapping_text"] == "teapot → teapot"
    assert sorted(accepted["image_ids"]) == [ID[0], ID[6]], "the reviewed teapot 3 is left alone"
    assert now[ID[0]] == ["accepted", TEAPOT, 849, "teapot", "accepted", TEAPOT, "teapot"], "its class back"
    assert now[ID[3]] == before[ID[3]] == ["rejected", None, None, None, None, TEAPOT, "teapot"]
    assert now[ID[1]] == [None, None, None, None, "rejected", UMBRELLA, "umbrella"], "unlabelled, class kept"
    assert now[ID[7]] == before[ID[7]], "a phrase is a mapping of its own"
    assert all(now[i] == before[i] for i in ID if i not in {ID[0], ID[6], ID[1], ID[4]})
    assert accepted["before"][ID[0]] == [None] * 4 and accepted["fields_before"][ID[0]]["mapping_decision"] is None
    assert nums(ds.load_saved_view(LABEL_CHECK)) == [7], "decided and reviewed drawings leave the label check"
    assert sorted(nums(ds.load_saved_view(UNLABELLED))) == [1, 4, 7], "rejected by mapping: suggest may propose"
    rules = rules_file(ds)
    assert [(r["lemma"], r["decision"], r["label"], r["phrase"]) for r in rules] == [
        ("brolly", "rejected", "umbrella", None), ("teapot", "accepted", "teapot", None)]
    assert rules[1] == {**TEAPOTS, "decision": "accepted", "who": "alice", "when": accepted["time"],
                        "dataset": "map-decide", "record": accepted["id"]}
    assert set(read_rules(ds.info["mapping_rules"])) == {MappingKey("brolly", UMBRELLA), MappingKey("teapot", TEAPOT)}

    phrase = decide_mapping(ds, BEACH, "accepted", log=alice)  # the phrase decided on its own
    assert phrase["image_ids"] == [ID[7]] and snapshot(ds)[ID[7]][:4] == ["accepted", UMBRELLA, 879, "umbrella"]
    assert [(r["lemma"], r["phrase"]) for r in rules_file(ds)] == [("brolly", None), ("brolly", "beach brolly"),
                                                                    ("teapot", None)]
    assert actions.undo(ds, log=alice)["undoes"] == phrase["id"]
    assert snapshot(ds) == now and len(rules_file(ds)) == 2 and nums(ds.load_saved_view(LABEL_CHECK)) == [7]

    actions.confirm_rejected(ds, [ID[1]], log=bob)  # an exception fixed file by file after the decision
    fixed = snapshot(ds)
    with pytest.raises(actions.UndoRefused, match=r"1 of the 2 samples of record \d+ \(mapping by alice\)"):
        actions.undo(ds, log=alice)
    assert snapshot(ds) == fixed and len(rules_file(ds)) == 2
    actions.undo(ds, log=bob)
    assert actions.undo(ds, log=alice)["undoes"] == rejected["id"]
    after_undo = snapshot(ds)
    assert {i: after_undo[i] for i in ID if i != ID[0] and i != ID[6]} == {
        i: before[i] for i in ID if i != ID[0] and i != ID[6]}, "the rejected mapping's states and fields back"
    assert [r["lemma"] for r in rules_file(ds)] == ["teapot"]
    assert nums(ds.load_saved_view(LABEL_CHECK)) == [7, 1, 4]

    # replay onto a fresh load of the same manifest: the same states, fields and rules
    log_file = tmp_path / "kept.jsonl"
    log_file.write_bytes(open(ds.info["curation_log"], "rb").read())
    load(manifest, "map-decide-fresh", curation_log=tmp_path / "fresh" / "log.jsonl")
    assert log_main(log_args().parse_args(["replay", "--dataset", "map-decide-fresh", "--log", str(log_file)])) == 0
    fresh = fiftyone.load_dataset("map-decide-fresh")
    assert snapshot(fresh) == snapshot(ds)
    assert fresh.info["mapping_rules"] == str((tmp_path / "fresh" / "map-decide-fresh.mappings.jsonl").resolve())
    assert rules_file(fresh) == rules_file(ds), "each rule names the record and dataset it was decided in"

    export("map-decide", tmp_path / "curated")
    rows = {int(r["id"], 16): r for r in read_manifest(tmp_path / "curated" / "manifest.jsonl")}
    assert (rows[0]["label"], rows[0]["review"], rows[6]["label"]) == ("teapot", "accepted", "teapot")
    assert 3 not in rows and 7 not in rows


def test_bad_mapping_arguments_change_nothing(fiftyone, tmp_path):
    load(mapped_manifest(tmp_path), "map-bad")
    ds = fiftyone.load_dataset("map-bad")
    for mapping, decision, message in [
            ({"lemma": "teapot"}, "accepted", r"wnid must be a string"),
            ("teapot → teapot", "accepted", r"a mapping is a dict with lemma and wnid"),
            (TEAPOTS, "maybe", r"decision must be one of accepted, rejected"),
            ({"lemma": "kettle", "wnid": TEAPOT}, "accepted", r"no drawing of the mapping 'kettle → n04398044'"),
            ({"lemma": "teapot", "wnid": "n00000000"}, "rejected", r"must name one ILSVRC class")]:
        with pytest.raises(ValueError, match=message):
            decide_mapping(ds, mapping, decision)
    os.makedirs(os.path.dirname(ds.info["mapping_rules"]), exist_ok=True)
    with open(ds.info["mapping_rules"], "w") as f:
        f.write('{"lemma": "teapot"}\n')
    with pytest.raises(ValueError, match=r"mappings\.jsonl:1: a mapping rule needs wnid, decision"):
        decide_mapping(ds, TEAPOTS, "accepted")
    assert CurationLog(ds).records() == [] and nums(ds.load_saved_view(LABEL_CHECK)) == [7, 6, 3, 0, 1, 4]


def test_a_pending_decision_is_finished_by_recovery(fiftyone, tmp_path):
    """A curator killed between a decision's record and its completion: the next (here `recover`) applies it
    again and completes it, and writes the rules file; applying a decision twice changes nothing more."""
    load(mapped_manifest(tmp_path), "map-crash")
    ds = fiftyone.load_dataset("map-crash")
    before = snapshot(ds)
    record = decide_mapping(ds, BROLLY, "rejected")
    decided = snapshot(ds)
    apply_record(ds, {"action": "undo", "undone": record})  # the samples as a kill before the writes left them
    os.remove(ds.info["mapping_rules"])
    assert snapshot(ds) == before
    log = CurationLog(ds)
    log._coll.update_one({**log._scope, "key": f"{record['seq']:010d}"}, {"$set": {"value.status": "pending"}})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    log._coll.insert_one({**log._scope, "key": "lock", "value": {"token": "x", "host": os.uname().nodename,
                                                                 "pid": int(dead.stdout), "start": "0", "until": 0}})
    assert log.records() == []
    assert log_main(log_args().parse_args(["recover", "--dataset", ds.name])) == 0
    assert snapshot(ds) == decided and [r["id"] for r in log.records()] == [record["id"]]
    assert [(r["lemma"], r["decision"]) for r in rules_file(ds)] == [("brolly", "rejected")]
    for _ in range(2):
        apply_record(ds, log.records()[0])
    assert snapshot(ds) == decided
    assert read_jsonl_log(ds.info["curation_log"]) == log.records()


WORKER = """
import random, sys
from curation.database import fiftyone_module
fo = fiftyone_module()
from curation import actions
from curation.mappings import decide_mapping
dataset, rng = fo.load_dataset(sys.argv[1]), random.Random(int(sys.argv[2]))
mappings = [{"lemma": "teapot", "wnid": "n04398044"}, {"lemma": "brolly", "wnid": "n04507155"}]
print("ready", flush=True)
while True:
    if rng.random() < 0.3:
        try:
            actions.undo(dataset)
        except actions.UndoRefused:
            pass
    else:
        decide_mapping(dataset, rng.choice(mappings), rng.choice(["accepted", "rejected"]))
"""


def replayed(records: list[dict], initial: dict) -> dict:
    """The snapshot the records leave, applied in memory from ``initial``; each kept the states it saw."""
    sim = {i: list(s) for i, s in initial.items()}
    for r in records:
        done = r["undone"] if r["action"] == "undo" else r
        assert r["before"] == {i: sim[i][:len(STATE)] for i in r["before"]}, f"record {r['seq']} kept another state"
        states, fields = (done["before"], done["fields_before"]) if r["action"] == "undo" else (
            done["after"], done["fields_after"])
        for i, state in states.items():
            sim[i] = [*state, *(fields[i][f] for f in FIELDS)]
    return sim


def test_kill_9_mid_decision_leaves_dataset_log_and_rules_consistent(fiftyone, tmp_path):
    """6 kills of a process deciding whole mappings (about 80 drawings each) and undoing them, each at a random
    moment; after each, the next curator's lock finishes what it left: the dataset is what the log says, and
    so is the rules file."""
    import random
    import signal
    import time

    from curation.rules_log import standing_rules

    load(mapped_manifest(tmp_path, "kill", n=240), "map-kill")
    ds = fiftyone.load_dataset("map-kill")
    initial, log, rng, seen = snapshot(ds), CurationLog(ds), random.Random(3), {"pending": 0, "lock": 0}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for kill in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, ds.name, str(kill)], cwd=root, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
        time.sleep(rng.uniform(0.3, 2.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen["lock"] += log._coll.find_one({**log._scope, "key": "lock"}) is not None
        with log.locked():  # what the next curator's first action does
            seen["pending"] += log.recovered is not None
        records = log.records()
        assert snapshot(ds) == replayed(records, initial)
        assert read_rules(ds.info["mapping_rules"]) == standing_rules(records)
        assert read_jsonl_log(ds.info["curation_log"]) == records
    print(f"\n6 kills: {seen['lock']} while holding the lock, {seen['pending']} between a record and its completion, "
          f"{len(records)} records")
    assert any(r["action"] == "mapping" for r in records)


class PanelContext:
    """What a panel method sees of the App: the dataset, its event's params, the panel's state, the ops it calls."""

    def __init__(self, dataset):
        from unittest.mock import MagicMock

        self.dataset, self.params, self.state, self.ops, self.user = dataset, {}, {}, MagicMock(), None
        self.panel = MagicMock()
        self.panel.set_state.side_effect = self.state.__setitem__
        self.panel.get_state.side_effect = self.state.get


def test_operators_and_the_label_check_panel(fiftyone, tmp_path):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionError

    from curation.plugin import LabelCheckPanel

    load(mapped_manifest(tmp_path), "map-ops")
    ds = fiftyone.load_dataset("map-ops")
    label_check = ds.load_saved_view(LABEL_CHECK)

    def run(op, view, selected):
        return foo.execute_operator(f"@drawnet/curation/{op}", ctx={"dataset": ds, "view": view,
                                                                     "selected": selected, "params": {}})

    with pytest.raises(ExecutionError, match="the current view holds 3 mappings"):
        run("reject_mapping", label_check, [])
    brolly = ds.match({"image_id": ID[4]}).first().id
    result = run("reject_mapping", label_check, [brolly])  # the mapping of a selected drawing
    assert result.error is None, result.error_message
    assert (result.result["mappings"], result.result["samples"]) == (["brolly → umbrella"], 2)

    panel, ctx = LabelCheckPanel(), PanelContext(ds)
    panel.refresh(ctx)
    assert [(r["mapping"], r["drawings"], r["rejected"], r["unsure"]) for r in ctx.state["mappings"]] == [
        ("beach brolly → umbrella", 1, 1, 0), ("teapot → teapot", 3, 3, 0)]
    ctx.params = {"row": 1}
    panel.show(ctx)
    (shown,), _ = ctx.ops.set_view.call_args
    assert nums(shown) == [6, 3, 0]
    result = run("accept_mapping", shown, [])  # nothing selected: the one mapping the view shows
    assert result.error is None and result.result["mappings"] == ["teapot → teapot"]
    ctx.params = {"row": 0}
    panel.reject(ctx)  # the panel's own decision on the phrase
    assert [r["mapping"] for r in ctx.state["mappings"]] == [] and ctx.ops.reload_dataset.called
    records = CurationLog(ds).records()
    assert [(r["mapping_text"], r["decision"]) for r in records] == [("brolly → umbrella", "rejected"),
                                                                      ("teapot → teapot", "accepted"),
                                                                      ("beach brolly → umbrella", "rejected")]
    assert {describe(r) for r in records} == {describe(curator())}, "this process: no App user, no DRAWNET_CURATOR"
    ours = rules_file(ds)
    assert [(r["lemma"], r["phrase"]) for r in ours] == [("brolly", None), ("brolly", "beach brolly"), ("teapot", None)]

    # the file is shared: another dataset's rules stay, unless this dataset decided the same mapping since
    elsewhere = {"decision": "rejected", "who": "carol", "when": "2026-01-01T00:00:00+00:00", "dataset": "other"}
    kettle = {**TEAPOTS, "lemma": "kettle", **elsewhere, "record": "r1"}
    write_rules(ds.info["mapping_rules"], ours + [kettle, {**TEAPOTS, **elsewhere, "record": "r2"}])
    assert read_rules(ds.info["mapping_rules"])[MappingKey("teapot", TEAPOT)]["record"] == "r2"
    assert cli(["rules", "--dataset", "map-ops"]) == 0  # the file again from the log
    assert rules_file(ds) == ours[:2] + [kettle] + ours[2:]


def test_the_workload_the_demo_prints(fiftyone, tmp_path, capsys):
    """curation.workload: the label check's drawings and mappings, suggestions, kept labels; then less of it."""
    from curation.workload import get_args_parser as workload_args
    from curation.workload import main as workload_main

    rows = read_manifest(mapped_manifest(tmp_path))
    for r in rows:  # the label model's posterior of each kept label, as evaluation.verify writes it
        r["label_check"]["evidence"] = {"posterior": 0.9 if r["label_check"]["verdict"] == "accepted" else 0.3}
    write_jsonl(tmp_path / "m.jsonl", rows)
    load(tmp_path / "m.jsonl", "map-work")
    assert workload_main(workload_args().parse_args(["--dataset", "map-work"])) == 0
    out = capsys.readouterr().out
    assert "label check:   6 drawings in 3 mappings to decide (1 with 3 or more drawings" in out, out
    assert "teapot → teapot (3)" in out and "suggestions:   0 to review" in out, out
    assert "kept labels:   5; estimated precision 66.0%" in out, "3 accepted at 0.9, 2 unsure at 0.3"
    decide_mapping(fiftyone.load_dataset("map-work"), TEAPOTS, "rejected")
    assert workload_main(workload_args().parse_args(["--dataset", "map-work"])) == 0
    assert "label check:   3 drawings in 2 mappings" in capsys.readouterr().out
    assert workload_main(workload_args().parse_args(["--dataset", "nowhere"])) == 1
    assert "no FiftyOne dataset 'nowhere'" in capsys.readouterr().err


def test_a_decision_in_the_app_is_a_rule_the_next_verify_applies(fiftyone, tmp_path):
    """The whole loop: evaluation.verify, curation.load, a curator rejects one mapping and accepts another, and
    the next evaluation.verify (a new build with one more file of each name) decides them so, and says who."""
    from evaluation.verify import get_args_parser as verify_args
    from evaluation.verify import main as verify_main
    from tests.test_label_evidence import planted_icons
    from tests.test_verify import PROMONTORY, row

    def verify(manifest, features, out, *extra):
        args = ["--manifest", str(manifest), "--features", str(features), "--out", str(out), "--no-clip",
                *map(str, extra)]
        assert verify_main(verify_args().parse_args(args)) == 0
        return {int(r["id"], 16): r["label_check"] for r in read_manifest(out / "manifest.jsonl") if r["label_check"]}

    manifest, features = planted_icons(tmp_path)
    first = verify(manifest, features, tmp_path / "v1")
    assert all(first[i]["verdict"] == "accepted" for i in range(18, 30)), "umbrellas"
    assert all(first[i]["verdict"] == "rejected" for i in range(30, 36)), "heads, no promontories"
    load(tmp_path / "v1" / "manifest.jsonl", "map-loop", mapping_rules=tmp_path / "ws" / "mappings.jsonl")
    ds = fiftyone.load_dataset("map-loop")
    curator_log = CurationLog(ds, curator=curator("ann"))
    decide_mapping(ds, {"lemma": "head", "wnid": PROMONTORY[1]}, "accepted", log=curator_log)  # a curator's call
    decide_mapping(ds, {"lemma": "umbrella", "wnid": UMBRELLA}, "rejected", log=curator_log)
    rules = tmp_path / "ws" / "mappings.jsonl"
    assert {(r["lemma"], r["decision"]) for _, r in iter_jsonl(rules)} == {("head", "accepted"),
                                                                           ("umbrella", "rejected")}

    rows = read_manifest(manifest)  # the next build: one more file of each name
    rows[-1] = row(335, PROMONTORY, "head", sense_rank=15, original_name="head-new.svg")
    rows[-2] = row(334, (879, UMBRELLA, "umbrella"), "umbrella", original_name="umbrella-new.svg")
    write_jsonl(tmp_path / "next.jsonl", rows)
    second = verify(tmp_path / "next.jsonl", features, tmp_path / "v2", "--rules", rules)
    for i in list(range(30, 36)) + [335]:
        assert second[i]["verdict"] == "accepted" and "curator's rule" in second[i]["reason"], second[i]["reason"]
        assert second[i]["rule"]["who"] == "ann"
    assert all(second[i]["verdict"] == "rejected" and second[i]["rule"]["decision"] == "rejected"
               for i in list(range(18, 30)) + [334])
