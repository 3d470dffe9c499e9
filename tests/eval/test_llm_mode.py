"""The LLM-mode grounding figures: a refusal states nothing, however it is worded."""
from __future__ import annotations

from eval.gold import GoldItem
from eval.llm_mode import GroundedSystem
from rag.types import REFUSAL_TEXT, Answer


class RefusingProduct:
    """A product whose every answer is the answer model's worded refusal."""

    def ask(self, question: str) -> Answer:
        text = f"{REFUSAL_TEXT} The closest passages (from “Alibaba results”) do not state an answer to: “{question}”"
        return Answer(text, False, (), query=question)


def test_a_worded_refusal_counts_no_sentence_and_no_unsupported_claim():
    items = [GoldItem(id="q1", question="Who is the CFO?", answers=(), sources=(), evidence=(),
                      tags=("unanswerable",))]
    block = GroundedSystem(RefusingProduct()).grounding(items)
    assert block["sentences"] == 0 and block["unsupported"] == 0 and block["unanswerable_with_unsupported"] == 0
