"""evaluation.verify: name matches checked against the picture, on generated logits with a wrong mapping planted."""
import csv
import json

import numpy as np
import pytest

from datasets.manifest import read_manifest, write_jsonl
from evaluation.features import FeatureSet, write_features
from evaluation.evidence import class_ranks
from evaluation.judge import JudgeConfig
from evaluation.verify import get_args_parser, main
from tests.conftest import extract_manifest
from tests.test_extract import assert_parser_refuses, assert_refused

UMBRELLA = (879, "n04507155", "umbrella")
KOALA = (105, "n01882714", "koala")
PROMONTORY = (976, "n09399592", "promontory")  # "head": sense 15 of 16, share 1/288
CHAIN_MAIL = (490, "n03000247", "chain mail")  # "mail": share 1/10
CRANE_BIRD, CRANE_MACHINE = (134, "n02012849", "crane"), (517, "n03126707", "crane")


def row(i, cls, lemma, **extra):
    index, wnid, label = cls
    return {"id": f"{i:064x}", "filepath": f"/nowhere/{i}.png", "original_name": f"{lemma}_{i}.svg", "label": label,
            "wnid": wnid, "class_index": index, "split": "train", "matched_words": lemma.split(), "lemma": lemma,
            "lang": "eng", "sense_rank": extra.pop("sense_rank", 0), "ambiguous": False, "candidates": [wnid],
            "resolved_by": None, "source": "dir", "style": "s", **extra}


def planted(tmp_path, rng=np.random.default_rng(0)):
    """Umbrellas and koalas that look like them, heads that look like nothing (planted: "head" -> promontory),
    e-mail icons with one real chain mail among them, one crane that is a bird, and 300 unlabelled drawings."""
    rows, signal = [], {}
    for i in range(12):
        rows.append(row(i, UMBRELLA, "umbrella"))
        signal[i] = (UMBRELLA[0], 6.0)
    for i in range(12, 20):
        rows.append(row(i, KOALA, "koala"))
        signal[i] = (KOALA[0], 2.5)  # weaker: drawings the network half recognises
    for i in range(20, 35):
        rows.append(row(i, PROMONTORY, "head", sense_rank=15))
    for i in range(35, 50):  # e-mail icons; a drawing of its own name among them is real chain mail
        rows.append(row(i, CHAIN_MAIL, "mail", sense_rank=4, **({"original_name": "old_mail.svg"} if i == 35 else {})))
    signal[35] = (CHAIN_MAIL[0], 8.0)
    crane = row(50, CRANE_BIRD, "crane", ambiguous=True, candidates=[CRANE_BIRD[1], CRANE_MACHINE[1]])
    rows += [crane, {**crane, "label": "crane", "wnid": CRANE_MACHINE[1], "class_index": CRANE_MACHINE[0]}]
    signal[50] = (CRANE_BIRD[0], 6.0)
    for i in range(51, 351):
        rows.append({**row(i, UMBRELLA, "-"), "label": None, "wnid": None, "class_index": None, "lemma": None,
                     "matched_words": [], "candidates": []})
    manifest = tmp_path / "build" / "manifest.jsonl"
    write_jsonl(manifest, rows)
    ids = list(dict.fromkeys(r["id"] for r in rows))
    logits = rng.normal(0, 1, (len(ids), 1000)).astype(np.float32)
    for i, (cls, strength) in signal.items():
        logits[i, cls] += strength
    labels = np.asarray([-1] * len(ids))
    fs = FeatureSet(features=rng.normal(size=(len(ids), 4)).astype(np.float32), labels=labels, ids=np.asarray(ids),
                    splits=np.asarray(["train"] * len(ids)), logits=logits,
                    attrs={"backbone": "tiny", "layer": "fc"})
    features = tmp_path / "build" / "features.h5"
    write_features(features, fs)
    return manifest, features


def run(manifest, out, *extra):
    """The CLI; without CLIP unless a --clip option is given (importing open_clip takes seconds)."""
    extra = [str(x) for x in extra]
    clip = [] if any(x.startswith("--clip") for x in extra) else ["--no-clip"]
    return main(get_args_parser().parse_args(["--manifest", str(manifest), "--out", str(out), *extra, *clip]))


