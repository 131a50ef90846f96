"""evaluation.extract under torchrun (gloo, CPU) and after kills: shards, resume, one merged file."""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluation.extract import ExtractConfig, extract, partial_path, rejected_path
from evaluation.features import read_features
from tests.conftest import extract_manifest

ROOT = Path(__file__).resolve().parents[1]
RESUMING = re.compile(r"resuming: (\d+) of (\d+) images already done \((\d+) shards\)")


def make_manifest(folder: Path, n: int, broken: bool = True) -> Path:
    """``n`` drawings, the first also in a second class, and one file that is no image in the middle."""
    return extract_manifest(folder, n, broken=broken, broken_at=n // 2)


def env() -> dict:
    """One thread per process (torchrun's default too), no torchrun variables of an outer run."""
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT), FIFTYONE_DO_NOT_TRACK="true")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(k, None)
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(manifest: Path, out: Path, batch: int, shard: int, workers: int = 0) -> list[str]:
    return ["-m", "evaluation.extract", "--manifest", str(manifest), "--out", str(out), "--backbone", "tiny",
            "--weights", "random", "--device", "cpu", "--batch-size", str(batch), "--shard-size", str(shard),
            "--workers", str(workers)]


def run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"rc {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def torchrun(n: int, args: list[str]) -> subprocess.CompletedProcess:
    return run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
                "--master-port", str(free_port()), *args])


def assert_same_file(a: Path, b: Path) -> None:
    fa, fb = read_features(a), read_features(b)
    for name in ("features", "logits", "ids", "labels", "splits", "wnids", "filepaths"):
        assert np.array_equal(getattr(fa, name), getattr(fb, name)), name
    assert rejected_path(a).read_text() == rejected_path(b).read_text()


def shards(out: Path) -> list[Path]:
    return sorted(partial_path(out).glob("*/shard-*.npz"))


