"""Choose which classes of a matched dataset to keep: ``noisy``, ``noisy-K`` or a named list."""
from __future__ import annotations

import re
from collections import Counter

from .vocabulary import ImageNetClass, Vocabulary


def is_single_word(cls: ImageNetClass, vocab: Vocabulary) -> bool:
    """The thesis's rule: a one-word primary name that no other class shares."""
    return re.fullmatch(r"[^\W\d_]+", cls.name) is not None and vocab.is_unique_name(cls)


def resolve_classes(names: list[str], vocab: Vocabulary) -> list[ImageNetClass]:
    """Classes for user-given names, wnids or indices; an unknown one is an error naming it."""
    out: dict[str, ImageNetClass] = {}
    unknown = []
    for name in names:
        found = vocab.resolve(name)
        if not found:
            unknown.append(name)
        for cls in found:
            out[cls.wnid] = cls
    if unknown:
        raise ValueError(f"--classes: no ILSVRC-2012 class named {', '.join(map(repr, unknown))}")
    return list(out.values())


def select(
    rows: list[dict],
    vocab: Vocabulary,
    *,
    classes: list[str] | None = None,
    min_images: int = 0,
    single_word: bool = False,
    max_sense_rank: int | None = None,
) -> tuple[list[dict], str]:
    """Filter manifest rows; return them with the subset's name.

    ``single_word`` also drops ambiguous images, as the thesis kept only unambiguous
    ones (an image the matcher settled among shared names is not ambiguous);
    ``max_sense_rank`` drops rows whose class is a rarer WordNet sense of the
    matched word ("head" -> promontory is 15); ``min_images`` counts distinct images
    per class after the other filters. Unlabelled rows (``wnid`` null, from
    ``--keep-unmatched``) are the open pool: every filter keeps them, and they count
    toward no class.
    """
    name = "noisy"
    keep = [r for r in rows if r["wnid"] is not None]
    if max_sense_rank is not None:
        keep = [r for r in keep if r.get("sense_rank") is not None and r["sense_rank"] <= max_sense_rank]
    if classes:
        wanted = {c.wnid for c in resolve_classes(classes, vocab)}
        keep = [r for r in keep if r["wnid"] in wanted]
        name = "selected"
    if single_word:
        keep = [r for r in keep if not r["ambiguous"] and is_single_word(vocab.by_wnid(r["wnid"]), vocab)]
    if min_images > 0:
        counts = Counter(r["wnid"] for r in keep)
        keep = [r for r in keep if counts[r["wnid"]] >= min_images]
        name = f"{name}-{min_images}"
    kept = {id(r) for r in keep}
    return [r for r in rows if r["wnid"] is None or id(r) in kept], name
