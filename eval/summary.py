"""Aggregating per-question results into the summary.json shape.

Retrieval, answer and citation metrics are over answerable questions (an unanswerable
question has no gold document, answer or passage); refusal metrics use all questions.
Citation precision is micro-averaged over all passages cited for answerable questions.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from eval import metrics as m
from eval.scoring import FAILURES, QuestionResult


def _retrieval(results: Sequence[QuestionResult]) -> dict:
    return {k: m.mean(getattr(r.scores, k) for r in results)
            for k in ("hit_at_1", "hit_at_5", "mrr", "evidence_recall")}


def _answer(results: Sequence[QuestionResult]) -> dict:
    out = {k: m.mean(getattr(r.scores, k) for r in results) for k in ("contains", "f1")}
    judged = [r.judge for r in results if r.judge is not None]
    if judged:  # optional LLM judge: reported, never gated
        out["judge"] = m.mean(judged)
    return out


def _citation(results: Sequence[QuestionResult]) -> dict:
    cited = sum(r.scores.cited for r in results)
    return {"precision": m.ratio(sum(r.scores.cited_supported for r in results), cited),
            "recall": m.mean(r.scores.citation_ok for r in results), "cited": cited}


def _refusal(results: Sequence[QuestionResult]) -> dict:
    return m.refusal_scores([not r.item.answerable for r in results], [r.scores.refused for r in results])


def latency(results: Sequence[QuestionResult]) -> dict:
    """p50/p95 of the total time and of every stage, in milliseconds."""
    stages = sorted({k for r in results for k in r.prediction.timings_ms if k != "total"})
    totals = [r.prediction.timings_ms.get("total") for r in results]
    per_stage = {s: {"p50": m.percentile([r.prediction.timings_ms.get(s) for r in results], 50),
                     "p95": m.percentile([r.prediction.timings_ms.get(s) for r in results], 95)} for s in stages}
    return {"p50": m.percentile(totals, 50), "p95": m.percentile(totals, 95), "stages": per_stage}


def metric_block(results: Sequence[QuestionResult]) -> dict:
    """The quality metrics of a set of results (no latency)."""
    answerable = [r for r in results if r.item.answerable]
    return {
        "n": len(results), "n_answerable": len(answerable),
        "retrieval": _retrieval(answerable), "answer": _answer(answerable),
        "citation": _citation(answerable), "refusal": _refusal(results),
        "failures": failure_counts(results),
    }


def failure_counts(results: Sequence[QuestionResult]) -> dict[str, int]:
    """How many questions fell into each failure class."""
    counts = Counter(r.failure for r in results if r.failure)
    return {f: counts.get(f, 0) for f in FAILURES}


def by_tag(results: Sequence[QuestionResult]) -> dict[str, dict]:
    """The metric block of the questions carrying each tag."""
    tags = sorted({t for r in results for t in r.item.tags})
    return {t: metric_block([r for r in results if t in r.item.tags]) for t in tags}


def summarize(system: str, results: Sequence[QuestionResult], extra: dict | None = None) -> dict:
    """The summary of one system's run."""
    return {"system": system, **metric_block(results), "latency_ms": latency(results),
            "by_tag": by_tag(results), **(extra or {})}


def combined(summaries: dict[str, dict], run: dict) -> dict:
    """One summary for several systems: each under `systems`, and `ours` (or the only
    system) mirrored at the top level so single-system readers find their keys."""
    main = summaries.get("ours") or next(iter(summaries.values()))
    if len(summaries) == 1:
        return {**main, "run": run}
    return {**main, "run": run, "systems": summaries}
