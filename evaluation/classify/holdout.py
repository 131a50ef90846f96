"""Cross-style hold-out (``evaluation.svm --holdout-style``): each method fitted on the train rows of every other
style, tested on every row of the held-out one; OUT/holdout.json written after each style, so a rerun with the
same features and settings skips the styles already done."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scraping.files import atomic_write_text

from ..features import FeatureSet
from ..metrics import evaluate
from .config import APPROX_COMPONENTS, EXACT_MAX_ROWS, SVMConfig
from ..features import feature_parts
from .inputs import features_meta, labelled_inputs, paths_label
from .models import short_params
from .scoring import chunked_scores
from .search import method_search, methods_of

logger = logging.getLogger(__name__)

HOLDOUT_FILE = "holdout.json"
HOLDOUT_MIN_ROWS = 20  # --holdout-style all: smaller styles are skipped


def holdout_style(fs: FeatureSet, style: str, cfg: SVMConfig) -> dict:
    """Fit each method on the train rows of every style but ``style``; test on all rows of ``style``.

    Returns ``{method: {"top1", "top5", "n", "best_params"}, "train_rows", "rows", "rows_unseen_class"}``;
    rows of ``style`` whose class no training row has cannot be scored and are only counted.
    """
    if fs.styles is None:
        raise ValueError("no styles in the features file; cannot hold one out")
    held = fs.styles == style
    train = fs.subset((fs.splits == "train") & ~held)
    test = fs.subset(held)
    result: dict = {}
    for method in methods_of(cfg):
        search = method_search(method, train.features, train.labels, cfg)
        model = search.best_estimator_
        classes = np.asarray(model.classes_, dtype=np.int64)
        known = np.isin(test.labels, classes)
        scores = chunked_scores(model, test.features[known])[0] if known.any() else np.zeros((0, len(classes)))
        g = evaluate(scores, np.searchsorted(classes, test.labels[known]))["global"]
        result[method] = {"top1": g["top1"], "top5": g["top5"], "n": g["n"],
                          "best_params": short_params(search.best_params_), "solver": search.solver_}
    result.update(train_rows=len(train), rows=len(test), rows_unseen_class=int(len(test) - result["svm"]["n"]))
    return result


def holdout_styles(fs: FeatureSet, spec: str, min_rows: int = HOLDOUT_MIN_ROWS) -> tuple[list[str], list[str]]:
    """(styles to hold out, notes on the skipped ones) for ``--holdout-style`` (names, or ``all``)."""
    if fs.styles is None:
        raise ValueError("no styles in the features file; cannot hold one out")
    known = sorted(set(fs.styles.tolist()))
    if spec.strip() == "all":
        chosen, skipped = [], []
        for style in known:
            rows = fs.styles == style
            n, k = int(rows.sum()), len(np.unique(fs.labels[rows]))
            if n >= min_rows and k >= 2:
                chosen.append(style)
            else:
                skipped.append(f"{style} ({n} rows, {k} class(es); need {min_rows}+ rows and 2+ classes)")
        return chosen, skipped
    names = list(dict.fromkeys(x.strip() for x in spec.split(",") if x.strip()))
    unknown = [x for x in names if x not in known]
    if not names or unknown:
        raise ValueError(f"--holdout-style: unknown style(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"the features have: {', '.join(known)}")
    return names, []


def unseen_styles(fs: FeatureSet, styles: list[str], skipped: list[str]) -> tuple[list[str], list[str]]:
    """A fine-tuned net's features hold out only the style its fine-tune never saw (its attr
    ``trained_without_style``): on any other, the net was trained on the test rows. Joined files: every
    fine-tuned one must have left out the same style."""
    tuned = [p for p in feature_parts(fs.attrs) if p["fine_tuned"]]
    if not tuned:
        return styles, skipped
    unseen = {str(p["trained_without_style"] or "") for p in tuned}
    if "" in unseen:
        raise ValueError("these features come from a fine-tune that saw every style, so no style is held out "
                         "from it; fine-tune with training.finetune --holdout-style S, then hold out S here")
    if len(unseen) > 1:
        raise ValueError(f"these features join fine-tunes that left out different styles "
                         f"({', '.join(sorted(map(repr, unseen)))}); no style is unseen by all")
    (unseen_style,) = unseen
    seen = [s for s in styles if s != unseen_style]
    if unseen_style not in styles:
        raise ValueError(f"these features come from a fine-tune that saw every style but {unseen_style!r}; only "
                         "that style can be held out from them")
    return [unseen_style], skipped + [f"{s} (the fine-tune saw it)" for s in seen]


def holdout_config(cfg: SVMConfig) -> dict:
    """The settings a hold-out result depends on (not ``jobs``), as JSON would store them; the solver's
    settings only where they are not the defaults, so that holdout.json files from before them stay valid."""
    config = asdict(cfg)
    config.pop("jobs")
    for key, default in (("solver", "auto"), ("exact_max_rows", EXACT_MAX_ROWS), ("components", APPROX_COMPONENTS)):
        if config[key] == default:
            config.pop(key)
    return json.loads(json.dumps(config))


def read_holdout(out: Path, meta: dict) -> dict:
    """OUT/holdout.json when it was made with ``meta``, else a fresh one; a corrupt file is an error."""
    path = out / HOLDOUT_FILE
    fresh = {"meta": meta, "styles": {}}
    if not path.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); remove it to start over") from None
    if not isinstance(data, dict) or not isinstance(data.get("styles"), dict):
        raise ValueError(f"{path}: not a hold-out file (no 'styles'); remove it to start over")
    if data.get("meta") != meta:
        logger.warning("%s: made from other features or settings; starting over", path)
        return fresh
    return data


def run_holdout(features_path: Path | list[Path], out: Path, cfg: SVMConfig, spec: str,
                min_rows: int = HOLDOUT_MIN_ROWS) -> dict:
    """Hold out each chosen style in turn, writing OUT/holdout.json after each; styles already there are kept."""
    from tqdm import tqdm

    fs = labelled_inputs(features_path)
    label = paths_label(features_path)
    try:
        styles, skipped = holdout_styles(fs, spec, min_rows)
        styles, skipped = unseen_styles(fs, styles, skipped)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    for note in skipped:
        logger.warning("holdout: skipping style %s", note)
    meta = json.loads(json.dumps({**features_meta(fs, features_path), "config": holdout_config(cfg)}))
    data = read_holdout(out, meta)
    for style in tqdm(styles, desc="hold out styles", unit=" style", disable=None):
        if style in data["styles"]:
            logger.info("holdout: %s already done", style)
            continue
        try:
            data["styles"][style] = holdout_style(fs, style, cfg)
        except ValueError as err:  # too few rows to cross-validate without this style, and the like
            raise ValueError(f"{label}: holding out style {style!r}: {err}") from None
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / HOLDOUT_FILE, json.dumps(data, indent=1) + "\n")
    return {"styles": {s: data["styles"][s] for s in styles}, "skipped": skipped}
