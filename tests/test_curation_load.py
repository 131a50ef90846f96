"""curation.load: a manifest into FiftyOne, idempotently, on a throwaway database."""
import json

import pytest

from curation.load import class_label, group_rows, load
from curation.load import get_args_parser as load_args
from curation.load import main as load_main
from tests.conftest import make_manifest as manifest

pytestmark = pytest.mark.fiftyone


def test_class_labels_tell_shared_names_apart(vocab):
    assert class_label(vocab, "n04398044") == "teapot"
    assert class_label(vocab, "n03126707") == "crane (n03126707)"
    assert list(group_rows([{"id": "a"}, {"id": "b"}, {"id": "a"}])) == ["a", "b"]


def test_load_creates_a_keyed_persistent_dataset(fiftyone, tmp_path):
    m = manifest(tmp_path)
    summary = load(m, "load-test")
    assert summary["added"] == 6 and summary["kept"] == 0 and summary["samples"] == 6
    ds = fiftyone.load_dataset("load-test")
    assert ds.persistent and ds.count_sample_tags() == {"train": 4, "val": 2}
    s = ds.match({"image_id": f"{0:064x}"}).first()
    assert s.ground_truth.label == "teapot" and s.wnid == "n04398044" and s.class_index == 849 and s.split == "val"
    assert (s.source, s.style, s.collection, s.license, s.original_name) == ("dir", "clipart", "toy", "CC0-1.0", "teapot_0.png")
    assert s.metadata.width == 40 and s.metadata.height == 30 and s.metadata.size_bytes > 0
    crane = ds.match({"image_id": f"{2:064x}"}).first()
    assert crane.ambiguous and crane.candidates == ["n02012849", "n03126707"]
    assert crane.ground_truth.label == "crane (n02012849)" and crane.candidate_labels[1] == "crane (n03126707)"


def test_reloading_adds_only_new_images_and_keeps_curation(fiftyone, tmp_path):
    m = manifest(tmp_path)
    load(m, "load-idem")
    ds = fiftyone.load_dataset("load-idem")
    s = ds.match({"image_id": f"{1:064x}"}).first()
    s.ground_truth.label = "hammer"  # curated in the App
    s.tags.append("accepted")
    s.save()
    more = manifest(tmp_path, n=3, start=6)
    again = load(m, "load-idem")
    assert again["added"] == 0 and again["kept"] == 6
    grown = load(more, "load-idem")
    assert grown["added"] == 3 and grown["samples"] == 9
    ds.reload()
    kept = ds.match({"image_id": f"{1:064x}"}).first()
    assert kept.ground_truth.label == "hammer" and "accepted" in kept.tags
    assert len(ds.info["manifests"]) == 2


def test_load_cli(fiftyone, tmp_path, capsys):
    m = manifest(tmp_path)
    assert load_main(load_args().parse_args(["--manifest", str(m), "--dataset", "load-cli"])) == 0
    assert "6 samples added, 0 already there" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x"}) + "\n")
    assert load_main(load_args().parse_args(["--manifest", str(bad), "--dataset", "load-cli"])) == 1
    assert "bad.jsonl" in capsys.readouterr().err


def test_inserted_samples_read_back_like_api_samples(fiftyone, tmp_path, vocab):
    from curation.load import open_dataset, sample_document

    rows = [json.loads(line) for line in manifest(tmp_path).read_text().splitlines()]
    load(manifest(tmp_path), "load-raw")
    raw = fiftyone.load_dataset("load-raw").match({"image_id": rows[2]["id"]}).first()
    api = open_dataset(fiftyone, "load-api")
    api.add_sample(fiftyone.Sample.from_dict(sample_document([rows[2], rows[-1]], vocab)))
    via_api = api.first()

    def plain(sample):
        d = sample.to_dict()
        d["ground_truth"].pop("_id")
        for stamp in ("created_at", "last_modified_at"):
            assert d.pop(stamp)
        return d

    assert plain(raw) == plain(via_api)
    assert raw.media_type == "image" and fiftyone.load_dataset("load-raw").media_type == "image"
    assert fiftyone.load_dataset("load-raw").get_field_schema()["sense_rank"].__class__.__name__ == "IntField"
    assert len(fiftyone.load_dataset("load-raw").take(3)) == 3  # _rand is there for random views
