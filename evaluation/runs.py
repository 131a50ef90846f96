"""A training.finetune run's evaluation and write-back: how the user's step 2 ends.

    python -m evaluation.writeback --run RUN_DIR      # where the dataset lives, for a run trained elsewhere

Steps, each recorded in ``RUN/evaluation.json`` when it finishes, so that a resumed or
repeated call does only what is left (and all of it again once ``best.pt`` changes):

    extract     best.pt's features and 1000-wide logits    -> RUN/features-<backbone>-best.h5
    head        the fine-tuned head as a method ("head")    -> RUN/results/
    svm         the SVM (and logistic) on those features    -> RUN/results/
    writeback   both onto the run's dataset, as ``runNNN_head`` and ``runNNN_svm``, each compared
                with the name that had the best val top-1 before the run

The first three need no FiftyOne; the write-back imports it (through evaluation.writeback).
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
STEPS = ("extract", "head", "svm", "writeback")
METHODS = ("head", "svm")  # written back in this order: the SVM is the App's latest


def read_state(run: Path) -> dict:
    return read_json_object(Path(run) / STATE, "evaluation state", "delete it to evaluate the run again")


def _save_state(run: Path, state: dict) -> None:
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
    from evaluation.svm import SVMConfig, train_and_evaluate

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
        _save_state(run, state)
    return state


def _brief(step: str, outcome) -> dict:
    if step == "extract":
        return {k: outcome.get(k) for k in ("out", "rows", "images", "bad_images", "seconds")}
    if step == "head":
        return {"val": outcome.get("val")}
    return {m["method"]: {"val": m.get("val"), "best_params": m.get("best_params")} for m in outcome}


def best_before(registry: dict, exclude: set[str], schema: set[str]) -> str | None:
    """The written-back name with the highest val top-1 (then top-5), among those still on the dataset."""
    def score(name):
        val = (registry[name].get("accuracy") or {}).get("val") or {}
        return (val.get("top1") if val.get("top1") is not None else -1.0,
                val.get("top5") if val.get("top5") is not None else -1.0)

    candidates = [n for n in registry if n not in exclude and f"{n}_rank" in schema and score(n)[0] >= 0]
    return max(candidates, key=score, default=None)


def write_back_run(run: Path, *, dataset: str | None = None, database_uri: str | None = None) -> list[dict]:
    """Write the run's two methods back onto its dataset; return the write-back summaries."""
    from curation.database import fiftyone_module
    from training.plan import read_source

    from .writeback import WritebackConfig, write_back

    run = Path(run)
    state = read_state(run)
    missing = [s for s in ("extract", "head", "svm") if s not in state]
    if missing:
        raise ValueError(f"{run}: not evaluated yet ({', '.join(missing)} missing): run "
                         f"python -m training.finetune --resume {run}")
    source = read_source(run)
    dataset = dataset or source.get("dataset")
    if not dataset:
        raise ValueError(f"{run}: trained on a manifest of its own, not on a workspace's dataset: give --dataset NAME")
    uri = database_uri or source.get("database_uri")
    fo = fiftyone_module(uri)
    if not fo.dataset_exists(dataset):
        raise ValueError(f"no FiftyOne dataset {dataset!r} here (the run was trained on it): load it with "
                         "python -m curation.load, or give --dataset NAME")
    names = method_names(run)
    ds = fo.load_dataset(dataset)
    other = best_before(ds.info.get("writeback", {}), set(names.values()), set(ds.get_field_schema()))
    summaries = []
    for method in METHODS:
        summaries.append(write_back(WritebackConfig(dataset=dataset, results=run / "results", method=method,
                                                    name=names[method], compare=other, database_uri=uri)))
    state = read_state(run)
    state["writeback"] = {"dataset": dataset, "compared_with": other, "names": names,
                          "val": {s["name"]: s["accuracy"].get("val") for s in summaries}}
    _save_state(run, state)
    return summaries
