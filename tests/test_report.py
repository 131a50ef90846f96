"""evaluation.report: the printed tables, report.md and the figures, from hand-made results folders."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation import report
from evaluation.results import write_method

TEAPOT, UMBRELLA, HAMMER = "n04398044", "n04507155", "n03481172"


def m(n, top1, top5, ce=None) -> dict:
    return {"n": n, "top1": top1, "top5": top5, "cross_entropy": ce}


def baseline_metrics() -> dict:
    return {
        "val": {
            "global": m(4, 0.75, 1.0, 1.234),
            "per_class": {TEAPOT: m(2, 1.0, 1.0, 0.1), UMBRELLA: m(1, 0.0, 1.0, 3.5), HAMMER: m(1, 1.0, 1.0, 0.2)},
            "per_style": {"clipart": m(2, 0.5, 1.0, 2.0), "tuxpaint": m(2, 1.0, 1.0, 0.3)},
            "confusion": {"labels": [TEAPOT, UMBRELLA, HAMMER], "names": ["teapot", "umbrella", "hammer"],
                          "matrix": [[2, 0, 0], [1, 0, 0], [0, 0, 1]]},
        },
        "train": {"global": m(10, 0.9, 1.0, 0.5)},
        "_info": {"head": "imagenet"},
    }


def svm_metrics() -> dict:
    return {
        "val": {
            "global": m(4, 0.5, 0.75),
            "per_class": {TEAPOT: m(2, 0.5, 1.0), UMBRELLA: m(1, 0.0, 0.0), HAMMER: m(1, 1.0, 1.0)},
            "per_style": {"clipart": m(2, 0.0, 0.5), "tuxpaint": m(2, 1.0, 1.0)},
        },
    }


PREDICTIONS = {"ids": np.array(["a", "b", "c", "d"]), "pred": np.array([0, 0, 1, 2])}


@pytest.fixture
def drawn(tmp_path) -> Path:
    folder = tmp_path / "drawn_resnet"
    meta = {"subset": "drawn", "backbone": "resnet50", "layer": "avgpool"}
    write_method(folder, "svm", svm_metrics(), PREDICTIONS, meta)
    write_method(folder, "baseline", baseline_metrics(), PREDICTIONS, meta)
    return folder


@pytest.fixture
def emoji(tmp_path) -> Path:
    folder = tmp_path / "emoji_resnet"
    write_method(folder, "logistic", {"val": {"global": m(5, 0.2, 0.4, 2.0)}}, PREDICTIONS, {"subset": "emoji"})
    write_method(folder, "baseline", {"val": {"global": m(5, 0.6, 0.8, 1.5)}}, PREDICTIONS, {"subset": "emoji"})
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = report.main(report.get_args_parser().parse_args(list(argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def table(out: str, title: str) -> tuple[list[str], dict[str, list[str]]]:
    """The printed table under ``title``: header cells and {first cell: row cells}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    header = re.split(r"\s{2,}", lines[start + 1].strip())
    rows = {}
    for line in lines[start + 3:]:
        if not line.strip():
            break
        if set(line.strip()) <= {"-", " "}:
            continue
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return header, rows


def test_summary_table_one_folder(drawn, capsys):
    rc, out, err = run(capsys, "--results", str(drawn))
    assert rc == 0, err
    header, rows = table(out, "Top-1 / top-5 accuracy (%) on val")
    assert header == ["method", "drawn"]
    assert list(rows) == ["baseline", "svm", "n"]  # stable order, not the order written
    assert rows["baseline"] == ["baseline", "75.0 / 100.0"]
    assert rows["svm"] == ["svm", "50.0 / 75.0"]
    assert rows["n"] == ["n", "4"]
    assert str(drawn / "report") in out


def test_two_folders_two_columns_and_missing_methods(drawn, emoji, capsys):
    rc, out, err = run(capsys, "--results", str(drawn), "--results", str(emoji), "--out", str(drawn.parent / "r"))
    assert rc == 0, err
    header, rows = table(out, "Top-1 / top-5 accuracy (%) on val")
    assert header == ["method", "drawn", "emoji"]
    assert list(rows) == ["baseline", "svm", "logistic", "n"]
    assert rows["baseline"] == ["baseline", "75.0 / 100.0", "60.0 / 80.0"]
    assert rows["svm"] == ["svm", "50.0 / 75.0", "—"]
    assert rows["logistic"] == ["logistic", "—", "20.0 / 40.0"]
    assert rows["n"] == ["n", "4", "5"]
    md = (drawn.parent / "r" / "report.md").read_text(encoding="utf-8")
    assert "| logistic | — | 20.0 / 40.0 |" in md


