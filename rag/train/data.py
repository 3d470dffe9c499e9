"""Training examples for the answer model, made from a gold Q&A set over a folder of
documents (squad2-open: SQuAD 2.0 questions over Wikipedia paragraphs).

The model reads what it will read in production: a question and one chunk, cut by the
product's own loader and chunker. For each question:
- answerable: the chunk of a source document that contains an answer string is a
  positive, with the answer's character span; the best BM25 chunk that contains no
  answer string is a hard negative (same topic, no answer);
- unanswerable (SQuAD 2.0 writes these to look answerable from a nearby paragraph):
  the best BM25 chunks are negatives.
Each example is tagged with its article, the unit of cross-validation: questions on
one article share paragraphs, so a split by question would leak.

Generated negatives (`swap_negatives`): an answerable question with one of its names
or numbers swapped for another of its article that the positive window does not
contain ("What was JD.com's revenue?" against a passage about Alibaba's) is a
negative on that window: the near miss that retrieval alone cannot tell apart.
Left out: cloze-style positives.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.chunking import chunk_document
from rag.keyword_index import _bm25s, terms
from rag.loading import load_documents
from rag.types import Chunk

NEGATIVES_ANSWERABLE = 1
NEGATIVES_UNANSWERABLE = 1
SEARCH_DEPTH = 8  # BM25 chunks inspected for negatives


@dataclass(frozen=True)
class Example:
    """One (question, window) pair; answer offsets are -1 when the window has no answer."""

    qid: str
    question: str
    window: str
    answer_start: int
    answer_end: int
    article: str

    @property
    def answerable(self) -> bool:
        return self.answer_start >= 0


@dataclass(frozen=True)
class GoldQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    article: str


def read_gold(path: Path) -> list[GoldQuestion]:
    """Questions with their article. Unanswerable SQuAD questions name no source; they
    sit in file order among their article's answerable ones, so they take the article
    of the answerable question before them (or an `article:NAME` tag, where written)."""
    out, article = [], ""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        tagged = [t.split(":", 1)[1] for t in row.get("tags", []) if t.startswith("article:")]
        if tagged or row["sources"]:
            article = tagged[0] if tagged else row["sources"][0].split("__")[0]
        out.append(GoldQuestion(row["id"], row["question"], tuple(row["answers"]), tuple(row["sources"]), article))
    return out


def articles_of(questions: list[GoldQuestion]) -> list[str]:
    """Articles in first-seen order."""
    return list(dict.fromkeys(q.article for q in questions))


def validation_articles(questions: list[GoldQuestion]) -> set[str]:
    """Every fourth article, from the fourth: never trained on by the shipped model, so
    its SQuAD figures (CI, README) are on unseen articles."""
    return set(articles_of(questions)[3::4])


def article_folds(articles: list[str], k: int) -> list[set[str]]:
    """Articles dealt round-robin into k folds (deterministic)."""
    return [set(articles[i::k]) for i in range(k)]


def chunk_corpus(docs_dir: Path, count: Callable[[str], int], max_tokens: int, overlap: int) -> list[Chunk]:
    """Every chunk of the folder, cut as ingestion cuts it."""
    docs, _ = load_documents(Path(docs_dir))
    return [c for d in sorted(docs, key=lambda d: d.doc_id) for c in chunk_document(d, max_tokens, overlap, count)]


def find_answer(window: str, answers: tuple[str, ...]) -> tuple[int, int] | None:
    """The first occurrence of the shortest answer found in the window (exact case first)."""
    for answer in answers:
        at = window.find(answer)
        if at < 0:
            at = window.lower().find(answer.lower())
        if at >= 0 and answer.strip():
            return at, at + len(answer)
    return None


class ChunkSearch:
    """BM25 over chunk texts, for hard negatives."""

    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks
        self.index = _bm25s().BM25()
        self.index.index(terms([c.text for c in chunks]), show_progress=False)

    def top(self, question: str, n: int) -> list[Chunk]:
        q = terms([question])[0] or ["the"]
        scores = self.index.get_scores(q)
        return [self.chunks[i] for i in np.argsort(-scores, kind="stable")[:n]]


def examples_for(q: GoldQuestion, chunks_by_doc: dict[str, list[Chunk]], search: ChunkSearch) -> list[Example]:
    """The positive and hard negative windows of one question."""
    out = []
    for doc_id in q.sources:
        found = [(c, find_answer(c.text, q.answers)) for c in chunks_by_doc.get(doc_id, [])]
        hits = [(c, span) for c, span in found if span]
        if hits:
            chunk, (s, e) = hits[0]
            out.append(Example(q.qid, q.question, chunk.text, s, e, q.article))
            break
    wanted = NEGATIVES_UNANSWERABLE if not q.answers else NEGATIVES_ANSWERABLE
    for chunk in search.top(q.question, SEARCH_DEPTH):
        if len(out) >= wanted + (1 if q.answers else 0):
            break
        if chunk.doc_id in q.sources or (q.answers and find_answer(chunk.text, q.answers)):
            continue
        out.append(Example(q.qid, q.question, chunk.text, -1, -1, q.article))
    return out


def build_examples(questions: list[GoldQuestion], chunks: list[Chunk], swap_negatives: bool = False,
                   seed: int = 0) -> list[Example]:
    """Examples for every question, in question order."""
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    search = ChunkSearch(chunks)
    out = [ex for q in questions for ex in examples_for(q, by_doc, search)]
    if swap_negatives:
        out += swapped_negatives(out, questions, random.Random(seed))
    return out


_ENTITY = re.compile(r"(?<!^)\b(?:[A-Z][\w'’-]+(?:\s+(?:of\s+)?[A-Z][\w'’-]+)*|\d[\d,.]*\d|\d)\b")


def swapped_negatives(examples: list[Example], questions: list[GoldQuestion], rng: random.Random) -> list[Example]:
    """One generated negative per positive where a swap is possible (module docstring)."""
    pool: dict[str, list[str]] = {}
    for q in questions:
        pool.setdefault(q.article, []).extend(m.group() for m in _ENTITY.finditer(q.question))
    out = []
    for ex in (e for e in examples if e.answerable):
        question = swap_entity(ex.question, ex.window, sorted(set(pool.get(ex.article, []))), rng)
        if question:
            out.append(Example(ex.qid + "-swap", question, ex.window, -1, -1, ex.article))
    return out


def swap_entity(question: str, window: str, pool: list[str], rng: random.Random) -> str | None:
    """`question` with one name or number that the window contains replaced by one of
    the same kind (name or number) that it does not; None when there is none."""
    found = [m for m in _ENTITY.finditer(question) if m.group() in window]
    if not found:
        return None
    m = rng.choice(found)
    numeric = m.group()[0].isdigit()
    options = [e for e in pool if e[0].isdigit() == numeric and e.lower() not in window.lower()]
    if not options:
        return None
    return question[: m.start()] + rng.choice(options) + question[m.end() :]


_SPACE = re.compile(r"\s+")


def normalise_answer(text: str) -> str:
    """Lower case, no punctuation or articles: SQuAD's answer normalisation."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return _SPACE.sub(" ", text).strip()
