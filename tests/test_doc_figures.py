"""Every tied figure in the README and docs/ is the result it cites (benchmarks/doc_figures.py), and the check
fails on a figure that is not."""
import json
import re
from pathlib import Path

import pytest

from benchmarks import doc_figures as df

ROOT = Path(__file__).resolve().parent.parent
# the pages whose measured figures are tied, and the least each holds (a page losing its markers fails)
TIED_PAGES = {"README.md": 8, "docs/evaluation.md": 55, "docs/datasets.md": 57, "docs/curation.md": 6,
              "docs/install.md": 9, "docs/scraping.md": 1}


def test_docs_agree_with_the_results():
    problems, figures = df.check(df.doc_files(), df.RESULTS)
    assert not problems, "\n".join(problems)
    per_page = {page: sum(f.doc == page for f in figures) for page in TIED_PAGES}
    short = {page: n for page, n in per_page.items() if n < TIED_PAGES[page]}
    assert not short, f"pages with fewer tied figures than before: {short}"


def test_the_snapshot_names_its_run():
    run = json.loads((df.RESULTS / "run.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", run["commit"]), run["commit"]
    assert run["date"] and run["out"]
    for name in run["files"]:
        assert (df.RESULTS / name).is_file(), name


def made_up(tmp_path: Path, text: str, results: dict) -> tuple[Path, Path]:
    doc = tmp_path / "page.md"
    doc.write_text(text, encoding="utf-8")
    for name, data in results.items():
        path = tmp_path / "results" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return doc, tmp_path / "results"


RESULTS = {"m.json": {"svm": {"val": {"top1": 0.915458, "top5": 0.9, "n": 414}}, "rows": [1, 2, 3],
                      "pools": {"named pool": {"rows": 1588}}, "images": 3760, "unlabelled": 1588}}


def test_a_changed_figure_fails(tmp_path):
    good = ("Top-1 91.5<!-- fig: m.json svm.val.top1 % --> on 414<!-- fig: m.json svm.val.n --> images.\n"
            "| a | b |\n|---|---:|\n| x | **91.5 / 90.0**<!-- fig: m.json svm.val.{top1,top5} % --> |\n"
            "| y | 91.5% / **90.0%**<!-- fig: m.json svm.val.{top1,top5} % --> |\n")
    doc, results = made_up(tmp_path, good, RESULTS)
    problems, figures = df.check([doc], results, tmp_path)
    assert problems == [] and len(figures) == 6
    doc.write_text(good.replace("91.5<!--", "91.4<!--", 1), encoding="utf-8")
    problems, _ = df.check([doc], results, tmp_path)
    assert problems == ["page.md:1: written 91.4, results say 91.5 (m.json svm.val.top1 % = 91.5458)"]
    doc.write_text(good.replace("| **91.5 / 90.0**", "| **91.5 / 90.1**"), encoding="utf-8")
    problems, _ = df.check([doc], results, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("page.md:4: written 90.1, results say 90.0")


@pytest.mark.parametrize("written,value,ok", [
    ("91.5", 91.5458, True), ("91.6", 91.5458, False), ("92", 91.5458, True), ("91.55", 91.5458, True),
    ("1,588", 1588, True), ("1,589", 1588, False), ("100", 100.0, True), ("0.145", 0.14459, True),
    ("14", 13.6364, True), ("13", 13.6364, False)])
def test_a_figure_is_its_value_rounded_as_written(written, value, ok):
    assert df.agrees(written, value) is ok


def test_expressions_lengths_and_spaced_keys(tmp_path):
    text = ("2,172<!-- fig: m.json images-unlabelled --> labelled, 3<!-- fig: m.json #rows --> rows, "
            "1,588<!-- fig: m.json pools.named_pool.rows --> in the pool\n")
    doc, results = made_up(tmp_path, text, RESULTS)
    assert df.check([doc], results, tmp_path)[0] == []


def test_examples_in_code_tie_nothing(tmp_path):
    text = "Write `92.0<!-- fig: m.json svm.val.top1 % -->`.\n```\n92.0<!-- fig: m.json svm.val.top1 % -->\n```\n"
    doc, results = made_up(tmp_path, text, RESULTS)
    assert df.check([doc], results, tmp_path) == ([], [])


def test_bad_markers_are_reported(tmp_path):
    text = ("91.5<!-- fig: m.json svm.val.top1 -->\n"       # a share without % is 0.915, not 91.5
            "91.5<!-- fig: m.json svm.val.top9 % -->\n"     # no such key
            "91.5<!-- fig: other.json svm.val.top1 % -->\n"  # no such file
            "91.5<!-- fig: m.json -->\n"                    # no expression
            "seen<!-- fig: m.json svm.val.top1 % -->\n"     # no number before it
            "91.5<!--fig m.json svm.val.top1 % -->\n")      # misspelt
    doc, results = made_up(tmp_path, text, RESULTS)
    problems = df.check([doc], results, tmp_path)[0]
    lines = sorted(int(p.split(":")[1]) for p in problems)
    assert lines == [1, 2, 3, 4, 5, 6], problems


def test_a_tied_table_has_every_number_tied(tmp_path):
    text = ("<!-- figures: tied -->\n| method (3 seeds) | val |\n|---|---:|\n"
            "| SVM | 91.5<!-- fig: m.json svm.val.top1 % --> (n=414<!-- fig: m.json svm.val.n -->) |\n"
            "| old † | 88.1 |\n| new | 77.7 / 91.5<!-- fig: m.json svm.val.top1 % --> |\n")
    doc, results = made_up(tmp_path, text, RESULTS)
    problems = df.check([doc], results, tmp_path)[0]
    assert problems == ["page.md:6: 77.7 in a tied table has no fig marker (tie it, or mark the row †)"]
    doc.write_text("<!-- figures: tied -->\nsome text\n", encoding="utf-8")
    assert "not followed by a table" in df.check([doc], results, tmp_path)[0][0]


def test_check_exits_1_and_prints_file_and_line(tmp_path, capsys):
    doc, results = made_up(tmp_path, "text\n\n92.0<!-- fig: m.json svm.val.top1 % -->\n", RESULTS)
    args = df.get_args_parser().parse_args(["--check", "--docs", str(doc), "--results", str(results)])
    assert df.main(args) == 1
    assert "page.md:3: written 92.0, results say 91.5" in capsys.readouterr().out


def test_trim_drops_bulky_tables_and_local_paths():
    data = {"per_class": {"a": 1}, "confusion": [[1]], "classes": [1, 2], "n": {"classes": 3},
            "meta": {"features": str(ROOT / "runs" / "x.h5")}, "keep": {"per_style": {"noto": 1}}}
    assert df.trim(data) == {"n": {"classes": 3}, "meta": {"features": "runs/x.h5"},
                             "keep": {"per_style": {"noto": 1}}}


def test_collect_from_an_incomplete_output_writes_nothing(tmp_path, capsys):
    out, run, results = tmp_path / "out" / "embedded", tmp_path / "runs" / "001-x", tmp_path / "results"
    out.mkdir(parents=True)
    (out / "summary.json").write_text("{}")
    args = df.get_args_parser().parse_args(["--collect", str(out), "--run", str(run), "--results", str(results)])
    assert df.main(args) == 1
    assert f"{out}-verified/summary.json: missing (for verified.json)" in capsys.readouterr().err
    assert not results.exists()
