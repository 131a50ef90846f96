"""The features file: one HDF5 file per (dataset, backbone, layer), written by evaluation.extract.

Layout (N = manifest rows; an image in two classes is two rows with the same features):

    features   float32 (N, D)     the backbone's layer output (fc7: 4096; efficientnet-lite0: 1280)
    logits     float32 (N, 1000)  the ImageNet head's output, when the backbone has one
    ids        str (N,)           image id (sha256 of the source file)
    labels     int64 (N,)         ILSVRC-2012 class index of the row (0..999), or UNLABELLED (-1) for a
                                  file whose name matched no class (datasets.build --keep-unmatched; its
                                  wnids and label_names are "")
    wnids, label_names, splits, styles, sources, filepaths   str (N,)

Attributes: backbone, layer, weights_sha256, preprocessing (JSON), manifest, subset,
num_classes_head, head_classes (a fine-tuned head's ILSVRC indices, else
empty), created, torch_version, and in newer files tta, normalize, trained_without_style and
trained_on (the manifest a fine-tuned checkpoint trained on: another one's means ``is_adapted``);
a joined set has ``parts`` (:func:`feature_parts` of each file).

``labelled_rows`` drops the unlabelled rows (every metric needs a class); ``evaluation.suggest``
proposes classes for them. ``join_features`` puts several backbones' files of the same images
side by side (one wider FeatureSet); an unlabelled image is one row, keyed (id, -1). For many rows,
``read_features(path, features=False, logits=False)`` reads every column but the two big ones and
``read_rows`` / ``row_blocks`` read chosen rows of those a contiguous block at a time
(``open_features`` opens the file with the same checks). Nothing here imports torch or FiftyOne.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scraping.files import atomic_path

UNLABELLED = -1  # the label of a row with no class (wnid and label_name "")
ROW_CHUNK = 8192  # rows per contiguous read of row_blocks / read_rows
STR_FIELDS = ("ids", "wnids", "label_names", "splits", "styles", "sources", "filepaths")


@dataclass
class FeatureSet:
    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64, ILSVRC-2012 index
    ids: np.ndarray  # (N,) str
    splits: np.ndarray  # (N,) str: "train" / "val"
    logits: np.ndarray | None = None  # (N, 1000) float32, or None
    wnids: np.ndarray | None = None
    label_names: np.ndarray | None = None
    styles: np.ndarray | None = None
    sources: np.ndarray | None = None
    filepaths: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> FeatureSet:
        """The rows where ``mask`` is true (a boolean array or indices)."""
        def take(a):
            return None if a is None else a[mask]

        return FeatureSet(
            self.features[mask], self.labels[mask], self.ids[mask], self.splits[mask], take(self.logits),
            take(self.wnids), take(self.label_names), take(self.styles), take(self.sources), take(self.filepaths),
            dict(self.attrs),
        )

    def split(self, name: str) -> FeatureSet:
        return self.subset(self.splits == name)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the rows with a class (label >= 0)."""
        return np.asarray(self.labels) >= 0

    @property
    def subset_name(self) -> str:
        return str(self.attrs.get("subset") or Path(str(self.attrs.get("manifest", "dataset"))).parent.name)


def is_fine_tuned(attrs: dict) -> bool:
    """True when the features came from a fine-tuned checkpoint: ``head_classes`` is a non-empty JSON list."""
    raw = attrs.get("head_classes")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return False
    return isinstance(raw, (list, tuple, np.ndarray)) and len(raw) > 0


def is_adapted(attrs: dict) -> bool:
    """Features of a network fine-tuned on another dataset than their own (``training.adapt``): the manifest the
    checkpoint trained on (attr ``trained_on``) is not the one the features were extracted from."""
    trained_on, manifest = str(attrs.get("trained_on") or ""), str(attrs.get("manifest") or "")
    return is_fine_tuned(attrs) and bool(trained_on) and Path(trained_on).resolve() != Path(manifest).resolve()


def feature_parts(attrs: dict) -> list[dict]:
    """Per features file behind a set (several when joined): backbone, fine-tuned, adapted, style it never saw."""
    raw = attrs.get("parts")
    if raw:
        return json.loads(raw) if isinstance(raw, str) else list(raw)
    return [{"backbone": str(attrs.get("backbone") or "?"), "fine_tuned": is_fine_tuned(attrs),
             "adapted": is_adapted(attrs), "trained_without_style": str(attrs.get("trained_without_style") or "")}]


