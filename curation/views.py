"""The curation's saved views: "to review", "rejected", "ambiguous" and one per class.

"to review" is the unreviewed samples, likeliest mislabels first once ``curation.hygiene``
has scored them (``mistakenness``), rarer word senses first before that. Saved views
store their stages, not their samples, so they follow the curation as it goes on.
"""
from __future__ import annotations

TO_REVIEW = "to review"
REJECTED = "rejected"
AMBIGUOUS = "ambiguous"


def class_view_name(label: str) -> str:
    return f"class: {label}"


def curation_views(dataset) -> dict:
    """The fixed views by name (``dataset`` is a FiftyOne dataset)."""
    from fiftyone import ViewField as F

    unreviewed = dataset.match(F("review") == None)  # noqa: E711 (a MongoDB null test, not Python's)
    schema = dataset.get_field_schema()
    order = "mistakenness" if "mistakenness" in schema else "sense_rank"
    return {
        TO_REVIEW: unreviewed.sort_by(order, reverse=True),
        REJECTED: dataset.match(F("review") == "rejected"),
        AMBIGUOUS: dataset.match((F("review") == "ambiguous") | ((F("review") == None) & (F("ambiguous") == True))),  # noqa: E711,E712
    }


def save_curation_views(dataset, *, classes: bool = True) -> list[str]:
    """Save (or refresh) the fixed views and a view for each class that has none yet; return the names saved."""
    from fiftyone import ViewField as F

    saved = []
    for name, view in curation_views(dataset).items():
        dataset.save_view(name, view, overwrite=True)
        saved.append(name)
    if classes:
        existing = set(dataset.list_saved_views())
        for label in dataset.distinct("ground_truth.label"):
            name = class_view_name(label)
            if name not in existing:
                dataset.save_view(name, dataset.match(F("ground_truth.label") == label))
                saved.append(name)
    return saved
