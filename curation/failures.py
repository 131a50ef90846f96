"""A written-back name's evaluations and failure views (``curation.writeback``).

Evaluations (``evaluate_classifications``: simple under ``N_top1``, top-k with k=5 under ``N_top5``) run on
the samples of the chosen split whose current label is among the method's classes; other labels cannot be
predicted and are counted, not evaluated. Saved views, a fixed few per name whatever the number of classes:
"N: failures", the top-1 failures of the evaluated split, worst first (cross-entropy descending, then rank;
rank alone for the SVM), and with a comparison "N vs O: improved" / "N vs O: worsened", by the size of the
rank change. One class's failures are the Model Evaluation panel's (click the class, or a cell of its
confusion-matrix row) or the failures view filtered by ``ground_truth`` in the sidebar.
"""
from __future__ import annotations

import logging

from evaluation.scores import ALL, TOPK, split_accuracy

from .writeback_fields import compare_field, compare_view_names, eval_keys, failure_view_name

logger = logging.getLogger(__name__)


def share_true(view, field: str) -> float | None:
    """Share of samples whose boolean ``field`` is true (MongoDB's $avg skips booleans)."""
    counts = view.count_values(field)
    n = counts.get(True, 0) + counts.get(False, 0)
    return counts.get(True, 0) / n if n else None


def evaluate(fo, dataset, name: str, split: str, labels: list[str], res: dict) -> tuple[int, dict]:
    """FiftyOne's evaluations on the chosen split, among the labels the method can predict; (samples evaluated,
    {split: (top-1, top-5)}): the stored runs' for the evaluated split(s), ``split_accuracy`` for the others."""
    F = fo.ViewField
    predictable = dataset.exists(name).match(F("ground_truth.label").is_in(labels))
    evaluated = predictable if split == ALL else predictable.match(F("split") == split)
    key1, key5 = eval_keys(name)
    n = len(evaluated)
    logger.info("%s: evaluating %d samples of split %s", name, n, split)
    evaluated.evaluate_classifications(name, gt_field="ground_truth", eval_key=key1, classes=labels)
    evaluated.evaluate_classifications(name, gt_field="ground_truth", eval_key=key5, method="top-k", k=TOPK,
                                       classes=labels)
    accuracy = {}
    for s in sorted(set(res["splits"][res["ok"]].tolist())):
        if split in (ALL, s):
            part = predictable.match(F("split") == s)
            accuracy[s] = (share_true(part, key1), share_true(part, key5))  # the stored runs' per-sample results
        else:
            accuracy[s] = split_accuracy(res, res["splits"] == s)
    return n, accuracy


def failure_views(fo, dataset, name: str, compare: str | None, has_ce: bool) -> tuple[dict, dict | None, int]:
    """(saved views by name, the comparison's counts or None, the number of failures).

    The top-1 failures, worst first: one view whatever the number of classes. Saved views select
    by the eval field, which only evaluated samples have (short stages, no class list).
    """
    F = fo.ViewField
    key1 = eval_keys(name)[0]
    order = [(f"{name}_ce", -1), (f"{name}_rank", -1)] if has_ce else [(f"{name}_rank", -1)]
    failures = dataset.exists(key1).match(~F(key1))
    views = {failure_view_name(name): failures.sort_by(order, create_index=False)}
    compared = None
    if compare:
        gain_field = compare_field(name, compare)
        both = dataset.exists(key1).exists(gain_field)
        improved, worsened = compare_view_names(name, compare)
        views[improved] = both.match(F(gain_field) > 0).sort_by(gain_field, reverse=True, create_index=False)
        views[worsened] = both.match(F(gain_field) < 0).sort_by(gain_field, create_index=False)
        compared = {"other": compare, "field": gain_field, "improved": len(both.match(F(gain_field) > 0)),
                    "worsened": len(both.match(F(gain_field) < 0)), "samples": len(both)}
    return views, compared, len(failures)
