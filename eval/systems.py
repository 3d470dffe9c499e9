"""The systems under evaluation, behind one `predict(question) -> Prediction` shape.

- `ours`: the product (`RAG.ask`), with its configured generator.
- `bm25`: BM25 alone over the product's own chunks; the answer is the top chunk's
  sentence sharing most terms with the question. It refuses only when nothing matches.
- `naive`: llama-index defaults (see eval/naive.py), answered the same way as bm25.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.keyword_index import terms
from rag.timing import stage
from rag.types import REFUSAL_TEXT, Answer

NO_REFUSAL = float("-inf")  # a threshold no confidence falls below


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk or a cited quote, with the document it comes from."""

    doc_id: str
    text: str


@dataclass(frozen=True)
class Prediction:
    """What a system returned for one question, in the harness's terms."""

    text: str
    answerable: bool
    citations: tuple[Passage, ...]
    retrieved: tuple[Passage, ...]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    confidence: float | None = None
    # The answer the system would give if it did not refuse (for the threshold sweep).
    unrefused_text: str = ""
    # The short answer span, where the system gives one (answer F1 is scored on it).
    answer_text: str = ""


class System(Protocol):
    """Anything that answers a question."""

    name: str

    def predict(self, question: str) -> Prediction: ...


def best_sentence(question: str, sentences: Sequence[str]) -> str:
    """The sentence sharing most (stemmed, stopword-free) terms with the question; the
    first one on ties."""
    if not sentences:
        return ""
    wanted = set(terms([question])[0])
    overlap = [len(wanted & set(t)) for t in terms(list(sentences))]
    return sentences[max(range(len(sentences)), key=lambda i: (overlap[i], -i))]


def apply_threshold(pred: Prediction, threshold: float) -> Prediction:
    """The prediction as the product would return it at `threshold`: the refusal when the
    confidence is below it (the rule of rag.answering.compose)."""
    if pred.confidence is None or pred.confidence >= threshold:
        return pred
    return Prediction(REFUSAL_TEXT, False, (), pred.retrieved, pred.timings_ms, pred.confidence, pred.text,
                      pred.answer_text)


def from_answer(answer: Answer) -> Prediction:
    """The harness's view of a product `Answer`."""
    return Prediction(
        text=answer.text, answerable=answer.answerable,
        citations=tuple(Passage(c.doc_id, c.quote) for c in answer.citations),
        retrieved=tuple(Passage(s.chunk.doc_id, s.chunk.text) for s in answer.retrieved),
        timings_ms=dict(answer.timings_ms), confidence=answer.confidence, unrefused_text=answer.text,
        answer_text=answer.answer_text,
    )


class OursSystem:
    """The product with one generator. It runs with refusal disabled, so every question
    yields both its confidence and the answer it would give; `threshold` is then applied
    exactly as the generator applies it. One run serves the product's metrics and the sweep.
    """

    def __init__(self, rag, threshold: float, generator: str | None = None, name: str = "ours"):
        self.rag, self.threshold, self.generator, self.name = rag, threshold, generator, name

    def predict(self, question: str) -> Prediction:
        answer = self.rag.ask(question, generator=self.generator)
        return apply_threshold(from_answer(answer), self.threshold)


class Bm25System:
    """BM25 over the product's chunks, answered by the top chunk's best sentence."""

    name = "bm25"

    def __init__(self, rag, k: int = 5):
        self.rag, self.k = rag, k

    def predict(self, question: str) -> Prediction:
        t0, timings = time.perf_counter(), dict[str, float]()
        with stage(timings, "bm25"):
            hits = self.rag.keywords.search(question, self.k)
        with stage(timings, "fetch"):
            rows = self.rag.store.fetch([i for i, _ in hits])
        chunks = [rows[i][0] for i, _ in hits if i in rows]
        with stage(timings, "answer"):
            sentences = [c.text[s.start - c.start : s.end - c.start] for c in chunks[:1] for s in c.sentences]
            text = best_sentence(question, sentences)
        timings["total"] = (time.perf_counter() - t0) * 1000
        retrieved = tuple(Passage(c.doc_id, c.text) for c in chunks)
        return extractive_prediction(text, retrieved, timings)


def extractive_prediction(text: str, retrieved: tuple[Passage, ...], timings: dict) -> Prediction:
    """A baseline's answer citing the top passage, or the refusal when there is none."""
    if not text or not retrieved:
        return Prediction(REFUSAL_TEXT, False, (), retrieved, timings, None, REFUSAL_TEXT)
    return Prediction(text, True, (Passage(retrieved[0].doc_id, text),), retrieved, timings, None, text)
