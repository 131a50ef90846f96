"""python -m curation.hygiene: duplicates, train/val leaks, tiny or blank files and likely mislabels, as tags, fields.

    python -m curation.hygiene --dataset drawnet --features out/feats/drawnet_lite0.h5
    python -m curation.hygiene --dataset drawnet --features F --near-threshold 0.05 --phash-distance 6 --no-clip
    python -m curation.hygiene --dataset drawnet --features F --clip-model ViT-B-32 --clip-weights clip.bin

Nothing is deleted: each finding is a tag or a field, for review in the App. A run first
clears what the last one wrote (its tags and fields, the ``mistakenness`` brain run) and never
touches any other tag (``train``/``val``, curation tags) or field.

    tag          fields
    dup:exact    exact_group (sha256 of the file's bytes), exact_duplicates (the other samples' image_ids)
    dup:near     near_group (smallest image_id of the group), near_group_size, near_duplicates (image_ids
                 linked directly), near_by (the detectors that linked the group: "embedding", "phash")
    leak         leak_with: image_ids of its duplicate group (exact or near) in the other split
    tiny         min_side (set on every readable sample): shorter side below --tiny-side
    blank        blank_fraction (every readable sample): share of pixels of the dominant colour, on white
    unreadable   file_error
                 phash (hex), cv_prediction, mistakenness, clip_prediction, clip_agreement

Near duplicates are linked by fiftyone-brain's ``compute_near_duplicates`` on the features file's
rows (cosine distance; the brain links each duplicate to its nearest kept sample) and by
``imagehash.phash`` (Hamming distance, every pair); a group is a connected component of those
links and of exact duplicates. Blank and unreadable files take part in exact duplicates only:
every blank image looks like every other. Id lists keep at most 25 ids; the group id finds all.

Likely mislabels: out-of-fold SVM probabilities (``evaluation.svm.cross_validated_probabilities``)
over the samples' CURRENT ``ground_truth`` labels (after curation), with ``review == "rejected"``
samples left out, become ``cv_prediction`` (label, confidence, and ``logits`` = log-probabilities
in the class order of ``dataset.info["hygiene"]["mislabels"]["cv_classes"]``), from which fiftyone-brain's
``compute_mistakenness`` writes ``mistakenness`` (higher = more likely mislabelled).

With open_clip weights on disk (``--clip-weights``, or open_clip's / Hugging Face's cache; never
downloaded), zero-shot CLIP over the dataset's classes adds ``clip_prediction`` and
``clip_agreement`` (CLIP's probability of the sample's label); without them CLIP is skipped and the
summary says where weights were looked for. The summary (counts, seconds per step) is printed and
stored in ``dataset.info["hygiene"]``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import logging
import math
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from evaluation.zeroshot import (
    ClipConfig,
    add_clip_arguments,
    clip_similarities,
    find_clip_weights,
    label_prompts,
    zero_shot,
)

from .database import fiftyone_module
from .views import save_curation_views

logger = logging.getLogger(__name__)

KEY = "image_id"
TAGS = ("dup:exact", "dup:near", "leak", "tiny", "blank", "unreadable")
MISTAKENNESS = "mistakenness"  # the "to review" view sorts by this field: keep the name
PREDICTION = "cv_prediction"
SPLITS = ("train", "val")
LISTED = 25  # most image ids kept in one sample's list field: a group of hundreds would repeat them on every member


@dataclass
class HygieneConfig:
    # cosine distance of feature rows, at most. efficientnet-lite0 pooled features of OpenClipart renders: under 0.02
    # recoloured or retouched copies of one drawing, from 0.03 different drawings of a series (brain's 0.2: all)
    near_threshold: float = 0.02
    # differing bits of 64 between perceptual hashes, at most: recolourings of a drawing up to 4, unrelated from 6
    phash_distance: int = 4
    hash_size: int = 8  # phash side: hash_size**2 bits
    tiny_side: int = 32  # shorter side (px) below which a file is tiny
    # share of the pixels of one colour (on white) from which a file is blank: at 0.994 a 256 px render has under
    # ~300 px of drawing (a speck on a page); thin line art stays below it
    blank_fraction: float = 0.994
    blank_tolerance: int = 8  # per-channel difference (0..255) still counted as that colour
    mislabels: bool = True  # cross-validated SVM + brain mistakenness
    folds: int = 5
    seed: int = 0
    kernel: str = "rbf"
    C: float = 1.0
    jobs: int = -1  # parallel folds (processes)
    clip: bool = True  # zero-shot CLIP when weights are on disk
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"  # open_clip tag whose cached weights are looked for
    clip_weights: str | None = None  # a weights file, instead of the caches
    clip_template: str = "a drawing of a {}"
    clip_batch_size: int = 64
    device: str = "auto"


# ---------------------------------------------------------------- pure parts


def blank_fraction(rgb: np.ndarray, tolerance: int = 8) -> float:
    """Share of the pixels of ``rgb`` (H, W, 3 uint8) within ``tolerance`` of its most common colour."""
    pixels = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if not len(pixels):
        return 1.0
    packed = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    mode = int(values[np.argmax(counts)])
    dominant = np.array([(mode >> 16) & 255, (mode >> 8) & 255, mode & 255], dtype=np.int16)
    return float((np.abs(pixels.astype(np.int16) - dominant).max(axis=1) <= tolerance).mean())


def inspect_image(path: str, *, hash_size: int = 8, tolerance: int = 8) -> dict:
    """Facts about one file: sha256 of its bytes, phash, size and blank fraction; ``error`` if it cannot be read.

    The image is read as a network sees it (``datasets.images.load_rgb``: RGB, transparency on white).
    """
    import imagehash

    from datasets.images import load_rgb

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    facts = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        img = load_rgb(io.BytesIO(data))  # type: ignore[arg-type]  # PIL opens file objects too
    except Exception as err:  # PIL raises many types for bad files
        return {**facts, "error": f"{type(err).__name__}: {err}"[:300]}
    facts.update(width=img.width, height=img.height, phash=str(imagehash.phash(img, hash_size=hash_size)),
                 blank_fraction=blank_fraction(np.asarray(img), tolerance))
    return facts


def phash_bits(hexes: list[str]) -> np.ndarray:
    """Hex perceptual hashes (all of one length) as a boolean (N, bits) array."""
    if not hexes:
        return np.zeros((0, 0), dtype=bool)
    raw = np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=np.uint8).reshape(len(hexes), -1)
    return np.unpackbits(raw, axis=1).astype(bool)


def phash_pairs(bits: np.ndarray, max_distance: int) -> np.ndarray:
    """Index pairs (i < j) whose hashes differ in at most ``max_distance`` bits, as an (M, 2) array."""
    from sklearn.neighbors import radius_neighbors_graph

    if len(bits) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    # sklearn's hamming is the share of differing bits; half a bit of slack absorbs rounding
    graph = radius_neighbors_graph(bits, radius=(max_distance + 0.5) / bits.shape[1], metric="hamming",
                                   include_self=False).tocoo()
    keep = graph.row < graph.col
    return np.stack([graph.row[keep], graph.col[keep]], axis=1).astype(np.int64)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes linked by index ``pairs`` (M, 2)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def duplicate_groups(image_ids: list[str], digests: list[str | None], splits: list[str | None],
                     near_pairs: dict[str, np.ndarray], *, listed: int = LISTED) -> dict:
    """Exact and near duplicate groups and train/val leaks, per sample (lists aligned with ``image_ids``).

    ``digests`` are sha256s of the files (None: unreadable); ``near_pairs`` maps a detector name to the
    index pairs it linked. A group is a connected component of exact and near links; it is "near" when
    it holds at least two different files, and a leak when it holds both train and val samples. Id lists
    keep at most ``listed`` entries (direct links first); the group id finds all members.
    """
    n = len(image_ids)
    by_digest: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d is not None:
            by_digest.setdefault(d, []).append(i)
    exact = [m for m in by_digest.values() if len(m) > 1]
    links: list[set[int]] = [set() for _ in range(n)]  # direct near links between different files
    linked_by: list[set[str]] = [set() for _ in range(n)]
    for name, p in near_pairs.items():
        for i, j in np.asarray(p, dtype=np.int64).reshape(-1, 2).tolist():
            if digests[i] is None or digests[i] != digests[j]:  # a link between identical files adds nothing
                for a, b in ((i, j), (j, i)):
                    links[a].add(b)
                    linked_by[a].add(name)
    pairs = [(m[0], j) for m in exact for j in m[1:]] + [(i, j) for i in range(n) for j in links[i] if i < j]
    label = components(n, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
    members: dict[int, list[int]] = {}
    for i, c in enumerate(label.tolist()):
        members.setdefault(c, []).append(i)

    fields = ("exact_group", "exact_duplicates", "near_group", "near_group_size", "near_duplicates", "near_by",
              "leak_with")
    out: dict = {k: [None] * n for k in fields}
    for m in exact:
        for i in m:
            out["exact_group"][i] = digests[i]
            out["exact_duplicates"][i] = [image_ids[j] for j in m if j != i][:listed]
    near_groups = leak_groups = 0
    for m in members.values():
        if len(m) < 2:
            continue
        if len({digests[i] for i in m}) > 1:
            near_groups += 1
            name = min(image_ids[i] for i in m)
            detectors = sorted(set().union(*(linked_by[i] for i in m)))
            for i in m:
                out["near_group"][i], out["near_group_size"][i], out["near_by"][i] = name, len(m), detectors
                out["near_duplicates"][i] = sorted(image_ids[j] for j in links[i])[:listed]
        present = {splits[i] for i in m} & set(SPLITS)
        if len(present) > 1:
            leak_groups += 1
            for i in m:
                other = [j for j in m if splits[j] in present and splits[j] != splits[i]]
                direct = links[i] | set(by_digest.get(digests[i], ()) if digests[i] is not None else ())
                other.sort(key=lambda j: (j not in direct, image_ids[j]))
                out["leak_with"][i] = [image_ids[j] for j in other][:listed]
    out["counts"] = {
        "exact_groups": len(exact), "exact_samples": sum(len(m) for m in exact),
        "near_groups": near_groups, "near_samples": sum(x is not None for x in out["near_group"]),
        "largest_near_group": max((x for x in out["near_group_size"] if x is not None), default=0),
        "leak_groups": leak_groups, "leak_samples": sum(x is not None for x in out["leak_with"]),
        **{f"near_pairs_{name}": len(np.asarray(p).reshape(-1, 2)) for name, p in near_pairs.items()},
    }
    return out


# ---------------------------------------------------------------- the dataset


def _features_by_sample(features_path: Path, image_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row of each sample in the features file or -1, the features): rows deduplicated by image id."""
    from evaluation.features import read_features

    if not Path(features_path).is_file():
        raise ValueError(f"{features_path}: no such features file")
    fs = read_features(features_path)
    first: dict[str, int] = {}
    for r, image_id in enumerate(fs.ids):
        first.setdefault(str(image_id), r)
    rows = np.array([first.get(i, -1) for i in image_ids], dtype=np.int64)
    if not (rows >= 0).any():
        raise ValueError(f"{features_path}: none of its image ids is in the dataset (wrong features file?)")
    bad = (rows >= 0) & ~np.isfinite(fs.features[np.maximum(rows, 0)]).all(axis=1)
    if bad.any():
        raise ValueError(f"{features_path}: {int(bad.sum())} row(s) have NaN or infinite features")
    return rows, fs.features


