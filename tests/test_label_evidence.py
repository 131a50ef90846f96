"""The evidence evaluation.verify weighs beyond the picture's rank, each on tiny data: concepts across styles
(siblings), head nouns, icon-set categories, the dataset's own classifier, the label model, and a curator's rules."""
import json

import numpy as np
import pytest

from datasets.manifest import read_manifest, write_jsonl
from datasets.names import concept_key, head_noun
from datasets.rules import MappingKey, describe_rule, read_rules, rule_for, write_rules
from evaluation import evidence as ev
from evaluation.features import FeatureSet, write_features
from evaluation.label_model import fit, rank_codes
from tests.test_verify import PROMONTORY, UMBRELLA, row, run

OTTER = (360, "n02444819", "otter")
SPEAKER = (632, "n03691459", "loudspeaker")


@pytest.mark.parametrize("name, key", [
    ("fluentui/flat/otter.svg", "otter"), ("high-contrast/otter.svg", "otter"), ("noto:otter", "otter"),
    ("streamline-flex-color:inbox-tray-1-flat", "inbox tray"), ("icon-park:file-addition-one", "file addition"),
])
def test_one_concept_across_styles_and_sets(name, key):
    assert concept_key({"original_name": name}) == key


@pytest.mark.parametrize("name, matched, wnid, head", [
    ("desk_lamp", ["desk"], "n03179701", "lamp"),
    ("folder_orange_open", ["orange"], "n07747607", "folder"),  # a colour before the object
    ("wallet-purse", ["wallet"], "n04548362", "purse"),
    ("laptop_battery", ["laptop"], "n03642806", "battery"),
    ("umbrella_red", ["umbrella"], "n04507155", None),  # the colour follows the object
    ("dalmatian_dog", ["dalmatian"], "n02110341", None),  # a dog is what a dalmatian is
    ("slot-machine", ["slot"], "n04243546", None),  # the class itself
    ("lotion-bottle", ["lotion"], "n03690938", None),  # the lotion is in the bottle
    ("ear-with-hearing-aid", ["ear"], "n13133613", None),  # after "with": something else in the picture
    ("tiger-face", ["tiger"], "n02129604", None),  # a face is part of the tiger
])
def test_head_noun(name, matched, wnid, head):
    assert head_noun({"original_name": name, "matched_words": matched, "wnid": wnid}) == head


def test_class_ranks_and_a_null_sample():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (40, 1000)).astype(np.float32)
    logits[:4, 5] += 6.0  # the first 4 pictures show class 5
    std, raw = ev.class_ranks([logits], np.arange(4), np.full(4, 5))
    assert (std < 3).all() and (raw < 3).all()
    null_std, null_raw = ev.null_ranks([logits], np.arange(4), np.asarray([5, 6, 7, 8]), np.full(4, 5), per_image=30)
    assert len(null_std) > 60 and np.median(null_std) > 100, "other classes rank anywhere on these pictures"


def test_category_codes_count_the_other_files_only():
    rows = [{"keywords": ["Mail"]}] * 8 + [{"keywords": ["Animals"]}] * 8 + [{"keywords": []}]
    kept = np.asarray([False] * 8 + [True] * 8 + [True])
    codes, table = ev.category_codes(rows, kept)
    assert codes[0] == 0 and codes[8] == len(ev.CATEGORY_BINS), "a mostly rejected category, a mostly kept one"
    assert codes[-1] == len(ev.CATEGORY_BINS) + 1 and table["Mail"] == (8, 0)


def test_the_dataset_classifier_is_cross_fitted():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 4, (3, 16))
    labels = np.repeat([0, 1, 2], 20)
    X = centres[labels] + rng.normal(0, 1, (60, 16))
    ids = np.asarray([f"{i:064x}" for i in range(60)])
    train = np.ones(60, dtype=bool)
    train[[0, 1, 2]] = False  # three drawings of class 0 the first stage did not keep
    p = ev.classifier_support(X, labels, train, ids)
    assert (p[:3] > 0.5).all(), "they look like the other drawings of their class"
    wrong = labels.copy()
    wrong[40:50] = 0  # class-2 drawings named as class 0, not kept: the classifier does not vouch for them
    train[40:50] = False
    assert (ev.classifier_support(X, wrong, train, ids)[40:50] < 0.5).all()
    assert ev.classifier_support(X, labels, np.zeros(60, dtype=bool), ids).sum() == 0, "nothing to learn from"


