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

    assert main(["--hosts", "2", "--images", "10", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"20 images from 2 local hosts .* 20 stored by the crawl", out), out
    assert re.search(r"scraping\.crawl .*\s([\d.]+) img/s", out), out
    assert re.search(r"plain sequential requests loop\s+[\d.]+ s\s+[\d.]+ img/s\s+ratio [\d.]+x", out), out