def clear_previous(fo, dataset) -> None:
    """Remove what an earlier run wrote: its tags, fields and brain run; nothing else."""
    dataset.untag_samples(list(TAGS))
    if MISTAKENNESS in dataset.list_brain_runs():
        dataset.delete_brain_run(MISTAKENNESS)  # also deletes the field
    schema = dataset.get_field_schema()
    mine = [f for f in field_types(fo) if f in schema]
    if mine:
        dataset.delete_sample_fields(mine)


def field_types(fo) -> dict:
    """The sample fields this module writes (``mistakenness`` is written by the brain)."""
    strings = (fo.ListField, {"subfield": fo.StringField})
    classification = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification})
    return {
        "exact_group": fo.StringField, "exact_duplicates": strings, "near_group": fo.StringField,
        "near_group_size": fo.IntField, "near_duplicates": strings, "near_by": strings, "leak_with": strings,
        "phash": fo.StringField, "min_side": fo.IntField, "blank_fraction": fo.FloatField, "file_error": fo.StringField,
        PREDICTION: classification, MISTAKENNESS: fo.FloatField, "clip_prediction": classification,
        "clip_agreement": fo.FloatField,
    }


def run(dataset_name: str, features_path: Path, cfg: HygieneConfig, *, database_uri: str | None = None) -> dict:
    """Every check on the dataset; results are written only once all of them are computed. Returns the summary."""
    from tqdm import tqdm

    fo = fiftyone_module(database_uri)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 2)
        clock = now

    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset named {dataset_name!r}")
    dataset = fo.load_dataset(dataset_name)
    schema = dataset.get_field_schema()
    for field in (KEY, "split", "ground_truth"):
        if field not in schema:
            raise ValueError(f"dataset {dataset_name!r} has no field {field!r}; was it loaded by curation.load?")
    fields = ["id", KEY, "filepath", "split", "ground_truth.label"]
    ids, image_ids, filepaths, splits, labels = dataset.values(fields)
    reviews = dataset.values("review") if "review" in schema else [None] * len(ids)  # no review yet: none rejected
    rows, features = _features_by_sample(features_path, image_ids)
    lap("read")

    # files: exact duplicates, perceptual hashes, tiny and blank
    facts = [inspect_image(p, hash_size=cfg.hash_size, tolerance=cfg.blank_tolerance)
             for p in tqdm(filepaths, desc="files", unit="img")]
    readable = np.array(["error" not in f for f in facts])
    blank = np.array([f.get("blank_fraction", 0.0) >= cfg.blank_fraction for f in facts])
    min_side = [min(f["width"], f["height"]) if "width" in f else None for f in facts]
    tiny = np.array([s is not None and s < cfg.tiny_side for s in min_side])
    lap("files")

    # near duplicates: brain on the features, and phash; blank and unreadable files only as exact duplicates
    import fiftyone.brain as fob

    usable = readable & ~blank
    with_features = np.flatnonzero(usable & (rows >= 0))
    near_pairs = {"embedding": np.zeros((0, 2), dtype=np.int64), "phash": np.zeros((0, 2), dtype=np.int64)}
    if len(with_features) > 1:
        position = {ids[i]: i for i in with_features}
        view = dataset.select([ids[i] for i in with_features], ordered=True)
        index = fob.compute_near_duplicates(view, threshold=cfg.near_threshold,
                                            embeddings=features[rows[with_features]])
        near_pairs["embedding"] = np.array([(position[a], position[b]) for a, dups in index.neighbors_map.items()
                                            for b, _ in dups], dtype=np.int64).reshape(-1, 2)
    lap("near_embedding")
    hashed = np.flatnonzero(usable)
    pairs = phash_pairs(phash_bits([facts[i]["phash"] for i in hashed]), cfg.phash_distance)
    near_pairs["phash"] = hashed[pairs] if len(pairs) else np.zeros((0, 2), dtype=np.int64)
    groups = duplicate_groups(image_ids, [f.get("sha256") for f in facts], splits, near_pairs)
    lap("phash_and_groups")

    # likely mislabels: out-of-fold SVM over the current labels, rejected samples left out
    mislabel_info: dict = {"enabled": cfg.mislabels}
    predictions: list = [None] * len(ids)
    if cfg.mislabels:
        predictions, info = _cv_predictions(fo, rows, features, labels, reviews, cfg)
        mislabel_info.update(info)
    lap("cv_svm")

    # CLIP zero-shot agreement, when weights are on disk
    clip_info, clip_pred, clip_agree = _clip(fo, filepaths, labels, cfg)
    lap("clip")

    # write: clear the last run's results, then everything at once
    clear_previous(fo, dataset)
    for field, spec in field_types(fo).items():
        ftype, kwargs = spec if isinstance(spec, tuple) else (spec, {})
        dataset.add_sample_field(field, ftype, **kwargs)
    values = {
        **{k: groups[k] for k in ("exact_group", "exact_duplicates", "near_group", "near_group_size",
                                  "near_duplicates", "near_by", "leak_with")},
        "phash": [f.get("phash") for f in facts],
        "min_side": min_side,
        "blank_fraction": [f.get("blank_fraction") for f in facts],
        "file_error": [f.get("error") for f in facts],
        PREDICTION: predictions,
        "clip_prediction": clip_pred,
        "clip_agreement": clip_agree,
    }
    for field, vals in values.items():
        dataset.set_values(field, dict(zip(ids, vals)), key_field="id")
    flags = {
        "dup:exact": [g is not None for g in groups["exact_group"]],
        "dup:near": [g is not None for g in groups["near_group"]],
        "leak": [g is not None for g in groups["leak_with"]],
        "tiny": tiny, "blank": blank, "unreadable": ~readable,
    }
    for tag, mask in flags.items():
        tagged = [i for i, m in zip(ids, mask) if m]
        if tagged:
            dataset.select(tagged).tag_samples(tag)
    lap("write")

    scored = [i for i, p in zip(ids, predictions) if p is not None]
    if scored:
        fob.compute_mistakenness(dataset.select(scored), PREDICTION, label_field="ground_truth",
                                 mistakenness_field=MISTAKENNESS, use_logits=True)
    lap("mistakenness")

    summary = {
        "samples": len(ids),
        "with_features": int((rows >= 0).sum()),
        "counts": {**{tag: int(np.sum(mask)) for tag, mask in flags.items()}, **groups["counts"]},
        "mislabels": mislabel_info,
        "clip": clip_info,
        "config": asdict(cfg),
        "features": str(features_path),
        "seconds": timings,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    dataset.info["hygiene"] = summary
    dataset.save()
    save_curation_views(dataset)  # "to review" now sorts by mistakenness
    return summary


def _cv_predictions(fo, rows: np.ndarray, features: np.ndarray, labels: list, reviews: list,
                    cfg: HygieneConfig) -> tuple[list, dict]:
    """``cv_prediction`` per sample (None where not scored) and what was left out, and why."""
    from evaluation.svm import cross_validated_probabilities

    n = len(rows)
    rejected = np.array([r == "rejected" for r in reviews])
    labelled = np.array([label is not None for label in labels])
    train = np.flatnonzero((rows >= 0) & ~rejected & labelled)
    y = np.array([labels[i] for i in train], dtype=object)
    info = {"rejected": int(rejected.sum()), "no_features": int(((rows < 0) & ~rejected).sum()),
            "no_class": int((~labelled & ~rejected).sum())}
    counts = Counter(y.tolist())
    if sum(1 for c in counts.values() if c >= 2) < 2:
        logger.warning("mislabels: fewer than 2 classes with 2+ samples; nothing to cross-validate")
        return [None] * n, {**info, "scored": 0, "single_member_class": len(y)}
    logger.info("mislabels: %d-fold SVM on %d samples of %d classes (%d of them with 2+ samples)", cfg.folds,
                len(y), len(counts), sum(1 for c in counts.values() if c >= 2))
    probs, classes = cross_validated_probabilities(features[rows[train]], y, folds=cfg.folds, seed=cfg.seed,
                                                   kernel=cfg.kernel, C=cfg.C, jobs=cfg.jobs)
    class_labels = [str(c) for c in classes]
    predictions: list = [None] * n
    disagree = 0
    for k, i in enumerate(train):
        p = probs[k]
        if np.isnan(p).any():
            continue
        best = int(np.argmax(p))
        disagree += int(classes[best] != y[k])
        # log-probabilities as logits: the brain's softmax gives back exactly these probabilities
        predictions[i] = fo.Classification(label=class_labels[best], confidence=float(p[best]),
                                           logits=np.log(np.clip(p, 1e-12, None)).astype(np.float32))
    scored = sum(p is not None for p in predictions)
    info.update(scored=scored, single_member_class=len(train) - scored, predicted_other_class=disagree,
                classes=len(classes), cv_classes=class_labels)
    return predictions, info


def clip_config(cfg: HygieneConfig) -> ClipConfig:
    return ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained, weights=cfg.clip_weights,
                      template=cfg.clip_template, batch_size=cfg.clip_batch_size, device=cfg.device)


