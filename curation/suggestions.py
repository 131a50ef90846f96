"""``evaluation.suggest``'s suggestions onto a FiftyOne dataset, for review in the App.

    python -m curation.writeback --results out/suggest --method suggest

Reads ``DIR/suggestions.jsonl`` (one line per unlabelled image: ``id``, ``suggestion`` (a wnid, or
null to abstain), ``confidence``, ``top5`` ``[[wnid, p], ...]``) and ``DIR/suggest.json`` (its
threshold and estimated precision). Each unlabelled sample (no ``ground_truth``) gets a
``suggestion`` Classification: ``label`` (the class's name), ``confidence``, ``wnid`` and
``order`` (the review order of the "suggestions to review" view: the class with the most
confident suggestion first, most confident first within a class), or None where the model
abstains. A class the curator refused for that sample (``refused_suggestions``, see
``curation.actions.refuse_suggestions``) is never written again: the next class of its
top 5 that clears the threshold is suggested instead, else nothing. Samples that have a class
keep whatever they had. ``dataset.info["suggestions"]`` records the run.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from datasets.manifest import iter_jsonl, read_json_object
from datasets.vocabulary import Vocabulary, load_vocabulary

from .state import KEY, REFUSED, class_label

logger = logging.getLogger(__name__)
LINES = "suggestions.jsonl"
SUMMARY = "suggest.json"
FIELD = "suggestion"
INFO = "suggestions"


def read_suggestions(folder: Path) -> tuple[dict[str, dict], dict]:
    """({image id: line}, summary) of a suggest folder; a missing file or bad line is an error naming it."""
    folder = Path(folder)
    path = folder / LINES
    if not path.is_file():
        raise ValueError(f"{path}: no such suggestions file (run python -m evaluation.suggest --out {folder} first)")
    summary = read_json_object(folder / SUMMARY, "suggest summary", "run evaluation.suggest again")
    if "threshold" not in summary:
        raise ValueError(f"{folder / SUMMARY}: missing or without 'threshold' (run evaluation.suggest again)")
    lines = {}
    for lineno, line in iter_jsonl(path):
        missing = [k for k in ("id", "suggestion", "confidence", "top5") if k not in line]
        if missing:
            raise ValueError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        lines[line["id"]] = line
    return lines, summary


def pick(line: dict, refused: list[str], threshold: float) -> tuple[str | None, float | None]:
    """(wnid, confidence) to suggest for one line: its suggestion unless refused, else the next unrefused class
    of its top 5 that clears ``threshold``; (None, None) to abstain."""
    if line["suggestion"] is None:
        return None, None
    if line["suggestion"] not in refused:
        return line["suggestion"], float(line["confidence"])
    for wnid, p in line["top5"]:
        if wnid not in refused and p >= threshold:
            return wnid, float(p)
    return None, None


def review_order(chosen: dict[str, tuple[str, float]]) -> dict[str, int]:
    """Position of each suggested sample: classes by their most confident suggestion, then confidence."""
    best: dict[str, float] = {}
    for wnid, p in chosen.values():
        best[wnid] = max(best.get(wnid, 0.0), p)
    ranked = sorted(chosen, key=lambda i: (-best[chosen[i][0]], chosen[i][0], -chosen[i][1], i))
    return {i: k for k, i in enumerate(ranked)}


def write_suggestions(dataset, folder: Path, vocab: Vocabulary | None = None) -> dict:
    """Write the folder's suggestions onto the dataset's unlabelled samples; return a summary."""
    import fiftyone as fo
    from fiftyone import ViewField as F

    from .views import save_curation_views

    start = time.perf_counter()
    vocab = vocab or load_vocabulary()
    lines, summary = read_suggestions(folder)
    threshold = float(summary["threshold"])
    if FIELD not in dataset.get_field_schema():
        dataset.add_sample_field(FIELD, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    unlabelled = dataset.match(F("ground_truth") == None)  # noqa: E711 (a MongoDB null test)
    ids, refused = unlabelled.values([KEY, REFUSED])
    chosen, kept_back = {}, 0
    for i, no in zip(ids, refused):
        if i in lines:
            wnid, p = pick(lines[i], no or [], threshold)
            kept_back += wnid != lines[i]["suggestion"]
            if wnid is not None:
                chosen[i] = (wnid, p)
    order = review_order(chosen)
    values = {i: None for i in ids}
    for i, (wnid, p) in chosen.items():
        values[i] = fo.Classification(label=class_label(vocab, wnid), confidence=p, wnid=wnid, order=order[i])
    dataset.set_values(FIELD, values, key_field=KEY)
    info = {"folder": str(Path(folder).resolve()), "threshold": threshold, "written": len(chosen),
            "abstained": len(ids) - len(chosen), "unlabelled": len(ids), "without_line": sum(i not in lines for i in ids),
            "refusals_honoured": kept_back, "estimated": summary.get("estimated"), "heldout": summary.get("heldout"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    dataset.info[INFO] = info
    dataset.save()
    save_curation_views(dataset)
    return {"dataset": dataset.name, **info, "seconds": round(time.perf_counter() - start, 2)}


def format_summary(s: dict) -> str:
    est = s.get("estimated") or {}
    precision = f"; estimated precision {est['precision']:.1%}" if est.get("precision") is not None else ""
    return (f"{s['dataset']}: {s['written']} of {s['unlabelled']} unlabelled samples have a suggestion, "
            f"{s['abstained']} none (threshold {s['threshold']:.3f}{precision}); {s['refusals_honoured']} refused "
            f"suggestions not proposed again; {s['without_line']} unlabelled samples not in {LINES}\n"
            f"  review them in the App's saved view \"suggestions to review\" ({s['seconds']} s)")
