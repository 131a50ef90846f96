import json
import logging
import math

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from evaluation.features import FeatureSet, write_features
from evaluation.results import read_metrics, read_predictions
from evaluation.svm import SVMConfig, evaluate_model, get_args_parser, main, make_cv

CLASSES = (1, 207, 849)  # ILSVRC indices: goldfish, golden retriever, teapot
WNIDS = {1: "n01443537", 207: "n02099601", 849: "n04398044", 500: "n03000134"}
NAMES = {1: "goldfish", 207: "golden retriever", 849: "teapot", 500: "cliff dwelling"}
SMALL_GRID = ["--kernels", "rbf,linear", "--C", "1", "--gamma", "scale", "--folds", "3", "--logistic-C", "1"]


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


def test_feature_dim_mismatch(trained, tmp_path, capsys):
    _, out = trained
    narrow = write(tmp_path, dim=6)
    assert run("--features", narrow, "--out", tmp_path / "r", "--model", out / "svm.joblib") == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ")
    assert "dimension" in err and "expects 8" in err and "have 6" in err and str(narrow) in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_backbone_mismatch(trained, tmp_path, capsys):
    _, out = trained
    other = write(tmp_path, backbone="other-net")
    assert run("--features", other, "--out", tmp_path / "r", "--model", out / "svm.joblib") == 2
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
    assert run("--features", tmp_path / "f.h5", "--out", tmp_path / "r", *SMALL_GRID) == 2
    err = capsys.readouterr().err
    assert "cannot cross-validate" in err and str(tmp_path / "f.h5") in err


def test_bad_inputs(tmp_path, capsys):
    missing = tmp_path / "nope.h5"
    assert run("--features", missing, "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluation.svm: ") and str(missing) in err and "Traceback" not in err

    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert run("--features", junk, "--out", tmp_path / "r") == 2
    assert str(junk) in capsys.readouterr().err

    fs = feature_set()
    only_train = tmp_path / "train.h5"
    write_features(only_train, fs.split("train"))
    assert run("--features", only_train, "--out", tmp_path / "r") == 2
    err = capsys.readouterr().err
    assert str(only_train) in err and "'val'" in err

    only_val = tmp_path / "val.h5"
    write_features(only_val, fs.split("val"))
    assert run("--features", only_val, "--out", tmp_path / "r") == 2
    assert "'train'" in capsys.readouterr().err

    fs.features[3, 2] = np.nan
    nan = tmp_path / "nan.h5"
    write_features(nan, fs)
    assert run("--features", nan, "--out", tmp_path / "r") == 2
    assert "NaN" in capsys.readouterr().err

    assert run("--features", only_val, "--out", tmp_path / "r", "--model", tmp_path / "none.joblib") == 2
    assert "none.joblib" in capsys.readouterr().err

    assert run("--features", only_val, "--out", tmp_path / "r", "--kernels", "rbf,cubic") == 2
    assert "cubic" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_metrics_json_is_plain_json(trained):
    _, out = trained
    data = json.loads((out / "metrics.json").read_text())
    assert data["methods"]["svm"]["_info"]["features"].endswith("feats.h5")
    assert data["methods"]["svm"]["_info"]["backbone"] == "fake-net"
