"""evaluation.suggest on seeded Gaussian blobs: calibration, the abstain threshold on fresh data, refusals, the CLI."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from evaluation.classify.calibration import reliability
from evaluation.features import UNLABELLED, FeatureSet, write_features
from evaluation.open_set import choose_threshold, estimate_open_share, figures, precision_curve
from evaluation.suggest import SuggestConfig, get_args_parser, main, suggest
from tests.conftest import tiny_clip_weights
from tests.test_extract import assert_parser_refuses, assert_refused

# ILSVRC classes (index, wnid, name); crane's name is shared with another class
CLASSES = [(1, "n01443537", "goldfish"), (134, "n02012849", "crane"), (207, "n02099601", "golden retriever"),
           (587, "n03481172", "hammer"), (849, "n04398044", "teapot"), (879, "n04507155", "umbrella"),
           (409, "n02708093", "analog clock"), (430, "n02802426", "basketball")]
FAST = {"C": (0.1,), "jobs": 1}


def blobs(rng, centers: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.repeat(np.arange(len(centers)), n)
    return centers[y] + rng.normal(size=(len(y), centers.shape[1])), y


def world(seed: int = 0, known: int = 8, unknown: int = 8, dim: int = 32, sep: float = 0.8):
    """Class centres in ``dim`` dimensions (unit noise): ``known`` classes to learn, ``unknown`` never seen."""
    rng = np.random.default_rng(seed)
    return rng, rng.normal(scale=sep, size=(known + unknown, dim))


def labelled(rng, centers, n: int):
    X, y = blobs(rng, centers, n)
    return X, y, np.array([f"img{i}" for i in range(len(y))])


# ---------------------------------------------------------------- the threshold by hand


def test_threshold_is_the_lowest_of_an_unbroken_run_at_the_target():
    known = np.log(np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6]))
    right = np.array([1, 1, 1, 1, 0, 1, 0], dtype=bool)
    other = np.log(np.array([0.75, 0.5]))
    t, prec = precision_curve(known, right, other, 0.0)  # known-class drawings only
    assert np.allclose(prec[::-1][:4], [1, 1, 1, 1]) and prec[::-1][4] == pytest.approx(0.8)
    # 0.6 is the lowest failure (5 of 7 right) with the 5 suggestions needed to veto at 80%; 0.7 gives 5 of 6
    assert choose_threshold(known, right, other, precision=0.8, share=0.0) == pytest.approx(np.log(0.7))
    # at 95% a veto needs 20 suggestions: none here, so the lowest threshold reaching 95% itself
    assert choose_threshold(known, right, other, precision=0.95, share=0.0) == pytest.approx(np.log(0.9))
    # an other drawing at 0.75: with half of the files other objects, 0.75 costs precision
    f = figures(np.log(0.7), known, right, other, 0.5)
    assert f["coverage"] == pytest.approx(6 / 7) and f["other_suggested"] == 0.5
    assert f["precision"] == pytest.approx((5 / 7) / (6 / 7 + 0.5)) and f["known_precision"] == pytest.approx(5 / 6)
    assert np.isinf(choose_threshold(known[:3], right[:3] & False, other, precision=0.5, share=0.0))
    # one of 100 other drawings above 30 right known ones: alone it cannot veto, but it counts below
    known = np.linspace(-1, -0.01, 30)
    other = np.r_[0.0, np.full(99, -5.0)]
    assert choose_threshold(known, np.ones(30, bool), other, precision=0.95, share=0.5) == known[0]
    assert choose_threshold(known, np.ones(30, bool), np.zeros(3), precision=0.95, share=0.5) == math.inf



def test_at_most_max_other_of_the_other_pool_clears_the_threshold():
    known = np.log(np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6]))
    right = np.ones(7, dtype=bool)
    other = np.log(np.array([0.95, 0.85, 0.65, 0.5, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1]))
    # every known drawing is right: without a bound the lowest candidate wins, and every other drawing with it
    assert choose_threshold(known, right, other, precision=0.95, share=0.0) == pytest.approx(np.log(0.1))
    # at most 20% of the others: the threshold rises just above the third other drawing (0.65)
    t = choose_threshold(known, right, other, precision=0.95, share=0.0, max_other=0.2)
    assert np.log(0.65) < t <= np.log(0.7)
    assert figures(t, known, right, other, 0.0)["other_suggested"] == pytest.approx(0.2)
    assert choose_threshold(known, right, other, precision=0.95, share=0.0, max_other=0.0) > np.log(0.95)
    assert choose_threshold(known, right, other, precision=0.95, share=0.0, max_other=1.0) == pytest.approx(np.log(0.1))


def test_the_open_share_of_a_pool_is_estimated_from_its_confidences():
    rng = np.random.default_rng(0)
    known, other = rng.normal(3.0, 1.0, 2000), rng.normal(0.5, 1.0, 2000)
    for share in (0.0, 0.3, 0.8):
        n_other = int(share * 1000)
        new = np.r_[rng.normal(3.0, 1.0, 1000 - n_other), rng.normal(0.5, 1.0, n_other)]
        assert estimate_open_share(new, known, other) == pytest.approx(share, abs=0.05)
    assert estimate_open_share(np.zeros(0), known, other) is None
    assert estimate_open_share(known[:10], known, np.zeros(0)) is None

def test_reliability_bins_and_ece():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    ece, bins = reliability(conf, np.array([1, 1, 1, 0], dtype=bool))
    assert ece == pytest.approx(0.5 * 0.05 + 0.5 * 0.05) and len(bins) == 15
    full = [b for b in bins if b["count"]]
    assert [b["count"] for b in full] == [2, 2] and full[0]["accuracy"] == 0.5


# ---------------------------------------------------------------- calibration and the threshold on blobs


@pytest.mark.parametrize("method", ["logistic", "svm"])
def test_temperature_scaling_calibrates_overlapping_blobs(method):
    rng, centers = world(seed=0, known=6, unknown=0, sep=0.5)
    X, y, ids = labelled(rng, centers, 60)
    r = suggest(X, y, ids, X[:0], cfg=SuggestConfig(method=method, **FAST))
    cal = r.report["calibration"]
    assert 0.6 < cal["accuracy"] < 0.95  # overlapping classes: confidence has to mean something
    # over seeds 0-3 the ECE after scaling was 0.03-0.07 (360 images); before, 0.14-0.18 (logistic), 0.41-0.44 (svm)
    assert cal["ece"] < 0.08 and cal["ece"] < cal["ece_before_scaling"] / 2
    assert cal["log_loss"] < cal["log_loss_before_scaling"]
    assert sum(b["count"] for b in cal["bins"]) == cal["images"] == len(y)


def test_threshold_holds_its_precision_on_fresh_known_and_other_drawings():
    rng, centers = world(seed=0)
    X, y, ids = labelled(rng, centers[:8], 60)
    share = 0.5
    known_X, known_y = blobs(rng, centers[:8], 300)
    other_X, _ = blobs(rng, centers[8:], 300)  # as many other drawings as known ones: share 0.5
    new = np.concatenate([known_X, other_X])
    r = suggest(X, y, ids, new, cfg=SuggestConfig(precision=0.95, open_share=share, jobs=1))
    assert r.report["estimated"]["precision"] >= 0.95 and r.report["params"]["class_groups"] == 5
    given = r.suggestion != UNLABELLED
    truth = np.concatenate([known_y, np.full(len(other_X), -1)])
    realised = float((r.suggestion[given] == truth[given]).mean())
    coverage = float(given[: len(known_y)].mean())
    assert realised >= 0.93 and coverage > 0.4
    held = r.report["heldout"]
    assert held["precision"] > 0.9 and abs(held["coverage"] - coverage) < 0.2
    assert np.all(r.confidence[given] >= r.threshold) and 0.5 < r.threshold < 1


def test_the_default_threshold_assumes_the_share_of_other_objects_the_pool_shows():
    """A pool of 80% other objects: assuming none (--open-share 0) the realised precision falls far below the
    promise; the default estimates the share from the pool and holds its precision (with less coverage)."""
    rng, centers = world(seed=0)
    X, y, ids = labelled(rng, centers[:8], 60)
    known_X, known_y = blobs(rng, centers[:8], 40)
    other_X, _ = blobs(rng, centers[8:], 160)
    new = np.concatenate([known_X, other_X])
    truth = np.concatenate([known_y, np.full(len(other_X), -1)])

    def realised(r):
        given = r.suggestion != UNLABELLED
        return float((r.suggestion[given] == truth[given]).mean()), float(given[: len(known_y)].mean())

    none = suggest(X, y, ids, new, cfg=SuggestConfig(precision=0.95, open_share=0.0, jobs=1))
    auto = suggest(X, y, ids, new, cfg=SuggestConfig(precision=0.95, jobs=1))
    assert none.report["params"]["open_share"] == 0 and none.report["params"]["open_share_from"] == "given"
    assert auto.report["params"]["open_share_from"] == "estimated"
    assert auto.report["params"]["open_share"] == pytest.approx(auto.report["pool"]["estimated_open_share"])
    assert 0.6 < auto.report["params"]["open_share"] <= 0.99
    (p_none, c_none), (p_auto, c_auto) = realised(none), realised(auto)
    assert p_none < 0.9 and p_auto >= 0.93 and 0 < c_auto < c_none
    assert auto.threshold > none.threshold


def test_refused_classes_are_never_suggested_nor_listed():
    rng, centers = world(seed=2, known=5, unknown=0, sep=1.5)
    X, y, ids = labelled(rng, centers, 30)
    new, new_y = blobs(rng, centers, 4)
    free = suggest(X, y, ids, new, cfg=SuggestConfig(**FAST))
    assert (free.suggestion[free.suggestion >= 0] == new_y[free.suggestion >= 0]).mean() > 0.9
    exclude = {k: {int(free.top5[k, 0])} for k in range(len(new))}  # refuse every row's top class
    exclude[0] |= {int(c) for c in free.top5[0, 1:3]}
    r = suggest(X, y, ids, new, exclude=exclude, cfg=SuggestConfig(**FAST))
    for k, refused in exclude.items():
        assert int(r.suggestion[k]) not in refused and not refused & set(r.top5[k].tolist())
    assert list(r.top5[0, :2]) == list(free.top5[0, 3:5]) and r.top5[0, 2] == UNLABELLED  # 5 classes, 3 refused
    assert np.allclose(r.proba, free.proba)  # refusals change choices, not probabilities
    assert (r.confidence <= free.confidence + 1e-12).all()


def test_an_informative_zero_shot_gets_weight_and_a_random_one_none():
    from scipy.special import log_softmax

    rng, centers = world(seed=6, known=5, unknown=0, sep=0.4)
    X, y, ids = labelled(rng, centers, 40)
    new, new_y = blobs(rng, centers, 20)

    def zero_shot(labels, signal):
        return log_softmax(signal * np.eye(5)[labels] + rng.normal(size=(len(labels), 5)), axis=1)

    alone = suggest(X, y, ids, new, cfg=SuggestConfig(**FAST)).report["calibration"]
    for signal, low, high in ((3.0, 0.5, 5.0), (0.0, 0.0, 0.2)):
        r = suggest(X, y, ids, new, clip=zero_shot(y, signal), clip_new=zero_shot(new_y, signal),
                    cfg=SuggestConfig(**FAST))
        cal = r.report["calibration"]
        assert low <= cal["clip_weight"] < high, signal
        if signal:
            assert cal["accuracy"] > alone["accuracy"] + 0.1 and cal["log_loss"] < alone["log_loss"]
            assert (r.proba.argmax(axis=1) == new_y).mean() > 0.9
    with pytest.raises(ValueError, match="CLIP log-probabilities must be"):
        suggest(X, y, ids, new, clip=zero_shot(y, 1)[:, :4], clip_new=zero_shot(new_y, 1)[:, :4])


def test_too_few_classes_for_the_groups_falls_back_with_a_warning():
    rng, centers = world(seed=3, known=3, unknown=0, sep=2.0)
    X, y, ids = labelled(rng, centers, 20)
    r = suggest(X, y, ids, X[:2], cfg=SuggestConfig(class_groups=5, **FAST))
    assert r.report["params"]["class_groups"] == 3
    assert any("3 class groups instead of 5" in w for w in r.report["warnings"])
    with pytest.raises(ValueError, match="at least 2 classes with 2\\+ labelled images"):
        suggest(X[:21], y[:21], ids[:21], X[:0], cfg=SuggestConfig(**FAST))


def test_an_image_in_two_classes_counts_as_right_for_either():
    rng, centers = world(seed=4, known=4, unknown=0, sep=1.5)
    X, y, ids = labelled(rng, centers, 20)
    X2, y2, ids2 = np.concatenate([X, X[:5]]), np.concatenate([y, (y[:5] + 1) % 4]), np.concatenate([ids, ids[:5]])
    r = suggest(X2, y2, ids2, X[:0], cfg=SuggestConfig(**FAST))
    counts = r.report["counts"]
    assert counts["labelled_rows"] == 85 and counts["labelled_images"] == 80 == r.report["calibration"]["images"]


# ---------------------------------------------------------------- the command


def feature_set(seed=5, per_class=25, n_new=30, dim=16, known=5) -> tuple[FeatureSet, np.ndarray]:
    """``known`` classes of ``per_class`` images and ``n_new`` unlabelled images (the last one twice)."""
    rng, centers = world(seed=seed, known=known, unknown=0, dim=dim, sep=1.5)
    X, y = blobs(rng, centers, per_class)
    new = centers[rng.integers(0, known, n_new)] + rng.normal(size=(n_new, dim))
    twin = 1 if n_new else 0
    feats = np.concatenate([X, new, new[len(new) - twin:]]).astype(np.float32)
    classes = CLASSES[:known]
    labels = np.concatenate([[classes[c][0] for c in y], np.full(n_new + twin, UNLABELLED)])
    n = len(labels)
    ids = [f"{i:064x}" for i in range(len(y) + n_new)] + [f"{len(y) + n_new - 1:064x}"] * twin
    wnid = {c[0]: c[1] for c in classes}
    name = {c[0]: c[2] for c in classes}
    fs = FeatureSet(
        features=feats, labels=labels.astype(np.int64), ids=np.array(ids, dtype=object),
        splits=np.array(["val" if i % 4 == 0 else "train" for i in range(n)], dtype=object),
        wnids=np.array([wnid.get(c, "") for c in labels], dtype=object),
        label_names=np.array([name.get(c, "") for c in labels], dtype=object),
        styles=np.array(["lineart"] * n, dtype=object), sources=np.array(["dir"] * n, dtype=object),
        filepaths=np.array([f"/nowhere/{i}.png" for i in range(n)], dtype=object),
        attrs={"backbone": "fake-net", "layer": "pool", "subset": "blobs"})
    return fs, labels


def cli(*argv) -> int:
    return main(get_args_parser().parse_args([str(a) for a in argv]))


def test_cli_end_to_end(tmp_path, capsys):
    fs, _ = feature_set()
    feats = tmp_path / "f.h5"
    write_features(feats, fs)
    unlabelled = [str(i) for i in fs.ids[fs.labels == UNLABELLED]]
    refused = tmp_path / "refused.jsonl"
    refused.write_text(json.dumps({"id": unlabelled[0], "wnid": CLASSES[0][1]}) + "\n\n"
                       + json.dumps({"id": "elsewhere", "wnid": CLASSES[1][1]}) + "\n")
    out = tmp_path / "suggest"
    assert cli("--features", feats, "--out", out, "--refused", refused, "--no-clip", "--C", "0.1", "--jobs", 1) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^threshold 0\.\d{3}: estimated precision \d+\.\d%, coverage \d+\.\d% of known-class drawings, "
                     r"\d+\.\d% of other drawings given a class \(held out: \d+\.\d% / \d+\.\d% / \d+\.\d%\); "
                     r"ECE \d+\.\d% \(\d+\.\d% before scaling\)$", printed, re.M), printed
    assert re.search(rf"^30 unlabelled: \d+ suggested, \d+ abstained -> {re.escape(str(out))}/suggestions.jsonl$",
                     printed, re.M), printed
    assert "clip: skipped: --no-clip" in printed
    lines = [json.loads(x) for x in (out / "suggestions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == list(dict.fromkeys(unlabelled))  # one line per image, first row wins
    wnids = {c[1] for c in CLASSES[:5]}
    for x in lines:
        assert list(x) == ["id", "suggestion", "confidence", "top5"]
        assert x["suggestion"] is None or x["suggestion"] in wnids
        assert isinstance(x["confidence"], float) and 0 <= x["confidence"] <= 1
        probs = [p for _, p in x["top5"]]
        assert len(x["top5"]) == (4 if x is lines[0] else 5)  # the first line's refused class is left out
        assert probs == sorted(probs, reverse=True) and {w for w, _ in x["top5"]} <= wnids
        if x["suggestion"] is not None:
            assert x["top5"][0] == [x["suggestion"], x["confidence"]]
    assert CLASSES[0][1] not in {w for w, _ in lines[0]["top5"]} and lines[0]["suggestion"] != CLASSES[0][1]
    summary = json.loads((out / "suggest.json").read_text())
    assert set(summary) >= {"meta", "classes", "threshold", "estimated", "heldout", "calibration", "counts"}
    assert [c["wnid"] for c in summary["classes"]] == sorted(wnids, key=lambda w: [c[1] for c in CLASSES].index(w))
    assert summary["meta"]["features"] == str(feats) and summary["meta"]["config"]["method"] == "logistic"
    assert summary["meta"]["refused"] == {"file": str(refused), "lines": 2, "applied": 1}
    c = summary["counts"]
    assert c["unlabelled"] == 30 and c["suggested"] + c["abstained"] == 30 and c["labelled_images"] == 125
    assert sum(c["per_class"].values()) == c["suggested"] == sum(x["suggestion"] is not None for x in lines)
    assert set(summary["estimated"]) == set(summary["heldout"]) == {"precision", "coverage", "other_suggested",
                                                                     "known_precision"}
    assert {"ece", "ece_before_scaling", "temperature", "bins"} <= set(summary["calibration"])
    assert summary["meta"]["names"] == {"manifest": None, "named": 0} and summary["pools"]["open"]["rows"] == 30


def test_cli_reads_the_rejected_names_from_the_manifest(tmp_path):
    """The classes verify rejected come from the manifest the features file names (or --manifest)."""
    from datasets.manifest import write_jsonl

    fs, _ = feature_set()
    unlabelled = list(dict.fromkeys(str(i) for i in fs.ids[fs.labels == UNLABELLED]))
    manifest = tmp_path / "m.jsonl"
    write_jsonl(manifest, [{"id": i, "wnid": None, "rejected_class_index": CLASSES[1][0],
                            "label_check": {"verdict": "rejected", "evidence": {"posterior": 0.4}}}
                           for i in unlabelled[:4]])
    fs.attrs["manifest"] = str(manifest)
    write_features(tmp_path / "f.h5", fs)
    assert cli("--features", tmp_path / "f.h5", "--out", tmp_path / "s", "--no-clip", "--C", "0.1", "--jobs", 1) == 0
    summary = json.loads((tmp_path / "s" / "suggest.json").read_text())
    assert summary["meta"]["names"] == {"manifest": str(manifest), "named": 4}
    assert (summary["pools"]["named"]["rows"], summary["pools"]["open"]["rows"]) == (4, 26)
    write_jsonl(tmp_path / "elsewhere.jsonl", [{"id": unlabelled[0], "wnid": None}])  # no rejected names there
    assert cli("--features", tmp_path / "f.h5", "--out", tmp_path / "t", "--no-clip", "--C", "0.1", "--jobs", 1,
               "--manifest", tmp_path / "elsewhere.jsonl") == 0
    assert json.loads((tmp_path / "t" / "suggest.json").read_text())["meta"]["names"]["named"] == 0


def test_cli_joins_feature_files_and_handles_no_unlabelled_rows(tmp_path, capsys):
    fs, _ = feature_set(n_new=0)
    write_features(tmp_path / "a.h5", fs)
    other = fs.subset(np.arange(len(fs))[::-1])  # another backbone's rows, in another order
    other.features = np.random.default_rng(0).normal(size=(len(fs), 3)).astype(np.float32)
    write_features(tmp_path / "b.h5", other)
    out = tmp_path / "s"
    assert cli("--features", tmp_path / "a.h5", "--features", tmp_path / "b.h5", "--out", out, "--no-clip",
               "--C", "0.1", "--jobs", 1) == 0
    assert "no unlabelled rows: nothing to suggest" in capsys.readouterr().out
    assert (out / "suggestions.jsonl").read_text() == ""
    meta = json.loads((out / "suggest.json").read_text())["meta"]
    assert meta["backbone"] == "fake-net+fake-net" and len(meta["features"]) == 2


def test_cli_bad_inputs(tmp_path, capsys):
    fs, labels = feature_set(n_new=3)
    feats = tmp_path / "f.h5"
    write_features(feats, fs)
    only_new = tmp_path / "new.h5"
    write_features(only_new, fs.subset(labels == UNLABELLED))
    one_class = tmp_path / "one.h5"
    write_features(one_class, fs.subset((labels == CLASSES[0][0]) | (labels == UNLABELLED)))
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('{"id": "a", "wnid": "n01443537"}\n{"id": 3}\n')
    not_json = tmp_path / "notjson.jsonl"
    not_json.write_text("{oops\n")
    base = ["--out", tmp_path / "out", "--no-clip"]
    cases = [
        (["--features", only_new, *base], f"{only_new}: no labelled rows (4 unlabelled)"),
        (["--features", one_class, *base], f"{one_class}: need at least 2 classes with 2+ labelled images"),
        (["--features", tmp_path / "absent.h5", *base], "absent.h5: no such features file"),
        (["--features", feats, *base, "--refused", tmp_path / "none.jsonl"], "none.jsonl: no such refusals file"),
        (["--features", feats, *base, "--refused", bad_line], f"{bad_line}:2: expected"),
        (["--features", feats, *base, "--refused", not_json], f"{not_json}:1: not valid JSON"),
        (["--features", feats, "--out", tmp_path / "out", "--clip-weights", tmp_path / "w.pt"], "w.pt: no such file"),
        (["--features", feats, *base, "--manifest", tmp_path / "m.jsonl"], "--manifest " + str(tmp_path / "m.jsonl")
         + ": no such file"),
    ]
    for argv, message in cases:  # the work cannot be done: exit 1
        assert_refused(main, get_args_parser(), argv, capsys, tmp_path, 1, message)
    assert not (tmp_path / "out").exists()


def test_cli_refuses_bad_options_before_reading(tmp_path, capsys, monkeypatch):
    """Each option's bad value: exit 2 and one line, before the (absent) features file is opened."""
    base = ["--features", tmp_path / "absent.h5", "--out", tmp_path / "out"]
    parser = get_args_parser()
    for extra, says in (
            (["--kernel", "rbf,linear"], "--kernel takes one kernel (rbf or linear), got 'rbf,linear'; a grid of "
                                         "kernels is evaluation.svm's --kernel"),
            (["--kernel", "poly"], "--kernel: unknown kernel 'poly'; choose rbf or linear"),
            (["--C", "0"], "--C: expected positive numbers, got '0'"),
            (["--C", "one"], "--C: expected comma-separated numbers, got 'one'"),
            (["--jobs", "0"], "--jobs must be a positive number of processes, or -1 for all cores; got 0"),
            (["--seed", "-3"], "--seed must be between 0 and 4294967295, got -3"),
            (["--precision", "nan"], "--precision must be between 0 and 1 (both excluded), got nan"),
            (["--folds", "1"], "--folds must be at least 2, got 1"),
            (["--class-groups", "1"], "--class-groups must be at least 2, got 1"),
            (["--precision", "1"], "--precision must be between 0 and 1 (both excluded), got 1.0"),
            (["--open-share", "1.5"], "--open-share must be in [0, 1), or auto; got 1.5"),
            (["--max-other", "2"], "--max-other must be in [0, 1], or -1 for no bound; got 2.0"),
            (["--clip-batch-size", "0"], "--clip-batch-size must be at least 1, got 0"),
            (["--clip-template", "a drawing"], "--clip-template 'a drawing': give one {} where the class name goes"),
            (["--clip-template", "a {} of {}"], "give one {}"),
            (["--clip-template", "a {x} {}"], "not a prompt template"),
            (["--device", "gpu"], "--device gpu: not a device"),
            (["--out", Path(__file__)], "is a file, not a folder")):
        err = assert_refused(main, parser, [*base, *extra], capsys, tmp_path, 2, says)
        assert err.startswith("evaluation.suggest: error: ")
    for extra, says in ((["--open-share", "most"], "expected a share in [0, 1) or 'auto'"),
                        (["--method", "knn"], "invalid choice"), (["--score", "energy"], "invalid choice"),
                        (["--cross-fit", "sources"], "invalid choice"), (["--precision", "high"], "invalid float")):
        assert_parser_refuses(parser, [*base, *extra], capsys, says)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert_refused(main, parser, [*base, "--device", "cuda"], capsys, tmp_path, 1,
                   "evaluation.suggest: --device cuda: no CUDA device on this machine; use --device cpu")
    assert parser.parse_args([str(a) for a in base]).jobs == -1, "--jobs: all cores by default"


