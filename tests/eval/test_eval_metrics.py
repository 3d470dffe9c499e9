"""Metric functions on tiny hand-made inputs (eval/metrics.py)."""
from __future__ import annotations

import pytest

from eval import metrics as m


def test_doc_order_keeps_first_appearance():
    assert m.doc_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_hit_at_k_and_mrr():
    ranked = ["x", "y", "gold", "z"]
    assert m.hit_at_k(ranked, ["gold"], 1) == 0.0
    assert m.hit_at_k(ranked, ["gold"], 3) == 1.0
    assert m.hit_at_k(ranked, ["other", "x"], 1) == 1.0
    assert m.reciprocal_rank(ranked, ["gold"]) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(ranked, ["nope"]) == 0.0
    assert m.hit_at_k([], ["gold"], 5) == 0.0


def test_evidence_recall():
    passages = ["Alibaba  committed $53 billion\nover three years.", "Other text."]
    assert m.evidence_recall(["committed $53 billion over three years"], passages) == 1.0
    assert m.evidence_recall(["committed $53 billion", "not there"], passages) == 0.5
    assert m.evidence_recall([], passages) is None


def test_contains_is_token_aligned_and_number_aware():
    assert m.contains_answer("Alibaba will invest US$53bn in AI. [1]", ["$53 billion"]) == 1.0
    assert m.contains_answer("It rose 3.1 percent", ["31"]) == 0.0
    assert m.contains_answer("It rose 10 percent", ["1"]) == 0.0
    assert m.contains_answer("The refusal", []) == 0.0
    assert m.contains_answer("Meta's Avocado model", ["Gemma", "Avocado"]) == 1.0


def test_f1():
    assert m.token_f1("the Avocado model", "Avocado") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m.token_f1("nothing shared", "Avocado") == 0.0
    assert m.best_f1("Avocado", ["Gemma", "Avocado"]) == 1.0
    assert m.best_f1("x", []) == 0.0


def test_overlaps():
    quote = "According to a Bloomberg report citing market sources, Meta is building on Qwen."
    assert m.overlaps(quote, "According to a Bloomberg report citing market sources")
    assert m.overlaps("Bloomberg report citing market sources, Meta is building on Qwen. More text follows here.",
                      "Earlier sentence. According to a Bloomberg report citing market sources, Meta is")
    assert not m.overlaps(quote, "Alibaba committed $53 billion to AI.")


def test_citation_supported():
    ev = ["Meta’s new “Avocado” model, slated for launch in spring 2026"]
    assert m.citation_supported("d1", "It is called Avocado.", ["d1"], ["Avocado"], ev)
    assert m.citation_supported("d1", "Meta’s new “Avocado” model, slated for launch in spring 2026, uses Qwen.",
                                ["d1"], ["spring 2026"], ev)
    assert not m.citation_supported("d2", "It is called Avocado.", ["d1"], ["Avocado"], ev)  # wrong doc
    assert not m.citation_supported("d1", "Shares fell 2%.", ["d1"], ["Avocado"], ev)  # right doc, no support


def test_refusal_scores():
    unanswerable = [True, True, False, False, False]
    refused = [True, False, True, False, False]
    s = m.refusal_scores(unanswerable, refused)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    assert s["false_refusal_rate"] == pytest.approx(1 / 3)
    never = m.refusal_scores(unanswerable, [False] * 5)
    assert never["precision"] is None and never["recall"] == 0.0 and never["false_refusal_rate"] == 0.0


def test_percentile_and_mean():
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile([10.0], 95) == 10.0
    assert m.percentile([], 50) is None
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None