def test_the_label_model_lets_siblings_vouch():
    """Mappings of 10 concepts each, drawn in 3 styles: a right one whose third style the network cannot read, a
    wrong one, and two right ones it reads. Pooled by concept, the unreadable style is right; alone, it is not."""
    rng = np.random.default_rng(2)
    std, groups, group_map = [], [], []
    for m, readable_styles in enumerate((2, 0, 3, 3)):
        for c in range(10):
            group_map.append(m)
            for style in range(3):
                std.append(int(rng.integers(0, 5)) if style < readable_styles else int(rng.integers(0, 1000)))
                groups.append(m * 10 + c)
    std, groups, group_map = np.asarray(std), np.asarray(groups), np.asarray(group_map)
    null = rank_codes(rng.integers(0, 1000, 5000), rng.integers(0, 1000, 5000))
    picture, prior = rank_codes(std, std), np.full(4, 0.5)
    pooled = fit(picture, null, groups, group_map, prior)
    right = np.isin(group_map[groups], [0, 2, 3])
    assert (pooled.posterior[right] > 0.9).all()
    assert np.median(pooled.posterior[~right]) < 0.2, "a wrong concept now and then ranks the class high by chance"
    assert pooled.mapping_share[0] > 0.7 and pooled.mapping_share[1] < 0.4, "a prior of 0.5 pulls both towards it"
    alone = fit(picture, null, np.arange(len(std)), group_map[groups], prior)
    silhouettes = np.arange(2, 30, 3)
    assert alone.posterior[silhouettes].mean() < 0.5 < pooled.posterior[silhouettes].min()
    fixed = np.full(40, -1)
    fixed[10:20] = 1  # a curator accepted the second mapping
    ruled = fit(picture, null, groups, group_map, prior, fixed=fixed)
    assert (ruled.posterior[30:60] == 1).all()


def test_rules_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "mappings.jsonl"
    rule = {"lemma": "drum", "lang": "eng", "wnid": "n03249569", "label": "drum", "phrase": None,
            "decision": "accepted", "who": "ann", "when": "2026-12-07T10:00:00+00:00"}
    phrase = {**rule, "phrase": "oil drum", "decision": "rejected"}
    write_rules(path, [phrase, rule])
    rules = read_rules(path)
    assert rule_for(rules, MappingKey("drum", "n03249569")) == rule
    assert rule_for(rules, MappingKey("drum", "n03249569", "oil drum"))["decision"] == "rejected"
    assert rule_for(rules, MappingKey("drum", "n03249569", "long drum")) == rule, "a phrase falls back on its mapping"
    assert "ann" in describe_rule(rule) and "drum → drum" in describe_rule(rule)
    path.write_text(json.dumps({**rule, "decision": "maybe"}) + "\n")
    with pytest.raises(ValueError, match=r"mappings.jsonl:1: decision must be one of"):
        read_rules(path)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"mappings.jsonl:1"):
        read_rules(path)
    assert read_rules(tmp_path / "none.jsonl") == {}


