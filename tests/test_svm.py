import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from evaluation.classify import folds, holdout, search, stats
from evaluation.classify.config import SVMConfig
from evaluation.classify.folds import make_cv
from evaluation.classify.models import short_params
from evaluation.classify.scoring import evaluate_model
from evaluation.features import FeatureJoinError, FeatureSet, is_fine_tuned, join_features, write_features
from evaluation.results import read_metrics, read_predictions
from evaluation.svm import get_args_parser, main
from tests.test_extract import assert_parser_refuses, assert_refused

CLASSES = (1, 207, 849)  # ILSVRC indices: goldfish, golden retriever, teapot
WNIDS = {1: "n01443537", 207: "n02099601", 849: "n04398044", 500: "n03000134"}
NAMES = {1: "goldfish", 207: "golden retriever", 849: "teapot", 500: "cliff dwelling"}
SMALL_GRID = ["--kernel", "rbf,linear", "--C", "1", "--gamma", "scale", "--folds", "3", "--logistic-C", "1"]


def feature_set(classes=CLASSES, per_class=20, dim=8, val_every=4, seed=0, backbone="fake-net", layer="fc7",
                extra_val: dict | None = None, std=0.5) -> FeatureSet:
    """Well-separated blobs, one per class; every ``val_every``-th row of a class is val.

    ``extra_val`` ({label: n}) adds val rows of labels that have no train rows.
    """
    extra_val = extra_val or {}
    k = len(classes) + len(extra_val)
    centers = np.random.default_rng(seed).uniform(-20, 20, size=(k, dim))
    counts = [per_class] * len(classes) + list(extra_val.values())
    X, y = make_blobs(n_samples=counts, centers=centers, cluster_std=std, random_state=seed)
    labels = np.array([(list(classes) + list(extra_val))[i] for i in y], dtype=np.int64)
    splits = np.empty(len(y), dtype=object)
    for i in range(k):
        rows = np.flatnonzero(y == i)
        splits[rows] = ["val" if j % val_every == 0 else "train" for j in range(len(rows))]
        if i >= len(classes):
            splits[rows] = "val"
    n = len(y)
    return FeatureSet(
        features=X.astype(np.float32),
        labels=labels,
        ids=np.array([f"{i:064x}" for i in range(n)], dtype=object),
        splits=splits,
        wnids=np.array([WNIDS[c] for c in labels], dtype=object),
        label_names=np.array([NAMES[c] for c in labels], dtype=object),
        styles=np.array(["lineart" if i % 2 else "colour" for i in range(n)], dtype=object),
        sources=np.array(["openclipart"] * n, dtype=object),
        attrs={"backbone": backbone, "layer": layer, "subset": "blobs"},
    )


def write(tmp_path, name="feats.h5", **kw):
    path = tmp_path / name
    write_features(path, feature_set(**kw))
    return path