def _clip(fo, filepaths: list[str], labels: list, cfg: HygieneConfig) -> tuple[dict, list, list]:
    """CLIP's prediction and agreement per sample, or a skip with where weights were looked for."""
    n = len(filepaths)
    if not cfg.clip:
        return {"status": "skipped", "reason": "--no-clip"}, [None] * n, [None] * n
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: open_clip would fetch a missing tokenizer
    weights, looked = find_clip_weights(cfg.clip_model, cfg.clip_pretrained, cfg.clip_weights)
    if weights is None:
        reason = f"no weights for {cfg.clip_model} ({cfg.clip_pretrained}) on disk; looked in: {'; '.join(looked)}"
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    classes = sorted({label for label in labels if label is not None})
    prompts = label_prompts(classes, cfg.clip_template)
    try:
        sims, scale = clip_similarities(filepaths, prompts, clip_config(cfg), weights)
    except Exception as err:  # a corrupt or mismatched weights file: skip CLIP, keep the other findings
        reason = f"{weights}: could not load {cfg.clip_model} ({type(err).__name__}: {err})"[:500]
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    column = {c: k for k, c in enumerate(classes)}
    given = np.array([column.get(label, -1) for label in labels], dtype=np.int64)
    probs, agreement = zero_shot(np.nan_to_num(sims, nan=0.0), given, logit_scale=scale)
    ok = ~np.isnan(sims).any(axis=1)
    preds: list = [None] * n
    agree: list = [None] * n
    for i in np.flatnonzero(ok):
        best = int(np.argmax(probs[i]))
        preds[i] = fo.Classification(label=classes[best], confidence=float(probs[i, best]))
        agree[i] = None if math.isnan(agreement[i]) else float(agreement[i])
    info = {"status": "done", "model": cfg.clip_model, "weights": weights, "prompt": cfg.clip_template,
            "classes": len(classes), "scored": int(ok.sum()), "logit_scale": scale,
            "agree_top1": int(sum(1 for i in np.flatnonzero(ok) if given[i] == int(np.argmax(probs[i]))))}
    return info, preds, agree


