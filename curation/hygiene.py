"""python -m curation.hygiene: duplicates, train/val leaks, tiny or blank files and likely mislabels, as tags, fields.

    python -m curation.hygiene --features out/feats/drawnet_lite0.h5       # the workspace's dataset
    python -m curation.hygiene --features F --near-threshold 0.05 --phash-distance 6 --no-clip
    python -m curation.hygiene --features F --clip-model ViT-B-32 --clip-weights clip.bin --C 0.1,1,10

Nothing is deleted: each finding is a tag or a field, for review in the App. A run first
clears what the last one wrote (its tags and fields, and the ``mistakenness`` brain run that
earlier versions registered) and never touches any other tag (``train``/``val``, curation tags) or field.

    tag          fields
    dup:exact    exact_group (sha256 of the file's bytes), exact_duplicates (the other samples' image_ids)
    dup:near     near_group (image_id of the group's representative file), near_group_size (samples),
                 near_duplicates (image_ids of the files linked directly, nearest first), near_by (the
                 detectors that linked the group: "embedding", "phash")
    leak         leak_with: image_ids in the other split that are its file's duplicates, linked directly
                 to its file, or in its near group (those linked directly first)
    tiny         min_side (set on every readable sample): shorter side below --tiny-side
    blank        blank_fraction (every readable sample): share of pixels of the dominant colour, on white
    unreadable   file_error
                 phash (hex), cv_prediction, mistakenness, clip_prediction, clip_agreement

This module reads the dataset, runs the checks and writes their results; the checks are
``curation.filechecks`` (files), ``curation.duplicates`` (groups and leaks, from ``curation.embedding_pairs``
and ``scraping.phash``) and ``curation.mislabels``.

Duplicates are found between files, not samples: samples with the same bytes are one file (an
exact group). Two files are linked when their features file rows are within ``--near-threshold``
cosine distance after centring on the mean of the rows compared (fiftyone-brain's
``compute_near_duplicates`` metric), or when their ``imagehash.phash`` differ in at most
``--phash-distance`` bits; both find every such pair, exactly (phash: multi-index hashing;
features: blocks of rows compared in a 33-dim projection that can only shrink distances, the full
rows deciding, in memory bounded by the block; that screen is the one quadratic cost, about a
million pairs per 5 ms here). Links do not chain into groups: the file with the most links (then the
smallest image_id) represents a group, the other files it links join it, and so on down the files not
yet linked to a representative; each linked file then joins the representative it is nearest to
(distance as a share of its detector's threshold), and a representative left alone joins the group
of its nearest linked file. A group is thus a representative and files within one or two links of it:
a series of gradually edited drawings is several groups, not one. Blank and unreadable files take
part in exact duplicates only: every blank image looks like every other. Id lists keep at most 25
ids; the group id finds all. More than 20,000,000 links of one detector stop the run with an error
naming the threshold to lower.

Likely mislabels: out-of-fold class probabilities over the samples' CURRENT ``ground_truth``
labels (after curation), with ``review == "rejected"`` samples left out, become ``cv_prediction``
(label and confidence) and ``mistakenness`` (higher = more likely mislabelled), fiftyone-brain's
classification mistakenness with ``use_logits=True``: ``(m * exp(-entropy(p)) + 1) / 2``, m = -1
when the predicted class is the label, else 1, computed here for all samples at once and written
with ``set_values`` (the brain saved sample by sample, ~120 samples/s, from 1000-wide logits stored on
every prediction; neither is needed, and no brain run is registered). Up to ``--exact-rows``
samples the probabilities are ``evaluation.classify.oof.cross_validated_probabilities`` (an SVM on an exact
kernel: rows^2 floats per fold, time rows^2 x classes); above, ``evaluation.classify.oof.cross_validated_linear``
(a shrunk linear discriminant, linear in the rows, the same folds and temperature scaling).
The run's record and the printed summary say which ran, and why.

With open_clip weights on disk (``--clip-weights``, or open_clip's / Hugging Face's cache; never
downloaded), zero-shot CLIP over the dataset's classes adds ``clip_prediction`` and
``clip_agreement`` (CLIP's probability of the sample's label); without them CLIP is skipped and the
summary says where weights were looked for. From 2,000 files on, ``--workers`` processes read them.

The summary (counts, seconds per step) is printed and recorded as the FiftyOne run ``hygiene``, with
the fields and tags it wrote and its settings (``curation.runs``)::

    dataset.list_runs()                                 # [..., "hygiene", ...]
    curation.runs.run_config(dataset, "hygiene")        # {"method": "hygiene", "fields": [...], "counts": ...}
    dataset.delete_run("hygiene")                       # forgets the record; the fields stay until deleted
"""
from __future__ import annotations

