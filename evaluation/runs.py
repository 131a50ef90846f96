"""A training.finetune run's evaluation, and its state for the write-back: how the user's step 2 ends.

    python -m curation.writeback --run RUN_DIR      # where the dataset lives, for a run trained elsewhere

Steps, each recorded in ``RUN/evaluation.json`` when it finishes, so that a resumed or
repeated call does only what is left (and all of it again once ``best.pt`` changes):

    extract     best.pt's features and 1000-wide logits    -> RUN/features-<backbone>-best.h5
    head        the fine-tuned head as a method ("head")    -> RUN/results/
    svm         the SVM (and logistic) on those features    -> RUN/results/
    writeback   both onto the run's dataset, as ``runNNN_head`` and ``runNNN_svm``, each compared
                with the name that had the best val top-1 before the run

The first three need no FiftyOne and are here; the write-back is ``curation.writeback.write_back_run``.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from datasets.manifest import atomic_write_text, read_json_object
from datasets.workspace import run_number

logger = logging.getLogger(__name__)
STATE = "evaluation.json"
METHODS = ("head", "svm")  # written back in this order: the SVM is the App's latest


def read_state(run: Path) -> dict:
    return read_json_object(Path(run) / STATE, "evaluation state", "delete it to evaluate the run again")


def save_state(run: Path, state: dict) -> None:
    atomic_write_text(Path(run) / STATE, json.dumps(state, indent=2, default=str) + "\n")


def best_key(run: Path) -> str:
    """Identifies the current best.pt: a resumed run that found a better epoch invalidates every step."""
    best = Path(run) / "best.pt"
    if not best.is_file():
        raise ValueError(f"{best}: no such checkpoint; the run has not finished an epoch")
    st = best.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def name_prefix(run: Path) -> str:
    """``run003`` for ``runs/003-vgg19-optimal``; the folder's name made field-safe otherwise."""
    number = run_number(Path(run))
    if number is not None:
        return f"run{number:03d}"
    name = re.sub(r"[^0-9A-Za-z]+", "_", Path(run).resolve().name).strip("_").lower()
    return name if re.match(r"^[a-z]", name) else f"run_{name}"


def method_names(run: Path) -> dict[str, str]:
    prefix = name_prefix(run)
    return {m: f"{prefix}_{m}" for m in METHODS}


def features_path(run: Path, backbone: str) -> Path:
    return Path(run) / f"features-{backbone}-best.h5"


def evaluate_run(run: Path, *, manifest: str | Path, backbone: str, device: str = "auto") -> dict:
    """Extract, score the head, fit the SVM: whichever is not done yet for the current best.pt; return the state."""
    from evaluation.extract import ExtractConfig, extract
    from evaluation.head import run_head
    from evaluation.classify.config import SVMConfig
    from evaluation.svm import train_and_evaluate

    run = Path(run)
    state = read_state(run)
    key = best_key(run)
    if state.get("best") != key:
        state = {"best": key}
    features, results = features_path(run, backbone), run / "results"
    steps = {
        "extract": lambda: extract(ExtractConfig(manifest=Path(manifest), out=features, backbone=backbone,
                                                 weights=str(run / "best.pt"), device=device)),
        "head": lambda: run_head(features, results),
        "svm": lambda: train_and_evaluate(features, results, SVMConfig()),
    }
    for step, do in steps.items():
        if step in state:
            logger.info("evaluation: %s already done for this best.pt", step)
            continue
        logger.info("evaluation: %s", step)
        outcome = do()
        state[step] = _brief(step, outcome)
        save_state(run, state)
    return state


def _brief(step: str, outcome) -> dict:
    if step == "extract":
        return {k: outcome.get(k) for k in ("out", "rows", "images", "bad_images", "seconds")}
    if step == "head":
        return {"val": outcome.get("val")}
    return {m["method"]: {"val": m.get("val"), "best_params": m.get("best_params")} for m in outcome}