# ---------------------------------------------------------------- CLI


def format_summary(summary: dict) -> str:
    c = summary["counts"]
    lines = [f"{summary['samples']} samples ({summary['with_features']} with features)",
             f"  exact duplicates: {c['exact_samples']} samples in {c['exact_groups']} groups (tag dup:exact)",
             (f"  near duplicates:  {c['near_samples']} samples in {c['near_groups']} groups, the largest "
              f"{c['largest_near_group']} (tag dup:near; links: {c['near_pairs_embedding']} by embedding, "
              f"{c['near_pairs_phash']} by phash)"),
             f"  train/val leaks:  {c['leak_samples']} samples in {c['leak_groups']} groups (tag leak)",
             f"  tiny: {c['tiny']}   blank: {c['blank']}   unreadable: {c['unreadable']}"]
    m = summary["mislabels"]
    if m.get("enabled"):
        lines.append(f"  mislabels: {m.get('scored', 0)} scored ({MISTAKENNESS}), {m.get('predicted_other_class', 0)}"
                     f" predicted as another class; left out: {m.get('rejected', 0)} rejected, "
                     f"{m.get('single_member_class', 0)} in single-sample classes, {m.get('no_features', 0)} without "
                     f"features")
    else:
        lines.append("  mislabels: skipped (--no-mislabels)")
    clip = summary["clip"]
    if clip["status"] == "done":
        lines.append(f"  clip: {clip['scored']} scored (clip_agreement), {clip['agree_top1']} with CLIP's top class "
                     f"= the label ({clip['model']}, {clip['weights']})")
    else:
        lines.append(f"  clip: skipped: {clip['reason']}")
    lines.append("  seconds: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()))
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> HygieneConfig:
    if not 0 <= args.near_threshold <= 2:
        raise ValueError(f"--near-threshold is a cosine distance in [0, 2], got {args.near_threshold}")
    if not 0 <= args.phash_distance <= args.hash_size ** 2:
        raise ValueError(f"--phash-distance must be in 0..{args.hash_size ** 2}, got {args.phash_distance}")
    if not 0 < args.blank_fraction <= 1:
        raise ValueError(f"--blank-fraction must be in (0, 1], got {args.blank_fraction}")
    if args.folds < 2:
        raise ValueError(f"--folds must be at least 2, got {args.folds}")
    if args.clip_weights is not None and not Path(args.clip_weights).is_file():
        raise ValueError(f"--clip-weights {args.clip_weights}: no such file")
    return HygieneConfig(
        near_threshold=args.near_threshold, phash_distance=args.phash_distance, hash_size=args.hash_size,
        tiny_side=args.tiny_side, blank_fraction=args.blank_fraction, blank_tolerance=args.blank_tolerance,
        mislabels=not args.no_mislabels, folds=args.folds, seed=args.seed, kernel=args.kernel, C=args.C,
        jobs=args.jobs, clip=not args.no_clip, clip_model=args.clip_model,
        clip_pretrained=args.clip_pretrained, clip_weights=args.clip_weights, clip_template=args.clip_template,
        clip_batch_size=args.batch_size, device=args.device,
    )


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = HygieneConfig()
    p = argparse.ArgumentParser(description="Tag duplicates, train/val leaks, tiny/blank files and likely mislabels.",
                                add_help=add_help)
    p.add_argument("--dataset", required=True, help="FiftyOne dataset (from curation.load)")
    p.add_argument("--features", type=Path, required=True, help="features file (evaluation.extract) of its images")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or FIFTYONE_DATABASE_URI)")
    g = p.add_argument_group("thresholds")
    g.add_argument("--near-threshold", type=float, default=d.near_threshold,
                   help="cosine distance of features below which images are near duplicates (default %(default)s)")
    g.add_argument("--phash-distance", type=int, default=d.phash_distance,
                   help="most differing phash bits for near duplicates (default %(default)s of 64)")
    g.add_argument("--hash-size", type=int, default=d.hash_size, help="phash side, bits = side^2 (default %(default)s)")
    g.add_argument("--tiny-side", type=int, default=d.tiny_side,
                   help="shorter side in px below which a file is tiny (default %(default)s)")
    g.add_argument("--blank-fraction", type=float, default=d.blank_fraction,
                   help="share of pixels of one colour from which a file is blank (default %(default)s)")
    g.add_argument("--blank-tolerance", type=int, default=d.blank_tolerance,
                   help="channel difference still counted as that colour (default %(default)s)")
    g = p.add_argument_group("likely mislabels (cross-validated SVM, brain mistakenness)")
    g.add_argument("--no-mislabels", action="store_true", help="skip the SVM and mistakenness")
    g.add_argument("--folds", type=int, default=d.folds, help="cross-validation folds (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="fold seed (default %(default)s)")
    g.add_argument("--kernel", default=d.kernel, choices=("rbf", "linear"),
                   help="SVM kernel (default %(default)s)")
    g.add_argument("--C", dest="C", type=float, default=d.C, help="SVM C (default %(default)s)")
    g.add_argument("--jobs", type=int, default=d.jobs, help="parallel folds (default -1: all cores)")
    g = p.add_argument_group("CLIP zero-shot agreement (only with weights already on disk)")
    add_clip_arguments(g, batch_flag="--batch-size")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = config_from_args(args)
        summary = run(args.dataset, args.features, cfg, database_uri=args.database_uri)
    except (ValueError, OSError) as err:
        print(f"curation.hygiene: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
