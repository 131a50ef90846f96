"""Shards of ``evaluation.extract``: the image list cut into fixed blocks, and each finished block's features,
logits and flags in one ``.npz`` written whole or not at all (``scraping.files.atomic_path``, fsync'ed), read
back checked (zip CRCs, shapes, the job's fingerprint)."""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scraping.files import atomic_path

IMAGENET_CLASSES = 1000  # the logits' width (forward_batch returns ImageNet order)


def partial_path(out: Path) -> Path:
    """The folder of finished shards, ``.<out>.parts``: one subfolder per job."""
    return out.with_name(f".{out.name}.parts")


def rejected_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejected.jsonl")


def fingerprint(describe: dict, preprocessing: dict, ids: list[str]) -> str:
    blob = json.dumps([describe, preprocessing, ids], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def job_folder(out: Path, fingerprint: str, shard_size: int) -> Path:
    """Where this job's shards go: named by the job and the partition, so another job's are told apart."""
    return partial_path(out) / f"{fingerprint[:16]}-s{shard_size}"


# the partition: fixed blocks of the image list, each computed in batches aligned to its start


def image_blocks(n: int, shard_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each block of ``shard_size`` images (the last may be shorter)."""
    if shard_size < 1:
        raise ValueError(f"--shard-size must be at least 1, got {shard_size}")
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


def block_batches(start: int, stop: int, batch_size: int) -> list[list[int]]:
    """The image indices of each batch of a block: the same batches on every run, resumed or not."""
    return [list(range(a, min(a + batch_size, stop))) for a in range(start, stop, batch_size)]


# shards: one finished block each, written whole or not at all


class ShardError(ValueError):
    """A shard file that does not read back whole; the message names the file."""


@dataclass
class Shard:
    start: int
    stop: int
    done: np.ndarray  # (n,) bool: computed
    bad: np.ndarray  # (n,) bool: could not be decoded (features and logits zero)
    errors: list[str]  # why, "" for the others
    features: np.ndarray | None = None  # (n, D) float32
    logits: np.ndarray | None = None  # (n, 1000) float32

    @classmethod
    def empty(cls, start: int, stop: int, dim: int) -> Shard:
        n = stop - start
        return cls(start, stop, np.zeros(n, bool), np.zeros(n, bool), [""] * n,
                   np.zeros((n, dim), np.float32), np.zeros((n, IMAGENET_CLASSES), np.float32))

    @property
    def finished(self) -> bool:
        return bool((self.done | self.bad).all())

    def put(self, images: np.ndarray, features: np.ndarray, logits: np.ndarray) -> None:
        local = images - self.start
        self.features[local], self.logits[local], self.done[local] = features, logits, True

    def reject(self, image: int, error: str) -> None:
        self.bad[image - self.start], self.errors[image - self.start] = True, error


def shard_path(folder: Path, start: int, stop: int) -> Path:
    return folder / f"shard-{start:09d}-{stop:09d}.npz"


def write_shard(folder: Path, shard: Shard, fingerprint: str) -> Path:
    """The shard under a temporary name, fsync'ed, renamed into place, the folder fsync'ed: whole or absent."""
    path = shard_path(folder, shard.start, shard.stop)
    with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.asarray(fingerprint), start=np.int64(shard.start), stop=np.int64(shard.stop),
                 done=shard.done, bad=shard.bad, errors=np.asarray(shard.errors, dtype=str),
                 features=shard.features, logits=shard.logits)
    return path


FLAGS = ("fingerprint", "start", "stop", "done", "bad", "errors")


def read_shard(path: Path, fingerprint: str, start: int, stop: int, dim: int, flags_only: bool = False) -> Shard:
    """A shard of this job's block [start, stop), checked whole (zip CRCs, shapes); ShardError names the file."""
    names = FLAGS if flags_only else (*FLAGS, "features", "logits")
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ShardError(f"{path}: unreadable shard ({type(err).__name__}: {err})") from None
    n = stop - start
    expected = {"done": (n,), "bad": (n,), "errors": (n,), "features": (n, dim), "logits": (n, IMAGENET_CLASSES)}
    wrong = [k for k in names if k in expected and got[k].shape != expected[k]]
    if str(got["fingerprint"]) != fingerprint or (int(got["start"]), int(got["stop"])) != (start, stop):
        wrong.append("fingerprint/block")
    if not wrong and not (got["done"] ^ got["bad"]).all():
        wrong.append("done/bad")
    if wrong:
        raise ShardError(f"{path}: not this job's shard of images {start}..{stop - 1} (wrong {', '.join(wrong)})")
    return Shard(start, stop, got["done"].astype(bool), got["bad"].astype(bool), got["errors"].tolist(),
                 got.get("features"), got.get("logits"))