def test_split_option(drawn, capsys):
    rc, out, err = run(capsys, "--results", str(drawn), "--split", "train")
    assert rc == 0, err
    _, rows = table(out, "Top-1 / top-5 accuracy (%) on train")
    assert rows["baseline"] == ["baseline", "90.0 / 100.0"]
    assert rows["svm"] == ["svm", "—"]
    assert rows["n"] == ["n", "10"]


def test_duplicate_subsets_are_told_apart(drawn, tmp_path, capsys):
    other = tmp_path / "drawn_vit"
    write_method(other, "baseline", {"val": {"global": m(4, 0.25, 0.5)}}, PREDICTIONS, {"subset": "drawn"})
    rc, out, err = run(capsys, "--results", str(drawn), "--results", str(other))
    assert rc == 0, err
    header, rows = table(out, "Top-1 / top-5 accuracy (%) on val")
    assert header == ["method", "drawn (drawn_resnet)", "drawn (drawn_vit)"]
    assert rows["baseline"][1:] == ["75.0 / 100.0", "25.0 / 50.0"]


def test_style_and_worst_class_tables(drawn, capsys):
    rc, out, err = run(capsys, "--results", str(drawn))
    assert rc == 0, err
    header, rows = table(out, "Top-1 (%) per style on val")
    assert header == ["style", "n", "baseline top-1", "svm top-1"]
    assert rows["clipart"] == ["clipart", "2", "50.0", "0.0"]
    assert rows["tuxpaint"] == ["tuxpaint", "2", "100.0", "100.0"]

    header, rows = table(out, "baseline: the 10 worst classes")
    assert header == ["class", "n", "top-1", "top-5", "cross-entropy"]
    assert list(rows) == ["umbrella", "hammer", "teapot"]  # worst first; ties go to the higher loss
    assert rows["umbrella"] == ["umbrella", "1", "0.0", "100.0", "3.500"]
    header, rows = table(out, "svm: the 10 worst classes")
    assert header == ["class", "n", "top-1", "top-5"]  # svm has no cross-entropy
    assert list(rows) == ["umbrella", "teapot", "hammer"]
    assert rows["teapot"] == ["teapot", "2", "50.0", "100.0"]


def test_files_written(drawn, capsys):
    rc, out, err = run(capsys, "--results", str(drawn))
    assert rc == 0, err
    folder = drawn / "report"
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "| baseline | 75.0 / 100.0 |" in md
    assert "| clipart | 2 | 50.0 | 0.0 |" in md
    assert "| umbrella | 1 | 0.0 | 100.0 | 3.500 |" in md
    pngs = ["per_class_top1_baseline.png", "per_class_top1_svm.png", "confusion_baseline.png", "per_style_top1.png"]
    for name in pngs:
        assert f"]({name})" in md
        with Image.open(folder / name) as img:
            img.verify()
        with Image.open(folder / name) as img:
            assert img.format == "PNG"
            assert 200 <= img.width <= 5000 and 150 <= img.height <= 5000, (name, img.size)
    assert not (folder / "confusion_svm.png").exists()  # svm has no confusion block
    assert sorted(p.name for p in folder.iterdir()) == sorted(pngs + ["report.md"])  # no temporary files left
    for name in ["report.md", *pngs]:
        assert name in out


def test_per_class_figure_grows_with_classes(tmp_path):
    few = report.plot_per_class({TEAPOT: m(1, 1.0, 1.0)}, "x", "val", tmp_path / "few.png")
    wnids = [c.wnid for c in list(report.load_vocabulary())[:60]]
    many = report.plot_per_class({w: m(2, i / 60, 1.0) for i, w in enumerate(wnids)}, "x", "val", tmp_path / "many.png")
    with Image.open(few) as a, Image.open(many) as b:
        assert b.height > 3 * a.height


def test_confusion_is_row_normalised():
    norm, rows, cols = report.confusion_labels({"labels": [TEAPOT, UMBRELLA], "matrix": [[3, 1, 0], [0, 0, 0]]})
    assert rows == ["teapot", "umbrella"]  # names come from the vocabulary when the block has none
    assert cols == ["teapot", "umbrella", "(other)"]
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0]])


def test_shared_class_names_keep_the_wnid():
    assert report.class_name(TEAPOT) == "teapot"
    assert report.class_name("n02012849") == "crane (n02012849)"  # the bird; n03126707 is the machine
    assert report.class_name("849") == "teapot"  # an ILSVRC index where the features had no wnids
    assert report.class_name("not-a-class") == "not-a-class"