def shard_images(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        with np.load(p) as z:  # reads back whole: every array, CRCs checked
            assert z["done"].shape == z["bad"].shape and (z["done"] ^ z["bad"]).all(), p
            assert z["features"].shape[0] == z["logits"].shape[0] == int(z["stop"]) - int(z["start"]), p
            total += int(z["stop"]) - int(z["start"])
    return total


@pytest.mark.slow
def test_torchrun_two_processes_write_what_one_process_writes(tmp_path):
    m = make_manifest(tmp_path / "data", 37)  # 38 images: blocks of 8, the last one short, one broken image
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    run(cli(m, one, batch=3, shard=8))
    done = torchrun(2, cli(m, two, batch=3, shard=8, workers=1))
    assert f"{two}: 38 rows, 37 images, 1 skipped" in done.stdout
    assert done.stdout.count("rows,") == 1  # rank 0 reports; the other rank exits quietly
    assert "resuming" not in done.stderr
    assert_same_file(two, one)
    assert read_features(two).attrs["processes"] == 2 and not partial_path(two).exists()
    # shards left by one process (3 of the 5 blocks) are finished by two, to the same file
    resumed = tmp_path / "resumed.h5"
    first = extract(ExtractConfig(manifest=m, out=resumed, backbone="tiny", weights="random", device="cpu",
                                  batch_size=3, shard_size=8, workers=0, stop_after=9))
    assert not first["complete"] and len(shards(resumed)) == 3
    done = torchrun(2, cli(m, resumed, batch=3, shard=8))
    assert RESUMING.search(done.stderr).groups() == ("24", "38", "3")
    assert_same_file(resumed, one)


def _wait_for_shards(proc: subprocess.Popen, out: Path, k: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while len(shards(out)) < k:
        assert proc.poll() is None, f"finished before {k} shards were written: {proc.communicate()}"
        assert time.monotonic() < end, f"no {k} shards after {timeout} s"
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    n, batch, shard = 480, 4, 8  # 60 shards of 2 batches
    m = make_manifest(tmp_path / "data", n - 1)
    whole, killed = tmp_path / "whole.h5", tmp_path / "killed.h5"
    rng = random.Random(17)
    reference = subprocess.Popen([sys.executable, *cli(m, whole, batch, shard)], cwd=ROOT, env=env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kept = 0  # images in shards on disk
    try:
        for _ in range(3):
            victim = subprocess.Popen([sys.executable, *cli(m, killed, batch, shard)], cwd=ROOT, env=env(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                _wait_for_shards(victim, killed, len(shards(killed)) + rng.randint(2, 8))
                time.sleep(rng.uniform(0, 0.2))
            finally:
                os.kill(victim.pid, signal.SIGKILL)
                _, err = victim.communicate(timeout=30)
            assert victim.returncode == -signal.SIGKILL and not killed.exists()
            # what it had logged on starting: every image of the shards the last kill left, none redone
            found = RESUMING.search(err)
            assert (found.groups() if found else ("0", str(n), "0")) == (str(kept), str(n), str(kept // shard))
            on_disk = shards(killed)
            # written whole (each one reads back) and in order: all it had computed but the block in hand
            kept = shard_images(on_disk)
            assert [p.name for p in on_disk] == [f"shard-{a:09d}-{a + shard:09d}.npz"
                                                 for a in range(0, len(on_disk) * shard, shard)]
        last = run(cli(m, killed, batch, shard))
        assert RESUMING.search(last.stderr).groups() == (str(kept), str(n), str(kept // shard))
        _, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, err
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert f"{killed}: {n} rows, {n - 1} images, 1 skipped" in last.stdout
    assert_same_file(killed, whole)
    assert not partial_path(killed).exists() and not list(tmp_path.glob(".*tmp"))


def test_a_damaged_shard_is_named_and_only_its_block_redone(tmp_path, caplog):
    m = make_manifest(tmp_path / "data", 20, broken=False)  # 20 images: 5 blocks of 4, 2 batches each
    out, whole = tmp_path / "f.h5", tmp_path / "whole.h5"
    cfg = {"manifest": m, "backbone": "tiny", "batch_size": 2, "shard_size": 4, "workers": 0}
    extract(ExtractConfig(out=whole, **cfg))
    first = extract(ExtractConfig(out=out, stop_after=7, **cfg))  # 3 shards and half a block
    assert first["processed"] == 14
    s0, s1, s2 = shards(out)
    s1.write_bytes(s1.read_bytes()[: s1.stat().st_size // 2])  # truncated: no zip directory
    data = bytearray(s2.read_bytes())
    at = data.index(b"features.npy") + 200  # inside the features, past their header
    data[at: at + 8] = b"\xff" * 8  # damaged in place: a CRC error
    s2.write_bytes(bytes(data))
    with caplog.at_level("INFO", logger="evaluation.extract"):
        summary = extract(ExtractConfig(out=out, **cfg))
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 2 and str(s1) in warned[0] and str(s2) in warned[1]
    assert all("unreadable shard" in w and "redoing its 4 images" in w for w in warned)
    assert "resuming: 4 of 20 images already done (1 shards)" in caplog.text
    assert summary["complete"] and summary["processed_now"] == 16  # blocks 1, 2 (damaged), 3 and 4
    assert_same_file(out, whole)


def test_another_jobs_shards_are_replaced_with_a_warning(tmp_path, caplog):
    m = make_manifest(tmp_path / "data", 6, broken=False)
    out = tmp_path / "f.h5"
    extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, shard_size=2, workers=0, stop_after=2))
    (old,) = [p for p in partial_path(out).iterdir()]
    with caplog.at_level("INFO", logger="evaluation.extract"):
        summary = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, shard_size=4, workers=0))
    assert f"{old} belongs to another extraction" in caplog.text and "resuming" not in caplog.text
    assert summary["processed_now"] == 6 and summary["shards"] == 2 and not partial_path(out).exists()