def labelled_rows(fs: FeatureSet) -> tuple[FeatureSet, int]:
    """(the rows with a class, how many unlabelled rows were dropped); ``fs`` itself when none were."""
    mask = fs.labelled
    dropped = int((~mask).sum())
    return (fs if dropped == 0 else fs.subset(mask)), dropped


def image_rows(fs: FeatureSet) -> dict[str, int]:
    """{image id: its first row}: an image in two classes has two rows with the same features and logits."""
    return _first_rows(fs.ids)


def _first_rows(ids: np.ndarray) -> dict[str, int]:
    first: dict[str, int] = {}
    for row, image in enumerate(np.asarray(ids).tolist()):
        first.setdefault(str(image), row)
    return first


def sample_rows(ids: np.ndarray, keys) -> np.ndarray:
    """For each image id in ``keys`` (a dataset's samples, say), its first row in ``ids`` (a features file's),
    or -1 where it has none: the one way samples meet feature rows (embed, hygiene, write-back, suggest)."""
    first = _first_rows(ids)
    return np.fromiter((first.get(str(k), -1) for k in keys), dtype=np.int64, count=len(keys))


def ignored_unlabelled(n: int) -> str:
    """The line a command logs when it leaves ``n`` unlabelled rows out of training and scoring."""
    return f"ignored {n:,} unlabelled rows (no class; python -m evaluation.suggest proposes labels for them)"


def _str(a) -> np.ndarray:
    return np.asarray([x.decode() if isinstance(x, bytes) else str(x) for x in a], dtype=object)


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def open_features(path: str | Path):
    """The features file opened with h5py (close it, or use it in a ``with``); an unreadable, incomplete or
    foreign file is an error naming it."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such features file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 features file ({err})") from None
    try:
        if not bool(f.attrs.get("complete", True)) or "features" not in f:
            raise ValueError(f"{path}: incomplete features file (an interrupted extract? run it again to resume)")
        for name in ("features", "labels", "ids", "splits"):
            if name not in f:
                raise ValueError(f"{path}: no '{name}' dataset; was it written by evaluation.extract?")
    except ValueError:
        f.close()
        raise
    return f


def read_features(path: str | Path, *, features: bool = True, logits: bool = True) -> FeatureSet:
    """Load a features file whole; a missing dataset or attribute is an error naming the file.

    ``features=False`` leaves the (N, D) features in the file (``FeatureSet.features`` is then (N, 0):
    read them with :func:`read_rows` or :func:`row_blocks`), ``logits=False`` the (N, 1000) logits
    (``logits`` is None): a command that needs only the rest reads a fraction of the file.
    """
    path = Path(path)
    with open_features(path) as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        if isinstance(attrs.get("preprocessing"), str):
            attrs["preprocessing"] = json.loads(attrs["preprocessing"])
        opt = {k: (_str(f[k][...]) if k in f else None) for k in STR_FIELDS if k not in ("ids", "splits")}
        return FeatureSet(
            features=(f["features"][...].astype(np.float32, copy=False) if features
                      else np.empty((len(f["features"]), 0), dtype=np.float32)),
            labels=f["labels"][...].astype(np.int64),
            ids=_str(f["ids"][...]),
            splits=_str(f["splits"][...]),
            logits=f["logits"][...].astype(np.float32, copy=False) if logits and "logits" in f else None,
            attrs=attrs,
            **opt,
        )


def row_blocks(data, rows, chunk: int | None = None):
    """Yield ``(positions, values)``: ``data[rows[positions]]`` for the positions whose row lies in the next
    block of at most ``chunk`` (default ``ROW_CHUNK``) consecutive rows of ``data``, an h5py dataset (or an
    array). Each block is one contiguous read, in the file's order, gaps skipped; every position comes once.
    Memory is one block, whatever the number of rows: h5py's own fancy indexing wants sorted, distinct rows
    and reads them one by one.
    """
    chunk = chunk or ROW_CHUNK
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    start = 0
    while start < len(order):
        lo = int(ordered[start])
        end = int(np.searchsorted(ordered, lo + chunk, side="left"))
        block = np.asarray(data[lo:int(ordered[end - 1]) + 1])
        yield order[start:end], block[ordered[start:end] - lo]
        start = end


def read_rows(data, rows, *, dtype=np.float32, chunk: int | None = None) -> np.ndarray:
    """``data[rows]`` as ``dtype`` (rows in any order, repeats allowed), read by :func:`row_blocks`."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), *data.shape[1:]), dtype=dtype)
    for positions, values in row_blocks(data, rows, chunk):
        out[positions] = values
    return out


