"""curation.writeback: hand-made predictions onto FiftyOne, checked field by field, run by run, view by view;
the pure scoring (evaluation.scores) on its own."""
import math
import uuid

import numpy as np
import pytest

from curation.load import class_label, load
from curation.runs import run_config
from curation.writeback import WritebackConfig, get_args_parser, main, write_back
from curation.writeback_fields import default_name, run_key, validate_name
from datasets.manifest import read_manifest, write_jsonl
from evaluation.metrics import log_softmax
from evaluation.results import read_metrics, write_method
from evaluation.scores import (
    choose_rows,
    class_columns,
    class_metrics,
    compact_logits,
    expand_logits,
    method_logits,
    rank_gain,
    score_blocks,
)
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone

CLASSES = [1, 134, 207, 500, 517, 849, 879]  # sorted, as evaluation.svm stores them; 7 > k=5, so top-5 can fail
TEAPOT, UMBRELLA, CRANE, CRANE_MACHINE = 849, 879, 134, 517
OUTSIDER = "f" * 64  # a prediction id that is not in the dataset
# (image, row label, rank of that label, score spacing): images 0..7 of make_manifest are teapot, umbrella,
# crane (also matched the machine crane: two rows), teapot, ...; image 7 has no row at all.
LR_ROWS = [(0, TEAPOT, 0, 1.0), (1, UMBRELLA, 0, 1.0), (2, CRANE, 0, 1.0), (2, CRANE_MACHINE, 0, 1.0),
           (3, TEAPOT, 6, 0.1), (4, UMBRELLA, 6, 1.0), (5, CRANE, 1, 1.0), (6, TEAPOT, 2, 5.0),
           (OUTSIDER, TEAPOT, 0, 1.0)]
SVM_RANKS = {0: 2, 1: 3, 2: 0, 3: 1, 4: 1, 5: 0, 6: 6}


def image_id(i) -> str:
    return i if isinstance(i, str) else f"{i:064x}"


def split_of(i) -> str:
    return "val" if isinstance(i, str) or i % 2 == 0 else "train"


def order_for(label: int, rank: int) -> list[int]:
    """Score columns best first: ``label`` at position ``rank``, the other classes in index order."""
    col = CLASSES.index(label)
    others = [c for c in range(len(CLASSES)) if c != col]
    return others[:rank] + [col] + others[rank:]


def ramp(label: int, rank: int, spacing: float) -> np.ndarray:
    scores = np.empty(len(CLASSES))
    scores[order_for(label, rank)] = spacing * np.arange(len(CLASSES), 0, -1)
    return scores


def predictions(rows, *, log_probs: bool) -> dict:
    """A method's predictions.h5 arrays: log-probabilities (like logistic) or raw decision values (like the SVM)."""
    scores = np.stack([ramp(label, rank, spacing) for _, label, rank, spacing in rows])
    if log_probs:
        scores = log_softmax(scores)
    labels = np.array([label for _, label, _, _ in rows])
    targets = np.array([CLASSES.index(label) for label in labels])
    top5 = np.array(CLASSES)[np.argsort(-scores, axis=1)[:, :5]]
    ce = -scores[np.arange(len(rows)), targets] if log_probs else np.full(len(rows), np.nan)
    return {"ids": np.array([image_id(i) for i, *_ in rows], dtype=object),
            "splits": np.array([split_of(i) for i, *_ in rows], dtype=object), "labels": labels,
            "pred": top5[:, 0], "top5": top5, "scores": scores.astype(np.float32),
            "true_rank": np.array([rank for _, _, rank, _ in rows]), "cross_entropy": ce.astype(np.float32),
            "classes": np.array(CLASSES)}


def svm_rows():
    return [(i, label, SVM_RANKS[i] if label != CRANE_MACHINE else 0, 1.0) for i, label, _, _ in LR_ROWS
            if not isinstance(i, str)]


@pytest.fixture
def results(tmp_path):
    out = tmp_path / "results"
    write_method(out, "logistic", {}, predictions(LR_ROWS, log_probs=True), {"backbone": "fake-net"})
    write_method(out, "svm", {}, predictions(svm_rows(), log_probs=False), {"backbone": "fake-net"})
    return out


