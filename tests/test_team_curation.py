"""Several curators on one dataset at once: numbering, per-curator undo, kill -9 mid-action, the file on disk."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation import actions
from curation.curators import curator
from curation.load import load
from curation.log import CurationLog, read_jsonl_log
from curation.log import get_args_parser as log_args
from curation.log import main as log_main
from curation.state import STATE, read_states, target_state
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
ROOT = Path(__file__).resolve().parents[1]


def loaded(fiftyone, tmp_path, name: str, n: int):
    manifest = make_manifest(tmp_path, n=n)
    load(manifest, name)
    ds = fiftyone.load_dataset(name)
    return ds, manifest, ds.values("image_id")


def states(ds) -> dict:
    ids, *columns = ds.values(["image_id", *STATE])
    return {i: list(s) for i, s in zip(ids, zip(*columns))}


def check_log(records: list[dict], initial: dict, live: dict) -> int:
    """Replays ``records`` in memory from ``initial``: each record kept the state its action saw, each undo
    found its action's result untouched and restored what it changed, and the end equals ``live``. Returns
    the undos checked."""
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "numbers not 1..n"
    assert len({r["id"] for r in records}) == len(records)
    sim, undos = {i: list(s) for i, s in initial.items()}, 0
    for r in records:
        assert r["before"] == {i: sim[i] for i in r["image_ids"]}, f"record {r['seq']} kept another state"
        if r["action"] == "undo":
            done = r["undone"]
            for i, s in done["before"].items():
                assert sim[i] == target_state(done["action"], s, done.get("to")), f"undo {r['seq']} overwrote"
                sim[i] = list(s)
            undos += 1
        else:
            for i, s in r["before"].items():
                sim[i] = target_state(r["action"], s, r.get("to"))
    assert sim == live, "the log does not replay to the live state"
    return undos


def worker(ds, ids_file: Path, uri: str, seed: int, out: Path | None, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.curation_worker", "--dataset", ds.name, "--uri", uri, "--ids",
           str(ids_file), "--seed", str(seed), *(["--out", str(out)] if out else []), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_undo_is_the_callers_own_and_refuses_over_anothers_change(fiftyone, tmp_path):
    ds, _, ids = loaded(fiftyone, tmp_path, "team-undo", 6)
    alice = CurationLog(ds, curator=curator("alice"))
    bob = CurationLog(ds, curator=curator("bob"))
    actions.curate(ds, "accept", ids[:2], log=alice)
    actions.curate(ds, "reject", ids[3:4], log=bob)  # bob acted last
    mine = actions.undo(ds, log=alice)  # alice undoes her accept, not bob's reject
    assert mine["undoes_action"] == "accept" and mine["curator"] == "user:alice"
    assert read_states(ds, ids[3:4])[ids[3]][0] == "rejected"
    assert actions.undo(ds, log=alice) is None  # nothing of hers left

    actions.curate(ds, "move", ids[4:6], to="hammer", log=alice)
    actions.curate(ds, "reject", ids[5:6], log=bob)  # bob changes one of alice's samples
    before = states(ds)
    with pytest.raises(actions.UndoRefused, match=r"1 of the 2 samples of record 4 \(move by alice\).*: reject "
                                                  r"by bob \(record 5"):
        actions.undo(ds, log=alice)
    assert states(ds) == before and len(alice.records()) == 5  # nothing changed, nothing logged
    assert actions.undo(ds, log=bob)["undoes_action"] == "reject"  # bob takes his back...
    assert actions.undo(ds, log=alice)["undoes_action"] == "move"  # ...and alice's undo goes through
    anyone = CurationLog(ds, curator=curator("carol"))
    assert actions.undo(ds, log=anyone) is None
    assert actions.undo(ds, log=anyone, any_curator=True)["undoes_action"] == "reject"  # bob's first one
    records = alice.records()
    assert [r["seq"] for r in records] == list(range(1, 9))
    assert read_jsonl_log(ds.info["curation_log"]) == records


def test_a_dead_curators_lock_and_pending_record_are_finished_by_the_next(fiftyone, tmp_path):
    ds, _, ids = loaded(fiftyone, tmp_path, "team-pending", 6)
    log = CurationLog(ds)
    initial = states(ds)
    with log.locked():  # a record whose samples were never changed: what a kill between the two writes leaves
        record = actions._record(log, "accept", ids[:3], read_states(ds, ids[:3]), dataset=ds.name)
        log.commit(record, apply=lambda: None, mirror=False)
    # the record back to pending and the lock held by a dead process, as the kill left them
    coll, scope = log._coll, log._scope
    coll.update_one({**scope, "key": "0000000001"}, {"$set": {"value.status": "pending"}})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    coll.insert_one({**scope, "key": "lock", "value": {"token": "x", "host": os.uname().nodename,
                                                       "pid": int(dead.stdout), "start": "0", "until": 0}})
    assert log.records() == [] and states(ds) == initial
    assert log_main(log_args().parse_args(["recover", "--dataset", ds.name])) == 0
    assert check_log(log.records(), initial, states(ds)) == 0 and len(log.records()) == 1
    assert read_states(ds, ids[:1])[ids[0]][0] == "accepted"
    assert read_jsonl_log(ds.info["curation_log"]) == log.records()
    assert coll.find_one({**scope, "key": "lock"}) is None


def test_the_file_on_disk_is_mended_and_a_foreign_one_left_alone(fiftyone, tmp_path, caplog):
    ds, _, ids = loaded(fiftyone, tmp_path, "team-mirror", 6)
    path = Path(ds.info["curation_log"])
    actions.curate(ds, "accept", ids[:1])
    with open(path, "a") as f:
        f.write('{"id": "torn mid-wri')  # a kill while appending
    actions.curate(ds, "reject", ids[1:2])
    assert read_jsonl_log(path) == CurationLog(ds).records() and "cut off an incomplete last line" in caplog.text
    path.write_text("")  # lost: the next action writes every record again
    actions.curate(ds, "ambiguous", ids[2:3])
    assert [r["seq"] for r in read_jsonl_log(path)] == [1, 2, 3]
    path.write_text(json.dumps({"id": "elsewhere", "action": "accept", "seq": 2}) + "\n")
    actions.curate(ds, "accept", ids[3:4])
    assert "is not team-mirror's log" in caplog.text and len(read_jsonl_log(path)) == 1
    assert log_main(log_args().parse_args(["export", "--dataset", ds.name])) == 0
    assert read_jsonl_log(path) == CurationLog(ds).records()


def test_four_curators_at_once_keep_one_gap_free_log_that_replays_to_the_live_state(fiftyone, tmp_path):
    """4 processes x 250 actions on 24 shared samples (1-4 per action, a fifth of them undos)."""
    ds, manifest, ids = loaded(fiftyone, tmp_path, "team-stress", 24)
    initial = states(ds)
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(ids))
    uri = os.environ["FIFTYONE_DATABASE_URI"]
    go = tmp_path / "go"
    procs = [worker(ds, ids_file, uri, seed, tmp_path / f"w{seed}.json", "--go", str(go)) for seed in range(4)]
    for p in procs:  # all four start together, once each has imported fiftyone
        assert p.stdout.readline().strip() == "ready", p.stderr.read()[-3000:]
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
    done = [json.loads((tmp_path / f"w{seed}.json").read_text()) for seed in range(4)]
    records = CurationLog(ds).records()
    assert len(records) == 1000 and sorted(r["seq"] for d in done for r in d["records"]) == list(range(1, 1001))
    assert {r["id"] for d in done for r in d["records"]} == {r["id"] for r in records}
    undos = check_log(records, initial, states(ds))
    assert undos > 100 and all(r["curator"] == r["undone"]["curator"] for r in records if r["action"] == "undo")
    # the curators really interleaved (the log switches curator often, and at least three of them were at work
    # together: a polling lock owes no one a turn, so on a loaded machine one curator may start after another
    # finished), and undos were refused over others' changes
    by_seq = [r["curator"] for r in sorted(records, key=lambda r: r["seq"])]
    switches = sum(a != b for a, b in zip(by_seq, by_seq[1:]))
    spans = sorted((min(r["seq"] for r in d["records"]), max(r["seq"] for r in d["records"])) for d in done)
    together = max(sum(a <= s < b for a, b in spans) for s, _ in spans)
    assert switches >= 20 and together >= 3 and sum(d["undo_refused"] for d in done) > 0, (switches, spans)
    assert read_jsonl_log(ds.info["curation_log"]) == records  # one machine: the mirror is the whole log

    out = tmp_path / "exported.jsonl"
    assert log_main(log_args().parse_args(["export", "--dataset", ds.name, "--out", str(out)])) == 0
    load(manifest, "team-stress-fresh", curation_log=tmp_path / "fresh.jsonl")
    fresh = fiftyone.load_dataset("team-stress-fresh")
    assert log_main(log_args().parse_args(["replay", "--dataset", fresh.name, "--log", str(out)])) == 0
    assert states(fresh) == states(ds)
    print(f"\n4 curators: {[round(250 / d['seconds'], 1) for d in done]} actions/s each, "
          f"{sum(d['undo_refused'] for d in done)} undos refused")


def test_kill_9_at_random_moments_leaves_log_and_dataset_consistent(fiftyone, tmp_path):
    """20 kills of a curating process (actions on 40-200 of 240 samples), each at a random moment."""
    ds, _, ids = loaded(fiftyone, tmp_path, "team-kill", 240)
    initial = states(ds)
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(ids))
    uri, rng, seen = os.environ["FIFTYONE_DATABASE_URI"], random.Random(7), {"pending": 0, "lock": 0}
    log = CurationLog(ds)
    for kill in range(20):
        proc = worker(ds, ids_file, uri, kill, None, "--forever", "--size", "40,200")
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
        time.sleep(rng.uniform(0.05, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        held = log._coll.find_one({**log._scope, "key": "lock"})
        seen["lock"] += held is not None
        with log.locked():  # what the next curator's first action does
            seen["pending"] += log.recovered is not None
        check_log(log.records(), initial, states(ds))
        assert read_jsonl_log(ds.info["curation_log"]) == log.records()
    print(f"\n20 kills: {seen['lock']} while holding the lock, {seen['pending']} between a record and its completion")
    assert seen["pending"] >= 1 and len(log.records()) > 20