import argparse
import sys
import time
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from evaluation.zeroshot import ClipConfig, add_clip_arguments
from scraping.cli import UsageError, add_common_arguments, default_workers, setup_logging

from .database import add_dataset_arguments, dataset_and_uri, exit_code, fiftyone_module
from .duplicates import GROUP_FIELDS, duplicate_groups, embedding_links, phash_links
from .filechecks import file_flags, inspect_files
from .mislabels import CrossValidation, clip_scores, cv_scores, prediction_values
from .runs import record_run
from .views import save_curation_views

PROG = "curation.hygiene"
KEY = "image_id"
RUN = "hygiene"  # the key of its FiftyOne run (curation.runs)
TAGS = ("dup:exact", "dup:near", "leak", "tiny", "blank", "unreadable")
MISTAKENNESS = "mistakenness"  # the "to review" view sorts by this field: keep the name
PREDICTION = "cv_prediction"


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
    workers: int = dataclasses.field(default_factory=default_workers)  # processes reading the files
    mislabels: bool = True  # cross-validated classifier + mistakenness
    # samples up to which the exact-kernel SVM scores them; above, the linear model. The kernel is rows^2 float64
    # per fold, two folds at once with --jobs 2: 10,000 rows peaked at 1.5 GB. One-vs-rest time grows as
    # rows^2 x classes: 5,000 rows of 1,000 classes took 190 s here, and 9,755 rows of 996 classes 1,018 s
    # (benchmarks/scale_bench.py at 10,000 drawings, other work on both cores)
    exact_rows: int = 5_000
    folds: int = 5
    seed: int = 0
    kernel: str = "rbf"  # the exact SVM's
    C: tuple[float, ...] = (1.0,)  # its C; several: the one of least out-of-fold log loss, as evaluation.suggest
    jobs: int = -1  # parallel folds (processes) of the exact SVM
    clip: bool = True  # zero-shot CLIP when weights are on disk
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"  # open_clip tag whose cached weights are looked for
    clip_weights: str | None = None  # a weights file, instead of the caches
    clip_template: str = "a drawing of a {}"
    clip_batch_size: int = 64
    device: str = "auto"


def clip_config(cfg: HygieneConfig) -> ClipConfig:
    return ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained, weights=cfg.clip_weights,
                      template=cfg.clip_template, batch_size=cfg.clip_batch_size, device=cfg.device)


def cross_validation(cfg: HygieneConfig) -> CrossValidation:
    return CrossValidation(exact_rows=cfg.exact_rows, folds=cfg.folds, seed=cfg.seed, kernel=cfg.kernel, C=cfg.C,
                           jobs=cfg.jobs)


# ---------------------------------------------------------------- the dataset