@pytest.fixture
def dataset(fiftyone, tmp_path):
    """make_manifest's 8 images (one sample per image), even images in val, in a dataset of its own."""
    manifest = make_manifest(tmp_path, n=8)
    rows = read_manifest(manifest)
    for r in rows:
        r["split"] = split_of(int(r["id"], 16))
    write_jsonl(manifest, rows)
    name = f"wb-{uuid.uuid4().hex[:8]}"
    load(manifest, name)
    return fiftyone.load_dataset(name)


def by_image(ds, field):
    return dict(zip(ds.values("image_id"), ds.values(field)))


def run(ds, results, **kw) -> dict:
    summary = write_back(WritebackConfig(dataset=ds.name, results=results, **kw))
    ds.reload()
    return summary


def cli(*argv) -> int:
    return main(get_args_parser().parse_args([str(a) for a in argv]))


def test_bad_usage_is_refused_before_anything_is_read(tmp_path, capsys):
    """Exit 2 and one line, before a dataset is opened: the options alone are wrong."""
    for argv, message in [
        ([], "give --results RESULTS_DIR (with --method), --run RUN_DIR or --delete NAME"),
        (["--run", tmp_path, "--results", tmp_path], "--results and --run do different things: give one of them"),
        (["--delete", "lr", "--method", "svm"], "--delete takes no --method (they go with --results)"),
        (["--run", tmp_path, "--compare", "lr", "--split", "all"], "--run takes no --compare, --split"),
        (["--results", tmp_path, "--name", "a", "--compare", "a"], "--compare a: cannot compare a with itself"),
        (["--results", tmp_path, "--compare", "x.y"], "--compare 'x.y': use a letter followed by"),
        (["--delete", "1st"], "--delete '1st': use a letter followed by"),
        (["--results", tmp_path, "--method", "suggest", "--name", "s"], "--method suggest writes the field"),
    ]:
        assert cli(*argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("curation.writeback: error: ") and message in err and err.count("\n") == 1, err


# ---------------------------------------------------------------- pure core


def test_names_rows_logits_and_per_class_metrics():
    assert validate_name("svm_effl0") == "svm_effl0"
    for bad in ("a.b", "_x", "1st", "a b", "$x", ""):
        with pytest.raises(ValueError, match="--name"):
            validate_name(bad)
    assert default_name("svm", "efficientnet-lite0") == "svm_efficientnet_lite0"
    assert default_name("baseline", None) == "baseline"
    rows = choose_rows(np.array(["a", "b", "b", "c"], dtype=object), np.array([1, 2, 3, 4]),
                       ["b", "a", "z", "c"], [3, 9, 1, 4])
    assert rows.tolist() == [2, 0, -1, 3]  # the row of the current class, else the first, else none
    probs = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]], dtype=np.float16)
    logits, were_probs = method_logits(probs)
    assert were_probs and np.isfinite(logits).all() and np.allclose(np.exp(logits[1]), [0.25, 0.25, 0.5])
    decision = np.array([[-1.0, 2.0, 0.5]])
    assert method_logits(decision)[1] is False and np.array_equal(method_logits(decision)[0], decision)
    m = class_metrics(np.array(["a", "a", "b"]), np.array(["val", "val", "train"]), np.array([0, 6, 2]),
                      np.array([0.5, 1.5, np.nan]))
    assert m["val"]["a"] == {"n": 2, "top1": 0.5, "top5": 0.5, "cross_entropy": 1.0}
    assert m["train"]["b"]["cross_entropy"] is None and m["all"]["a"]["n"] == 2
    assert rank_gain([0, 3, None], [2, 1, 4]) == [2, -2, None]


