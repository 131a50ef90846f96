"""Unlabelled samples, suggestions written back, accepted and refused: views, log, undo, replay and export."""
import json

import pytest

from curation import actions
from curation.export import export
from curation.load import load
from curation.log import CurationLog, read_jsonl_log
from curation.log import get_args_parser as log_args
from curation.log import main as log_main
from curation.suggestions import pick, review_order
from curation.views import SUGGESTIONS, TO_REVIEW, UNLABELLED
from curation.writeback import get_args_parser as wb_args
from curation.writeback import main as wb_main
from datasets.manifest import read_manifest, write_jsonl
from tests.conftest import make_image, make_manifest

pytestmark = pytest.mark.fiftyone
TEAPOT, UMBRELLA, HAMMER = "n04398044", "n04507155", "n03481172"
FREE = [f"{100 + i:064x}" for i in range(5)]  # the unlabelled images


def manifest_with_unlabelled(tmp_path):
    """make_manifest's 6 labelled images and 5 files whose names matched no class."""
    m = make_manifest(tmp_path)
    rows = [json.loads(line) for line in m.read_text().splitlines()]
    for k, image_id in enumerate(FREE):
        path = make_image(tmp_path / "img" / f"img_{k:04d}.png", seed=100 + k, size=(40, 30))
        rows.append({"id": image_id, "filepath": str(path), "original_name": f"img_{k:04d}.png", "label": None,
                     "wnid": None, "class_index": None, "split": "train" if k % 2 else "val", "matched_words": [],
                     "lemma": None, "lang": None, "sense_rank": None, "ambiguous": False, "candidates": [],
                     "source": "dir", "style": "clipart", "set": "toy", "license": "CC0-1.0", "width": 40, "height": 30})
    write_jsonl(m, rows)
    return m


def write_suggest_folder(folder, lines, threshold=0.6):
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "suggestions.jsonl", lines)
    (folder / "suggest.json").write_text(json.dumps({"threshold": threshold, "estimated": {"precision": 0.95}}))
    return folder


LINES = [  # FREE[3] abstains; FREE[4] has no line at all
    {"id": FREE[0], "suggestion": TEAPOT, "confidence": 0.9, "top5": [[TEAPOT, 0.9], [HAMMER, 0.07]]},
    {"id": FREE[1], "suggestion": UMBRELLA, "confidence": 0.97, "top5": [[UMBRELLA, 0.97], [TEAPOT, 0.02]]},
    {"id": FREE[2], "suggestion": TEAPOT, "confidence": 0.7, "top5": [[TEAPOT, 0.7], [HAMMER, 0.65]]},
    {"id": FREE[3], "suggestion": None, "confidence": 0.4, "top5": [[HAMMER, 0.4], [TEAPOT, 0.3]]},
]


def suggested(ds):
    view = ds.load_saved_view(SUGGESTIONS)
    return list(zip(view.values("image_id"), view.values("suggestion.wnid")))


def write_back(ds_name, folder):
    assert wb_main(wb_args().parse_args(["--dataset", ds_name, "--results", str(folder), "--method", "suggest"])) == 0


def test_pick_and_order_are_pure():
    line = LINES[2]
    assert pick(line, [], 0.6) == (TEAPOT, 0.7)
    assert pick(line, [TEAPOT], 0.6) == (HAMMER, 0.65)  # refused: the next class that clears the threshold
    assert pick(line, [TEAPOT], 0.66) == (None, None)
    assert pick(LINES[3], [], 0.0) == (None, None)  # the model abstained
    order = review_order({"a": (TEAPOT, 0.5), "b": (UMBRELLA, 0.97), "c": (TEAPOT, 0.9), "d": (UMBRELLA, 0.6)})
    assert sorted(order, key=order.get) == ["b", "d", "c", "a"]  # classes by their best, then confidence


def test_unlabelled_samples_get_suggestions_in_review_order(fiftyone, tmp_path, capsys):
    load(manifest_with_unlabelled(tmp_path), "sug-views")
    ds = fiftyone.load_dataset("sug-views")
    assert len(ds) == 11 and ds.count("ground_truth") == 6
    assert sorted(ds.load_saved_view(UNLABELLED).values("image_id")) == FREE
    assert len(ds.load_saved_view(TO_REVIEW)) == 6  # labelled samples only
    assert suggested(ds) == []
    write_back("sug-views", write_suggest_folder(tmp_path / "suggest", LINES))
    assert "3 of 5 unlabelled samples have a suggestion, 2 none" in capsys.readouterr().out
    # umbrella (best 0.97) first, then teapot's two, most confident first
    assert suggested(ds) == [(FREE[1], UMBRELLA), (FREE[0], TEAPOT), (FREE[2], TEAPOT)]
    s = ds.match({"image_id": FREE[1]}).first()
    assert (s.suggestion.label, s.suggestion.confidence, s.ground_truth) == ("umbrella", 0.97, None)
    assert ds.info["suggestions"]["threshold"] == 0.6
    assert wb_main(wb_args().parse_args(["--dataset", "sug-views", "--results", str(tmp_path / "nope"),
                                         "--method", "suggest"])) == 1  # a missing file: the work failed
    assert "nope/suggestions.jsonl: no such suggestions file" in capsys.readouterr().err