def _features_by_sample(features_path: Path, image_ids: list[str], dataset_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(row of each sample in the features file or -1, the features): rows deduplicated by image id."""
    from evaluation.features import read_features, sample_rows

    if not Path(features_path).is_file():
        raise FileNotFoundError(f"{features_path}: no such features file")
    fs = read_features(features_path)
    rows = sample_rows(fs.ids, image_ids)
    if not (rows >= 0).any():
        raise ValueError(f"{features_path}: none of its image ids is in dataset {dataset_name!r} (wrong features "
                         f"file?)")
    finite = np.ones(len(fs.features), dtype=bool)
    for start in range(0, len(finite), 8192):  # no (N, D) temporary
        finite[start : start + 8192] = np.isfinite(fs.features[start : start + 8192]).all(axis=1)
    bad = (rows >= 0) & ~finite[np.maximum(rows, 0)]
    if bad.any():
        raise ValueError(f"{features_path}: {int(bad.sum())} row(s) have NaN or infinite features")
    return rows, fs.features


def clear_previous(fo, dataset) -> None:
    """Remove what an earlier run wrote: its tags, fields and (earlier versions) brain run; nothing else."""
    dataset.untag_samples(list(TAGS))
    if MISTAKENNESS in dataset.list_brain_runs():
        dataset.delete_brain_run(MISTAKENNESS)  # also deletes the field
    schema = dataset.get_field_schema()
    mine = [f for f in field_types(fo) if f in schema]
    if mine:
        dataset.delete_sample_fields(mine)


def field_types(fo) -> dict:
    """The sample fields this module writes."""
    strings = (fo.ListField, {"subfield": fo.StringField})
    classification = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification})
    return {
        "exact_group": fo.StringField, "exact_duplicates": strings, "near_group": fo.StringField,
        "near_group_size": fo.IntField, "near_duplicates": strings, "near_by": strings, "leak_with": strings,
        "phash": fo.StringField, "min_side": fo.IntField, "blank_fraction": fo.FloatField, "file_error": fo.StringField,
        PREDICTION: classification, MISTAKENNESS: fo.FloatField, "clip_prediction": classification,
        "clip_agreement": fo.FloatField,
    }


def _read(fo, dataset_name: str, features_path: Path) -> dict:
    """The dataset, its samples' ids, image ids, filepaths, splits, labels and reviews, and their features."""
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset {dataset_name!r} (load one with python -m curation.load)")
    dataset = fo.load_dataset(dataset_name)
    schema = dataset.get_field_schema()
    for field in (KEY, "split", "ground_truth"):
        if field not in schema:
            raise ValueError(f"dataset {dataset_name!r} has no field {field!r}; was it loaded by curation.load?")
    names = ("ids", "image_ids", "filepaths", "splits", "labels")
    data = dict(zip(names, dataset.values(["id", KEY, "filepath", "split", "ground_truth.label"])))
    data["reviews"] = dataset.values("review") if "review" in schema else [None] * len(data["ids"])  # none rejected
    data["rows"], data["features"] = _features_by_sample(features_path, data["image_ids"], dataset_name)
    return {"dataset": dataset, **data}



def _classifications(fo, pairs: list) -> list:
    """FiftyOne labels of (label, confidence) pairs; None stays None."""
    return [None if p is None else fo.Classification(label=p[0], confidence=p[1]) for p in pairs]


def _write(fo, dataset, ids: list, values: dict, flags: dict) -> None:
    """Clear the last run's results, then write every field and tag."""
    clear_previous(fo, dataset)
    for field, spec in field_types(fo).items():
        ftype, kwargs = spec if isinstance(spec, tuple) else (spec, {})
        dataset.add_sample_field(field, ftype, **kwargs)
    for field, vals in values.items():
        present = {i: v for i, v in zip(ids, vals) if v is not None}  # the fields were just cleared: None is absent
        if present:
            dataset.set_values(field, present, key_field="id")
    for tag, mask in flags.items():
        tagged = [i for i, m in zip(ids, mask) if m]
        if tagged:
            dataset.select(tagged).tag_samples(tag)


class _Laps:
    """Seconds per step, each from the end of the last."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.clock = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self.clock, 2)
        self.clock = now


def _duplicates(d: dict, facts: list[dict], usable: np.ndarray, cfg: HygieneConfig, lap: _Laps) -> dict:
    """Exact and near groups and leaks (``curation.duplicates``) of the usable files."""
    digests = [f.get("sha256") for f in facts]
    near, closeness = {}, {}
    near["embedding"], closeness["embedding"] = embedding_links(digests, usable, d["rows"], d["features"],
                                                                cfg.near_threshold, seed=cfg.seed)
    lap("near_embedding")
    near["phash"], closeness["phash"] = phash_links([f.get("phash") for f in facts], digests, usable,
                                                    cfg.phash_distance)
    groups = duplicate_groups(d["image_ids"], digests, d["splits"], near, closeness=closeness)
    lap("phash_and_groups")
    return groups


def _mislabels(fo, d: dict, cfg: HygieneConfig, lap: _Laps) -> tuple[dict, dict, dict]:
    """(field values, summary of the cross-validated model, summary of CLIP) (``curation.mislabels``)."""
    n = len(d["ids"])
    cv = cv_scores(d["rows"], d["features"], d["labels"], d["reviews"], cross_validation(cfg)) if cfg.mislabels \
        else None
    lap("cv_svm")
    predictions, mistaken, info = prediction_values(n, cv) if cv else ([None] * n, [None] * n, {})
    lap("mistakenness")
    if cfg.clip:
        clip_info, clip_pred, clip_agree = clip_scores(d["filepaths"], d["labels"], clip_config(cfg))
    else:
        clip_info, clip_pred, clip_agree = {"status": "skipped", "reason": "--no-clip"}, [None] * n, [None] * n
    lap("clip")
    values = {PREDICTION: _classifications(fo, predictions), MISTAKENNESS: mistaken,
              "clip_prediction": _classifications(fo, clip_pred), "clip_agreement": clip_agree}
    return values, {"enabled": cfg.mislabels, **info}, clip_info


def run(dataset_name: str, features_path: Path, cfg: HygieneConfig, *, database_uri: str | None = None) -> dict:
    """Every check on the dataset; results are written only once all of them are computed, then recorded as the
    run ``hygiene``. Returns the summary."""
    fo = fiftyone_module(database_uri)
    lap = _Laps()
    d = _read(fo, dataset_name, features_path)
    lap("read")
    facts = inspect_files(d["filepaths"], hash_size=cfg.hash_size, tolerance=cfg.blank_tolerance, workers=cfg.workers)
    readable, blank, min_side, tiny = file_flags(facts, blank_from=cfg.blank_fraction, tiny_side=cfg.tiny_side)
    lap("files")
    groups = _duplicates(d, facts, readable & ~blank, cfg, lap)  # blank and unreadable files: exact duplicates only
    mislabel_values, mislabel_info, clip_info = _mislabels(fo, d, cfg, lap)
    values = {**{k: groups[k] for k in GROUP_FIELDS}, "phash": [f.get("phash") for f in facts], "min_side": min_side,
              "blank_fraction": [f.get("blank_fraction") for f in facts], "file_error": [f.get("error") for f in facts],
              **mislabel_values}
    flags = {"dup:exact": [g is not None for g in groups["exact_group"]],
             "dup:near": [g is not None for g in groups["near_group"]],
             "leak": [g is not None for g in groups["leak_with"]], "tiny": tiny, "blank": blank,
             "unreadable": ~readable}
    _write(fo, d["dataset"], d["ids"], values, flags)
    lap("write")
    summary = {"samples": len(d["ids"]), "with_features": int((d["rows"] >= 0).sum()),
               "counts": {**{tag: int(np.sum(mask)) for tag, mask in flags.items()}, **groups["counts"]},
               "mislabels": mislabel_info, "clip": clip_info, "config": asdict(cfg), "features": str(features_path),
               "seconds": lap.seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _record(fo, d["dataset"], summary)
    return summary


def _record(fo, dataset, summary: dict) -> None:
    """The run ``hygiene``: the fields and tags written, the settings and the summary; then the saved views."""
    record_run(dataset, RUN, method="hygiene", fields=list(field_types(fo)), tags=list(TAGS), **summary)
    if RUN in (dataset.info or {}):  # where earlier versions kept the summary
        del dataset.info[RUN]
        dataset.save()
    save_curation_views(dataset)  # "to review" now sorts by mistakenness


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
        lines.append(f"  mislabels: {m.get('method', '?')}")
        if m.get("chosen"):
            losses = ", ".join(f"{c} {v:.3f}" for c, v in m["chosen"]["C_log_loss"].items())
            lines.append(f"    C {m['chosen']['C']:g}, of least out-of-fold log loss ({losses})")
        lines.append(f"    {m.get('scored', 0)} scored ({MISTAKENNESS}), {m.get('predicted_other_class', 0)}"
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
    """The settings, once the options alone are right (a UsageError otherwise: ``evaluation.options`` and
    ``evaluation.zeroshot.clip_config``, the checks the evaluation commands share); then the CLIP weights file
    and the device they name (a ValueError, exit 1, where the file or this machine's device is missing)."""
    from evaluation.options import jobs, one_kernel, positive_floats
    from scraping.cli import at_least
    from evaluation.zeroshot import clip_config as checked_clip

    checks = [(0 <= args.near_threshold <= 2, f"--near-threshold is a cosine distance in [0, 2], got "
               f"{args.near_threshold}"),
              (0 <= args.phash_distance <= args.hash_size ** 2,
               f"--phash-distance must be in 0..{args.hash_size ** 2}, got {args.phash_distance}"),
              (0 < args.blank_fraction <= 1, f"--blank-fraction must be in (0, 1], got {args.blank_fraction}"),
              (0 <= args.blank_tolerance <= 255, f"--blank-tolerance must be in 0..255, got {args.blank_tolerance}")]
    at_least(args.hash_size, 2, "--hash-size")
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    for value, low, flag in ((args.tiny_side, 0, "--tiny-side"), (args.folds, 2, "--folds"),
                             (args.exact_rows, 0, "--exact-rows"), (args.workers, 1, "--workers")):
        at_least(value, low, flag)
    kernel, C, n_jobs = one_kernel(args.kernel), positive_floats(args.C, "--C"), jobs(args.jobs)
    clip = checked_clip(args)  # None with --no-clip
    return HygieneConfig(
        near_threshold=args.near_threshold, phash_distance=args.phash_distance, hash_size=args.hash_size,
        tiny_side=args.tiny_side, blank_fraction=args.blank_fraction, blank_tolerance=args.blank_tolerance,
        workers=args.workers, mislabels=not args.no_mislabels, exact_rows=args.exact_rows, folds=args.folds,
        seed=args.seed, kernel=kernel, C=C, jobs=n_jobs, clip=clip is not None, clip_model=args.clip_model,
        clip_pretrained=args.clip_pretrained, clip_weights=args.clip_weights, clip_template=args.clip_template,
        clip_batch_size=args.clip_batch_size, device=args.device,
    )


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = HygieneConfig()
    p = argparse.ArgumentParser(description="Tag duplicates, train/val leaks, tiny/blank files and likely mislabels.",
                                add_help=add_help)
    add_dataset_arguments(p)
    p.add_argument("--features", type=Path, required=True, help="features file (evaluation.extract) of its images")
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
    p.add_argument("--workers", type=int, default=d.workers,
                   help="processes reading the files (default: the cores this process may use, at most 8)")
    g = p.add_argument_group("likely mislabels (cross-validated classifier, mistakenness)")
    g.add_argument("--no-mislabels", action="store_true", help="skip the classifier and mistakenness")
    g.add_argument("--exact-rows", type=int, default=d.exact_rows,
                   help="samples up to which an exact-kernel SVM scores them (rows^2 memory and time); above, a "
                        "linear model, linear in the samples (default %(default)s)")
    g.add_argument("--folds", type=int, default=d.folds, help="cross-validation folds (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="fold seed (default %(default)s)")
    g.add_argument("--kernel", default=d.kernel, help="exact SVM's kernel, rbf or linear (default %(default)s)")
    g.add_argument("--C", default=",".join(f"{c:g}" for c in d.C),
                   help="exact SVM's C; comma-separated candidates are chosen among by out-of-fold log loss, as "
                        "evaluation.suggest chooses (default %(default)s)")
    g.add_argument("--jobs", type=int, default=d.jobs, help="exact SVM's parallel folds (default -1: all cores)")
    g = p.add_argument_group("CLIP zero-shot agreement (only with weights already on disk)")
    add_clip_arguments(g)
    add_common_arguments(p)
    return p


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        cfg = config_from_args(args)
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        summary = run(name, args.features, cfg, database_uri=uri)
    except (ValueError, OSError) as err:  # WorkspaceError, UsageError and DeviceUnavailable are ValueErrors
        return exit_code(PROG, err)
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