def test_compact_logits_keep_the_softmax_of_the_kept_classes_and_the_top5():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (40, 1000)).astype(np.float32)
    logits[-1] = np.r_[0.0, -800.0 - np.arange(999) / 8]  # a sure row's log-probabilities: exp(rest) underflows
    target = rng.integers(-1, 1000, 40)
    target[:10] = np.argsort(-logits[:10], axis=1)[:, 2]  # the current class among the best five
    cols, vals, filler = compact_logits(logits, target)
    assert cols.shape == vals.shape == (40, 6) and np.isfinite(filler).all()
    full = np.exp(log_softmax(logits))
    for i in range(40):
        stored = expand_logits(cols[i], vals[i], filler[i], 1000)
        best5 = set(np.argsort(-logits[i])[:5].tolist())
        assert len(set(cols[i].tolist())) == 6 and best5 <= set(cols[i].tolist())
        assert set(np.argsort(-stored, kind="stable")[:5].tolist()) == best5  # what a top-5 evaluation finds
        assert target[i] < 0 or target[i] in cols[i]
        np.testing.assert_allclose(np.exp(log_softmax(stored[None]))[0][cols[i]], full[i, cols[i]], rtol=1e-4)
        assert len(np.unique(stored)) <= 7  # six logits and one filler: ~120 bytes compressed, not 4 KB
    few = logits[:3, :6]
    c, v, f = compact_logits(few, np.array([0, 5, -1]))
    assert all(np.array_equal(expand_logits(c[i], v[i], f[i], 6), few[i]) for i in range(3))  # all kept
    assert class_columns(np.array([849, 1, 207]), np.array([1, 500, 849])).tolist() == [1, -1, 0]


def test_scores_are_read_in_contiguous_blocks(tmp_path):
    scores = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    write_method(tmp_path, "m", {}, {"scores": scores})
    rows = np.array([49, 3, 17, 18, 0, 30, 31, 32, 5])  # any order, gaps between
    seen = np.zeros(len(rows), dtype=int)
    for pos, block in score_blocks(tmp_path / "predictions.h5", "m", rows, chunk=4):
        assert np.ptp(rows[pos]) < 4 and np.array_equal(block, scores[rows[pos]])
        seen[pos] += 1
    assert (seen == 1).all()


def test_classification_documents_are_what_fiftyone_writes(fiftyone):
    from fiftyone.core.utils import serialize_numpy_array

    from curation.writeback_fields import VectorBytes, classification_docs

    vector = np.random.default_rng(1).normal(size=1000).astype(np.float32)
    assert VectorBytes(1000)(vector) == serialize_numpy_array(vector)
    logits = np.random.default_rng(2).normal(size=(2, 7)).astype(np.float32)
    cols, vals, filler = compact_logits(logits, np.array([3, -1]))
    res = {"pred": np.array([1, 0]), "confidence": np.array([0.25, 0.5]), "columns": cols, "values": vals,
           "filler": filler}
    for i, doc in enumerate(classification_docs(["a", "b"], res, 7)):
        label = fiftyone.Classification(label="ba"[i], confidence=float(res["confidence"][i]),
                                        logits=expand_logits(cols[i], vals[i], filler[i], 7))
        ref = label.to_mongo().to_dict()
        assert {k: v for k, v in doc.items() if k != "_id"} == {k: v for k, v in ref.items() if k != "_id"}


# ---------------------------------------------------------------- onto FiftyOne


def test_fields_evaluations_and_per_class(dataset, results, vocab):
    s = run(dataset, results, method="logistic", name="lr")
    assert (s["written"], s["without_prediction"], s["ids_not_in_dataset"], s["unpredictable"]) == (7, 1, 1, 0)
    labels = [class_label(vocab, vocab[c].wnid) for c in CLASSES]
    pred, rank, ce = by_image(dataset, "lr"), by_image(dataset, "lr_rank"), by_image(dataset, "lr_ce")
    assert pred[image_id(7)] is None and rank[image_id(7)] is None  # no prediction row: no fields
    for i, label, r, spacing in LR_ROWS[:3] + LR_ROWS[4:-1]:  # the crane's machine row is not its class
        p, logp = pred[image_id(i)], log_softmax(ramp(label, r, spacing)[None])[0]
        assert p.label == labels[order_for(label, r)[0]] and len(p.logits) == len(CLASSES)
        assert p.confidence == pytest.approx(math.exp(logp.max()), rel=1e-5)  # logistic: the probability
        assert rank[image_id(i)] == r and ce[image_id(i)] == pytest.approx(-logp[CLASSES.index(label)], rel=1e-5)

    assert set(dataset.list_evaluations()) >= {"lr_top1", "lr_top5"}
    top1, top5 = dataset.load_evaluation_results("lr_top1"), dataset.load_evaluation_results("lr_top5")
    assert top1.metrics()["accuracy"] == 0.5 and top5.metrics()["accuracy"] == 0.75  # val: ranks 0, 0, 6, 2
    assert s["accuracy"]["val"] == {"top1": 0.5, "top5": 0.75}
    assert s["accuracy"]["train"] == pytest.approx({"top1": 1 / 3, "top5": 2 / 3})  # ranks 0, 6, 1, unstored
    assert by_image(dataset, "lr_top5")[image_id(6)] is True and by_image(dataset, "lr_top1")[image_id(6)] is False
    assert by_image(dataset, "lr_top1")[image_id(1)] is None  # train is not under the stored runs

    per_class = run_config(dataset, "writeback_lr")["per_class"]
    teapot_ce = [-log_softmax(ramp(TEAPOT, r, sp)[None])[0][CLASSES.index(TEAPOT)] for _, _, r, sp in
                 (LR_ROWS[0], LR_ROWS[7])]
    assert per_class["val"]["teapot"] == pytest.approx({"n": 2, "top1": 0.5, "top5": 1.0,
                                                        "cross_entropy": float(np.mean(teapot_ce))})
    assert per_class["train"]["umbrella"]["n"] == 1 and per_class["all"]["teapot"]["n"] == 3
    assert by_image(dataset, "lr_class_top1")[image_id(6)] == 0.5
    assert by_image(dataset, "lr_class_top5")[image_id(3)] == 0.0  # teapot in train: only image 3, rank 6