def test_accepted_suggestion_is_a_logged_move_undone_and_replayed(fiftyone, tmp_path):
    m = manifest_with_unlabelled(tmp_path)
    load(m, "sug-accept")
    ds = fiftyone.load_dataset("sug-accept")
    write_back("sug-accept", write_suggest_folder(tmp_path / "suggest", LINES))
    records = actions.accept_suggestions(ds, [FREE[0], FREE[1], FREE[3]])  # FREE[3] has none: left alone
    assert [(r["action"], r["via"], r["to"]["wnid"], r["image_ids"]) for r in records] == [
        ("move", "suggestion", TEAPOT, [FREE[0]]), ("move", "suggestion", UMBRELLA, [FREE[1]])]
    assert records[0]["before"] == {FREE[0]: [None, None, None, None]}
    s = ds.match({"image_id": FREE[0]}).first()
    assert (s.review, s.wnid, s.class_index, s.ground_truth.label) == ("accepted", TEAPOT, 849, "teapot")
    assert suggested(ds) == [(FREE[2], TEAPOT)]
    actions.undo(ds)  # the umbrella: unlabelled again, its suggestion back in review
    s = ds.match({"image_id": FREE[1]}).first()
    assert (s.review, s.wnid, s.ground_truth) == (None, None, None)
    assert suggested(ds) == [(FREE[1], UMBRELLA), (FREE[2], TEAPOT)]
    with pytest.raises(ValueError, match="none of the given samples has a suggestion"):
        actions.accept_suggestions(ds, [FREE[0], FREE[4]])  # labelled now; never suggested

    log_file = tmp_path / "kept.jsonl"
    log_file.write_bytes(open(ds.info["curation_log"], "rb").read())
    load(m, "sug-accept-fresh", curation_log=tmp_path / "fresh.jsonl")
    assert log_main(log_args().parse_args(["replay", "--dataset", "sug-accept-fresh", "--log", str(log_file)])) == 0
    fresh = fiftyone.load_dataset("sug-accept-fresh")
    fields = ["image_id", "review", "wnid", "class_index", "ground_truth.label"]
    assert fresh.values(fields) == ds.values(fields)

    summary = export("sug-accept", tmp_path / "exported")
    rows = {r["id"]: r for r in read_manifest(tmp_path / "exported" / "manifest.jsonl")}
    assert rows[FREE[0]]["wnid"] == TEAPOT and rows[FREE[0]]["label"] == "teapot"
    assert rows[FREE[0]]["review"] == "accepted" and FREE[1] not in rows
    assert summary["left_out"] == {"unlabelled": 4}


def test_refused_suggestions_never_come_back(fiftyone, tmp_path):
    m = manifest_with_unlabelled(tmp_path)
    load(m, "sug-refuse")
    ds = fiftyone.load_dataset("sug-refuse")
    folder = write_suggest_folder(tmp_path / "suggest", LINES)
    write_back("sug-refuse", folder)
    record = actions.refuse_suggestions(ds, [FREE[0], FREE[2]])
    assert record["action"] == "refuse" and record["refused"] == {FREE[0]: TEAPOT, FREE[2]: TEAPOT}
    assert suggested(ds) == [(FREE[1], UMBRELLA)]
    s = ds.match({"image_id": FREE[0]}).first()
    assert (s.review, s.ground_truth, s.refused_suggestions) == (None, None, [TEAPOT])  # still unlabelled
    with pytest.raises(ValueError, match="none of the given samples has a suggestion"):
        actions.accept_suggestions(ds, [FREE[0]])
    write_back("sug-refuse", folder)  # the same suggestions again: teapot never comes back
    assert suggested(ds) == [(FREE[1], UMBRELLA), (FREE[2], HAMMER)]  # 0.65 clears 0.6; FREE[0]'s 0.07 does not
    assert ds.match({"image_id": FREE[0]}).first().suggestion is None
    assert ds.info["suggestions"]["refusals_honoured"] == 2
    actions.refuse_suggestions(ds, [FREE[2]])
    write_back("sug-refuse", folder)
    assert suggested(ds) == [(FREE[1], UMBRELLA)]
    undo = actions.undo(ds)  # takes back the hammer refusal only
    assert undo["undoes_action"] == "refuse"
    assert ds.match({"image_id": FREE[2]}).first().refused_suggestions == [TEAPOT]

    log_file = tmp_path / "kept.jsonl"
    log_file.write_bytes(open(ds.info["curation_log"], "rb").read())
    load(m, "sug-refuse-fresh", curation_log=tmp_path / "fresh.jsonl")
    assert log_main(log_args().parse_args(["replay", "--dataset", "sug-refuse-fresh", "--log", str(log_file)])) == 0
    fresh = fiftyone.load_dataset("sug-refuse-fresh")
    assert fresh.values(["image_id", "refused_suggestions"]) == ds.values(["image_id", "refused_suggestions"])
    write_back("sug-refuse-fresh", folder)
    assert suggested(fresh) == [(FREE[1], UMBRELLA), (FREE[2], HAMMER)]
    assert [r["action"] for r in CurationLog(fresh).records()] == ["refuse", "refuse", "undo"]
    assert len(read_jsonl_log(tmp_path / "fresh.jsonl")) == 3