def test_missing_folder(tmp_path, capsys):
    missing = tmp_path / "nope"
    rc, out, err = run(capsys, "--results", str(missing))
    assert rc == 1
    assert err.startswith("evaluation.report: ") and str(missing) in err
    assert not (missing / "report").exists()


def test_folder_without_metrics(drawn, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, err = run(capsys, "--results", str(drawn), "--results", str(empty))
    assert rc == 1
    assert str(empty / "metrics.json") in err
    assert not (drawn / "report").exists()  # nothing written when any input is bad


@pytest.mark.parametrize("content", ["{not json", json.dumps({"meta": {}}), json.dumps({"methods": {}}),
                                     json.dumps({"methods": {"svm": {"val": {"top1": 0.5}}}})])
def test_invalid_metrics(tmp_path, capsys, content):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "metrics.json").write_text(content)
    rc, out, err = run(capsys, "--results", str(folder))
    assert rc == 1
    assert err.startswith("evaluation.report: ") and str(folder / "metrics.json") in err


def test_unknown_split(drawn, capsys):
    rc, out, err = run(capsys, "--results", str(drawn), "--split", "test")
    assert rc == 1 and err.startswith("evaluation.report: --split: ") and err.count("\n") == 1  # not in the data
    assert "'test'" in err and str(drawn / "metrics.json") in err and "train, val" in err


# --- the backbone table and the hold-out table -------------------------------------------------------

LITE0, LITE2 = "efficientnet-lite0", "efficientnet-lite2"
BACKBONE_TITLE = "Backbones and methods: top-1 / top-5 (%) (n) on val"
HOLDOUT_TITLE = "Cross-style hold-out"


def results(folder: Path, subset: str, backbone: str, methods: dict[str, tuple], **meta) -> Path:
    """A results folder with one val global block per method: {method: (n, top1, top5)}."""
    for method, (n, top1, top5) in methods.items():
        write_method(folder, method, {"val": {"global": m(n, top1, top5)}}, PREDICTIONS,
                     {"subset": subset, "backbone": backbone, **meta})
    return folder


def two_column_table(out: str, title: str) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """The printed backbone table: header and {(backbone, method): subset cells}, in printed order."""
    header, _ = table(out, title)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = {}
    for line in lines[start + 3:]:
        if not line.strip():
            break
        if not set(line.strip()) <= {"-", " "}:
            cells = re.split(r"\s{2,}", line.strip())
            rows[(cells[0], cells[1])] = cells[2:]
    return header, rows


def test_backbone_table(tmp_path, capsys):
    folders = [
        results(tmp_path / "lite0_thesis", "thesis", LITE0,
                {"svm": (40, 0.5, 0.75), "baseline": (40, 0.25, 0.5), "logistic": (40, 0.45, 0.7)},
                fine_tuned=False, tta="none"),
        results(tmp_path / "lite0_clipart", "openclipart", LITE0, {"svm": (30, 0.6, 0.9)}),
        results(tmp_path / "lite2_thesis", "thesis", LITE2, {"svm": (40, 0.55, 0.8)}, tta="flip"),
        results(tmp_path / "run3", "thesis", LITE0, {"head": (40, 0.7, 0.95), "svm": (40, 0.65, 0.9),
                                                     "logistic": (40, 0.6, 0.85), "baseline": (40, 0.01, 0.02)},
                fine_tuned=True),
    ]
    rc, out, err = run(capsys, *[a for f in folders for a in ("--results", str(f))])
    assert rc == 0, err
    header, rows = two_column_table(out, BACKBONE_TITLE)
    assert header == ["backbone", "method", "thesis", "openclipart"]
    assert list(rows) == [(LITE0, "softmax"), (LITE0, "SVM"), (LITE0, "logistic"), (LITE0, "fine-tuned head"),
                          (LITE0, "SVM, fine-tuned features"), (LITE0, "logistic, fine-tuned features"),
                          (f"{LITE2} +flip", "SVM")]
    assert rows[(LITE0, "softmax")] == ["25.0 / 50.0 (40)", "—"]  # not the fine-tuned folder's baseline
    assert rows[(LITE0, "SVM")] == ["50.0 / 75.0 (40)", "60.0 / 90.0 (30)"]
    assert rows[(LITE0, "fine-tuned head")] == ["70.0 / 95.0 (40)", "—"]
    assert rows[(LITE0, "SVM, fine-tuned features")] == ["65.0 / 90.0 (40)", "—"]
    assert rows[(f"{LITE2} +flip", "SVM")] == ["55.0 / 80.0 (40)", "—"]
    md = (folders[0] / "report" / "report.md").read_text(encoding="utf-8")
    assert f"## {BACKBONE_TITLE}" in md
    assert f"| {LITE0} | SVM, fine-tuned features | 65.0 / 90.0 (40) | — |" in md
    assert "|:---|:---|---:|---:|" in md


