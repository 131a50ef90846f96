"""The App readable at first sight: grouped sidebar fields, and tiles that show two labels.

Tiles show the ground truth and the latest written-back method only (``active_fields``), and
``evaluation.suggest``'s ``suggestion`` once there are suggestions: a sample has either a
ground truth or a suggestion, so a tile still shows two labels at most.
The sidebar groups fields: the essentials open (tags, the two labels, split, style,
source, review), and collapsed below them "curation", "hygiene", one group per written-back
method (its label, rank, cross-entropy, per-class figures, eval and comparison fields),
"embeddings" and "other".
"""
from __future__ import annotations

from .writeback_fields import registry, run_key

ESSENTIAL = ("split", "style", "source", "review")
CURATION = ("label_check", "rejected_label", "rejected_wnid", "wnid", "class_index", "ambiguous", "candidates",
            "candidate_labels", "matched_words", "lemma", "lang", "sense_rank", "resolved_by", "refused_suggestions", "original_name", "collection", "license", "image_id")
SUGGESTION = "suggestion"  # curation.suggestions' field


def latest_method(dataset) -> str | None:
    """The written-back name written last (by its run's time stamp); not one whose write-back was stopped
    midway."""
    owned = registry(dataset)
    names = [n for n in owned if not owned[n].get("incomplete")]
    return max(names, key=lambda n: dataset.get_run_info(run_key(n)).timestamp, default=None)


def method_fields(dataset, name: str) -> list[str]:
    """Every sample field a written-back name owns: its registry's fields, eval keys and comparisons."""
    record = registry(dataset).get(name, {})
    owned = [*record.get("fields", []), *record.get("eval_keys", [])]
    prefix = f"{name}_"
    schema = dataset.get_field_schema()
    return [f for f in dict.fromkeys(owned + [f for f in schema if f == name or f.startswith(prefix)]) if f in schema]


def hygiene_fields(dataset) -> list[str]:
    from .database import fiftyone_module
    from .hygiene import MISTAKENNESS, field_types

    schema = dataset.get_field_schema()
    return [f for f in [*field_types(fiftyone_module()), MISTAKENNESS] if f in schema]


def shown_labels(dataset, latest: str | None) -> list[str]:
    """The label fields on the tiles: the ground truth, suggestions once written, the latest method."""
    suggested = SUGGESTION if (dataset.info or {}).get("suggestions") else None
    return [f for f in ("ground_truth", suggested, latest) if f]


def sidebar_groups(dataset, latest: str | None) -> list[tuple[str, list[str], bool]]:
    """(group name, paths, expanded) for every field of the dataset, each in exactly one group."""
    schema = dataset.get_field_schema()
    placed: set[str] = set()

    def take(paths):
        out = [p for p in dict.fromkeys(paths) if p in schema and p not in placed]
        placed.update(out)
        return out

    groups = [("labels", take(shown_labels(dataset, latest)), True),
              ("sample", take(ESSENTIAL), True),
              ("curation", take(CURATION), False),
              ("hygiene", take(hygiene_fields(dataset)), False)]
    names = sorted(registry(dataset), key=lambda n: (n != latest, n))
    groups += [(name, take(method_fields(dataset, name)), False) for name in names]
    vectors = [f for f, t in schema.items() if type(t).__name__ == "VectorField"]
    groups.append(("embeddings", take(vectors), False))
    groups.append(("other", take(f for f in schema if f not in ("tags", "metadata"))
                   , False))
    return [g for g in groups if g[1]]


def configure_app(fo, dataset, latest: str | None) -> None:
    """Save the sidebar groups and the tiles' labels into the dataset's App config."""
    groups = [fo.SidebarGroupDocument(name="tags", paths=[], expanded=True)]
    groups += [fo.SidebarGroupDocument(name=name, paths=paths, expanded=expanded)
               for name, paths, expanded in sidebar_groups(dataset, latest)]
    groups.append(fo.SidebarGroupDocument(name="metadata", paths=["metadata"] if "metadata" in
                                          dataset.get_field_schema() else [], expanded=False))
    dataset.app_config.sidebar_groups = groups
    dataset.app_config.active_fields = fo.ActiveFields(paths=shown_labels(dataset, latest))
    dataset.save()