def failures_of(dataset, name, label=None):
    from fiftyone import ViewField as F

    view = dataset.load_saved_view(f"{name}: failures")
    return (view.match(F("ground_truth.label") == label) if label else view).values("image_id")


def test_failure_views_worst_first(dataset, results):
    from curation.views import save_views

    # a per-class view as earlier versions saved them: removed when the name is written again
    save_views(dataset, {"teapot failures (lr)": dataset.view()})
    run(dataset, results, method="logistic", name="lr")
    assert [v for v in dataset.list_saved_views() if "lr" in v] == ["lr: failures"]  # one view, not one per class
    view = dataset.load_saved_view("lr: failures")
    assert set(view.distinct("ground_truth.label")) == {"teapot", "umbrella"}  # crane: no val failure
    ce = view.values("lr_ce")
    assert ce == sorted(ce, reverse=True) and failures_of(dataset, "lr", "teapot") == [image_id(6)]

    run(dataset, results, method="logistic", name="lr", split="all")
    assert failures_of(dataset, "lr", "crane (n02012849)")
    # image 6 (rank 2, steep scores) has the larger cross-entropy than image 3 (rank 6, flat scores)
    assert failures_of(dataset, "lr", "teapot") == [image_id(6), image_id(3)]
    run(dataset, results, method="svm", name="sv", split="all")  # no cross-entropy: by rank, descending
    assert failures_of(dataset, "sv", "teapot") == [image_id(6), image_id(0), image_id(3)]
    svm_rank = by_image(dataset, "sv_rank")
    assert svm_rank[image_id(6)] == 6 and svm_rank[image_id(3)] == 1
    assert by_image(dataset, "sv_ce")[image_id(0)] is None
    assert by_image(dataset, "sv")[image_id(0)].confidence == pytest.approx(
        float(np.exp(log_softmax(ramp(TEAPOT, 2, 1.0)[None])[0].max())))  # softmax of the decision values


def test_compare_and_idempotent_rerun(dataset, results):
    run(dataset, results, method="svm", name="sv")
    s = run(dataset, results, method="logistic", name="lr", compare="sv")
    gain = by_image(dataset, "lr_vs_sv")
    assert gain[image_id(6)] == 4 and gain[image_id(4)] == -5 and gain[image_id(2)] == 0 and gain[image_id(7)] is None
    assert dataset.load_saved_view("lr vs sv: improved").values("image_id") == [image_id(6), image_id(0)]
    assert dataset.load_saved_view("lr vs sv: worsened").values("image_id") == [image_id(4)]
    assert s["compare"]["improved"] == 2 and s["compare"]["worsened"] == 1

    views, evals = sorted(dataset.list_saved_views()), sorted(dataset.list_evaluations())
    schema = set(dataset.get_field_schema())
    again = run(dataset, results, method="logistic", name="lr", compare="sv")
    assert sorted(dataset.list_saved_views()) == views and sorted(dataset.list_evaluations()) == evals
    assert set(dataset.get_field_schema()) == schema and again["accuracy"] == s["accuracy"]
    assert by_image(dataset, "lr_vs_sv") == gain

    run(dataset, results, method="logistic", name="lr", split="train")  # no comparison, another split
    assert "lr_vs_sv" not in dataset.get_field_schema() and "lr vs sv: improved" not in dataset.list_saved_views()
    assert by_image(dataset, "lr_top1")[image_id(6)] is None and by_image(dataset, "lr_top1")[image_id(3)] is False
    assert "sv: failures" in dataset.list_saved_views()  # another name's views and fields are left alone
    assert dataset.has_evaluation("sv_top1") and by_image(dataset, "sv_rank")[image_id(6)] == 6