def test_class_ranks_standardise_per_class():
    logits = np.random.default_rng(0).normal(0, 1, (50, 1000)).astype(np.float32)
    logits[:, 7] += 5.0  # a class every image gets: it counts for nothing
    logits[2, 3] += 6.0  # one image stands out for class 3
    ranks, raw = class_ranks([logits], np.asarray([2, 2, 0]), np.asarray([3, 7, 3]))
    assert ranks[0] == 0 and ranks[1] > 100 and ranks[2] > 10
    assert raw[1] == 0, "unstandardised, the class every image gets comes first"


def test_planted_wrong_mapping_is_rejected(tmp_path, capsys):
    manifest, features = planted(tmp_path)
    out = tmp_path / "verified"
    assert run(manifest, out, "--features", features) == 0
    rows = read_manifest(out / "manifest.jsonl")
    by_id = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    verdict = {i: by_id[f"{i:064x}"][0]["label_check"]["verdict"] for i in range(51)}
    assert all(verdict[i] == "accepted" for i in range(20)), "umbrellas and koalas keep their labels"
    assert all(verdict[i] == "rejected" for i in range(20, 35)), "heads are no promontories"
    assert verdict[35] == "accepted" and all(verdict[i] == "rejected" for i in range(36, 50)), \
        "the one chain mail stands on its own picture; the e-mail icons do not"
    head = by_id[f"{20:064x}"][0]
    assert head["label"] is None and head["wnid"] is None and head["class_index"] is None
    assert (head["rejected_label"], head["rejected_wnid"], head["rejected_class_index"]) == ("promontory", PROMONTORY[1], 976)
    assert head["label_check"]["score"] < 0 <= by_id[f"{0:064x}"][0]["label_check"]["score"]
    assert head["label_check"]["mapping"] == {"lemma": "head", "lang": "eng", "wnid": PROMONTORY[1],
                                              "label": "promontory", "phrase": None}
    assert head["label_check"]["mapping_text"] == "head → promontory"
    assert head["label_check"]["stage1"]["verdict"] == "rejected" and "posterior" in head["label_check"]["evidence"]
    (crane,) = by_id[f"{50:064x}"]  # the machine reading is dropped, and named
    assert crane["wnid"] == CRANE_BIRD[1] and not crane["ambiguous"]
    assert crane["label_check"]["rejected_candidates"] == [CRANE_MACHINE[1]]
    assert sum(1 for r in rows if r["label_check"] is None) == 300, "unlabelled rows pass through"
    assert len(rows) == 351 and len({r["id"] for r in rows}) == 351, "nothing deleted: one row an image"
    table = list(csv.DictReader(open(out / "mappings.csv")))
    assert (table[0]["lemma"], table[0]["class"], table[0]["first_stage"]) == ("head", "promontory", "not supported")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdicts"] == {"accepted": 22, "unsure": 0, "rejected": 30}
    assert "head" in capsys.readouterr().out


def test_paths_stay_valid_from_the_new_folder(tmp_path):
    manifest = extract_manifest(tmp_path / "build", 6, broken=False)
    rng = np.random.default_rng(1)
    rows = read_manifest(manifest)
    ids = list(dict.fromkeys(r["id"] for r in rows))
    fs = FeatureSet(features=np.zeros((len(ids), 2), np.float32), labels=np.full(len(ids), -1), ids=np.asarray(ids),
                    splits=np.asarray(["train"] * len(ids)), logits=rng.normal(size=(len(ids), 1000)).astype(np.float32))
    write_features(tmp_path / "f.h5", fs)
    assert run(manifest, tmp_path / "elsewhere" / "v", "--features", tmp_path / "f.h5") == 0
    for before, after in zip(rows, read_manifest(tmp_path / "elsewhere" / "v" / "manifest.jsonl")):
        assert after["filepath"] == before["filepath"]


