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