def planted_icons(tmp_path):
    """Speakers the network reads in two emoji styles but not as high-contrast silhouettes, umbrellas, and heads
    named "head" (a promontory in 1 use of 288) that look like nothing: the speakers' siblings vouch for the
    silhouettes."""
    rng = np.random.default_rng(4)
    rows, signal = [], {}
    for c in range(6):
        for s, style in enumerate(("flat", "modern", "high-contrast")):
            i = c * 3 + s
            rows.append(row(i, SPEAKER, "speaker", original_name=f"{style}/speaker-{'abcdef'[c]}.svg"))
            if style != "high-contrast":
                signal[i] = (SPEAKER[0], 6.0)
    for i in range(18, 30):
        rows.append(row(i, UMBRELLA, "umbrella", original_name=f"umbrella-{'abcdefghijkl'[i - 18]}.svg"))
        signal[i] = (UMBRELLA[0], 6.0)
    for i in range(30, 36):
        rows.append(row(i, PROMONTORY, "head", sense_rank=15, original_name=f"head-{'abcdef'[i - 30]}.svg"))
    rows += [{**row(i, UMBRELLA, "-"), "label": None, "wnid": None, "class_index": None, "lemma": None,
              "matched_words": [], "candidates": []} for i in range(36, 336)]
    write_jsonl(tmp_path / "m.jsonl", rows)
    logits = rng.normal(0, 1, (len(rows), 1000)).astype(np.float32)
    for i, (cls, strength) in signal.items():
        logits[i, cls] += strength
    write_features(tmp_path / "f.h5", FeatureSet(rng.normal(size=(len(rows), 8)).astype(np.float32),
                                                np.full(len(rows), -1), np.asarray([r["id"] for r in rows]),
                                                np.asarray(["train"] * len(rows)), logits=logits))
    return tmp_path / "m.jsonl", tmp_path / "f.h5"


def checks_of(folder):
    return {int(r["id"], 16): r["label_check"] for r in read_manifest(folder / "manifest.jsonl") if r["label_check"]}


def test_verify_keeps_a_silhouette_its_siblings_vouch_for(tmp_path):
    manifest, features = planted_icons(tmp_path)
    assert run(manifest, tmp_path / "alone", "--features", features, "--evidence", "") == 0
    assert run(manifest, tmp_path / "v", "--features", features) == 0
    alone, checks = checks_of(tmp_path / "alone"), checks_of(tmp_path / "v")
    silhouettes = range(2, 18, 3)
    assert (np.mean([alone[i]["evidence"]["posterior"] for i in silhouettes])
            < 0.5 < min(checks[i]["evidence"]["posterior"] for i in silhouettes)), "the network cannot read them"
    assert all(checks[i]["verdict"] == "accepted" for i in silhouettes), "their siblings vouch for them"
    assert not all(alone[i]["verdict"] == "accepted" for i in silhouettes), "alone, each is judged on its picture"
    assert checks[2]["evidence"]["siblings"] == 2 and checks[2]["evidence"]["concept"] == "speaker a"
    assert all(checks[i]["verdict"] == "rejected" for i in range(30, 36)), "heads are no promontories"
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["first_stage_verdicts"]["unsure"] > summary["verdicts"]["unsure"] == 0
    assert "siblings" in summary["model"]["evidence"]


def test_a_curators_rule_decides_the_mapping_and_says_so(tmp_path, capsys):
    manifest, features = planted_icons(tmp_path)
    rules = tmp_path / "mappings.jsonl"
    write_rules(rules, [{"lemma": "head", "lang": "eng", "wnid": PROMONTORY[1], "label": "promontory", "phrase": None,
                         "decision": "accepted", "who": "ann@host", "when": "2026-12-07T10:00:00+00:00"},
                        {"lemma": "umbrella", "lang": "eng", "wnid": UMBRELLA[1], "label": "umbrella",
                         "phrase": None, "decision": "rejected", "who": "bob@host", "when": "2026-12-07T11:00:00"}])
    assert run(manifest, tmp_path / "v", "--features", features, "--rules", rules) == 0
    checks = checks_of(tmp_path / "v")
    assert all(checks[i]["verdict"] == "accepted" and "ann@host" in checks[i]["reason"] for i in range(30, 36))
    assert all(checks[i]["verdict"] == "rejected" and checks[i]["rule"]["who"] == "bob@host" for i in range(18, 30))
    assert "2 mapping decision(s)" in capsys.readouterr().out
    assert run(manifest, tmp_path / "w", "--features", features, "--rules", tmp_path / "nope.jsonl") == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert run(manifest, tmp_path / "x", "--features", features, "--evidence", "siblings,colour") == 2
    assert "--evidence: unknown colour" in capsys.readouterr().err
