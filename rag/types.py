"""The frozen records that stages exchange.

Every surface (Python, CLI JSON, REST, UI) returns the same `Answer`; `Answer.to_dict`
is the one JSON shape they all share.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from rag.errors import InputError

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_FILTER_DOCS = 1000


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

    def sentence_starts(self) -> list[int]:
        """Where each sentence starts, relative to `text`."""
        return [s.start - self.start for s in self.sentences]


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
    # What the caller should know about the search itself ("2 undated documents were not searched").
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form, the same on every surface; `notes` when there are any."""
        out: dict[str, Any] = {
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
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def public_dict(self) -> dict[str, Any]:
        """`to_dict()` with each citation's source reduced to its file name: the shape
        stays the same, a server's folders are not disclosed."""
        out = self.to_dict()
        for c in out["citations"]:
            c["source"] = c["source"].replace("\\", "/").rsplit("/", 1)[-1] if c.get("source") else ""
        return out


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

    def public_dict(self) -> dict[str, Any]:
        """As JSON, without the server's folders."""
        out = asdict(self)
        out["source"] = self.source.replace("\\", "/").rsplit("/", 1)[-1] if self.source else ""
        out.pop("root", None)
        return out


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents and/or a publication date range (inclusive)."""

    doc_ids: tuple[str, ...] = ()
    published_from: str | None = None
    published_to: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.published_from or self.published_to)

    @property
    def by_date(self) -> bool:
        return bool(self.published_from or self.published_to)

    @classmethod
    def parse(cls, doc_ids: Any = None, published_from: Any = None, published_to: Any = None) -> "Filters | None":
        """Validated filters from untrusted input (CLI, REST, UI), or None when nothing
        restricts the search. InputError, with a one-line message, on anything else:
        doc ids must be a list of strings, dates strict YYYY-MM-DD, from <= to."""
        ids = _doc_ids(doc_ids)
        since, until = _iso_day(published_from, "published_from"), _iso_day(published_to, "published_to")
        if since and until and since > until:
            raise InputError(f"published_from ({since}) is after published_to ({until})")
        filters = cls(ids, since, until)
        return None if filters.empty else filters


def _doc_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    # A bare string is a list of characters to Python: refuse it rather than guess.
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InputError("doc_ids must be a list of document ids")
    if not all(isinstance(v, str) for v in value):
        raise InputError("doc_ids must be a list of strings")
    if len(value) > MAX_FILTER_DOCS:
        raise InputError(f"doc_ids may name at most {MAX_FILTER_DOCS} documents")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def _iso_day(value: Any, name: str) -> str | None:
    """A real calendar day written YYYY-MM-DD, or None for nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be a date as YYYY-MM-DD, not a {type(value).__name__}")
    text = value.strip()
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"{name} must be a real date as YYYY-MM-DD, not {text[:20]!r}") from None
