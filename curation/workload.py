"""python -m curation.workload: what is left for a curator to do, in a few lines.

    python -m curation.workload                     # the workspace's dataset
    python -m curation.workload --dataset team-set --database-uri mongodb://db:27017

Prints, for the dataset's current state: the drawings in the saved view "label check" (labels
``evaluation.verify`` rejected or was unsure of, that no curator has decided yet) and the mappings they
fall into (one decision each in the App: Accept mapping / Reject mapping, then exceptions file by file);
the suggestions in "suggestions to review"; and the precision of the labels kept as the label model
estimates it (the mean of ``label_check.evidence.posterior`` over the labelled samples: an estimate, not
a measurement; ``benchmarks/curation_quality.py`` measures it on a judged sample).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from scraping.cli import add_common_arguments, setup_logging

from .database import add_dataset_arguments, dataset_and_uri, existing_dataset, exit_code
from .views import LABEL_CHECK, SUGGESTIONS

PROG = "curation.workload"


def workload(dataset) -> dict:
    """Counts of the dataset's label check and suggestions views, and the estimated precision of its labels."""
    from fiftyone import ViewField as F

    check = dataset.load_saved_view(LABEL_CHECK) if dataset.has_saved_view(LABEL_CHECK) else dataset.limit(0)
    names = [m or "(no mapping)" for m in check.values("mapping")] if "mapping" in dataset.get_field_schema() \
        else ["(no mapping)"] * len(check)
    sizes = Counter(names)
    suggestions = len(dataset.load_saved_view(SUGGESTIONS)) if dataset.has_saved_view(SUGGESTIONS) else 0
    labelled = dataset.match((F("ground_truth") != None) & (F("review") != "rejected"))  # noqa: E711
    posteriors = [p for p in labelled.values("label_check.evidence.posterior") if p is not None] \
        if "label_check" in dataset.get_field_schema() else []
    return {"label_check": len(check), "mappings": len(sizes), "mappings_3plus": sum(n >= 3 for n in sizes.values()),
            "largest": sizes.most_common(3), "suggestions": suggestions, "labelled": len(labelled),
            "estimated_precision": sum(posteriors) / len(posteriors) if posteriors else None,
            "estimated_over": len(posteriors)}


def format_workload(name: str, w: dict) -> str:
    biggest = ", ".join(f"{m} ({n})" for m, n in w["largest"])
    lines = [f"{name}: the curator's workload",
             f"  label check:   {w['label_check']:,} drawings in {w['mappings']:,} mappings to decide "
             f"({w['mappings_3plus']:,} with 3 or more drawings{'; the largest: ' + biggest if biggest else ''})",
             f"  suggestions:   {w['suggestions']:,} to review"]
    if w["estimated_precision"] is not None:
        lines.append(f"  kept labels:   {w['labelled']:,}; estimated precision {w['estimated_precision']:.1%} (the label "
                     f"model's mean posterior over {w['estimated_over']:,} of them)")
    else:
        lines.append(f"  kept labels:   {w['labelled']:,} (not verified: no estimate of their precision)")
    return "\n".join(lines)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="What is left for a curator to do.", add_help=add_help)
    add_dataset_arguments(p)
    add_common_arguments(p)
    return p


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        print(format_workload(name, workload(existing_dataset(name, uri))))
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