def write_features(path: str | Path, fs: FeatureSet) -> None:
    """Write a whole FeatureSet atomically (evaluation.extract writes incrementally instead)."""
    import h5py

    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=np.asarray(fs.features, dtype=np.float32))
        f.create_dataset("labels", data=np.asarray(fs.labels, dtype=np.int64))
        if fs.logits is not None:
            f.create_dataset("logits", data=np.asarray(fs.logits, dtype=np.float32))
        for name in STR_FIELDS:
            value = getattr(fs, name)
            if value is not None:
                f.create_dataset(name, data=np.asarray(value, dtype=object), dtype=h5py.string_dtype())
        for key, value in fs.attrs.items():
            # str() turns str subclasses (torch.__version__) into something h5py can store
            f.attrs[key] = json.dumps(value) if isinstance(value, dict) else (str(value) if isinstance(value, str) else value)
        f.attrs["complete"] = True


class FeatureJoinError(ValueError):
    """Feature files that cannot be joined row for row; the message names the files."""


def _examples(keys, k: int = 3) -> str:
    keys = sorted(keys)
    more = f", … ({len(keys) - k} more)" if len(keys) > k else ""
    return ", ".join(str(x) for x in keys[:k]) + more


def _row_keys(fs: FeatureSet, name) -> dict[tuple[str, int], int]:
    """{(id, label): row}; an image is one row per class it is in, so the id alone is not a key."""
    keys = {}
    dup = set()
    for i, key in enumerate(zip(fs.ids.tolist(), fs.labels.tolist(), strict=True)):
        if key in keys:
            dup.add(key)
        keys[key] = i
    if dup:
        raise FeatureJoinError(f"{name}: {len(dup)} duplicate (id, label) row(s), e.g. {_examples(dup)}")
    return keys


def _match_rows(first: FeatureSet, other: FeatureSet, names: tuple) -> np.ndarray:
    """Row of ``other`` for each row of ``first``, matched by (id, label); errors name both files."""
    a, b = _row_keys(first, names[0]), _row_keys(other, names[1])
    ids_a, ids_b = set(first.ids.tolist()), set(other.ids.tolist())
    if ids_a != ids_b:
        only_a, only_b = ids_a - ids_b, ids_b - ids_a
        raise FeatureJoinError(
            f"{names[0]} and {names[1]} hold different images: {len(only_a)} id(s) only in {names[0]}"
            + (f" ({_examples(only_a)})" if only_a else "") + f", {len(only_b)} only in {names[1]}"
            + (f" ({_examples(only_b)})" if only_b else ""))
    if a.keys() != b.keys():
        bad = {i for i, _ in a.keys() ^ b.keys()}
        raise FeatureJoinError(f"{names[0]} and {names[1]} disagree on the label of {len(bad)} id(s), "
                               f"e.g. {_examples(bad)}")
    rows = np.asarray([b[key] for key in a], dtype=np.int64)
    split_b = other.splits[rows]
    bad = {i for i, s, t in zip(first.ids.tolist(), first.splits.tolist(), split_b.tolist(), strict=True) if s != t}
    if bad:
        raise FeatureJoinError(f"{names[0]} and {names[1]} disagree on the split of {len(bad)} row(s), "
                               f"e.g. {_examples(bad)}")
    return rows


def join_features(sets: list[FeatureSet], names: list[str]) -> FeatureSet:
    """Several backbones' features of the same rows side by side, in the first file's row order.

    Rows are matched by (id, label). Every column but the features (logits, wnids, styles, ...)
    and every attribute but those below come from the first set. Attributes: ``backbone`` and
    ``layer`` joined with "+", ``parts`` each file's :func:`feature_parts` (JSON), ``features`` the
    list of ``names``, ``feature_dim`` the sum.
    A :class:`FeatureJoinError` (a ValueError) names the files when the rows do not match.
    """
    if not sets or len(sets) != len(names):
        raise ValueError(f"join_features: need one name per set, got {len(sets)} set(s) and {len(names)} name(s)")
    first = sets[0]
    blocks = [first.features]
    for fs, name in zip(sets[1:], names[1:], strict=True):
        blocks.append(fs.features[_match_rows(first, fs, (names[0], name))])
    joined = first.subset(np.arange(len(first)))
    joined.features = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
    for key in ("backbone", "layer"):
        joined.attrs[key] = "+".join(str(fs.attrs.get(key, "?")) for fs in sets)
    joined.attrs["parts"] = json.dumps([part for fs in sets for part in feature_parts(fs.attrs)])
    joined.attrs["features"] = [str(n) for n in names]
    joined.attrs["feature_dim"] = int(joined.features.shape[1])
    return joined