def test_each_name_is_a_fiftyone_run_replaced_by_a_rewrite_and_removed_with_the_name(dataset, results, capsys):
    run(dataset, results, method="svm", name="sv")
    first = run(dataset, results, method="logistic", name="lr", compare="sv")
    assert dataset.list_runs() == ["writeback_lr", "writeback_sv"]
    info = dataset.get_run_info("writeback_lr")
    assert info.config.method == "writeback" and info.config.accuracy == first["accuracy"]
    record = run_config(dataset, "writeback_lr")
    assert set(record["fields"]) == {"lr", "lr_rank", "lr_ce", "lr_class_top1", "lr_class_top5", "lr_class_ce",
                                     "lr_vs_sv"} and record["eval_keys"] == ["lr_top1", "lr_top5"]
    assert record["view_names"] == ["lr: failures", "lr vs sv: improved", "lr vs sv: worsened"]
    assert "incomplete" not in record and record["per_class"]["val"]["teapot"]["n"] == 2
    stamp = info.timestamp

    run(dataset, results, method="logistic", name="lr", split="train")  # the same name again: its run is replaced
    assert dataset.list_runs() == ["writeback_lr", "writeback_sv"]
    assert dataset.get_run_info("writeback_lr").timestamp > stamp
    again = run_config(dataset, "writeback_lr")
    assert again["split"] == "train" and "lr_vs_sv" not in again["fields"] and again["compare"] is None

    assert cli("--dataset", dataset.name, "--delete", "lr") == 0
    assert "lr: deleted from dataset" in capsys.readouterr().out
    dataset.reload()
    assert dataset.list_runs() == ["writeback_sv"]
    assert not any(f == "lr" or f.startswith("lr_") for f in dataset.get_field_schema())
    assert not dataset.has_evaluation("lr_top1") and not [v for v in dataset.list_saved_views() if "lr" in v]
    assert dataset.has_evaluation("sv_top1") and "sv: failures" in dataset.list_saved_views()  # another name stays
    assert cli("--dataset", dataset.name, "--delete", "lr") == 1
    assert "no written-back results named 'lr' (has sv)" in capsys.readouterr().err


def test_current_class_after_curation(dataset, results):
    """A sample moved to another class is scored against it; one moved outside the method's classes is not evaluated."""
    moves = {image_id(1): ("teapot", TEAPOT), image_id(0): ("hammer", 587),
             image_id(2): ("crane (n03126707)", CRANE_MACHINE)}  # image 2's second row
    dataset.set_values("ground_truth.label", {k: v[0] for k, v in moves.items()}, key_field="image_id")
    dataset.set_values("class_index", {k: v[1] for k, v in moves.items()}, key_field="image_id")
    s = run(dataset, results, method="logistic", name="lr")
    assert s["unpredictable"] == 1 and s["recomputed_for_new_class"] == 1
    rank, ce = by_image(dataset, "lr_rank"), by_image(dataset, "lr_ce")
    assert rank[image_id(2)] == 0  # its machine-crane row (the bird row ranks the machine 4th)
    logp = log_softmax(ramp(UMBRELLA, 0, 1.0)[None])[0]
    assert rank[image_id(1)] == 6 and ce[image_id(1)] == pytest.approx(-logp[CLASSES.index(TEAPOT)], rel=1e-5)
    assert rank[image_id(0)] is None and by_image(dataset, "lr")[image_id(0)] is not None
    assert by_image(dataset, "lr_top1")[image_id(0)] is None  # not evaluated: hammer cannot be predicted
    assert dataset.load_evaluation_results("lr_top1").metrics()["accuracy"] == pytest.approx(1 / 3)