def test_cli_without_clip_weights_says_where_it_looked(tmp_path, capsys, monkeypatch):
    from evaluation import zeroshot

    # the caches' layout is tested in test_curation_hygiene; importing open_clip here would take seconds
    monkeypatch.setattr(zeroshot, "find_clip_weights", lambda model, tag, weights: (None, ["/cache/a", "/cache/b"]))
    fs, _ = feature_set(n_new=2)
    feats = tmp_path / "f.h5"
    write_features(feats, fs)
    out = tmp_path / "s"
    assert cli("--features", feats, "--out", out, "--C", "0.1", "--jobs", 1) == 0
    assert "clip: skipped: no weights for ViT-B-32 (openai) on disk; looked in: /cache/a; /cache/b" in \
        capsys.readouterr().out
    assert json.loads((out / "suggest.json").read_text())["meta"]["clip"]["status"] == "skipped"


@pytest.mark.slow  # importing open_clip (torch, timm) takes seconds
def test_clip_zero_shot_joins_with_a_tiny_random_model(tmp_path, capsys):
    from PIL import Image

    weights = tiny_clip_weights(tmp_path, "suggest-tiny")
    fs, _ = feature_set(per_class=12, n_new=6, known=3)
    paths = []
    for i in range(len(fs)):
        path = tmp_path / "img" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (20, 16), (i * 37 % 256, 90, 200)).save(path)
        paths.append(str(path))
    paths[-3] = str(tmp_path / "img" / "missing.png")  # unreadable: CLIP has no opinion on it
    fs.filepaths = np.array(paths, dtype=object)
    feats = tmp_path / "f.h5"
    write_features(feats, fs)
    out = tmp_path / "s"
    assert cli("--features", feats, "--out", out, "--clip-model", "suggest-tiny", "--clip-weights", weights,
               "--device", "cpu", "--C", "0.1", "--jobs", 1, "--class-groups", 3) == 0
    printed = capsys.readouterr().out
    assert f"clip: suggest-tiny ({weights}), weight " in printed
    summary = json.loads((out / "suggest.json").read_text())
    clip = summary["meta"]["clip"]
    assert clip["status"] == "done" and clip["classes"] == 3 and clip["scored"] == len(fs) - 2  # missing file, twin
    assert 0 <= summary["calibration"]["clip_weight"] < 0.2  # a random CLIP knows nothing: weight about 0
    assert len((out / "suggestions.jsonl").read_text().splitlines()) == 6


