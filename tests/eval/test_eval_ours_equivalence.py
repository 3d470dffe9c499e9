"""`ours` runs the product with refusal off and re-applies the threshold itself; this
checks that it returns exactly what `RAG.ask` returns at that threshold, for the answer
model and for the sentence picker (extractive-v1)."""
from __future__ import annotations

from eval.gold import load_gold
from eval.systems import NO_REFUSAL, OursSystem, from_answer
from rag.types import REFUSAL_TEXT


def check(unrefused, product_at, generator, thresholds, items):
    for threshold in thresholds:
        product = product_at(threshold)
        ours = OursSystem(unrefused, threshold, generator)
        for item in items:
            want, got = from_answer(product.ask(item.question, generator=generator)), ours.predict(item.question)
            assert (got.answerable, got.citations) == (want.answerable, want.citations)
            # A refusal is scored as a refusal; the answer model's also names what was asked.
            assert got.text == want.text if want.answerable else got.text.startswith(REFUSAL_TEXT)
            assert got.confidence == want.confidence


def test_ours_matches_the_product_at_its_threshold(built_rag, repo_root):
    from rag.pipeline import RAG

    items = load_gold(repo_root / "eval" / "gold.jsonl")[::12]  # ten questions, some unanswerable
    config, embedder = built_rag.config, built_rag.embedder
    unrefused = RAG(config.with_(refusal_threshold=NO_REFUSAL), embedder=embedder)
    confidences = sorted(unrefused.ask(i.question, generator="extractive").confidence for i in items)
    check(unrefused, lambda t: RAG(config.with_(refusal_threshold=t), embedder=embedder), "extractive",
          (config.refusal_threshold, confidences[len(confidences) // 2]), items)
    # The answer model: its sentence gate stays on, its own threshold is re-applied.
    unread = RAG(config.with_(answer_threshold=0.0), embedder=embedder)
    probabilities = sorted(unread.ask(i.question).confidence for i in items)
    check(unread, lambda t: RAG(config.with_(answer_threshold=t), embedder=embedder), "reader",
          (built_rag.answer_threshold, probabilities[len(probabilities) // 2]), items)