@pytest.mark.parametrize("case", ["same folder", "no labels", "missing logits", "no file"])
def test_bad_input_is_an_error_naming_it(tmp_path, capsys, case):
    manifest, features = planted(tmp_path)
    out = tmp_path / "v"
    if case == "same folder":
        out = manifest.parent
    elif case == "no labels":
        write_jsonl(manifest, [r for r in read_manifest(manifest) if r["wnid"] is None])
    elif case == "missing logits":
        write_features(features, FeatureSet(np.zeros((1, 2), np.float32), np.asarray([-1]), np.asarray(["x"]),
                                            np.asarray(["train"])))
    else:
        features = tmp_path / "nothing.h5"
    assert run(manifest, out, "--features", features) == (2 if case == "same folder" else 1)  # usage, or failure
    err = capsys.readouterr().err
    assert err.startswith("evaluation.verify: ")
    assert {"same folder": "own folder", "no labels": "no labelled rows", "missing logits": "no 1000-way",
            "no file": "nothing.h5"}[case] in err
    if case == "same folder":
        assert (manifest.parent / "manifest.jsonl").read_text().count("\n") == 352, "the input is left alone"


def test_extracts_when_no_features_are_given(tmp_path):
    manifest = extract_manifest(tmp_path / "build", 9, broken=True)
    out = tmp_path / "v"
    assert run(manifest, out, "--backbone", "tiny", "--device", "cpu", "--batch-size", "4") == 0
    assert (out / "features-tiny.h5").is_file()
    rows = read_manifest(out / "manifest.jsonl")
    broken = [r for r in rows if r["original_name"] == "broken.png"]
    assert broken and broken[0]["label_check"]["verdict"] == "unsure", "no picture: left for a person"
    assert all(r["label_check"]["verdict"] in ("accepted", "unsure", "rejected") for r in rows if r["wnid"] or
               r.get("rejected_wnid"))
    assert JudgeConfig().stage.mapping_rank > 0


def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    """Each option's bad value: exit 2 (usage) or 1 (a missing file, no GPU) with one line, nothing written."""
    manifest = tmp_path / "build" / "manifest.jsonl"
    write_jsonl(manifest, [row(0, UMBRELLA, "umbrella")])
    base = ["--manifest", manifest, "--out", tmp_path / "v"]
    parser = get_args_parser()
    usage = [
        (["--evidence", "siblings,colour"], "--evidence: unknown colour"),
        (["--mapping-rank", "0"], "--mapping-rank must be positive, got 0.0"),
        (["--file-rank", "-2"], "--file-rank must be positive, got -2.0"),
        (["--prior-weight", "-1"], "--prior-weight must be at least 0, got -1.0"),
        (["--prior-weight", "nan"], "--prior-weight must be at least 0, got nan"),
        (["--unsure-rank", "0"], "--unsure-rank must be at least 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--table-rows", "-1"], "--table-rows must be at least 0, got -1"),
        (["--features", tmp_path / "f.h5", "--backbone", "tiny"], "give one or the other"),
        (["--rules", tmp_path / "r.jsonl", "--no-rules"], "--rules and --no-rules contradict each other"),
        (["--out", manifest.parent], "is the manifest's own folder"),
        (["--out", manifest], "is a file, not a folder"),
        (["--clip-batch-size", "0"], "--clip-batch-size must be at least 1, got 0"),
        (["--clip-template", "{0} {1}"], "give one {} where the class name goes"),
        (["--device", "tpu:x"], "--device tpu:x: not a device"),
    ]
    for extra, says in usage:
        err = assert_refused(main, parser, [*base, *extra, "--no-clip"], capsys, tmp_path, 2, says)
        assert err.startswith("evaluation.verify: error: ")
    for extra, says in ((["--backbone", "resnet"], "invalid choice: 'resnet'"),
                        (["--unsure-rank", "1.5"], "invalid int")):
        assert_parser_refuses(parser, [*base, *extra], capsys, says)
    for extra, says in ((["--rules", tmp_path / "r.jsonl"], "--rules " + str(tmp_path / "r.jsonl") + ": no such file"),
                        (["--clip-weights", tmp_path / "c.pt"], "c.pt: no such file"),
                        (["--features", tmp_path / "f.h5"], "f.h5")):
        assert_refused(main, parser, [*base, *extra], capsys, tmp_path, 1, says)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert_refused(main, parser, [*base, "--device", "cuda:0", "--no-clip"], capsys, tmp_path, 1,
                   "evaluation.verify: --device cuda:0: no CUDA device on this machine; use --device cpu")