def test_the_measurement_protocol_runs(tmp_path):
    """benchmarks/suggest_protocol.py (issue 16's measurement) end to end on blobs: val names hidden, an open pool."""
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    fs, labels = feature_set(per_class=30, n_new=20)
    paths = []
    for i in range(len(labels)):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (16, 16), (i % 255, 90, 160)).save(paths[-1])
    fs.filepaths = np.array(paths, dtype=object)
    write_features(tmp_path / "f.h5", fs)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "suggest_protocol.py"), "--features",
                           str(tmp_path / "f.h5"), "--out", str(tmp_path / "out"), "--methods", "logistic",
                           "--judge", "5", "--", "--no-clip"], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "hidden names: precision" in done.stdout and "open pool:" in done.stdout
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())
    hidden = int(((fs.splits == "val") & (labels != UNLABELLED)).sum())
    assert result["hidden"] == hidden and result["pool"] == 20  # 21 unlabelled rows: one image is two
    assert 0 < result["hidden_suggested"] <= hidden and result["precision"] > 0.8
    judged = json.loads((tmp_path / "out" / "f-logistic" / "judge.json").read_text())
    assert len(judged) == min(5, result["pool_suggested"])


# ---------------------------------------------------------------- cross-fitting by style


def styled_world(seed: int, n_styles: int = 6, per: int = 12, shift: float = 1.2):
    """8 classes drawn in ``n_styles`` styles: each style moves every drawing by its own offset."""
    rng, centers = world(seed, known=8, unknown=0)
    offsets = rng.normal(scale=shift, size=(n_styles + 1, centers.shape[1]))  # the last: a style never trained on
    X, y, styles = [], [], []
    for s in range(n_styles + 1):
        Xs, ys = blobs(rng, centers, per)
        X.append(Xs + offsets[s])
        y.append(ys)
        styles.append(np.full(len(ys), f"style{s}"))
    X, y, styles = np.concatenate(X), np.concatenate(y), np.concatenate(styles)
    new = styles == f"style{n_styles}"
    return X[~new], y[~new], styles[~new], X[new], y[new]


