"""`ours` runs the product with refusal off and re-applies the threshold itself; this
checks that it returns exactly what `RAG.ask` returns at that threshold."""
from __future__ import annotations

from eval.gold import load_gold
from eval.systems import NO_REFUSAL, OursSystem, from_answer


def test_ours_matches_the_product_at_its_threshold(built_rag, repo_root):
    from rag.pipeline import RAG

    items = load_gold(repo_root / "eval" / "gold.jsonl")[::12]  # ten questions, some unanswerable
    unrefused = RAG(built_rag.config.with_(refusal_threshold=NO_REFUSAL), embedder=built_rag.embedder)
    confidences = sorted(unrefused.ask(i.question).confidence for i in items)
    for threshold in (built_rag.config.refusal_threshold, confidences[len(confidences) // 2]):
        product = RAG(built_rag.config.with_(refusal_threshold=threshold), embedder=built_rag.embedder)
        ours = OursSystem(unrefused, threshold)
        for item in items:
            want, got = from_answer(product.ask(item.question)), ours.predict(item.question)
            assert (got.text, got.answerable, got.citations) == (want.text, want.answerable, want.citations)
            assert got.confidence == want.confidence
