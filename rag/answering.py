"""The default generator: extractive, no LLM. Every sentence of the answer is a
verbatim sentence of a retrieved chunk, followed by its citation marker.

Each candidate sentence gets one score, a weighted sum of
- meaning: cosine between the question and the sentence's contextual vector;
- terms: the IDF-weighted share of the question's terms the sentence contains;
- answer type: +1 when the sentence carries what the question asks for (an amount for
  "how much", a date for "when", a name for "who"), -1 when it cannot;
- retrieval: the rank of its chunk after fusion.
The best sentence answers; sentences from other documents that score nearly as well
and state a different figure are added as disagreeing sources. When the best score is
below `refusal_threshold` (chosen by the sweep in eval/THRESHOLD.md), the answer is the
refusal. Left out: answer-span extraction (needs a reader model) and paraphrase.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.keyword_index import KeywordIndex, terms
from rag.retrieval import Evidence
from rag.types import REFUSAL_TEXT, Answer, Chunk, Citation, Span

WEIGHTS = {"meaning": 0.55, "terms": 0.35, "type": 0.08, "retrieval": 0.05}
NEAR_BEST = 0.9  # a second source must score within this ratio of the best

_Q_NUMBER = re.compile(r"\bhow (much|many|large|big|high|low|far|long|often)\b|\bwhat (percentage|percent|share|"
                       r"amount|price|number|proportion|size|value|ratio|rate|multiple|target|figure)\b|"
                       r"\bby (how much|what (percentage|margin|factor))\b", re.I)
_Q_DATE = re.compile(r"\bwhen\b|\b(what|which) (year|date|month|day|quarter|time)\b|\bhow long ago\b", re.I)
_Q_PERSON = re.compile(r"\bwho(m|se)?\b", re.I)
_NUMBER = re.compile(r"\d")
_AMOUNT = re.compile(r"(?:[$€£¥]|HK\$|RMB|US\$)\s?\d[\d.,]*(?:\s?(?:billion|million|trillion|bn|m|k))?|"
                     r"\d[\d.,]*\s?(?:%|percent|billion|million|trillion|yuan|dollars|x\b)", re.I)
_DATE = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d", re.I)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")


@dataclass(frozen=True)
class Candidate:
    """One sentence of one retrieved chunk, scored."""

    chunk: Chunk
    span: Span
    score: float
    chunk_rank: int

    @property
    def text(self) -> str:
        return self.chunk.text[self.span.start - self.chunk.start : self.span.end - self.chunk.start]


def answer_type(question: str) -> str:
    """number | date | person | other."""
    if _Q_NUMBER.search(question):
        return "number"
    if _Q_DATE.search(question):
        return "date"
    if _Q_PERSON.search(question):
        return "person"
    return "other"


def type_match(kind: str, sentence: str, question: str) -> float:
    """+1 when the sentence can answer a question of this kind, -1 when it cannot, 0 unknown."""
    if kind == "number":
        return 1.0 if _AMOUNT.search(sentence) else (0.0 if _NUMBER.search(sentence) else -1.0)
    if kind == "date":
        return 1.0 if _DATE.search(sentence) else -1.0
    if kind == "person":
        asked = set(_NAME.findall(question))
        return 1.0 if any(n not in asked for n in _NAME.findall(sentence)) else -1.0
    return 0.0


def score_sentences(question: str, qvec: np.ndarray, evidence: list[Evidence], keywords: KeywordIndex) -> list[Candidate]:
    """Every distinct sentence of the evidence, best first."""
    seen, rows = set(), []
    for rank, ev in enumerate(evidence):
        chunk = ev.scored.chunk
        for k, span in enumerate(chunk.sentences):
            key = (chunk.doc_id, span.start, span.end)
            if key not in seen and k < len(ev.sentence_vectors):
                seen.add(key)
                rows.append((chunk, span, ev.sentence_vectors[k], rank))
    if not rows:
        return []
    kind = answer_type(question)
    q_terms = set(terms([question])[0])
    texts = [c.text[s.start - c.start : s.end - c.start] for c, s, _, _ in rows]
    s_terms = terms(texts)
    q_weight = sum(keywords.idf(t) for t in q_terms) or 1.0
    out = []
    for (chunk, span, vec, rank), text, st in zip(rows, texts, s_terms):
        parts = {
            "meaning": float(np.dot(qvec, vec)),
            "terms": sum(keywords.idf(t) for t in q_terms & set(st)) / q_weight,
            "type": type_match(kind, text, question),
            "retrieval": 1.0 / (1 + rank),
        }
        out.append(Candidate(chunk, span, sum(WEIGHTS[k] * v for k, v in parts.items()), rank))
    return sorted(out, key=lambda c: -c.score)


def choose(candidates: list[Candidate], kind: str, max_sentences: int) -> list[Candidate]:
    """The best sentence, plus near-best ones from other documents stating other figures."""
    best = candidates[0]
    chosen = [best]
    figures = {_figure(best.text)}
    for cand in candidates[1:]:
        if len(chosen) >= max_sentences or cand.score < best.score * NEAR_BEST:
            break
        figure = _figure(cand.text)
        other_doc = all(cand.chunk.doc_id != c.chunk.doc_id for c in chosen)
        if kind == "number" and other_doc and figure and figure not in figures:
            chosen.append(cand)
            figures.add(figure)
    return chosen


def compose(question: str, qvec: np.ndarray, evidence: list[Evidence], keywords: KeywordIndex,
            threshold: float, max_sentences: int) -> Answer:
    """The extractive answer, or the refusal when the evidence is too weak."""
    candidates = score_sentences(question, qvec, evidence, keywords)
    confidence = candidates[0].score if candidates else 0.0
    retrieved = tuple(ev.scored for ev in evidence)
    if confidence < threshold:
        return Answer(REFUSAL_TEXT, False, (), query=question, retrieved=retrieved, confidence=confidence)
    chosen = choose(candidates, answer_type(question), max_sentences)
    citations = tuple(_cite(n, c) for n, c in enumerate(chosen, start=1))
    if len(chosen) > 1:
        parts = [f"{_source_label(c.chunk)}: {c.text} [{n}]" for n, c in enumerate(chosen, start=1)]
        text = "The sources differ. " + " ".join(parts)
    else:
        text = f"{chosen[0].text} [1]"
    return Answer(text, True, citations, query=question, retrieved=retrieved, confidence=confidence)


def _figure(sentence: str) -> str | None:
    found = _AMOUNT.search(sentence)
    return re.sub(r"\s+", " ", found.group().lower()) if found else None


def _source_label(chunk: Chunk) -> str:
    return f"{chunk.title} ({chunk.published})" if chunk.published else chunk.title


def _cite(n: int, cand: Candidate) -> Citation:
    c = cand.chunk
    return Citation(n, c.doc_id, c.title, c.published, cand.text, cand.span.start, cand.span.end, c.source, c.chunk_id)
