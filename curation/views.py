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
    """Delete the saved views whose name ``which`` accepts (``Dataset.delete_saved_view``); return how many."""
    dataset.reload()  # another process may have saved views since the dataset was loaded
    ours = [name for name in dataset.list_saved_views() if which(name)]
    for name in ours:
        dataset.delete_saved_view(name)
    return len(ours)


def save_views(dataset, views: dict) -> list[str]:
    """Save ``views`` ({view name: view}) with ``Dataset.save_view``, each replacing a view of its name; return
    the names saved. A view whose slug (its name in App URLs) another view's name has is skipped with a
    warning: ``save_view(overwrite=True)`` would delete that view.

    The views are a fixed few (``curation_views``, and up to three per written-back name). ``save_view``
    re-reads the dataset's saved views on each call, which made one view per class quadratic in earlier
    versions (185 views, 190 s); at this count the public calls cost little: deleting and saving the 6
    curation views took 60 ms here, against 10 ms for one bulk insert into FiftyOne's saved-view
    collection (which this module used to do, through private calls).
    """
    from fiftyone.core.utils import to_slug

    dataset.reload()
    taken = {to_slug(name): name for name in dataset.list_saved_views()}
    saved = []
    for view_name, view in views.items():
        slug = to_slug(view_name)
        if taken.get(slug, view_name) != view_name:
            logger.warning("view %r not saved: its URL name %r is taken by view %r", view_name, slug, taken[slug])
            continue
        dataset.save_view(view_name, view, overwrite=True)
        taken[slug] = view_name
        saved.append(view_name)
    return saved
