"""Per-question metric functions: retrieval, answer, citation, refusal, latency.

All are pure functions on plain values so they can be tested on hand-made inputs.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from eval.normalize import normalize, tokens

MIN_OVERLAP_CHARS = 40  # a shared run this long means two passages quote the same text


def doc_order(doc_ids: Iterable[str]) -> list[str]:
    """Distinct document ids in order of first appearance among the retrieved chunks."""
    return list(dict.fromkeys(doc_ids))


def hit_at_k(ranked_docs: Sequence[str], gold_docs: Iterable[str], k: int) -> float:
    """1.0 when a gold document is among the first `k` ranked documents."""
    gold = set(gold_docs)
    return 1.0 if any(d in gold for d in ranked_docs[:k]) else 0.0


def reciprocal_rank(ranked_docs: Sequence[str], gold_docs: Iterable[str]) -> float:
    """1 / rank of the first gold document, 0.0 when none was retrieved."""
    gold = set(gold_docs)
    return next((1.0 / r for r, d in enumerate(ranked_docs, start=1) if d in gold), 0.0)


def _squash(text: str) -> str:
    return " ".join(text.split())


def evidence_recall(evidence: Sequence[str], passages: Sequence[str]) -> float | None:
    """Share of gold evidence quotes found verbatim (up to whitespace) in a passage."""
    if not evidence:
        return None
    texts = [_squash(p) for p in passages]
    return sum(any(_squash(q) in t for t in texts) for q in evidence) / len(evidence)


def contains_answer(prediction: str, answers: Sequence[str]) -> float:
    """ALCE STR-EM: 1.0 when the normalised prediction holds a normalised gold answer
    as a whole-token run (so "1" does not match inside "10")."""
    pred = f" {normalize(prediction)} "
    return 1.0 if any(norm and f" {norm} " in pred for norm in map(normalize, answers)) else 0.0


def token_f1(prediction: str, answer: str) -> float:
    """SQuAD token F1 between two texts, after normalisation."""
    pred, gold = tokens(prediction), tokens(answer)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token F1 against any gold answer."""
    return max((token_f1(prediction, a) for a in answers), default=0.0)


def overlaps(a: str, b: str, min_chars: int = MIN_OVERLAP_CHARS) -> bool:
    """True when one passage contains the other, or they share a long verbatim run."""
    a, b = _squash(a), _squash(b)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size >= min(min_chars, len(a), len(b))


def citation_supported(doc_id: str, quote: str, sources: Iterable[str], answers: Sequence[str],
                       evidence: Sequence[str]) -> bool:
    """A cited passage supports the answer when it comes from a gold source document and
    states a gold answer or overlaps a gold evidence quote."""
    if doc_id not in set(sources):
        return False
    return bool(contains_answer(quote, answers)) or any(overlaps(quote, e) for e in evidence)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is 0 (undefined)."""
    return numerator / denominator if denominator else None


def refusal_scores(unanswerable: Sequence[bool], refused: Sequence[bool]) -> dict[str, float | None]:
    """Refusal as a classifier with 'unanswerable' as the positive class."""
    pairs = list(zip(unanswerable, refused, strict=True))
    tp = sum(u and r for u, r in pairs)
    n_refused = sum(r for _, r in pairs)
    n_unanswerable = sum(u for u, _ in pairs)
    n_answerable = len(pairs) - n_unanswerable
    false_refusals = sum(r and not u for u, r in pairs)
    precision, recall = ratio(tp, n_refused), ratio(tp, n_unanswerable)
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (
        0.0 if precision is not None and recall is not None else None)
    return {"precision": precision, "recall": recall, "f1": f1,
            "false_refusal_rate": ratio(false_refusals, n_answerable)}


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation, None for no values."""
    data = sorted(v for v in values if v is not None and not math.isnan(v))
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    data = [v for v in values if v is not None]
    return sum(data) / len(data) if data else None