def test_backbone_and_features_take_several():
    args = get_args_parser().parse_args(["--manifest", "m", "--out", "o", "--backbone", "tiny", "vgg19",
                                         "--backbone", "efficientnet-lite0", "--features", "a.h5", "b.h5"])
    assert args.backbone == ["tiny", "vgg19", "efficientnet-lite0"]
    assert [str(f) for f in args.features] == ["a.h5", "b.h5"]
    default = get_args_parser().parse_args(["--manifest", "m", "--out", "o"])
    assert default.backbone is None and default.table_rows == 20  # the backbone resolved later


def test_subsets_of_a_verified_manifest(tmp_path, capsys):
    from datasets import subsets

    manifest, features = planted(tmp_path)
    assert run(manifest, tmp_path / "v", "--features", features) == 0
    verified = tmp_path / "v" / "manifest.jsonl"

    def subset(out, *args):
        return subsets.main(subsets.get_args_parser().parse_args(["--manifest", str(verified), "--out", str(out), *args]))

    assert subset(tmp_path / "s", "--min-images", "10", "--unlabelled", "5") == 0
    rows = read_manifest(tmp_path / "s" / "manifest.jsonl")
    assert {r["label"] for r in rows if r["wnid"]} == {"umbrella"}, "koalas (8) are below --min-images"
    pool = [r for r in rows if r["wnid"] is None]
    assert len(pool) == 5 and not any(r.get("rejected_wnid") == UMBRELLA[1] for r in pool), "none rejected from umbrella"
    assert subset(tmp_path / "t", "--classes", "chain mail", "--unlabelled", "0") == 0
    rows = read_manifest(tmp_path / "t" / "manifest.jsonl")
    assert [r["label"] for r in rows if r["wnid"]] == ["chain mail"]
    assert sum(1 for r in rows if r.get("rejected_wnid") == CHAIN_MAIL[1]) == 14, \
        "the rejected e-mail icons come along, for a curator to confirm or leave"
    assert json.loads((tmp_path / "t" / "classes.json").read_text())[0]["label"] == "chain mail"
    assert subset(tmp_path / "u", "--verdicts", "accepted,maybe") == 2
    assert "--verdicts" in capsys.readouterr().err
    assert subset(verified.parent) == 2, "never over its own input"


