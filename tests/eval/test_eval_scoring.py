"""Scoring one question, failure classes, aggregation, sampling (no model needed)."""
from __future__ import annotations

import pytest

from eval.gold import GoldItem, sample
from eval.scoring import evaluate
from eval.summary import summarize
from eval.systems import Passage, Prediction, apply_threshold, best_sentence, extractive_prediction
from rag.types import REFUSAL_TEXT

Q = GoldItem("g1", "How much will Alibaba invest?", ("$53 billion",), ("d1",),
             ("Alibaba will invest $53 billion in AI",), ("number",))
UNANSWERABLE = GoldItem("g2", "Who is the CFO?", (), (), (), ("person", "unanswerable"))
GOOD = Prediction("Alibaba will invest $53 billion in AI. [1]", True,
                  (Passage("d1", "Alibaba will invest $53 billion in AI."),),
                  (Passage("d2", "Noise."), Passage("d1", "Alibaba will invest $53 billion in AI.")),
                  {"total": 10.0, "embed": 5.0}, 0.7, "Alibaba will invest $53 billion in AI. [1]")


def refused(pred: Prediction) -> Prediction:
    return apply_threshold(pred, 0.9)


def test_good_answer_scores():
    r = evaluate("ours", Q, GOOD)
    s = r.scores
    assert (s.hit_at_1, s.hit_at_5, s.mrr, s.evidence_recall) == (0.0, 1.0, 0.5, 1.0)
    assert s.contains == 1.0 and s.f1 > 0 and s.citation_ok == 1.0 and s.cited_supported == 1
    assert r.failure is None


def test_failure_classes():
    miss = Prediction("Shares fell. [1]", True, (Passage("d2", "Shares fell."),), (Passage("d2", "Shares fell."),))
    assert evaluate("x", Q, miss).failure == "retrieval_miss"
    assert evaluate("x", Q, refused(GOOD)).failure == "false_refusal"
    wrong = Prediction("Shares fell. [1]", True, (Passage("d1", "Shares fell."),), GOOD.retrieved)
    assert evaluate("x", Q, wrong).failure == "answer_miss"
    uncited = Prediction("It is $53 billion. [1]", True, (Passage("d2", "Noise."),), GOOD.retrieved)
    assert evaluate("x", Q, uncited).failure == "citation_error"
    assert evaluate("x", UNANSWERABLE, GOOD).failure == "false_answer"
    assert evaluate("x", UNANSWERABLE, refused(GOOD)).failure is None


def test_apply_threshold_keeps_the_unrefused_answer():
    p = refused(GOOD)
    assert p.text == REFUSAL_TEXT and not p.answerable and p.citations == () and p.confidence == 0.7
    assert p.unrefused_text == GOOD.text
    assert evaluate("ours", Q, p).scores.unrefused_contains == 1.0
    assert apply_threshold(GOOD, 0.7) is GOOD  # at the threshold: answered, as compose() does


def test_summary_aggregates_and_tags():
    results = [evaluate("ours", Q, GOOD), evaluate("ours", Q, refused(GOOD)),
               evaluate("ours", UNANSWERABLE, refused(GOOD)), evaluate("ours", UNANSWERABLE, GOOD)]
    s = summarize("ours", results)
    assert s["n"] == 4 and s["n_answerable"] == 2
    assert s["answer"]["contains"] == 0.5 and s["retrieval"]["hit_at_5"] == 1.0
    assert s["citation"]["precision"] == 1.0 and s["citation"]["recall"] == 0.5
    assert s["refusal"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "false_refusal_rate": 0.5})
    assert s["latency_ms"]["p50"] == 10.0 and s["latency_ms"]["stages"]["embed"]["p95"] == 5.0
    assert s["failures"]["false_refusal"] == 1 and s["failures"]["false_answer"] == 1
    assert s["by_tag"]["unanswerable"]["n"] == 2 and s["by_tag"]["number"]["answer"]["contains"] == 0.5


def test_best_sentence_and_baseline_prediction():
    sentences = ["Shares fell on Monday.", "Alibaba plans to invest $53 billion in AI.", "Invest wisely."]
    assert best_sentence("How much will Alibaba invest in AI?", sentences) == sentences[1]
    assert best_sentence("anything", []) == ""
    p = extractive_prediction("", (), {})
    assert not p.answerable and p.text == REFUSAL_TEXT


def _items(n_ans: int, n_un: int) -> list[GoldItem]:
    ans = [GoldItem(f"a{i}", "q", ("x",), ("d",), (), ()) for i in range(n_ans)]
    return ans + [GoldItem(f"u{i}", "q", (), (), (), ()) for i in range(n_un)]


def test_sample_is_seeded_and_stratified():
    items = _items(80, 40)
    a, b = sample(items, 30, 0), sample(items, 30, 0)
    assert [i.id for i in a] == [i.id for i in b]
    assert len(a) == 30 and sum(i.answerable for i in a) == 15
    assert [i.id for i in sample(items, 30, 1)] != [i.id for i in a]
    few = sample(_items(80, 5), 30, 0)  # too few unanswerable: fill with answerable
    assert len(few) == 30 and sum(not i.answerable for i in few) == 5
    assert sample(items, None, 0) == items
