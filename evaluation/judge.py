"""``evaluation.verify``'s judging, in named steps: rank the classes on the pictures, run the first stage, gather
the evidence, fit the label model, decide. Arrays and rows in, ``label_check`` dicts out; no file is read here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from datasets.lexicon import stop_words
from datasets.match import sense_share
from datasets.names import concept_key

from . import evidence as ev
from .label_model import ModelConfig, ModelFit, fit, rank_codes
from .mappings import Mapping, StageConfig, judge, phrase_of
from .verdicts import DecisionConfig, RowEvidence, decide, row_rule, with_mapping

EVIDENCE = ("siblings", "categories", "head_noun", "classifier")  # what the label model may weigh
NO_PICTURE = {"verdict": "unsure", "reason": "no picture evidence: the image could not be read", "score": 0.0,
              "mapping_score": 0.0}


@dataclass
class JudgeConfig:
    stage: StageConfig = field(default_factory=StageConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    evidence: tuple[str, ...] = EVIDENCE
    norm_sample: int = 20_000  # images the per-class median and MAD are taken over (a seeded sample above)
    seed: int = 0


@dataclass
class Judged:
    checks: list[dict | None]  # the final label_check of every row (None: unlabelled)
    maps: list[Mapping]  # the first stage's mappings
    fit: ModelFit | None
    info: dict  # what the summary reports: evidence used, categories, rules applied, moves


@dataclass
class Ranked:
    todo: list[int]  # the labelled rows with a picture
    std: np.ndarray
    raw: np.ndarray
    null: np.ndarray  # picture codes of other classes on the same pictures


def rank_rows(rows: list[dict], position: dict[str, int], logits: list[np.ndarray], cfg: JudgeConfig) -> Ranked:
    """The matched class's ranks on each labelled row's picture, and a null sample of other classes' ranks."""
    todo = [i for i, r in enumerate(rows) if r.get("wnid") and r["id"] in position]
    images = np.asarray([position[rows[i]["id"]] for i in todo], dtype=np.int64)
    classes = np.asarray([rows[i]["class_index"] for i in todo], dtype=np.int64)
    if not todo:
        return Ranked(todo, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    stats = ev.class_statistics(logits, sample=cfg.norm_sample, seed=cfg.seed)
    std, raw = ev.class_ranks(logits, images, classes, stats=stats)
    null = ev.null_ranks(logits, images, np.unique(classes) if len(np.unique(classes)) > 1 else np.arange(1000),
                         classes, seed=cfg.seed, stats=stats)
    return Ranked(todo, std, raw, rank_codes(*null))


def groups_of(rows: list[dict], todo: list[int], use_siblings: bool) -> tuple[np.ndarray, np.ndarray, list, list]:
    """(group of each todo row, mapping of each group, the mappings' keys, each row's concept)."""
    concepts = [concept_key(rows[i]) for i in todo]
    maps: dict[tuple, int] = {}
    groups: dict[tuple, int] = {}
    group_map = []
    out = np.empty(len(todo), dtype=np.int64)
    for k, i in enumerate(todo):
        r = rows[i]
        m = maps.setdefault((r.get("lemma") or r["label"], r["wnid"], r.get("lang") or "eng"), len(maps))
        key = (m, concepts[k]) if use_siblings else (m, k)
        if key not in groups:
            groups[key] = len(groups)
            group_map.append(m)
        out[k] = groups[key]
    return out, np.asarray(group_map, dtype=np.int64), list(maps), concepts


def mapping_priors(keys: list[tuple], cfg: ModelConfig) -> np.ndarray:
    """The a priori share of right files of each mapping: its sense share to the power ``prior_weight``."""
    return np.asarray([min(max(sense_share(lemma, wnid, lang), 1e-3), 1.0) ** cfg.prior_weight
                       for lemma, wnid, lang in keys])


def rules_of(rows: list[dict], todo: list[int], checks1: list[dict | None], rules: dict) -> list[dict | None]:
    """The curator's rule deciding each todo row, or None."""
    if not rules:
        return [None] * len(todo)
    stop = stop_words()
    return [row_rule(rules, rows[i], checks1[i].get("phrase"), phrase_of(rows[i], stop)) for i in todo]


def fixed_groups(decided: list[dict | None], groups: np.ndarray, n_groups: int) -> np.ndarray:
    """1 or 0 for the groups a curator's rule decides, -1 elsewhere."""
    fixed = np.full(n_groups, -1)
    for rule, g in zip(decided, groups, strict=True):
        if rule is not None:
            fixed[g] = 1 if rule["decision"] == "accepted" else 0
    return fixed


def stage1_kept(checks1: list[dict | None], todo: list[int]) -> np.ndarray:
    return np.asarray([checks1[i]["verdict"] != "rejected" for i in todo], dtype=bool)


def classifier_rows(rows: list[dict], todo: list[int], features, position: dict[str, int], train: np.ndarray):
    """The dataset classifier's probability of each todo row's class (None without features)."""
    if features is None:
        return None
    image_rows = np.asarray([position[rows[i]["id"]] for i in todo], dtype=np.int64)
    labels = np.asarray([rows[i]["class_index"] for i in todo], dtype=np.int64)
    ids = np.asarray([rows[i]["id"] for i in todo])
    return ev.classifier_support(np.asarray(features[image_rows], dtype=np.float64), labels, train, ids)


def category_text(row: dict, categories: dict) -> str | None:
    known = [(c, categories[c]) for c in set(row.get("keywords") or []) if c in categories]
    if not known:
        return None
    c, (n, k) = min(known, key=lambda x: (x[1][1] + 1) / (x[1][0] + 2))
    return f"'{c}' ({k} of {n} kept)"


def group_scores(checks: list[dict | None]) -> None:
    """Each check's ``mapping_score``: the mean decision margin of the files judged with it (its mapping, or its
    phrase where the first stage judged one): < 0 where most were rejected; how the App orders its groups."""
    groups: dict[tuple, list[float]] = {}
    for c in checks:
        if c and "evidence" in c:
            groups.setdefault((c["mapping_text"], c["mapping"]["wnid"]), []).append(c["score"])
    for c in checks:
        if c and "evidence" in c:
            c["mapping_score"] = round(float(np.mean(groups[(c["mapping_text"], c["mapping"]["wnid"])])), 4)


def judge_rows(rows: list[dict], position: dict[str, int], logits: list[np.ndarray], cfg: JudgeConfig, *,
               rules: dict | None = None, features: np.ndarray | None = None) -> Judged:
    """Judge every labelled row: ``position`` maps image ids to rows of ``logits`` (and of ``features``, the
    pooled features of the same images, for the dataset's classifier)."""
    rules = rules or {}
    ranked = rank_rows(rows, position, logits, cfg)
    checks1, maps = judge(rows, dict(zip(ranked.todo, (int(r) for r in ranked.std))), cfg.stage)
    checks: list[dict | None] = [None] * len(rows)
    pictured = set(ranked.todo)
    for i, row in enumerate(rows):
        if row.get("wnid") and i not in pictured:
            checks[i] = with_mapping(dict(NO_PICTURE), row)
    if not ranked.todo:
        return Judged(checks, maps, None, {"evidence": list(cfg.evidence)})
    todo = ranked.todo
    groups, group_map, keys, concepts = groups_of(rows, todo, "siblings" in cfg.evidence)
    kept1 = stage1_kept(checks1, todo)
    extra, info = {}, {"evidence": list(cfg.evidence)}
    categories = {}
    if "categories" in cfg.evidence:
        codes, categories = ev.category_codes([rows[i] for i in todo], kept1)
        extra["category"] = (codes, len(ev.CATEGORY_BINS) + 2)
    head_code, heads = ev.head_codes([rows[i] for i in todo])
    if "head_noun" in cfg.evidence:
        extra["head_noun"] = (head_code, 2)
    decided = rules_of(rows, todo, checks1, rules)
    fixed = fixed_groups(decided, groups, len(group_map))
    model = fit(rank_codes(ranked.std, ranked.raw), ranked.null, groups, group_map, mapping_priors(keys, cfg.model),
                extra=extra, fixed=fixed, cfg=cfg.model)
    accepted = np.asarray([checks1[i]["verdict"] == "accepted" for i in todo])
    train = (accepted & (fixed[groups] != 0)) | (fixed[groups] == 1)
    p2 = classifier_rows(rows, todo, features, position, train) if "classifier" in cfg.evidence else None
    sizes = Counter(groups.tolist())
    for k, i in enumerate(todo):
        e = RowEvidence(stage1=checks1[i], posterior=float(model.posterior[k]),
                        mapping_share=float(model.mapping_share[group_map[groups[k]]]),
                        classifier=None if p2 is None else float(p2[k]), rank=int(ranked.std[k]),
                        raw_rank=int(ranked.raw[k]), concept=concepts[k], siblings=sizes[int(groups[k])] - 1,
                        head=heads[k], category=category_text(rows[i], categories))
        check = decide(rows[i], e, decided[k], cfg.decision)
        if checks1[i].get("phrase"):
            check["phrase"] = checks1[i]["phrase"]
        checks[i] = with_mapping(check, rows[i])
    group_scores(checks)
    info.update(rules_applied=sum(1 for c in checks if c and "rule" in c), model_iterations=model.iterations,
                model_tables=model.tables, categories=len(categories))
    return Judged(checks, maps, model, info)