def test_style_folds_hold_out_whole_styles():
    from evaluation.suggest_pools import group_images, style_folds

    X, y, styles, _, _ = styled_world(0)
    images = group_images(np.array([f"img{i}" for i in range(len(y))]), y, styles)
    fold, n = style_folds(images, 5, seed=0)
    assert n == 5 and set(fold.tolist()) == set(range(5))
    for s in np.unique(styles):
        assert len(set(fold[images.styles == s].tolist())) == 1
    assert np.bincount(fold).max() <= 2 * len(y) / 6  # 6 styles dealt to 5 folds: one fold holds two
    with pytest.raises(ValueError, match="2\\+ styles"):
        style_folds(group_images(images.styles[:3], y[:3], np.array(["a"] * 3)), 5, seed=0)


def test_cross_fitting_by_style_promises_what_a_new_style_keeps():
    """On a style never trained on, the image folds' promise overshoots; the style folds' estimate is lower and
    its realised precision at least as high (summed over seeds)."""
    gap = {"images": 0.0, "styles": 0.0}
    realised = {"images": [0, 0], "styles": [0, 0]}
    for seed in range(3):
        X, y, styles, new, new_y = styled_world(seed)
        ids = np.array([f"img{i}" for i in range(len(y))])
        for how in gap:
            r = suggest(X, y, ids, new, styles=styles, cfg=SuggestConfig(cross_fit=how, precision=0.9, **FAST))
            assert r.report["params"]["cross_fit"] == how
            given = r.suggestion != UNLABELLED
            realised[how][0] += int((r.suggestion[given] == new_y[given]).sum())
            realised[how][1] += int(given.sum())
            gap[how] += r.report["estimated"]["coverage"]
    assert gap["styles"] < gap["images"]
    assert realised["styles"][0] / realised["styles"][1] >= realised["images"][0] / realised["images"][1]
    with pytest.raises(ValueError, match="style of every labelled row"):
        suggest(X, y, ids, new, cfg=SuggestConfig(cross_fit="styles", **FAST))


