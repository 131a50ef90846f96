"""The curation's saved views, a fixed few whatever the class count: "to review", "rejected", "ambiguous",
"unlabelled", "suggestions to review" and "label check".

"to review" is the unreviewed labelled samples, likeliest mislabels first once ``curation.hygiene``
has scored them (``mistakenness``), rarer word senses first before that. "unlabelled" is the
samples without a class (files whose names matched none, ``datasets.build --keep-unmatched``),
rejected ones left out. "suggestions to review" is those of them with a ``suggestion`` from
``evaluation.suggest`` that no curator refused, grouped by suggested class (the class with the
most confident suggestion first) and most confident first within a class (``suggestion.order``,
written with the suggestions). "label check" is the samples ``evaluation.verify`` was unsure of or
rejected that no curator has reviewed or decided yet, the least supported mapping (lemma -> class) first,
one mapping's drawings together (by its text, the field ``mapping``), and the weakest picture first within
it: a curator decides the whole mapping (``curation.mappings``), or confirms a rejected label
(``confirm_rejected``), accepts, rejects or moves an unsure one, or leaves them. Saved views
store their stages, not their samples, so they follow the curation as it goes on.
A class is browsed with the sidebar's ``ground_truth`` filter or the Model Evaluation
panel, not with a saved view per class: at 1,000 classes such a list is unusable.
"""
from __future__ import annotations

import logging
from typing import Callable

logger = logging.getLogger(__name__)

TO_REVIEW = "to review"
REJECTED = "rejected"
AMBIGUOUS = "ambiguous"
UNLABELLED = "unlabelled"
SUGGESTIONS = "suggestions to review"
LABEL_CHECK = "label check"


OLD_CLASS_VIEW = "class: "  # the per-class views that earlier versions saved; removed on the next load


def curation_views(dataset) -> dict:
    """The fixed views by name (``dataset`` is a FiftyOne dataset)."""
    from fiftyone import ViewField as F

    unreviewed = dataset.match((F("review") == None) & (F("ground_truth") != None))  # noqa: E711 (MongoDB null tests)
    schema = dataset.get_field_schema()
    order = "mistakenness" if "mistakenness" in schema else "sense_rank"
    unlabelled = dataset.match((F("ground_truth") == None) & (F("review") != "rejected"))  # noqa: E711
    suggested = unlabelled.match((F("suggestion.wnid") != None)  # noqa: E711
                                 & ~F("refused_suggestions").contains([F("suggestion.wnid")]))
    return {
        TO_REVIEW: unreviewed.sort_by(order, reverse=True),
        REJECTED: dataset.match(F("review") == "rejected"),
        AMBIGUOUS: dataset.match((F("review") == "ambiguous") | ((F("review") == None) & (F("ambiguous") == True))),  # noqa: E711,E712
        UNLABELLED: unlabelled,
        # an expression, not a field name: the field appears only with the first suggestions
        SUGGESTIONS: suggested.sort_by(F("suggestion.order")),
        LABEL_CHECK: dataset.match((F("review") == None) & (F("mapping_decision") == None)  # noqa: E711
                                   & F("label_check.verdict").is_in(["unsure", "rejected"]))
                            .sort_by([("label_check.mapping_score", 1), ("mapping", 1),
                                      ("label_check.mapping.wnid", 1), ("label_check.score", 1)]),
    }


def save_curation_views(dataset) -> list[str]:
    """Save (or refresh) the fixed views, removing any per-class view of earlier versions; return the names saved."""
    fixed = curation_views(dataset)
    delete_views(dataset, lambda name: name in fixed or name.startswith(OLD_CLASS_VIEW))
    return save_views(dataset, fixed)


def delete_views(dataset, which: Callable[[str], bool]) -> int:
    """Delete the saved views whose name ``which`` accepts, in one bulk delete; return how many.

    ``delete_saved_view`` reloads the dataset with all of its saved views on each call.
    """
    from bson import DBRef
    from fiftyone.core.odm import SavedViewDocument

    doc = dataset._doc
    doc.reload("saved_views")  # another process may have saved views since the dataset was loaded
    ours = [v for v in doc.saved_views if not isinstance(v, DBRef) and which(v.name)]
    if ours:
        SavedViewDocument._get_collection().delete_many({"_id": {"$in": [v.id for v in ours]}})
        doc.saved_views = [v for v in doc.saved_views if isinstance(v, DBRef) or not which(v.name)]
        doc.save(virtual=True)
    return len(ours)


def save_views(dataset, views: dict) -> list[str]:
    """Save ``views`` ({view name: view}) in one insert; return the names saved.

    ``Dataset.save_view`` reloads all of the dataset's saved views on each call, so one view per
    class is quadratic (185 views took 190 s here). This writes the same ``SavedViewDocument``s in one
    insert and one update of the dataset document; a test holds a view saved this way equal to one
    saved by ``save_view``. A view whose slug (its name in App URLs) is taken by another view is
    skipped with a warning: ``save_view(overwrite=True)`` would delete that view.
    """
    from datetime import datetime, timezone

    from bson import DBRef, ObjectId, json_util
    from fiftyone.core.odm import SavedViewDocument
    from fiftyone.core.utils import to_slug

    doc = dataset._doc
    doc.reload("saved_views")
    taken = {v.slug: v.name for v in doc.saved_views if not isinstance(v, DBRef)}
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # FiftyOne stores naive UTC
    new = []
    for view_name, view in views.items():
        slug = to_slug(view_name)
        if slug in taken:
            logger.warning("view %r not saved: its URL name %r is taken by view %r", view_name, slug, taken[slug])
            continue
        taken[slug] = view_name
        new.append(SavedViewDocument(id=ObjectId(), dataset_id=doc.id, name=view_name, slug=slug,
                                     view_stages=[json_util.dumps(s) for s in view._serialize(include_uuids=False)],
                                     created_at=now, last_modified_at=now))
    if new:
        SavedViewDocument._get_collection().insert_many([v.to_mongo() for v in new])
        doc.saved_views = list(doc.saved_views) + new
        doc.last_modified_at = now
        doc.save(virtual=True)
        doc.reload("saved_views")  # documents built here would be inserted again on their next save
    return [v.name for v in new]