def run(*argv) -> int:
    return main(get_args_parser().parse_args([str(a) for a in argv]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One CV run shared by the read-only checks below."""
    tmp = tmp_path_factory.mktemp("svm")
    feats = write(tmp)
    out = tmp / "results"
    assert run("--features", feats, "--out", out, *SMALL_GRID) == 0
    return feats, out


def test_separable_clusters_are_learnt(trained):
    feats, out = trained
    methods = read_metrics(out)["methods"]
    assert set(methods) == {"svm", "logistic"}
    for name in ("svm", "logistic"):
        val = methods[name]["val"]["global"]
        assert val["n"] == 15  # 5 of each class's 20 rows
        assert val["top1"] == 1.0
        assert methods[name]["train"]["global"]["n"] == 45
        assert methods[name]["_info"]["classes"] == list(CLASSES)
        assert methods[name]["_info"]["cv_splits"] == 3
        assert methods[name]["_info"]["cv_best_score"] == 1.0
        assert methods[name]["_info"]["val_rows_unseen_class"] == 0
    assert methods["svm"]["val"]["global"]["cross_entropy"] is None
    assert methods["logistic"]["val"]["global"]["cross_entropy"] > 0
    assert set(methods["svm"]["_info"]["best_params"]) >= {"kernel", "C"}
    assert set(methods["svm"]["val"]["per_class"]) == {WNIDS[c] for c in CLASSES}
    assert set(methods["svm"]["val"]["per_style"]) == {"colour", "lineart"}
    assert set(methods["svm"]["val"]["per_source"]) == {"openclipart"}
    conf = methods["svm"]["val"]["confusion"]
    assert conf["labels"] == list(CLASSES)
    assert conf["names"] == [NAMES[c] for c in CLASSES]
    assert conf["matrix"] == [[5, 0, 0], [0, 5, 0], [0, 0, 5]]
    meta = read_metrics(out)["meta"]
    assert meta["backbone"] == "fake-net" and meta["layer"] == "fc7" and meta["subset"] == "blobs"


def test_outputs_and_predictions(trained):
    feats, out = trained
    for name in ("metrics.json", "predictions.h5", "svm.joblib", "svm_cv.csv", "logistic.joblib", "logistic_cv.csv"):
        assert (out / name).is_file(), name
    lines = (out / "svm_cv.csv").read_text().splitlines()
    assert lines[0].split(",")[:4] == ["rank_test_score", "mean_test_score", "std_test_score", "mean_fit_time"]
    assert len(lines) == 1 + 2  # rbf (C=1, gamma=scale) and linear (C=1)
    assert {line.split(",")[4] for line in lines[1:]} == {"rbf", "linear"}

    p = read_predictions(out, "svm")
    assert len(p["ids"]) == 60
    assert p["scores"].shape == (60, 3) and p["scores"].dtype == np.float32
    assert p["classes"].tolist() == list(CLASSES)
    assert p["top5"].shape == (60, 5)
    assert (p["top5"][:, 3:] == -1).all()  # only 3 classes: padded
    assert sorted(p["top5"][0, :3].tolist()) == list(CLASSES)
    assert (p["pred"] == p["top5"][:, 0]).all()
    assert (p["pred"] == p["labels"]).all()
    assert (p["true_rank"] == 0).all()
    assert np.isnan(p["cross_entropy"]).all()
    assert set(p["splits"].tolist()) == {"train", "val"}

    lp = read_predictions(out, "logistic")
    assert np.isfinite(lp["cross_entropy"]).all() and (lp["cross_entropy"] >= 0).all()
    # Scores are log-probabilities: each row's probabilities sum to one.
    assert np.allclose(np.exp(lp["scores"].astype(np.float64)).sum(axis=1), 1.0, atol=1e-4)


def test_thesis_protocol(tmp_path):
    feats = write(tmp_path)
    out = tmp_path / "results"
    assert run("--features", feats, "--out", out, "--protocol", "thesis", *SMALL_GRID) == 0
    methods = read_metrics(out)["methods"]
    for name in ("svm", "logistic"):
        info = methods[name]["_info"]
        assert info["protocol"] == "thesis"
        assert info["cv_splits"] == 1  # one hold-out, not k folds
        assert methods[name]["val"]["global"]["top1"] == 1.0


def test_thesis_holdout_is_stratified_and_seeded():
    y = np.repeat([1, 207, 849], [20, 10, 1])
    cfg = SVMConfig(protocol="thesis", seed=3)
    fold = make_cv(y, cfg).test_fold
    held = fold == 0
    assert held.sum() == 6  # 20% of the 30 rows of classes that can be split
    assert (y[held] == 1).sum() == 4 and (y[held] == 207).sum() == 2
    assert not held[y == 849].any()  # a singleton is only ever learnt from
    assert (make_cv(y, cfg).test_fold == fold).all()
    assert not (make_cv(y, SVMConfig(protocol="thesis", seed=4)).test_fold == fold).all()


def test_ovo_multiclass(tmp_path):
    feats = write(tmp_path)
    out = tmp_path / "results"
    assert run("--features", feats, "--out", out, "--multiclass", "ovo", "--no-logistic", *SMALL_GRID) == 0
    methods = read_metrics(out)["methods"]
    assert set(methods) == {"svm"}
    assert not (out / "logistic.joblib").exists()
    assert methods["svm"]["_info"]["multiclass"] == "ovo"
    assert methods["svm"]["val"]["global"]["top1"] == 1.0


def test_two_classes(tmp_path):
    """sklearn gives binary decision values as one column; the scores must still be (N, 2)."""
    feats = write(tmp_path, classes=(1, 849))
    out = tmp_path / "results"
    assert run("--features", feats, "--out", out, *SMALL_GRID) == 0
    p = read_predictions(out, "svm")
    assert p["scores"].shape == (40, 2)
    assert (p["pred"] == p["labels"]).all()
    assert read_metrics(out)["methods"]["svm"]["val"]["global"]["top1"] == 1.0


class FixedScores:
    """A stand-in model whose decision values are given."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float64)

    def decision_function(self, X):
        return self.scores[: len(X)]


def test_ranks_and_top5_by_hand():
    classes = np.array([3, 10, 20, 30, 40, 50])
    fs = FeatureSet(
        features=np.zeros((3, 2), np.float32),
        labels=np.array([10, 30, 50]),
        ids=np.array(["a", "b", "c"], dtype=object),
        splits=np.array(["val", "val", "val"], dtype=object),
    )
    scores = [
        [0.1, 0.9, 0.2, 0.3, 0.4, 0.0],  # true 10 is best: rank 0
        [0.6, 0.1, 0.9, 0.5, 0.2, 0.3],  # true 30 third (below 20 and 3): rank 2
        [0.6, 0.1, 0.9, 0.5, 0.2, 0.0],  # true 50 last of six: rank 5, outside the top 5
    ]
    metrics, p, unseen = evaluate_model(FixedScores(scores), fs, classes, [str(c) for c in classes])
    assert p["true_rank"].tolist() == [0, 2, 5]
    assert p["pred"].tolist() == [10, 20, 20]
    assert p["top5"].tolist() == [[10, 40, 30, 20, 3], [20, 3, 30, 50, 40], [20, 3, 30, 40, 10]]
    g = metrics["val"]["global"]
    assert g["n"] == 3
    assert math.isclose(g["top1"], 1 / 3) and math.isclose(g["top5"], 2 / 3)
    assert g["top5"] >= g["top1"]
    assert metrics["val"]["per_class"] == {
        "10": {"n": 1, "top1": 1.0, "top5": 1.0, "cross_entropy": None},
        "30": {"n": 1, "top1": 0.0, "top5": 1.0, "cross_entropy": None},
        "50": {"n": 1, "top1": 0.0, "top5": 0.0, "cross_entropy": None},
    }
    cm = np.array(metrics["val"]["confusion"]["matrix"])
    assert cm[1, 1] == 1 and cm[3, 2] == 1 and cm[5, 2] == 1 and cm.sum() == 3
    assert unseen == {"val": 0}


def test_saved_model_round_trip(trained, tmp_path):
    feats, out = trained
    again = tmp_path / "again"
    for name in ("svm", "logistic"):
        assert run("--features", feats, "--out", again, "--model", out / f"{name}.joblib") == 0
        first, second = read_predictions(out, name), read_predictions(again, name)
        assert first["ids"].tolist() == second["ids"].tolist()
        assert (first["pred"] == second["pred"]).all()
        assert np.allclose(first["scores"], second["scores"])
        info = read_metrics(again)["methods"][name]["_info"]
        assert info["model"] == str(out / f"{name}.joblib")
        assert info["best_params"] == read_metrics(out)["methods"][name]["_info"]["best_params"]
        assert read_metrics(again)["methods"][name]["val"]["global"]["top1"] == 1.0
    assert not (again / "svm.joblib").exists()  # applying never writes a model


def with_unlabelled(fs: FeatureSet, n: int = 6, seed: int = 3) -> FeatureSet:
    """``fs`` and ``n`` unlabelled rows (label -1, no wnid: datasets.build --keep-unmatched), train and val alike."""
    rng = np.random.default_rng(seed)

    def cat(a, b):
        return None if a is None else np.concatenate([a, np.asarray(b, dtype=a.dtype)])

    return FeatureSet(
        features=cat(fs.features, rng.uniform(-20, 20, size=(n, fs.features.shape[1]))),
        labels=cat(fs.labels, [-1] * n), ids=cat(fs.ids, [f"{9000 + i:064x}" for i in range(n)]),
        splits=cat(fs.splits, ["train", "val"] * (n // 2)), wnids=cat(fs.wnids, [""] * n),
        label_names=cat(fs.label_names, [""] * n), styles=cat(fs.styles, [STYLES[i % 3] for i in range(n)]),
        sources=cat(fs.sources, ["openclipart"] * n), attrs=dict(fs.attrs))


def test_unlabelled_rows_are_ignored_and_counted(trained, tmp_path, caplog):
    plain, out = trained
    feats = tmp_path / "with-unlabelled.h5"
    write_features(feats, with_unlabelled(feature_set()))
    note = "ignored 6 unlabelled rows (no class; python -m evaluation.suggest proposes labels for them)"
    runs = {"fit": ("--features", feats, "--out", tmp_path / "fit", *SMALL_GRID),
            "model": ("--features", feats, "--out", tmp_path / "model", "--model", out / "svm.joblib"),
            "holdout": ("--features", feats, "--out", tmp_path / "holdout", "--holdout-style", "colour", *SMALL_GRID)}
    for name, argv in runs.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="evaluation"):  # evaluation.svm and evaluation.classify
            assert run(*argv) == 0, name
        assert note in caplog.text, name
    fitted, applied = read_metrics(tmp_path / "fit"), read_metrics(tmp_path / "model")
    assert fitted["meta"]["unlabelled_rows_ignored"] == applied["meta"]["unlabelled_rows_ignored"] == 6
    for metrics in (fitted, applied):
        svm_metrics = metrics["methods"]["svm"]
        assert svm_metrics["val"]["global"]["n"] == 15 and svm_metrics["train"]["global"]["n"] == 45
        assert svm_metrics["_info"]["classes"] == list(CLASSES) and svm_metrics["_info"]["val_rows_unseen_class"] == 0
    assert len(read_predictions(tmp_path / "fit", "svm")["ids"]) == 60
    assert -1 not in read_predictions(tmp_path / "model", "svm")["labels"].tolist()
    held = json.loads((tmp_path / "holdout" / "holdout.json").read_text())
    assert held["meta"]["unlabelled_rows_ignored"] == 6
    colour = feature_set().styles == "colour"
    assert held["styles"]["colour"]["rows"] == int(colour.sum()) and held["styles"]["colour"]["rows_unseen_class"] == 0
    assert "unlabelled_rows_ignored" not in read_metrics(out)["meta"]  # none in the plain file: no entry


def test_only_unlabelled_rows_is_an_error(tmp_path, capsys):
    fs = with_unlabelled(feature_set())
    feats = tmp_path / "none.h5"
    write_features(feats, fs.subset(fs.labels < 0))
    assert run("--features", feats, "--out", tmp_path / "r", *SMALL_GRID) == 1
    assert f"{feats}: no labelled rows (6 unlabelled)" in capsys.readouterr().err


def test_feature_dim_mismatch(trained, tmp_path, capsys):
    _, out = trained
    narrow = write(tmp_path, dim=6)
    assert run("--features", narrow, "--out", tmp_path / "r", "--model", out / "svm.joblib") == 1
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ")
    assert "dimension" in err and "expects 8" in err and "have 6" in err and str(narrow) in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_backbone_mismatch(trained, tmp_path, capsys):
    _, out = trained
    other = write(tmp_path, backbone="other-net")
    assert run("--features", other, "--out", tmp_path / "r", "--model", out / "svm.joblib") == 1
    err = capsys.readouterr().err
    assert "backbone" in err and "'fake-net'" in err and "'other-net'" in err


def test_val_class_without_train_rows(tmp_path, caplog):
    feats = write(tmp_path, extra_val={500: 4})
    out = tmp_path / "results"
    with caplog.at_level(logging.WARNING, logger="evaluation.svm"):
        assert run("--features", feats, "--out", out, "--no-logistic", *SMALL_GRID) == 0
    assert any("4 of 19 val rows" in r.getMessage() for r in caplog.records)
    svm = read_metrics(out)["methods"]["svm"]
    assert svm["_info"]["val_rows_unseen_class"] == 4
    assert svm["_info"]["classes"] == list(CLASSES)
    assert svm["val"]["global"]["n"] == 15 and svm["val"]["global"]["top1"] == 1.0
    assert WNIDS[500] not in svm["val"]["per_class"]
    p = read_predictions(out, "svm")
    assert len(p["ids"]) == 60 and 500 not in p["labels"].tolist()


@pytest.mark.filterwarnings("ignore:The least populated class in y has only 1 members")
def test_singleton_class_shrinks_folds(tmp_path):
    fs = feature_set()
    # Keep one train row of class 849 (and its val rows).
    drop = np.flatnonzero((fs.labels == 849) & (fs.splits == "train"))[1:]
    write_features(tmp_path / "f.h5", fs.subset(np.setdiff1d(np.arange(len(fs)), drop)))
    out = tmp_path / "results"
    assert run("--features", tmp_path / "f.h5", "--out", out, *SMALL_GRID, "--folds", "5") == 0
    methods = read_metrics(out)["methods"]
    assert methods["svm"]["_info"]["cv_splits"] == 2
    assert methods["svm"]["_info"]["classes"] == list(CLASSES)
    assert run("--features", tmp_path / "f.h5", "--out", out, "--protocol", "thesis", *SMALL_GRID) == 0


def test_impossible_cross_validation(tmp_path, capsys):
    fs = feature_set(per_class=2, val_every=2)  # one train row per class
    write_features(tmp_path / "f.h5", fs)
    assert run("--features", tmp_path / "f.h5", "--out", tmp_path / "r", *SMALL_GRID) == 1
    err = capsys.readouterr().err
    assert "cannot cross-validate" in err and str(tmp_path / "f.h5") in err


def test_bad_inputs(tmp_path, capsys):
    missing = tmp_path / "nope.h5"
    assert run("--features", missing, "--out", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ") and str(missing) in err and "Traceback" not in err

    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert run("--features", junk, "--out", tmp_path / "r") == 1
    assert str(junk) in capsys.readouterr().err

    fs = feature_set()
    only_train = tmp_path / "train.h5"
    write_features(only_train, fs.split("train"))
    assert run("--features", only_train, "--out", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert str(only_train) in err and "'val'" in err

    only_val = tmp_path / "val.h5"
    write_features(only_val, fs.split("val"))
    assert run("--features", only_val, "--out", tmp_path / "r") == 1
    assert "'train'" in capsys.readouterr().err

    fs.features[3, 2] = np.nan
    nan = tmp_path / "nan.h5"
    write_features(nan, fs)
    assert run("--features", nan, "--out", tmp_path / "r") == 1
    assert "NaN" in capsys.readouterr().err

    assert run("--features", only_val, "--out", tmp_path / "r", "--model", tmp_path / "none.joblib") == 1
    assert "none.joblib" in capsys.readouterr().err

    assert not (tmp_path / "r").exists()


def test_bad_options_are_refused_before_anything_is_read(tmp_path, capsys):
    """Every option's bad value: exit 2 and one line, before the features file is even opened (it is absent)."""
    base = ["--features", tmp_path / "absent.h5", "--out", tmp_path / "r"]
    parser = get_args_parser()
    for extra, says in (
            (["--kernel", "rbf,cubic"], "--kernel: unknown cubic; choose from rbf, linear, sigmoid, poly"),
            (["--kernel", ","], "--kernel: unknown (none given)"),
            (["--C", "0.1,x"], "--C: expected comma-separated numbers, got '0.1,x'"),
            (["--C", "0,1"], "--C: expected positive numbers, got '0,1'"),
            (["--logistic-C", "-1"], "--logistic-C: expected positive numbers"),
            (["--gamma", "scale,-2"], "--gamma: expected positive numbers"),
            (["--gamma", ","], "--gamma: give at least one value"),
            (["--degree", "2.5"], "--degree: expected comma-separated integers"),
            (["--degree", "0"], "--degree: expected integers >= 1"),
            (["--folds", "1"], "--folds must be at least 2, got 1"),
            (["--jobs", "0"], "--jobs must be a positive number of processes, or -1 for all cores; got 0"),
            (["--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
            (["--C", "nan"], "--C: expected positive numbers, got 'nan'"),
            (["--exact-rows", "1"], "--exact-rows must be at least 2, got 1"),
            (["--components", "0"], "--components must be at least 1, got 0"),
            (["--holdout-min-rows", "0"], "--holdout-min-rows must be at least 1, got 0"),
            (["--holdout-style", " , "], "--holdout-style: give a style, a comma-separated list or 'all'"),
            (["--holdout-style", "all", "--model", "m.joblib"], "cannot be used with --model"),
            (["--out", Path(__file__)], "is a file, not a folder")):
        err = assert_refused(main, parser, [*base, *extra], capsys, tmp_path, 2, says)
        assert err.startswith("evaluation.svm: error: ")
    for extra, says in ((["--protocol", "loo"], "invalid choice: 'loo'"), (["--solver", "fast"], "invalid choice"),
                        (["--multiclass", "ovx"], "invalid choice"), (["--folds", "two"], "invalid int value")):
        assert_parser_refuses(parser, [*base, *extra], capsys, says)


def test_metrics_json_is_plain_json(trained):
    _, out = trained
    data = json.loads((out / "metrics.json").read_text())
    assert data["methods"]["svm"]["_info"]["features"].endswith("feats.h5")
    assert data["methods"]["svm"]["_info"]["backbone"] == "fake-net"


# ---------------------------------------------------------------- several feature files


def other_backbone(fs: FeatureSet, seed=1, dim=3) -> FeatureSet:
    """The same rows seen by another backbone: new features (row i's depend on its label), shuffled rows."""
    rng = np.random.default_rng(seed)
    other = fs.subset(np.arange(len(fs)))
    other.features = (other.labels[:, None] / 100.0 + rng.normal(0, 0.1, (len(fs), dim))).astype(np.float32)
    other.logits = None
    other.attrs = {"backbone": "other-net", "layer": "pool", "subset": "elsewhere"}
    return other


def with_shared_image(fs: FeatureSet) -> FeatureSet:
    """Rows 0 and the first row of another class are one image in two classes: same id, two labels."""
    fs = fs.subset(np.arange(len(fs)))
    j = int(np.flatnonzero(fs.labels != fs.labels[0])[0])
    fs.ids[j] = fs.ids[0]
    fs.splits[j] = fs.splits[0]
    return fs


def test_join_features_matches_rows_by_id_and_label():
    first = with_shared_image(feature_set())
    second = other_backbone(first)
    expected = np.concatenate([first.features, second.features], axis=1)
    order = np.random.default_rng(5).permutation(len(first))
    joined = join_features([first, second.subset(order)], ["a.h5", "b.h5"])
    np.testing.assert_array_equal(joined.features, expected)  # the shared id's two rows are not swapped
    assert joined.ids.tolist() == first.ids.tolist() and joined.labels.tolist() == first.labels.tolist()
    assert joined.styles.tolist() == first.styles.tolist() and joined.wnids.tolist() == first.wnids.tolist()
    assert joined.attrs["backbone"] == "fake-net+other-net" and joined.attrs["layer"] == "fc7+pool"
    assert joined.attrs["features"] == ["a.h5", "b.h5"] and joined.attrs["feature_dim"] == 11
    assert joined.attrs["subset"] == "blobs"  # the first file's
    assert first.features.shape == (60, 8) and first.attrs["backbone"] == "fake-net"  # inputs untouched


def join_error(first: FeatureSet, second: FeatureSet) -> str:
    with pytest.raises(FeatureJoinError) as info:
        join_features([first, second], ["a.h5", "b.h5"])
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_join_features_mismatches_name_the_files():
    first = with_shared_image(feature_set())
    second = other_backbone(first)

    err = join_error(first, second.subset(np.arange(len(first) - 4)))
    assert "a.h5" in err and "b.h5" in err and "4 id(s) only in a.h5" in err and first.ids[-4] in err
    assert "(1 more)" in err  # up to 3 ids shown

    relabelled = second.subset(np.arange(len(second)))
    relabelled.labels[7] = 500
    err = join_error(first, relabelled)
    assert "a.h5" in err and "b.h5" in err and "label" in err and first.ids[7] in err

    resplit = second.subset(np.arange(len(second)))
    resplit.splits[2] = "val" if resplit.splits[2] == "train" else "train"
    err = join_error(first, resplit)
    assert "split" in err and first.ids[2] in err and "b.h5" in err

    doubled = second.subset(np.r_[np.arange(len(second)), [3]])
    err = join_error(first, doubled)
    assert err.startswith("b.h5: 1 duplicate (id, label)") and first.ids[3] in err


def test_two_feature_files(tmp_path, capsys):
    fs = feature_set()
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_features(a, fs)
    write_features(b, other_backbone(fs).subset(np.random.default_rng(2).permutation(len(fs))))
    out = tmp_path / "results"
    assert run("--features", a, "--features", b, "--out", out, "--no-logistic", *SMALL_GRID) == 0
    data = read_metrics(out)
    assert data["meta"]["features"] == [str(a), str(b)]
    assert data["meta"]["backbone"] == "fake-net+other-net" and data["meta"]["subset"] == "blobs"
    assert data["methods"]["svm"]["_info"]["features"] == [str(a), str(b)]
    assert data["methods"]["svm"]["val"]["global"]["top1"] == 1.0
    assert read_predictions(out, "svm")["ids"].tolist() == fs.ids.tolist()  # the first file's order

    again = tmp_path / "again"
    assert run("--features", a, "--features", b, "--out", again, "--model", out / "svm.joblib") == 0
    assert read_metrics(again)["methods"]["svm"]["val"]["global"]["top1"] == 1.0
    assert run("--features", a, "--out", again, "--model", out / "svm.joblib") == 1  # 8 dims, not 11
    assert "expects 11" in capsys.readouterr().err

    short = tmp_path / "short.h5"
    write_features(short, other_backbone(fs).subset(np.arange(5, len(fs))))
    assert run("--features", a, short, "--out", tmp_path / "r", *SMALL_GRID) == 1  # --features A B
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ") and str(a) in err and str(short) in err and "5 id(s)" in err
    assert not (tmp_path / "r").exists()


def test_meta_records_how_features_were_made(trained, tmp_path):
    _, out = trained
    meta = read_metrics(out)["meta"]
    assert meta["fine_tuned"] is False and meta["tta"] == "none" and "normalize" not in meta
    fs = feature_set()
    fs.attrs.update(head_classes=json.dumps(list(CLASSES)), tta="flip", normalize="imagenet")
    write_features(tmp_path / "ft.h5", fs)
    assert run("--features", tmp_path / "ft.h5", "--out", tmp_path / "r", "--no-logistic", *SMALL_GRID) == 0
    meta = read_metrics(tmp_path / "r")["meta"]
    assert meta["fine_tuned"] is True and meta["tta"] == "flip" and meta["normalize"] == "imagenet"


@pytest.mark.parametrize("value, expected", [(None, False), ("[]", False), ("[1, 207]", True), ([], False),
                                             ([849], True), ("not json", False)])
def test_is_fine_tuned(value, expected):
    attrs = {} if value is None else {"head_classes": value}
    assert is_fine_tuned(attrs) is expected


# ---------------------------------------------------------------- cross-style hold-out

STYLES = ("colour", "lineart", "sketch")


def styled_set() -> FeatureSet:
    """Three styles of 30 rows; "sketch" rows have their feature dimensions shifted by one (rolled), so a
    model that never saw a sketch does worse on them (0.3 and 0.0 top-1 here, against 1.0 on the others)."""
    fs = feature_set(per_class=30, val_every=3)
    fs.styles = np.array([STYLES[i % 3] for i in range(len(fs))], dtype=object)
    sketch = fs.styles == "sketch"
    fs.features[sketch] = np.roll(fs.features[sketch], 1, axis=1)
    return fs


def test_holdout_style_never_trains_on_the_style(monkeypatch):
    fs = styled_set()
    seen = []
    real = holdout.method_search

    def spy(method, X, y, cfg):
        seen.append(X)
        return real(method, X, y, cfg)

    monkeypatch.setattr(holdout, "method_search", spy)
    result = holdout.holdout_style(fs, "sketch", SVMConfig(folds=3, C=(1.0,), kernels=("linear",), logistic_C=(1.0,)))
    assert len(seen) == 2  # svm, logistic
    held = {row.tobytes() for row in fs.features[fs.styles == "sketch"]}
    for X in seen:
        assert len(X) == int(((fs.splits == "train") & (fs.styles != "sketch")).sum())
        assert not held & {row.tobytes() for row in X}
    assert result["svm"]["n"] == result["rows"] == 30 and result["rows_unseen_class"] == 0


def test_holdout_styles_to_run():
    fs = feature_set(per_class=40)
    fs.styles = np.array([STYLES[i % 3] for i in range(len(fs))], dtype=object)
    fs.styles[:4] = "tiny"
    fs.styles[np.flatnonzero(fs.labels == 849)[-25:]] = "mono"
    assert min((fs.styles == s).sum() for s in STYLES) >= 20
    styles, skipped = holdout.holdout_styles(fs, "all", 20)
    assert styles == list(STYLES)
    assert [s.split()[0] for s in skipped] == ["mono", "tiny"]
    assert "1 class(es)" in skipped[0] and "4 rows" in skipped[1]
    assert holdout.holdout_styles(fs, "all", 2)[0] == sorted(set(fs.styles.tolist()) - {"mono"})
    assert holdout.holdout_styles(fs, "sketch, colour,sketch") == (["sketch", "colour"], [])
    with pytest.raises(ValueError, match="'watercolour'.*colour, lineart, mono, sketch, tiny"):
        holdout.holdout_styles(fs, "colour,watercolour")


def test_holdout_cli(tmp_path, capsys):
    fs = styled_set()
    fs.styles[:4] = "tiny"
    feats = tmp_path / "styled.h5"
    write_features(feats, fs)
    out = tmp_path / "results"
    assert run("--features", feats, "--out", out, "--holdout-style", "all", *SMALL_GRID) == 0
    printed = capsys.readouterr().out
    assert "skipped tiny (4 rows" in printed and str(out / "holdout.json") in printed
    assert sorted(p.name for p in out.iterdir()) == ["holdout.json"]  # no metrics.json, predictions or models
    data = json.loads((out / "holdout.json").read_text())
    assert data["meta"]["fine_tuned"] is False and data["meta"]["backbone"] == "fake-net"
    assert data["meta"]["features"] == str(feats) and data["meta"]["config"]["C"] == [1.0]
    assert list(data["styles"]) == list(STYLES)
    for style, r in data["styles"].items():
        assert r["train_rows"] == int(((fs.splits == "train") & (fs.styles != style)).sum())
        for method in ("svm", "logistic"):
            assert r[method]["n"] == int((fs.styles == style).sum())
            assert 0.0 <= r[method]["top1"] <= r[method]["top5"] <= 1.0
    for method in ("svm", "logistic"):
        assert data["styles"]["colour"][method]["top1"] == 1.0
        assert data["styles"]["lineart"][method]["top1"] == 1.0
        assert data["styles"]["sketch"][method]["top1"] <= 0.5  # never saw a shifted row


def test_holdout_resumes_and_saves_each_style(tmp_path, monkeypatch, capsys):
    feats = tmp_path / "styled.h5"
    write_features(feats, styled_set())
    out = tmp_path / "results"
    calls = []

    def fake(fs, style, cfg):
        calls.append(style)
        if style == "sketch" and len(calls) < 3:
            raise ValueError("interrupted")
        return {"svm": {"top1": 0.5, "top5": 1.0, "n": 30}, "train_rows": len(calls)}

    monkeypatch.setattr(holdout, "holdout_style", fake)
    args = ("--features", feats, "--out", out, *SMALL_GRID)
    assert run(*args, "--holdout-style", "colour,sketch") == 1
    assert "'sketch'" in capsys.readouterr().err
    assert list(json.loads((out / "holdout.json").read_text())["styles"]) == ["colour"]  # written before sketch
    assert run(*args, "--holdout-style", "all") == 0
    assert calls == ["colour", "sketch", "lineart", "sketch"]
    data = json.loads((out / "holdout.json").read_text())
    assert data["styles"]["colour"]["train_rows"] == 1 and set(data["styles"]) == set(STYLES)
    assert run(*args, "--holdout-style", "all") == 0
    assert len(calls) == 4  # all done
    assert run(*args, "--holdout-style", "colour", "--seed", "1") == 0  # other settings: computed again
    assert len(calls) == 5 and list(json.loads((out / "holdout.json").read_text())["styles"]) == ["colour"]


def test_holdout_bad_inputs(tmp_path, capsys):
    feats = tmp_path / "styled.h5"
    write_features(feats, styled_set())
    assert run("--features", feats, "--out", tmp_path / "r", "--holdout-style", "pastel") == 1  # not in the data
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ") and str(feats) in err and "'pastel'" in err
    assert "colour, lineart, sketch" in err
    assert run("--features", feats, "--out", tmp_path / "r", "--holdout-style", "all", "--model", "m.joblib") == 2
    assert "--model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- many rows: the approximate solver


def test_least_squares_svm_is_ridge_on_plus_minus_one_targets():
    from sklearn.linear_model import Ridge

    fs = feature_set(per_class=12, std=3.0)
    X, y = fs.features, fs.labels
    cfg = SVMConfig(kernels=("linear",), C=(0.5,), folds=3)
    model = search.approx_svm_search(X, y, cfg).best_estimator_
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    Y = np.where(y[:, None] == np.array(CLASSES)[None, :], 1.0, -1.0)
    ridge = Ridge(alpha=1 / 0.5).fit(Z, Y)
    np.testing.assert_allclose(model.decision_function(X), ridge.predict(Z), rtol=1e-4, atol=1e-4)
    assert model.classes_.tolist() == list(CLASSES) and model.predict(X[:3]).tolist() == y[:3].tolist()


def test_approximate_cross_validation_equals_fold_by_fold_fits(monkeypatch):
    """One pass of statistics per kernel map gives every fold's model: the same scores as refitting each fold."""
    from sklearn.linear_model import Ridge

    fs = feature_set(per_class=15, std=6.0, seed=4)  # overlapping blobs: folds score differently
    X, y = fs.features, fs.labels
    cfg = SVMConfig(kernels=("linear", "rbf"), C=(0.01, 1.0), folds=3, components=20)
    monkeypatch.setattr(stats, "CHUNK", 7)  # statistics gathered over many small chunks
    found = search.approx_svm_search(X, y, cfg)
    res = found.cv_results_
    assert [short_params(p)["kernel"] for p in res["params"]] == ["linear", "linear", "rbf", "rbf"]
    mean, scale, varying = stats.standardisation(X)
    fold, n_folds = folds.held_out_fold(y, cfg)
    assert n_folds == found.n_splits_ == 3
    for i, params in enumerate(res["params"]):
        p = short_params(params)
        fmap = stats.kernel_map(X, (mean, scale, varying), p["kernel"], {"gamma": p.get("gamma", "scale")}, 20, 0)
        scores = []
        for f in range(3):
            Z, train, held = fmap(X), fold != f, fold == f
            Y = np.where(y[train, None] == np.array(CLASSES)[None, :], 1.0, -1.0)
            ridge = Ridge(alpha=1 / p["C"]).fit(Z[train].astype(np.float64), Y)
            scores.append((np.array(CLASSES)[ridge.predict(Z[held]).argmax(axis=1)] == y[held]).mean())
        assert res["mean_test_score"][i] == pytest.approx(np.mean(scores), abs=1e-9)
    assert found.best_score_ == max(res["mean_test_score"])


def test_stratified_sample_keeps_every_class_cross_validatable():
    y = np.repeat([1, 2, 3, 4], [1000, 100, 3, 1])
    rows = search.stratified_sample(y, 110, seed=0)
    counts = dict(zip(*np.unique(y[rows], return_counts=True)))
    assert counts == {1: 99, 2: 9, 3: 2, 4: 1}  # in proportion, at least 2 (all of a smaller class)
    assert rows.tolist() == sorted(rows.tolist()) and rows.tolist() == search.stratified_sample(y, 110, 0).tolist()
    assert not np.array_equal(rows, search.stratified_sample(y, 110, seed=1))
    assert search.stratified_sample(y, 5000, 0).tolist() == list(range(len(y)))  # few enough rows: all of them


def test_auto_solver_switches_above_the_row_limit_and_says_so(tmp_path, capsys):
    feats = write(tmp_path)  # 45 train rows
    exact, approx = tmp_path / "exact", tmp_path / "approx"
    assert run("--features", feats, "--out", exact, *SMALL_GRID) == 0
    assert "approximate" not in capsys.readouterr().out
    assert run("--features", feats, "--out", approx, *SMALL_GRID, "--exact-rows", "30") == 0
    out = capsys.readouterr().out
    assert "svm: approximate (45 train rows > --exact-rows 30)" in out
    assert "logistic: C chosen on a stratified sample of 30 of the 45 train rows" in out
    for folder, solver in ((exact, "exact"), (approx, "approx")):
        data = read_metrics(folder)
        assert data["meta"]["solver"] == solver
        for name in ("svm", "logistic"):
            assert data["methods"][name]["_info"]["solver"] == solver
            assert data["methods"][name]["val"]["global"]["top1"] == 1.0  # separable blobs: learnt either way
    info = read_metrics(approx)["methods"]
    assert info["svm"]["_info"]["multiclass"] == "ovr-least-squares" and info["svm"]["_info"]["cv_rows"] == 45
    assert info["logistic"]["_info"]["cv_rows"] == 30 and info["svm"]["_info"]["solver_note"] in out
    lines = (approx / "svm_cv.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 and {line.split(",")[4] for line in lines[1:]} == {"rbf", "linear"}
    p = read_predictions(approx, "svm")
    assert p["scores"].shape == (60, 3) and (p["pred"] == p["labels"]).all() and np.isnan(p["cross_entropy"]).all()
    again = tmp_path / "again"  # the saved approximate model applies to features as the exact one does
    assert run("--features", feats, "--out", again, "--model", approx / "svm.joblib") == 0
    assert np.allclose(read_predictions(again, "svm")["scores"], p["scores"])


def test_approximate_solver_in_the_holdout_and_its_config(tmp_path):
    result = holdout.holdout_style(styled_set(), "sketch", SVMConfig(folds=3, C=(1.0,), kernels=("linear",),
                                                                 logistic_C=(1.0,), solver="approx"))
    assert result["svm"]["solver"] == result["logistic"]["solver"] == "approx"
    assert result["svm"]["n"] == 30 and result["svm"]["top1"] <= 0.5  # never saw a shifted row
    assert "solver" not in holdout.holdout_config(SVMConfig())  # older holdout.json files stay valid
    assert holdout.holdout_config(SVMConfig(solver="approx"))["solver"] == "approx"