def test_backbone_table_gives_the_spread_of_seeds(tmp_path, capsys):
    seeds = [results(tmp_path / f"seed{k}", "thesis", LITE0, {"head": (40, top1, 0.9), "svm": (40, top1 - 0.1, 0.8)},
                     fine_tuned=True) for k, top1 in enumerate((0.7, 0.8, 0.75))]
    rc, out, err = run(capsys, *[a for f in seeds for a in ("--results", str(f))])
    assert rc == 0, err
    _, rows = two_column_table(out, BACKBONE_TITLE)
    assert rows[(LITE0, "fine-tuned head")] == ["75.0 ± 5.0 / 90.0 ± 0.0 (40, 3 runs)"]
    assert rows[(LITE0, "SVM, fine-tuned features")] == ["65.0 ± 5.0 / 80.0 ± 0.0 (40, 3 runs)"]


def test_adapted_features_are_rows_of_their_own(tmp_path, capsys):
    """A network fine-tuned on another dataset (training.adapt): its SVM and head are frozen-feature rows of
    "<backbone> adapted", not this dataset's fine-tune; joined with frozen features, the part is named."""
    folders = [
        results(tmp_path / "frozen", "thesis", LITE0, {"svm": (40, 0.5, 0.75)}, fine_tuned=False),
        results(tmp_path / "adapted", "thesis", LITE0, {"baseline": (40, 0.6, 0.8), "svm": (40, 0.7, 0.9)},
                fine_tuned=True, adapted=True),
        results(tmp_path / "joined", "thesis", f"{LITE0}+{LITE0}", {"svm": (40, 0.75, 0.9)}, fine_tuned=False,
                adapted=[False, True]),
    ]
    rc, out, err = run(capsys, *[a for f in folders for a in ("--results", str(f))])
    assert rc == 0, err
    _, rows = two_column_table(out, BACKBONE_TITLE)
    assert list(rows) == [(LITE0, "SVM"), (f"{LITE0} adapted", "softmax"), (f"{LITE0} adapted", "SVM"),
                          (f"{LITE0}+{LITE0} adapted", "SVM")]
    assert rows[(f"{LITE0} adapted", "SVM")] == ["70.0 / 90.0 (40)"]