def test_bulk_writes_store_what_set_values_stores(dataset, fiftyone):
    from bson import ObjectId

    from curation.writeback_fields import write_samples

    ids = dataset.values("id")[:3]
    labels = [fiftyone.Classification(label="teapot", confidence=0.5, logits=np.arange(3, dtype=np.float32) + k)
              for k in range(3)]
    for prefix in ("raw", "api"):
        dataset.add_sample_field(prefix, fiftyone.EmbeddedDocumentField, embedded_doc_type=fiftyone.Classification)
        dataset.add_sample_field(f"{prefix}_n", fiftyone.IntField)
    before = dataset.values("last_modified_at")[:3]
    write_samples(dataset, ids, "raw", labels, {"raw_n": [1, None, 3]})
    dataset.set_values("api", dict(zip(ids, labels)), key_field="id")
    dataset.set_values("api_n", dict(zip(ids, [1, None, 3])), key_field="id")
    for i, old in zip(ids, before):
        doc = dataset._sample_collection.find_one({"_id": ObjectId(i)})
        assert doc["raw"] == doc["api"] and doc["raw_n"] == doc["api_n"] and doc["last_modified_at"] > old
    read = dataset.select(ids, ordered=True).values("raw")
    assert [r.logits.tolist() for r in read] == [[0, 1, 2], [1, 2, 3], [2, 3, 4]] and read[0].label == "teapot"
    assert dataset.select(ids, ordered=True).values("raw_n") == [1, None, 3]


def test_saved_views_replace_their_own_and_leave_a_view_whose_url_they_would_take(dataset, results, fiftyone):
    from curation.views import delete_views, save_views

    F = fiftyone.ViewField
    view = dataset.match(F("split") == "val").sort_by("image_id", reverse=True, create_index=False)
    dataset.save_view("api view", view)
    assert save_views(dataset, {"my view": view, "API View": view}) == ["my view"]  # slug taken: skipped
    assert dataset.load_saved_view("my view").values("id") == view.values("id")
    assert dataset.load_saved_view("api view").values("id") == view.values("id")  # not overwritten
    train = dataset.match(F("split") == "train")
    assert save_views(dataset, {"my view": train}) == ["my view"]  # its own name: replaced
    assert dataset.load_saved_view("my view").values("id") == train.values("id")
    assert delete_views(dataset, lambda name: name == "my view") == 1
    reopened = fiftyone.load_dataset(dataset.name)
    assert "api view" in reopened.list_saved_views() and "my view" not in reopened.list_saved_views()


def test_cli_summary_and_errors(dataset, results, tmp_path, capsys):
    assert cli("--dataset", dataset.name, "--results", results, "--method", "svm") == 0
    out = capsys.readouterr().out
    assert "svm_fake_net (svm, 7 classes)" in out and "7 samples written" in out and "val   top-1 25.0%" in out
    assert cli("--dataset", dataset.name, "--results", tmp_path / "nowhere") == 1
    assert "nowhere/predictions.h5: no such predictions file" in capsys.readouterr().err
    assert cli("--dataset", dataset.name, "--results", results) == 1
    assert "2 methods (logistic, svm); pick one with --method" in capsys.readouterr().err
    assert cli("--dataset", dataset.name, "--results", results, "--method", "rbf") == 1
    assert "no method 'rbf'; has logistic, svm" in capsys.readouterr().err
    assert cli("--dataset", dataset.name, "--results", results, "--method", "svm", "--name", "svm.x") == 2
    assert "--name 'svm.x'" in capsys.readouterr().err
    assert cli("--dataset", dataset.name, "--results", results, "--method", "svm", "--name", "wnid") == 1
    assert "field 'wnid' already exists (not written by curation.writeback)" in capsys.readouterr().err
    assert cli("--dataset", dataset.name, "--results", results, "--method", "svm", "--compare", "nobody") == 1
    assert "--compare nobody" in capsys.readouterr().err
    assert cli("--dataset", "no-such-dataset", "--results", results, "--method", "svm") == 1
    assert "no FiftyOne dataset 'no-such-dataset'" in capsys.readouterr().err

    stranger = tmp_path / "stranger"
    write_method(stranger, "svm", {}, predictions([(OUTSIDER, TEAPOT, 0, 1.0)], log_probs=False))
    assert cli("--dataset", dataset.name, "--results", stranger, "--name", "st") == 1
    err = capsys.readouterr().err
    assert "stranger/predictions.h5: none of the 1 image ids" in err
    dataset.reload()
    assert "st" not in dataset.get_field_schema() and run_config(dataset, run_key("st")) is None  # nothing written


