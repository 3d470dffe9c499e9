"""Scoring one prediction against its gold row, and naming what went wrong."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from eval import metrics as m
from eval.gold import GoldItem
from eval.systems import Prediction

FAILURES = ("retrieval_miss", "false_refusal", "answer_miss", "citation_error", "false_answer")


@dataclass(frozen=True)
class Scores:
    """Per-question scores; None where a metric does not apply to the question."""

    hit_at_1: float | None
    hit_at_5: float | None
    mrr: float | None
    evidence_recall: float | None
    contains: float | None
    f1: float | None
    cited: int
    cited_supported: int
    citation_ok: float | None  # at least one supporting citation (answerable questions)
    refused: bool
    unrefused_contains: float | None  # `contains` of the answer it would give unrefused


@dataclass(frozen=True)
class QuestionResult:
    """One question as one system handled it."""

    system: str
    item: GoldItem
    prediction: Prediction
    scores: Scores
    failure: str | None
    judge: float | None = None

    def to_row(self) -> dict:
        """The results.jsonl row."""
        p = self.prediction
        return {
            "system": self.system, "id": self.item.id, "question": self.item.question,
            "gold_answers": list(self.item.answers), "gold_sources": list(self.item.sources),
            "tags": list(self.item.tags), "answer": p.text, "answerable": p.answerable,
            "confidence": p.confidence, "unrefused_answer": p.unrefused_text,
            "citations": [asdict(c) for c in p.citations],
            "retrieved_docs": m.doc_order(r.doc_id for r in p.retrieved),
            "scores": asdict(self.scores), "failure": self.failure, "judge": self.judge,
            "timings_ms": {k: round(v, 3) for k, v in p.timings_ms.items()},
        }


def _retrieval(item: GoldItem, pred: Prediction) -> tuple[float | None, float | None, float | None]:
    if not item.sources:
        return None, None, None
    ranked = m.doc_order(r.doc_id for r in pred.retrieved)
    return m.hit_at_k(ranked, item.sources, 1), m.hit_at_k(ranked, item.sources, 5), \
        m.reciprocal_rank(ranked, item.sources)


def score(item: GoldItem, pred: Prediction) -> Scores:
    """Every metric of one question."""
    hit1, hit5, mrr = _retrieval(item, pred)
    supported = sum(m.citation_supported(c.doc_id, c.text, item.sources, item.answers, item.evidence)
                    for c in pred.citations) if item.answerable else 0
    answered = pred.answerable
    return Scores(
        hit_at_1=hit1, hit_at_5=hit5, mrr=mrr,
        evidence_recall=m.evidence_recall(item.evidence, [r.text for r in pred.retrieved]),
        contains=(m.contains_answer(pred.text, item.answers) if answered else 0.0) if item.answerable else None,
        f1=(m.best_f1(pred.answer_text or pred.text, item.answers) if answered else 0.0) if item.answerable else None,
        cited=len(pred.citations) if item.answerable else 0, cited_supported=supported,
        citation_ok=(1.0 if supported else 0.0) if item.answerable else None,
        refused=not answered,
        unrefused_contains=m.contains_answer(pred.unrefused_text, item.answers) if item.answerable else None,
    )


def failure_class(item: GoldItem, s: Scores) -> str | None:
    """The first thing that went wrong, in pipeline order; None for a good outcome.
    Retrieval comes first: a refusal after a retrieval miss is a retrieval problem."""
    if not item.answerable:
        return None if s.refused else "false_answer"
    if s.hit_at_5 == 0.0:
        return "retrieval_miss"
    if s.refused:
        return "false_refusal"
    if not s.contains:
        return "answer_miss"
    if not s.citation_ok:
        return "citation_error"
    return None


def evaluate(system: str, item: GoldItem, pred: Prediction) -> QuestionResult:
    """Score a prediction and classify its failure."""
    s = score(item, pred)
    return QuestionResult(system, item, pred, s, failure_class(item, s))