def holdout(folder: Path, backbone: str, fine_tuned: bool, styles: dict[str, dict]) -> Path:
    """A holdout.json as evaluation.svm --holdout-style writes it; styles {style: {method: (top1, n)}}."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"meta": {"backbone": backbone, "subset": "thesis", "fine_tuned": fine_tuned, "tta": "none"},
            "styles": {s: {**{meth: {"top1": t, "top5": 1.0, "n": n} for meth, (t, n) in r.items()}, "train_rows": 9}
                       for s, r in styles.items()}}
    (folder / "holdout.json").write_text(json.dumps(data))
    return folder


def test_holdout_table(tmp_path, capsys):
    fine = holdout(tmp_path / "fine", LITE0, True, {"clipart": {"svm": (0.5, 20)}, "sketch": {"svm": (0.75, 30)}})
    frozen = holdout(tmp_path / "frozen", LITE0, False, {
        "clipart": {"svm": (0.25, 20), "logistic": (0.2, 20)},
        "sketch": {"svm": (0.5, 30), "logistic": (0.4, 30)},
        "tuxpaint": {"svm": (0.9, 25), "logistic": (0.8, 25)},
    })
    rc, out, err = run(capsys, "--holdout", str(fine), "--holdout", str(frozen))
    assert rc == 0, err
    header, rows = table(out, HOLDOUT_TITLE)
    assert header == ["held-out style", f"{LITE0} frozen SVM", f"{LITE0} fine-tuned SVM", f"{LITE0} frozen logistic"]
    assert rows["clipart"] == ["clipart", "25.0 (20)", "50.0 (20)", "20.0 (20)"]
    assert rows["tuxpaint"] == ["tuxpaint", "90.0 (25)", "—", "80.0 (25)"]
    assert rows["mean of 2 styles"] == ["mean of 2 styles", "37.5", "62.5", "30.0"]  # tuxpaint is not in all
    assert "Top-1 / top-5 accuracy" not in out and BACKBONE_TITLE not in out  # no --results
    md = (fine / "report" / "report.md").read_text(encoding="utf-8")  # the first hold-out's folder
    assert "| sketch | 50.0 (30) | 75.0 (30) | 40.0 (30) |" in md


def test_fine_tuned_runs_of_one_style_each_share_a_column(tmp_path, capsys):
    # a fine-tune holds out one style per run: its runs fill one column together
    runs = [holdout(tmp_path / f"fine-{s}", LITE0, True, {s: {"svm": (t, 20)}})
            for s, t in (("clipart", 0.5), ("sketch", 0.75))]
    frozen = holdout(tmp_path / "frozen", LITE0, False, {"clipart": {"svm": (0.25, 20)}, "sketch": {"svm": (0.5, 20)}})
    rc, out, err = run(capsys, "--holdout", str(frozen), *[a for r in runs for a in ("--holdout", str(r))])
    assert rc == 0, err
    header, rows = table(out, HOLDOUT_TITLE)
    assert header == ["held-out style", f"{LITE0} frozen SVM", f"{LITE0} fine-tuned SVM"]
    assert rows["clipart"] == ["clipart", "25.0 (20)", "50.0 (20)"]
    assert rows["sketch"] == ["sketch", "50.0 (20)", "75.0 (20)"]
    assert rows["mean of 2 styles"] == ["mean of 2 styles", "37.5", "62.5"]


def test_results_and_holdout_together(drawn, tmp_path, capsys):
    frozen = holdout(tmp_path / "frozen", "resnet50", False, {"clipart": {"svm": (0.25, 2)}})
    rc, out, err = run(capsys, "--results", str(drawn), "--holdout", str(frozen))
    assert rc == 0, err
    _, rows = two_column_table(out, BACKBONE_TITLE)
    assert rows[("resnet50", "softmax")] == ["75.0 / 100.0 (4)"] and rows[("resnet50", "SVM")] == ["50.0 / 75.0 (4)"]
    header, rows = table(out, HOLDOUT_TITLE)
    assert header == ["held-out style", "resnet50 frozen SVM"] and rows["clipart"][1] == "25.0 (2)"
    assert (drawn / "report" / "report.md").is_file() and not (frozen / "report").exists()


@pytest.mark.parametrize("content, message", [
    (None, "not found"), ("{oops", "not valid JSON"), (json.dumps({"meta": {}}), "no held-out styles"),
    (json.dumps({"styles": {"sketch": {"svm": {"n": 3}}}}), "'sketch'"),
])
def test_bad_holdout(drawn, tmp_path, capsys, content, message):
    folder = tmp_path / "h"
    folder.mkdir()
    if content is not None:
        (folder / "holdout.json").write_text(content)
    rc, out, err = run(capsys, "--results", str(drawn), "--holdout", str(folder))
    assert rc == 1
    assert err.startswith("evaluation.report: ") and str(folder / "holdout.json") in err and message in err
    assert not (drawn / "report").exists()


def test_no_input(capsys):
    rc, out, err = run(capsys)
    assert rc == 2 and err == "evaluation.report: error: give at least one --results or --holdout folder\n"


def test_out_that_is_a_file_is_refused(drawn, tmp_path, capsys):
    (tmp_path / "r.md").write_text("mine")
    rc, out, err = run(capsys, "--results", str(drawn), "--out", str(tmp_path / "r.md"))
    assert rc == 2 and err == f"evaluation.report: error: --out {tmp_path / 'r.md'} is a file, not a folder\n"
    assert (tmp_path / "r.md").read_text() == "mine" and not (drawn / "report").exists()


def test_several_folders_after_one_flag(drawn, emoji, capsys):
    """--results A B is --results A --results B (action extend), and the same for --holdout."""
    args = report.get_args_parser().parse_args(["--results", str(drawn), str(emoji), "--results", "c",
                                                "--holdout", "h1", "h2", "--holdout", "h3"])
    assert [p.name for p in args.results] == [drawn.name, emoji.name, "c"]
    assert [str(p) for p in args.holdout] == ["h1", "h2", "h3"]
    rc, out, err = run(capsys, "--results", str(drawn), str(emoji))
    assert rc == 0 and table(out, "Top-1 / top-5 accuracy (%) on val")[0] == ["method", "drawn", "emoji"]
