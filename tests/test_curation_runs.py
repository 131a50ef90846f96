"""Stages record what they wrote in FiftyOne's run registry (curation.runs)."""
import pytest

from curation.runs import record_run, run_config, runs_of

pytestmark = pytest.mark.fiftyone


def test_a_recorded_run_is_listed_read_replaced_and_deleted(fiftyone):
    import numpy as np

    fo = fiftyone
    dataset = fo.Dataset()
    record_run(dataset, "hygiene", method="hygiene", fields=["dup_group", "tiny"], flagged=np.int64(3),
               summary={"pairs": (1, 2)})
    assert dataset.list_runs() == ["hygiene"]
    config = run_config(dataset, "hygiene")
    assert config["method"] == "hygiene" and config["fields"] == ["dup_group", "tiny"]
    assert config["flagged"] == 3 and config["summary"] == {"pairs": [1, 2]}
    record_run(dataset, "hygiene", method="hygiene", fields=["tiny"])  # a second run replaces the first
    assert run_config(dataset, "hygiene")["fields"] == ["tiny"]
    record_run(dataset, "writeback_svm", method="writeback", fields=["svm"])
    assert set(runs_of(dataset, "writeback")) == {"writeback_svm"}
    assert run_config(fo.load_dataset(dataset.name), "writeback_svm")["fields"] == ["svm"]  # stored, not cached
    dataset.delete_run("hygiene")
    assert run_config(dataset, "hygiene") is None and dataset.list_runs() == ["writeback_svm"]
    with pytest.raises(ValueError, match="identifier"):
        record_run(dataset, "bad-key", method="x")
