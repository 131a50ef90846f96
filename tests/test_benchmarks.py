"""The benchmarks still run (timings are theirs to report, not the tests')."""
import re

import pytest

from tests.conftest import require_library


def test_extract_bench_runs(capsys):
    from benchmarks.extract_bench import main

    assert main(["--backbone", "tiny", "--images", "12", "--batch-size", "4", "--workers", "0", "--no-fiftyone"]) == 0
    out = capsys.readouterr().out
    ours = re.search(r"evaluation\.extract.*?([\d.]+) img/s", out)
    peer = re.search(r"plain PyTorch loop.*?([\d.]+) img/s\s+ratio ([\d.]+)x", out)
    assert ours and peer and float(ours.group(1)) > 0 and float(peer.group(2)) > 0, out


@pytest.mark.library
def test_render_bench_runs(capsys):
    from benchmarks.render_bench import main

    for name in ("iconify", "openclipart"):
        require_library(name)
    assert main(["--files", "6", "--no-build", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"drawnet prepare \(pool\)\s+[\d.]+ s\s+[\d.]+ files/s", out), out
    assert re.search(r"cairosvg, one by one .* ratio [\d.]+x", out) and "whole library at the pool's rate" in out


@pytest.mark.slow
def test_embed_bench_runs(capsys):
    from benchmarks.embed_bench import main

    assert main(["--n", "300", "--large", "600", "--dims", "32", "--classes", "5", "--jobs", "1", "--no-storage"]) == 0
    out = capsys.readouterr().out
    ours = re.search(r"curation\.embed \(PCA \+ Annoy kNN \+ openTSNE\)\s+wall\s+([\d.]+) s", out)
    peer = re.search(r"fiftyone-brain recipe \(PCA \+ sklearn TSNE\)\s+wall\s+([\d.]+) s.*ratio ([\d.]+)x", out)
    assert ours and peer and float(ours.group(1)) > 0 and float(peer.group(2)) > 0, out
    assert re.search(r"fiftyone-brain recipe \(umap-learn on raw D\).*ratio [\d.]+x", out), out
    assert re.search(r"200000 points, extrapolated: t-SNE [\d.]+ min, UMAP [\d.]+ min", out), out


def test_train_bench_runs(capsys):
    from benchmarks.train_bench import main

    assert main(["--backbone", "tiny", "--batch-size", "4", "--steps", "3", "--warmup", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    peer = re.search(r"plain PyTorch loop \(fp32, NCHW\)\s+([\d.]+) img/s\s+ratio 1\.00x", out)
    ours = re.search(r"training\.finetune \(fp32, NCHW\)\s+([\d.]+) img/s\s+ratio ([\d.]+)x", out)
    assert peer and ours and float(ours.group(1)) > 0 and float(ours.group(2)) > 0, out
    assert re.search(r"239 epochs of 100000 images at the best rate: [\d.]+ h", out), out


def test_crawl_bench_runs(capsys):
    from benchmarks.crawl_bench import main

    assert main(["--hosts", "2", "--images", "10", "--connections", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"20 images from 2 local hosts .* 20 stored by the crawl", out), out
    assert re.search(r"scraping\.crawl .*\s([\d.]+) img/s", out), out
    assert re.search(r"plain sequential requests loop\s+[\d.]+ s\s+[\d.]+ img/s\s+ratio [\d.]+x", out), out


@pytest.mark.slow
def test_scale_bench_runs(capsys, tmp_path):
    """The whole chain at two tiny sizes, with its peers: every stage finishes and the last line has its form."""
    from benchmarks.scale_bench import main

    assert main(["--samples", "120,240", "--classes", "12", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"scale: worst stage (.+) grows x([\d.]+) from 120 to 240 samples; total ([\d.]+) s at 240", last)
    assert m, out
    from benchmarks.scale_bench import stage_commands

    stages = list(stage_commands(0, tmp_path, "", 0))
    assert m.group(1) in stages and float(m.group(3)) > 0
    for name in stages:  # each stage has a row with its time at both sizes
        assert re.search(rf"^{re.escape(name)}\s+[\d.]+\s+\d+\s+\d+\s+[\d.]+\s+\d+\s+\d+\s+[\d.]+\s+-?[\d.]+", out, re.M), name
    for peer in ("add_samples", "compute_visualization", "near_duplicates+mistakenness"):
        assert re.search(rf"{re.escape(peer)} [\d.]+ s, \d+ MB, ratio [\d.]+x", out), peer
    tiles = [int(t) for t in re.findall(r"'tiles': (\d+)", out)]
    assert len(tiles) == 2 and min(tiles) > 0, out  # the App served a first page at both sizes


@pytest.mark.slow
def test_curation_bench_runs(tmp_path):
    """Curators at once and the log's reads, at a toy size (in its own process: it runs its own MongoDB)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    figures = tmp_path / "curation.json"
    run = subprocess.run([sys.executable, "benchmarks/curation_bench.py", "--curators", "1,2", "--actions", "6",
                          "--records", "300", "--json", str(figures)], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r"^\s+now 2 curator\(s\):\s+[\d.]+ actions/s \(12 in [\d.]+ s\), 0 records lost", run.stdout, re.M)
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"curation: 1 curators [\d.]+ actions/s, 2 curators [\d.]+ actions/s; records\(\) at 300 "
                        r"records [\d.]+ s against [\d.]+ s before \(x[\d.]+\)", last), run.stdout
    assert json.loads(figures.read_text())["reads"]["records"] == 300


def test_label_precision_counts(tmp_path, capsys):
    import json

    from benchmarks.label_precision import main
    from datasets.manifest import write_jsonl

    judged = [{"id": f"{i}", "wnid": "n1", "verdict": v} for i, v in enumerate(["right"] * 6 + ["wrong"] * 3 + ["unclear"])]
    write_jsonl(tmp_path / "judged.jsonl", judged)
    # the verifier's input lost one wrong label (a compound); the verifier kept 5 right and 1 wrong
    write_jsonl(tmp_path / "build" / "manifest.jsonl", [{"id": j["id"], "wnid": "n1"} for j in judged if j["id"] != "6"])
    kept = ["0", "1", "2", "3", "4", "7", "9"]
    write_jsonl(tmp_path / "v" / "manifest.jsonl", [{"id": i, "wnid": "n1" if i != "4" else "n2"} for i in kept])
    (tmp_path / "v" / "summary.json").write_text(json.dumps({"manifest": str(tmp_path / "build" / "manifest.jsonl")}))
    assert main(["--verified", str(tmp_path / "v" / "manifest.jsonl"), "--fixture", str(tmp_path / "judged.jsonl")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"strict matching \(as judged\)\s+9\s+6\s+3\s+66\.7%\s+100\.0%\s+0", out), out
    assert re.search(r"names read as written.*\s+8\s+6\s+2\s+75\.0%\s+100\.0%\s+1", out), out
    assert re.search(r"matching \+ evaluation\.verify\s+5\s+4\s+1\s+80\.0%\s+66\.7%\s+4", out), out
    assert out.rstrip().endswith("labels: precision 0.800 keeping 0.667 of right labels (strict alone: precision 0.667)")


def test_judged_sample_is_whole():
    """The fixture as its README describes it: 330 drawings from every source, each judged with a reason."""
    import json
    from collections import Counter

    from benchmarks.label_precision import DRAW_SIZE, FIXTURE

    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    assert len(rows) == DRAW_SIZE and sorted(r["n"] for r in rows) == list(range(DRAW_SIZE))
    assert len({r["id"] for r in rows}) == DRAW_SIZE and all(re.fullmatch(r"[0-9a-f]{64}", r["id"]) for r in rows)
    assert Counter(r["verdict"] for r in rows) == {"right": 207, "wrong": 113, "unclear": 10}
    assert all(r["reason"].strip() and re.fullmatch(r"n\d{8}", r["wnid"]) for r in rows)
    assert {r["source"] for r in rows} == {"iconify", "fluentui-emoji", "openclipart", "tuxpaint"}


def test_phash_bench_runs(capsys):
    from benchmarks.phash_bench import main

    assert main(["--hashes", "500", "--near-share", "0.3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"500 64-bit hashes, distance 4: \d+ with an earlier near one \(same answer both ways\)", out), out
    assert re.search(r"scraping\.phash\.first_near \(multi-index\)\s+[\d.]+ s", out), out
    assert re.search(r"all-pairs loop \(old write_manifest\)\s+[\d.]+ s\s+ratio [\d.]+x", out), out

def test_classify_bench_runs(capsys):
    from benchmarks.classify_bench import main

    assert main(["--rows", "400", "--dims", "24", "--small-dims", "12", "--classes", "5", "--components", "30"]) == 0
    out = capsys.readouterr().out
    for name in ("nystroem", "lda", "search"):
        m = re.search(rf"^{name}\s+ours\s+([\d.]+) s\s+scikit-learn\s+([\d.]+) s\s+ratio\s+([\d.]+)x", out, re.M)
        assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0, out
    assert re.search(r"largest kernel difference [\d.e+-]+", out) and "same top-1 on 100.00% of rows" in out, out


def test_suggest_styles_bench_runs(tmp_path, capsys):
    """Both cross-fits, open share 0 and auto, on blobs in 6 styles: four summary lines with the realised/promised ratio, a row per style."""
    import numpy as np

    from benchmarks.suggest_styles import main
    from evaluation.features import FeatureSet, write_features
    from tests.test_suggest import styled_world

    X, y, styles, _, _ = styled_world(0, n_styles=6, per=10)
    n = len(y)
    write_features(tmp_path / "f.h5", FeatureSet(
        X.astype(np.float32), y.astype(np.int64), np.array([f"img{i}" for i in range(n)], dtype=object),
        np.array(["train"] * n, dtype=object), wnids=np.array([f"n{c:08d}" for c in y], dtype=object),
        label_names=np.array([f"class{c}" for c in y], dtype=object), styles=styles.astype(object)))
    assert main(["--features", str(tmp_path / "f.h5"), "--styles", "3", "--other-classes", "0.25"]) == 0
    out = capsys.readouterr().out
    assert out.count("realised/promised precision") == 4 and out.count("right (") == 12
    assert "cross-fit styles, open share auto" in out and "cross-fit images, open share 0" in out
