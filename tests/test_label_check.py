"""evaluation.verify's verdicts in FiftyOne: loaded, the saved view "label check", and a rejected label
confirmed by a logged action that is undone and replayed like every other."""
import json

import pytest

from curation import actions
from curation.export import export
from curation.load import load
from curation.log import CurationLog
from curation.log import get_args_parser as log_args
from curation.log import main as log_main
from curation.views import LABEL_CHECK, UNLABELLED
from datasets.manifest import read_manifest, write_jsonl
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
TEAPOT = "n04398044"


def verified_manifest(tmp_path):
    """make_manifest's images as evaluation.verify leaves them: teapots 0 and 3 rejected (the worst mapping),
    umbrella 4 unsure, the rest accepted."""
    rows = read_manifest(make_manifest(tmp_path))
    out = []
    for r in rows:
        n = int(r["id"], 16)
        check = {"verdict": "accepted", "reason": "supported", "score": 1.0, "mapping_score": 1.0}
        if r["label"] == "teapot":
            check = {"verdict": "rejected", "reason": "not supported", "score": -2.0 - n, "mapping_score": -2.0}
            r = {**r, "rejected_label": r["label"], "rejected_wnid": r["wnid"], "rejected_class_index": r["class_index"],
                 "label": None, "wnid": None, "class_index": None}
        elif n == 4:
            check = {"verdict": "unsure", "reason": "no sign of it", "score": 0.5, "mapping_score": 0.3}
        out.append({**r, "label_check": check})
    path = tmp_path / "verified" / "manifest.jsonl"
    write_jsonl(path, out)
    return path


def ids(view):
    return [int(i, 16) for i in view.values("image_id")]


def test_label_check_view_and_confirmation(fiftyone, tmp_path):
    manifest = verified_manifest(tmp_path)
    load(manifest, "label-check")
    ds = fiftyone.load_dataset("label-check")
    first = ds.match(fiftyone.ViewField("image_id") == f"{0:064x}").first()
    assert first.ground_truth is None and first.rejected_label == "teapot" and first.rejected_wnid == TEAPOT
    assert first.label_check["verdict"] == "rejected" and first.label_check["mapping_score"] == -2.0
    assert ids(ds.load_saved_view(LABEL_CHECK)) == [3, 0, 4], "worst mapping first, weakest picture first in it"
    assert sorted(ids(ds.load_saved_view(UNLABELLED))) == [0, 3], "a rejected drawing is unlabelled"

    (record,) = actions.confirm_rejected(ds, [f"{0:064x}"])
    assert record["action"] == "move" and record["via"] == "label check" and record["to"]["wnid"] == TEAPOT
    ds.reload()
    first.reload()
    assert first.ground_truth.label == "teapot" and first.review == "accepted" and first.wnid == TEAPOT
    assert ids(ds.load_saved_view(LABEL_CHECK)) == [3, 4]
    with pytest.raises(ValueError, match="has a rejected label to confirm"):
        actions.confirm_rejected(ds, [f"{1:064x}", f"{0:064x}"])  # accepted, and already confirmed

    actions.undo(ds)
    first.reload()
    assert first.ground_truth is None and first.review is None
    assert ids(ds.load_saved_view(LABEL_CHECK)) == [3, 0, 4]
    actions.confirm_rejected(ds, [f"{3:064x}"])
    log_file = tmp_path / "log.jsonl"
    log_file.write_bytes(open(ds.info["curation_log"], "rb").read())

    load(manifest, "label-check-fresh", curation_log=tmp_path / "fresh.jsonl")
    assert log_main(log_args().parse_args(["replay", "--dataset", "label-check-fresh", "--log", str(log_file)])) == 0
    fresh = fiftyone.load_dataset("label-check-fresh")
    fields = ["image_id", "wnid", "review", "ground_truth.label"]
    assert fresh.sort_by("image_id").values(fields) == ds.sort_by("image_id").values(fields)
    assert [r["action"] for r in CurationLog(fresh).records()] == ["move", "undo", "move"]
    export("label-check", tmp_path / "curated")
    exported = {int(r["id"], 16): r["label"] for r in read_manifest(tmp_path / "curated" / "manifest.jsonl")}
    assert exported.get(3) == "teapot" and 0 not in exported, "the confirmed drawing is exported in its class"


def test_confirm_label_operator(fiftyone, tmp_path):
    import fiftyone.operators as foo

    load(verified_manifest(tmp_path), "label-check-op")
    ds = fiftyone.load_dataset("label-check-op")
    view = ds.load_saved_view(LABEL_CHECK)
    result = foo.execute_operator("@drawnet/curation/confirm_label", ctx={
        "dataset": ds, "view": view, "selected": [], "params": {}})
    assert result.error is None, result.error_message
    assert result.result["samples"] == 2, "the whole view: the two rejected teapots (the unsure umbrella has a label)"
    assert ids(ds.load_saved_view(LABEL_CHECK)) == [4]
    assert json.loads(json.dumps(CurationLog(ds).records()[-1]["to"]))["label"] == "teapot"