def test_a_phrase_of_a_supported_mapping_is_judged_on_its_own(tmp_path):
    """Drums that look like drums, and oil drums among them that look like nothing: the phrase "oil drum" is
    not supported, its files are rejected; "long drum" (2 files, below phrase_min_files) goes with the mapping."""
    drum = (541, "n03249569", "drum")
    rng = np.random.default_rng(3)
    rows = [row(i, drum, "drum", title=f"drum {i}") for i in range(10)]
    rows += [row(i, drum, "drum", original_name=f"oil-drum-{i}.svg", title=None) for i in range(10, 15)]
    rows += [row(i, drum, "drum", original_name=f"long_drum_{i}.svg") for i in range(15, 17)]
    rows += [{**row(i, drum, "-"), "label": None, "wnid": None, "class_index": None, "lemma": None,
              "matched_words": []} for i in range(17, 217)]
    write_jsonl(tmp_path / "m.jsonl", rows)
    logits = rng.normal(0, 1, (len(rows), 1000)).astype(np.float32)
    logits[list(range(10)) + [15, 16], drum[0]] += 6.0
    write_features(tmp_path / "f.h5", FeatureSet(np.zeros((len(rows), 2), np.float32), np.full(len(rows), -1),
                                                np.asarray([r["id"] for r in rows]), np.asarray(["train"] * len(rows)),
                                                logits=logits))
    assert run(tmp_path / "m.jsonl", tmp_path / "v", "--features", tmp_path / "f.h5") == 0
    checks = {int(r["id"], 16): r["label_check"] for r in read_manifest(tmp_path / "v" / "manifest.jsonl")}
    assert all(checks[i]["verdict"] == "accepted" and "phrase" not in checks[i] for i in list(range(10)) + [15, 16])
    assert all(checks[i]["verdict"] == "rejected" and checks[i]["phrase"] == "oil drum" for i in range(10, 15))
    assert checks[10]["mapping_score"] < 0 < checks[0]["mapping_score"], "the phrase's margin, for the App's order"
    assert checks[10]["mapping"]["phrase"] == "oil drum" and checks[10]["mapping_text"] == "oil drum → drum"

    # a curator rejected the whole mapping in the App: the phrase, shown apart, was not part of that decision
    from datasets.rules import write_rules

    rule = {"lemma": "drum", "lang": "eng", "wnid": drum[1], "label": "drum", "phrase": None, "decision": "rejected"}
    write_rules(tmp_path / "rules.jsonl", [rule])
    assert run(tmp_path / "m.jsonl", tmp_path / "w", "--features", tmp_path / "f.h5", "--rules",
               tmp_path / "rules.jsonl") == 0
    ruled = {int(r["id"], 16): r["label_check"] for r in read_manifest(tmp_path / "w" / "manifest.jsonl")}
    assert all(ruled[i]["verdict"] == "rejected" and "rule" in ruled[i] for i in list(range(10)) + [15, 16])
    assert all("rule" not in ruled[i] for i in range(10, 15))
    write_rules(tmp_path / "rules.jsonl", [rule, {**rule, "phrase": "oil drum", "decision": "accepted"}])
    assert run(tmp_path / "m.jsonl", tmp_path / "x", "--features", tmp_path / "f.h5", "--rules",
               tmp_path / "rules.jsonl") == 0
    ruled = {int(r["id"], 16): r["label_check"] for r in read_manifest(tmp_path / "x" / "manifest.jsonl")}
    assert all(ruled[i]["verdict"] == "accepted" and ruled[i]["rule"]["phrase"] == "oil drum" for i in range(10, 15))


@pytest.mark.slow  # importing open_clip (torch, timm) takes seconds
def test_clip_joins_as_one_more_set_of_logits(tmp_path, capsys):
    from PIL import Image

    from tests.conftest import tiny_clip_weights

    manifest, features = planted(tmp_path)
    rows = read_manifest(manifest)
    for r in rows[:60]:  # the labelled images (and a few others), as real files
        Image.new("RGB", (20, 16), (int(r["id"], 16) * 37 % 256, 90, 200)).save(tmp_path / f"{r['id'][-6:]}.png")
        r["filepath"] = str(tmp_path / f"{r['id'][-6:]}.png")
    rows[3]["filepath"] = str(tmp_path / "missing.png")  # unreadable: CLIP has no opinion on it
    write_jsonl(manifest, rows)
    weights = tiny_clip_weights(tmp_path, "verify-tiny")
    assert run(manifest, tmp_path / "v", "--features", features, "--clip-model", "verify-tiny",
               "--clip-weights", weights, "--device", "cpu") == 0
    assert f"clip: verify-tiny ({weights})" in capsys.readouterr().out
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["clip"]["status"] == "done" and summary["clip"]["classes"] == 1000
    assert summary["features"][-1] == "CLIP verify-tiny"
    checks = {int(r["id"], 16): r["label_check"] for r in read_manifest(tmp_path / "v" / "manifest.jsonl")}
    assert all(checks[i]["verdict"] == "rejected" for i in range(20, 35)), "a random CLIP changes no verdict here"
    assert run(manifest, tmp_path / "w", "--features", features, "--clip-weights", tmp_path / "nope.pt") == 1
    assert "nope.pt: no such file" in capsys.readouterr().err