def test_plugin_reviews_suggestions(fiftyone, tmp_path):
    import fiftyone.operators as foo

    load(manifest_with_unlabelled(tmp_path), "sug-plugin")
    ds = fiftyone.load_dataset("sug-plugin")
    write_back("sug-plugin", write_suggest_folder(tmp_path / "suggest", LINES))
    ids = dict(zip(ds.values("image_id"), ds.values("id")))

    def run(op, selected, view=None):
        result = foo.execute_operator(f"@drawnet/curation/{op}", ctx={
            "dataset": ds, "view": view or ds.view(), "selected": selected, "params": {}})
        assert result.error is None, result.error_message
        return result.result

    assert run("accept_suggestion", [ids[FREE[1]]])["samples"] == 1
    assert run("refuse_suggestion", [], ds.load_saved_view(SUGGESTIONS))["samples"] == 2  # the whole view
    assert suggested(ds) == []
    assert [r["action"] for r in CurationLog(ds).records()] == ["move", "refuse"]


def test_suggest_command_writes_onto_the_dataset(fiftyone, tmp_path, capsys):
    """evaluation.suggest, then curation.writeback --method suggest: fitted on labelled rows, its suggestions land
    on the unlabelled samples."""
    import numpy as np

    from evaluation.features import UNLABELLED, FeatureSet, write_features
    from evaluation.suggest import get_args_parser as suggest_args
    from evaluation.suggest import main as suggest_main

    load(manifest_with_unlabelled(tmp_path), "sug-e2e")
    rng = np.random.default_rng(0)
    centres = {849: 0, 879: 1, 587: 2, 134: 3}  # teapot, umbrella, hammer, crane: far apart in 8 dims
    wnid = {849: TEAPOT, 879: UMBRELLA, 587: HAMMER, 134: "n02012849"}
    labels = np.repeat(list(centres), 30)
    X = np.stack([np.eye(8)[centres[c]] * 6 + rng.normal(size=8) for c in labels])
    # the unlabelled images: two clear teapots, one clear umbrella, two halfway between every class
    new = np.stack([np.eye(8)[0] * 6, np.eye(8)[0] * 6, np.eye(8)[1] * 6, np.full(8, 1.5), np.full(8, 1.5)])
    ids = np.array([f"l{i}" for i in range(len(labels))] + FREE, dtype=object)
    n = len(ids)
    fs = FeatureSet(features=np.vstack([X, new]).astype(np.float32), labels=np.r_[labels, [UNLABELLED] * 5],
                    ids=ids, splits=np.array(["train"] * n, dtype=object),
                    wnids=np.array([wnid[c] for c in labels] + [""] * 5, dtype=object),
                    label_names=np.array([""] * n, dtype=object),
                    attrs={"backbone": "toy", "layer": "toy"})
    write_features(tmp_path / "f.h5", fs)
    args = suggest_args().parse_args(["--features", str(tmp_path / "f.h5"), "--out", str(tmp_path / "s"),
                                      "--no-clip"])
    assert suggest_main(args) == 0
    out = capsys.readouterr().out
    assert "5 unlabelled:" in out and f"python -m curation.writeback --dataset NAME --results {tmp_path / 's'}" in out
    assert wb_main(wb_args().parse_args(["--dataset", "sug-e2e", "--results", str(tmp_path / "s"),
                                         "--method", "suggest"])) == 0
    assert "suggestions to review" in capsys.readouterr().out
    ds = fiftyone.load_dataset("sug-e2e")
    got = dict(suggested(ds))
    assert got.get(FREE[0]) == TEAPOT and got.get(FREE[1]) == TEAPOT and got.get(FREE[2]) == UMBRELLA
    assert FREE[3] not in got and FREE[4] not in got  # halfway between classes: abstained
