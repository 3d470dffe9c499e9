"""LLM mode of the evaluation (`rag eval --generator llamacpp --llm-model-path PATH`):
three answers per question, from one LLM call, side by side:

- `ours`: the product's grounded LLM answer (`RAG.ask`);
- `llm_raw`: the LLM's reply as written (`Answer.raw_text`), its valid markers cited,
  answerable unless it is the refusal; the refusal when the gate skipped the LLM;
- `extractive`: the extractive answer on the same store and threshold.

Each of the two LLM answers gets a `grounding` block in its summary, judged with the
product's own support score (rag.grounding): `sentences` (the refusal sentence aside),
`unsupported` and `unsupported_rate` (sentences without a marker or whose cited passage
does not support them), `dropped` (what the grounding check removed), `dangling_markers`
(markers naming no citation), `unanswerable_with_unsupported` (unanswerable questions
answered with any unsupported sentence) and `llm_calls` (questions past the refusal gate).
"""
from __future__ import annotations

import copy

from eval.gold import GoldItem
from eval.systems import NO_REFUSAL, OursSystem, Prediction, from_answer
from rag.grounding import judge_reply
from rag.llm import is_refusal, rewrite_markers
from rag.types import REFUSAL_TEXT, Answer


class GroundedSystem:
    """The product in LLM mode; it remembers each Answer for the other views."""

    name = "ours"

    def __init__(self, rag):
        self.rag, self.answers = rag, {}

    def answer(self, question: str) -> Answer:
        if question not in self.answers:
            self.answers[question] = self.rag.ask(question)
        return self.answers[question]

    def predict(self, question: str) -> Prediction:
        return from_answer(self.answer(question))

    def grounding(self, items: list[GoldItem]) -> dict:
        rows = [(item, self.answer(item.question)) for item in items]
        # A refusal states nothing to ground (the answer model's names what was asked).
        return grounding_block([(i, a.text if a.answerable else "", citation_passages(a)) for i, a in rows], rows)


class RawSystem:
    """The LLM's reply before the grounding check."""

    name = "llm_raw"

    def __init__(self, grounded: GroundedSystem):
        self.grounded = grounded

    def predict(self, question: str) -> Prediction:
        answer = self.grounded.answer(question)
        if not answer.raw_text.strip() or is_refusal(answer.raw_text):
            return from_answer(Answer(REFUSAL_TEXT, False, (), answer.timings_ms, question, answer.retrieved))
        text, citations = rewrite_markers(answer.raw_text.strip(), [s.chunk for s in answer.retrieved])
        return from_answer(Answer(text, True, tuple(citations), answer.timings_ms, question, answer.retrieved))

    def grounding(self, items: list[GoldItem]) -> dict:
        rows = [(item, self.grounded.answer(item.question)) for item in items]
        return grounding_block([(i, a.raw_text, [s.chunk.text for s in a.retrieved]) for i, a in rows], rows)


def side_systems(grounded: GroundedSystem, config) -> dict:
    """The raw and extractive views beside the grounded one, as (system, setup seconds)."""
    extractive = copy.copy(grounded.rag)  # shares the store, indexes and model
    extractive.config = config.with_(generator="extractive", refusal_threshold=NO_REFUSAL)
    view = OursSystem(extractive, config.refusal_threshold)
    view.name = "extractive"
    return {"llm_raw": (RawSystem(grounded), 0.0), "extractive": (view, 0.0)}


def citation_passages(answer: Answer) -> list[str | None]:
    """The chunk text behind each citation, indexed by marker number - 1."""
    texts = {s.chunk.chunk_id: s.chunk.text for s in answer.retrieved}
    return [texts.get(c.chunk_id) for c in answer.citations]


def grounding_block(judged: list[tuple[GoldItem, str, list]], rows: list[tuple[GoldItem, Answer]]) -> dict:
    """The grounding metrics of (item, text, passages by marker) triples."""
    sentences = unsupported = dangling = bad_unanswerable = 0
    for item, text, passages in judged:
        verdicts = [v for v in judge_reply(text, passages) if not is_refusal(v.sentence)]
        misses = sum(not v.supported for v in verdicts)
        sentences, unsupported = sentences + len(verdicts), unsupported + misses
        dangling += sum(not 1 <= n <= len(passages) for v in verdicts for n in v.cited)
        bad_unanswerable += int(not item.answerable and misses > 0)
    return {"sentences": sentences, "unsupported": unsupported,
            "unsupported_rate": round(unsupported / sentences, 4) if sentences else 0.0,
            "dropped": sum(a.dropped_sentences for _, a in rows), "dangling_markers": dangling,
            "unanswerable_with_unsupported": bad_unanswerable,
            "llm_calls": sum(bool(a.raw_text) for _, a in rows)}


def grounding_table(summaries: dict[str, dict]) -> str:
    """The grounding blocks as a Markdown table ("" when none was measured)."""
    keys = ("sentences", "unsupported", "unsupported_rate", "dropped", "dangling_markers",
            "unanswerable_with_unsupported", "llm_calls")
    rows = [(name, s["grounding"]) for name, s in summaries.items() if "grounding" in s]
    if not rows:
        return ""
    lines = ["### Grounding (LLM answers)", "", "| system | " + " | ".join(keys) + " |",
             "|---|" + "---|" * len(keys)]
    lines += [f"| {name} | " + " | ".join(str(g[k]) for k in keys) + " |" for name, g in rows]
    return "\n".join(lines) + "\n"
