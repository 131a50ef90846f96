"""The user's step 2 around the training: export the curation, then (after training.finetune's epochs)
extract, evaluate and write the run back onto the dataset.

    python -m training.finetune --epochs 239      # in a workspace: export -> train -> evaluate -> write back

This is the pipeline's one orchestration edge: the only module of ``training`` that reaches the later packages
(``evaluation`` for the extraction and the run's evaluation, ``curation`` for the export and the write-back),
and only by imports inside its functions, so training itself runs where neither FiftyOne nor the evaluation's
libraries are wanted (tests/test_imports.py holds it so).
"""
from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path

from datasets.workspace import Workspace, WorkspaceError, record_export

from .plan import RunPlan, fiftyone_available, plan_run, read_source
from .recipes import RECIPES
from .settings import FinetuneConfig

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- before training: the data


def last_log_seq(dataset_name: str, database_uri: str | None) -> int | None:
    """The number of the dataset's newest curation record (None for an empty log)."""
    from curation.database import fiftyone_module
    from curation.log import CurationLog

    fo = fiftyone_module(database_uri)
    records = CurationLog(fo.load_dataset(dataset_name)).records()
    return records[-1].get("seq") if records else None


def export_current(ws: Workspace, folder: Path) -> dict:
    """Export the workspace's dataset as curated now into ``folder``; return the source record."""
    from curation.database import fiftyone_module
    from curation.export import export

    fo = fiftyone_module(ws.database_uri)
    if not fo.dataset_exists(ws.dataset):
        raise WorkspaceError(f"{ws.file}: its dataset {ws.dataset!r} is not in the database; load it again with "
                             "python -m curation.load, or give --manifest MANIFEST")
    seq = last_log_seq(ws.dataset, ws.database_uri)  # read first: the export holds at least every record up to it
    summary = export(ws.dataset, folder, database_uri=ws.database_uri, layout_tree=False)
    manifest = folder / "manifest.jsonl"
    record_export(ws, manifest, log_seq=seq)
    logger.info("exported %s as curated now (%d images in %d classes, %d moved, left out: %s; curation log up to "
                "record %s) to %s", ws.dataset, summary["images"], summary["classes"], summary["moved"],
                summary["left_out"] or "none", seq, manifest)
    return {"kind": "export", "dataset": ws.dataset, "manifest": str(manifest), "log_seq": seq,
            "exported_at": ws.latest_export.get("exported_at"), "images": summary["images"],
            "classes": summary["classes"], "moved": summary["moved"], "left_out": summary["left_out"]}


def prepare_run(workspace: str | Path | None, data: Path | None, out: Path | None, backbone: str, recipe: str,
                *, export: bool | None = None) -> RunPlan:
    """``training.plan.plan_run``, the workspace's dataset exported as curated now where ``export`` says
    (default: where FiftyOne is importable), else its latest export."""
    wanted = export if export is not None else fiftyone_available()
    return plan_run(workspace, data, out, backbone, recipe, export_to=export_current if wanted else None)


# ---------------------------------------------------------------- after training: evaluation and write-back


def extract_best(cfg: FinetuneConfig) -> tuple[list[str], Path, str]:
    """The evaluation.extract command for best.pt, its output, and the backbone name that reads it back."""
    out = Path(cfg.out)
    features = out / f"features-{cfg.backbone}-best.h5"
    name = "vgg19_bn" if RECIPES[cfg.recipe].batch_norm else cfg.backbone
    cmd = [sys.executable, "-m", "evaluation.extract", "--manifest", cfg.data, "--backbone", name,
           "--weights", str(out / "best.pt"), "--out", str(features)]
    return cmd, features, name


def extract_only(cfg: FinetuneConfig) -> None:
    """With --no-evaluate: extract if asked, and print the commands that evaluate the run."""
    cmd, features, name = extract_best(cfg)
    if cfg.extract:
        from evaluation.extract import ExtractConfig, extract

        gc.collect()  # shut the training loaders' persistent workers down before extraction forks its own

        done = extract(ExtractConfig(manifest=Path(cfg.data), out=features, backbone=name,
                                     weights=str(Path(cfg.out) / "best.pt"), device=cfg.device))
        print(f"{done['out']}: {done['rows']} rows of best.pt's {done['layer']} features")
    else:
        print("next: python " + " ".join(cmd[1:]))
    print(f"then: python -m evaluation.svm --features {features} --out {Path(cfg.out) / 'results'}")


def _pct(g: dict | None) -> str:
    return "n/a" if not g else f"top-1 {100 * g['top1']:.1f}% / top-5 {100 * g['top5']:.1f}% (n={g['n']})"


def evaluate_and_write_back(cfg: FinetuneConfig) -> None:
    """The run's evaluation (what is not done yet), then its write-back where FiftyOne and a dataset are."""
    from evaluation.runs import evaluate_run

    out = Path(cfg.out)
    gc.collect()  # shut the training loaders' persistent workers down before extraction forks its own
    state = evaluate_run(out, manifest=cfg.data, backbone=extract_best(cfg)[2], device=cfg.device)
    print(f"val, the fine-tuned head: {_pct(state['head'].get('val'))}; SVM on its features: "
          f"{_pct(state['svm']['svm'].get('val'))}  (results in {out / 'results'})")
    dataset = read_source(out).get("dataset")
    if not dataset:
        print(f"to see it in the App: python -m curation.writeback --run {out} --dataset NAME")
        return
    if not fiftyone_available():
        print(f"FiftyOne is not installed here: the results stay in {out}. Where the dataset lives, run:\n"
              f"  python -m curation.writeback --run {out}")
        return
    from curation.writeback import app_hint, format_summary, write_back_run

    for summary in write_back_run(out):
        print(format_summary(summary))
    print(app_hint(dataset))
