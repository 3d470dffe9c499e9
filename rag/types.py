"""The frozen records that stages exchange.

Every surface (Python, CLI JSON, REST, UI) returns the same `Answer`; `Answer.to_dict`
is the one JSON shape they all share.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) into a document's original text."""

    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A loaded source file: original text, metadata and the spans kept after cleaning."""

    doc_id: str
    text: str
    title: str
    published: str | None  # ISO date, or None when the text states none
    source: str
    content_hash: str
    kept: tuple[Span, ...]  # boilerplate-free sections, as offsets into `text`


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: `text == document.text[start:end]`."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    sentences: tuple[Span, ...]  # absolute offsets, each inside [start, end)
    title: str = ""
    published: str | None = None
    source: str = ""
    doc_hash: str = ""


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk with its fused retrieval score and its rank in each retriever (None: absent)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    keyword_rank: int | None = None
    dense_score: float = 0.0  # cosine similarity to the question


@dataclass(frozen=True)
class Citation:
    """One cited passage: `quote == source_text[start:end]`."""

    n: int
    doc_id: str
    title: str
    published: str | None
    quote: str
    start: int
    end: int
    source: str = ""
    chunk_id: str = ""


@dataclass(frozen=True)
class Answer:
    """What every surface returns."""

    text: str
    answerable: bool
    citations: tuple[Citation, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Not part of the public JSON: kept for the UI and the evaluation harness.
    query: str = ""
    retrieved: tuple[ScoredChunk, ...] = ()
    confidence: float = 0.0  # the generator's confidence (the answer model's: a calibrated probability)
    # The short answer: a span of the cited document `answer_doc_id`, at
    # [answer_start, answer_end) of its text. Empty when refused, or when the
    # generator writes whole sentences (the extractive sentence picker, an LLM).
    answer_text: str = ""
    answer_doc_id: str = ""
    answer_start: int = -1
    answer_end: int = -1
    # LLM answers only: the reply as the LLM wrote it, and how many of its sentences the
    # grounding check dropped (uncited, or not supported by the passage they cite).
    raw_text: str = ""
    dropped_sentences: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form, the same on every surface."""
        return {
            "text": self.text,
            "answerable": self.answerable,
            "answer_text": self.answer_text,
            "answer_span": ({"doc_id": self.answer_doc_id, "start": self.answer_start, "end": self.answer_end}
                            if self.answer_text else None),
            "confidence": round(self.confidence, 4),
            "citations": [asdict(c) for c in self.citations],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "raw_text": self.raw_text,
            "dropped_sentences": self.dropped_sentences,
        }


REFUSAL_TEXT = "The corpus does not contain an answer to this question."


@dataclass(frozen=True)
class DocumentInfo:
    """The catalog entry of a stored document. Written only after all its chunks are."""

    doc_id: str
    content_hash: str
    title: str
    published: str | None
    source: str
    n_chunks: int
    root: str = ""  # the folder it was ingested from: removal is scoped to it


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents and/or a publication date range (inclusive)."""

    doc_ids: tuple[str, ...] = ()
    published_from: str | None = None
    published_to: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.published_from or self.published_to)
