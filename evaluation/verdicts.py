"""``evaluation.verify``'s last step: each name match's verdict, from the first stage, the label model, the
dataset's classifier and the curator's rules, with the reason a person reads in the App.

* A curator's rule (``datasets.rules``) decides every file of its mapping or phrase.
* A label the first stage kept (``evaluation.mappings``) stays kept unless the label model's posterior falls
  below ``keep_posterior``; kept below ``accept_posterior`` it is ``unsure``, for a person to look at, and
  above it ``accepted`` (also where the first stage was unsure: its siblings may vouch for it).
* A label the first stage rejected is kept when the model's posterior reaches ``rescue_posterior`` (its
  mapping and its concept's siblings vouch for it) or the dataset's classifier gives its class
  ``rescue_classifier`` or more; else it stays rejected.

The defaults were chosen on the tune half of ``tests/fixtures/labels/judged_curation.jsonl`` and the older
judged sample (the most right labels kept at 97% precision there; ``benchmarks/curation_quality.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

from datasets.rules import MappingKey, describe_rule, mapping_text, rule_for

from .label_model import describe_share, logit


@dataclass
class DecisionConfig:
    keep_posterior: float = 0.2
    accept_posterior: float = 0.5
    rescue_posterior: float = 0.95
    rescue_classifier: float = 0.5


@dataclass
class RowEvidence:
    """What is known of one labelled row, for its verdict and its reason."""
    stage1: dict  # the first stage's label_check
    posterior: float
    mapping_share: float
    classifier: float | None
    rank: int  # standardised rank of the class (0 = first)
    raw_rank: int
    concept: str
    siblings: int  # other files of its concept and class
    head: str | None
    category: str | None  # its least trusted category and that category's kept share, as text


def mapping_of(row: dict, phrase: str | None) -> dict:
    """The ``label_check.mapping`` of a row: lemma, language, class and the phrase it was judged in."""
    wnid = row.get("wnid") or row.get("rejected_wnid")
    label = row.get("label") or row.get("rejected_label")
    return {"lemma": row.get("lemma") or label, "lang": row.get("lang") or "eng", "wnid": wnid, "label": label,
            "phrase": phrase}


def row_rule(rules: dict, row: dict, judged_phrase: str | None, syntactic_phrase: str | None) -> dict | None:
    """The curator's rule that decides a row: the rule of the phrase the first stage judged it in (that phrase's
    own only: the App shows it apart from its mapping), else of the phrase its name has (the word before the
    match), else of its whole mapping."""
    lemma = row.get("lemma") or row.get("label")
    lang = row.get("lang") or "eng"
    if judged_phrase:
        return rule_for(rules, MappingKey(lemma, row["wnid"], judged_phrase, lang), whole=False)
    phrase = f"{syntactic_phrase} {lemma}" if syntactic_phrase else None
    return rule_for(rules, MappingKey(lemma, row["wnid"], phrase, lang))


def _evidence_text(e: RowEvidence, label: str) -> str:
    parts = [f"estimated {describe_share(e.mapping_share)} of this mapping's drawings show a {label}",
             f"this picture ranks the class {e.rank + 1} ({e.raw_rank + 1} unstandardised)"]
    if e.siblings:
        parts.append(f"with {e.siblings} sibling file(s) of its concept '{e.concept}'")
    if e.category:
        parts.append(f"category {e.category}")
    if e.head:
        parts.append(f"the name is about a {e.head}")
    if e.classifier is not None:
        parts.append(f"the dataset's classifier gives it {e.classifier:.2f}")
    return "; ".join(parts) + f": P(right) {e.posterior:.2f}"


def _margins(e: RowEvidence, cfg: DecisionConfig) -> tuple[float, float]:
    """(the margin by which a first-stage-kept label stays kept, the margin by which a rejected one is rescued),
    in log-odds: >= 0 means yes."""
    keep = float(logit(e.posterior) - logit(cfg.keep_posterior))
    rescue = float(logit(e.posterior) - logit(cfg.rescue_posterior))
    if e.classifier is not None:
        rescue = max(rescue, float(logit(e.classifier) - logit(cfg.rescue_classifier)))
    return keep, rescue


def decide(row: dict, e: RowEvidence, rule: dict | None, cfg: DecisionConfig) -> dict:
    """The ``label_check`` of one labelled row (``rule``: the curator's rule that decides it, if any); ``score`` is
    the margin of the decision (>= 0: kept)."""
    label = row.get("label") or row.get("rejected_label")
    first = e.stage1["verdict"]
    keep, rescue = _margins(e, cfg)
    if rule is not None:
        verdict, why = rule["decision"], describe_rule(rule)
        score = abs(keep if first != "rejected" else rescue) * (1 if verdict == "accepted" else -1)
    elif first != "rejected":
        score = keep
        if keep < 0:
            verdict, why = "rejected", "kept by the first stage, but the evidence together is against it"
        elif e.posterior < cfg.accept_posterior:
            verdict, why = "unsure", "kept, but the evidence is weak: a person should look"
        else:
            verdict, why = "accepted", "supported"
    else:
        score = rescue
        if rescue < 0:
            verdict, why = "rejected", "neither the mapping nor this picture is supported"
        elif e.posterior >= cfg.rescue_posterior:
            verdict, why = "accepted", "rejected by the first stage, kept: its mapping and siblings vouch for it"
        else:
            verdict, why = "accepted", "rejected by the first stage, kept: it looks like the dataset's other drawings of it"
    check = {"verdict": verdict, "reason": f"{why} ({_evidence_text(e, label)}; first stage: {e.stage1['reason']})",
             "score": round(score, 4), "mapping_score": round(score, 4),
             "stage1": {k: e.stage1[k] for k in ("verdict", "score", "mapping_score")},
             "evidence": {"posterior": round(e.posterior, 4), "mapping_share": round(e.mapping_share, 4),
                          "picture_rank": e.rank + 1, "raw_rank": e.raw_rank + 1, "concept": e.concept,
                          "siblings": e.siblings, "category": e.category, "head_noun": e.head,
                          "classifier": None if e.classifier is None else round(e.classifier, 4)}}
    if rule is not None:
        check["rule"] = {k: rule.get(k) for k in ("decision", "who", "when", "phrase", "record")}
    return check


def with_mapping(check: dict, row: dict) -> dict:
    """A check with its mapping (for the App's grouping and the rules): the phrase it was judged in, if any."""
    mapping = mapping_of(row, check.get("phrase"))
    return {**check, "mapping": mapping, "mapping_text": mapping_text(mapping["lemma"], mapping["label"],
                                                                      mapping["phrase"])}


def verdict_counts(checks: list[dict | None]) -> dict:
    counts = {"accepted": 0, "unsure": 0, "rejected": 0}
    for c in checks:
        if c:
            counts[c["verdict"]] += 1
    return counts


def moved(checks: list[dict | None]) -> dict:
    """How the final verdicts differ from the first stage's: kept labels rejected, rejected ones kept, by rules."""
    out = {"rescued": 0, "demoted": 0, "by_rule": 0}
    for c in checks:
        if not c or "stage1" not in c:
            continue
        before, after = c["stage1"]["verdict"] != "rejected", c["verdict"] != "rejected"
        out["by_rule"] += "rule" in c
        out["rescued"] += after and not before and "rule" not in c
        out["demoted"] += before and not after and "rule" not in c
    return out