def test_a_rejected_name_is_a_candidate_ranked_with_the_classes():
    """Unlabelled drawings of known classes that an unsure classifier half recognises: with the class their name
    gave them (and verify rejected) as a candidate of high posterior, it wins; with a low posterior it does not.
    Named rows are a pool of their own, reported apart."""
    rng, centers = world(seed=3, known=8, unknown=0, sep=0.5)
    X, y, ids = labelled(rng, centers, 40)
    new, truth = blobs(rng, centers, 12)
    named = truth.copy()
    named[::2] = (truth[::2] + 1) % 8  # half of the names give the wrong class
    posterior = np.where(named == truth, 0.9, 0.05)
    cfg = SuggestConfig(**FAST, open_share=0.0, precision=0.8)
    plain = suggest(X, y, ids, new, cfg=cfg)
    with_names = suggest(X, y, ids, new, cfg=cfg, names=named, name_posterior=posterior)
    top = with_names.top5[:, 0]
    assert (top[named == truth] == truth[named == truth]).mean() > (plain.top5[:, 0] == truth)[named == truth].mean()
    assert (top[named != truth] != named[named != truth]).mean() > 0.8, "a name of low posterior does not win"
    pools = with_names.report["pools"]
    assert pools["named"]["rows"] == len(new) and pools["open"]["rows"] == 0
    assert "pools" in plain.report and plain.report["pools"]["named"]["rows"] == 0
    with pytest.raises(ValueError, match="one class"):
        suggest(X, y, ids, new, cfg=cfg, names=named[:3], name_posterior=posterior[:3])