def test_end_to_end_with_the_baseline(dataset, tmp_path, vocab, monkeypatch):
    import curation.writeback as writeback
    import curation.writeback_fields as fields
    import evaluation.scores as scoring
    from evaluation.baseline import get_args_parser as baseline_args
    from evaluation.baseline import main as baseline_main
    from evaluation.features import FeatureSet, write_features

    rows = read_manifest(make_manifest(tmp_path, n=8))
    rng = np.random.default_rng(0)
    labels = np.array([r["class_index"] for r in rows])
    logits = rng.normal(size=(len(rows), 1000)).astype(np.float32)
    logits[np.arange(len(rows)), labels] += np.where(np.arange(len(rows)) % 3 == 0, 2.0, 5.0)  # some fail
    fs = FeatureSet(features=rng.normal(size=(len(rows), 4)).astype(np.float32), labels=labels, logits=logits,
                    ids=np.array([r["id"] for r in rows], dtype=object),
                    splits=np.array([split_of(int(r["id"], 16)) for r in rows], dtype=object),
                    wnids=np.array([r["wnid"] for r in rows], dtype=object), attrs={"backbone": "fake-net"})
    write_features(tmp_path / "feats.h5", fs)
    out = tmp_path / "baseline"
    assert baseline_main(baseline_args().parse_args(["--features", str(tmp_path / "feats.h5"), "--out", str(out)])) == 0

    blocks = []

    def spy(*args, **kwargs):
        for pos, scores in score_blocks(*args, **kwargs):
            blocks.append(len(pos))
            yield pos, scores

    monkeypatch.setattr(scoring, "SCORE_CHUNK", 3)  # scored three rows at a time, written two samples at a time
    monkeypatch.setattr(fields, "WRITE_CHUNK", 2)
    monkeypatch.setattr(writeback, "score_blocks", spy)
    s = run(dataset, out)  # the only method; name from the backbone
    assert max(blocks) <= 3 and sum(blocks) == 2 * 8  # read twice (probabilities? then scores), a block at a time
    assert s["name"] == "baseline_fake_net" and s["written"] == 8 and s["classes"] == 1000
    first = {r["id"]: i for i, r in reversed(list(enumerate(rows)))}  # each sample's own row (the first)
    rank = by_image(dataset, "baseline_fake_net_rank")
    expected = {k: int((logits[i] > logits[i, labels[i]]).sum()) for k, i in first.items()}
    assert rank == expected
    val = [k for k, i in first.items() if split_of(int(k, 16)) == "val"]
    top1 = dataset.load_evaluation_results("baseline_fake_net_top1").metrics()["accuracy"]
    top5 = dataset.load_evaluation_results("baseline_fake_net_top5").metrics()["accuracy"]
    assert top1 == np.mean([expected[k] == 0 for k in val]) and top5 == np.mean([expected[k] < 5 for k in val])
    pred = by_image(dataset, "baseline_fake_net")
    for k, i in first.items():  # confidence: the softmax probability of the predicted class (float16-stored)
        assert pred[k].confidence == pytest.approx(float(np.exp(log_softmax(logits[i:i + 1]).max())), rel=1e-2)
        assert pred[k].label == class_label(vocab, vocab[int(logits[i].argmax())].wnid)
        # compact logits: the softmax of the five best classes and of the sample's own as the baseline's
        kept = np.unique(np.r_[np.argsort(-logits[i])[:5], labels[i]])
        assert len(np.unique(pred[k].logits)) == 6 + 1 and len(pred[k].logits) == 1000  # six kept, one filler
        stored = np.exp(log_softmax(pred[k].logits[None].astype(np.float64)))[0]
        assert stored[kept] == pytest.approx(np.exp(log_softmax(logits[i:i + 1]))[0][kept], rel=2e-2, abs=1e-6)
    # classes with one row per sample agree with metrics.json's per-class figures
    json_val = read_metrics(out)["methods"]["baseline"]["val"]["per_class"]
    ours = run_config(dataset, "writeback_baseline_fake_net")["per_class"]["val"]
    for label, wnid in (("teapot", "n04398044"), ("umbrella", "n04507155")):
        assert ours[label] == pytest.approx(json_val[wnid])
