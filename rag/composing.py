"""The default answer: the answer model's short span first, then the sentences that
support it, quoted and cited; or a refusal that says what was not found.

From the reader's readings of the best few windows:
- refuse when no window's calibrated probability reaches the threshold (set by the
  rule in rag/train/recipe.py on out-of-fold questions);
- else the most probable window answers. Its span is the short answer; the sentences
  it overlaps support it, plus the sentence before when the first one opens with a
  pronoun ("Its EBITDA...": the reader needs to know whose), and, for why/how
  questions, the sentence after when it continues the explanation ("This...");
- another document whose window also passes the threshold with a different answer of
  the same kind (a figure, a date, a name, other text) is a disagreement: both are
  shown, with their dates.
Left out: merging equal answers across windows, and answers that need two documents.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from rag.reader import Reading
from rag.retrieval import Evidence
from rag.types import REFUSAL_TEXT, Answer, Chunk, Citation, Span

MAX_SENTENCES = 3
DISAGREEMENT_MARGIN = 0.15  # a rival answer must be nearly as probable as the best
_ANAPHOR = re.compile(r"^\W*(it|its|it's|they|their|them|this|that|these|those|he|his|she|her|such|the (company|firm|"
                      r"group|move|deal|plan|figure|unit|business))\b", re.I)
# "How much/many/long..." asks for a quantity, not an explanation.
_EXPLAINS = re.compile(r"^\s*(why\b|how\b(?!\s+(much|many|long|old|far|often|big|large|tall|high|soon)\b))"
                       r"|\b(why|how come|what (caused|led|explains))\b", re.I)
_FOOTNOTE = re.compile(r"\[\d{1,3}\]")
_EDGE_PUNCT = " \t\n,;:.\"'“”‘’()"


def compose_answer(question: str, evidence: Sequence[Evidence], readings: Sequence[Reading], threshold: float,
                   rival_floor: float) -> Answer:
    """The cited short answer, the disagreement, or the refusal. Below `threshold` it
    refuses; a rival answer must reach `rival_floor` (the model's calibrated threshold,
    also when the caller disables refusal) and be within DISAGREEMENT_MARGIN of the best."""
    retrieved = tuple(ev.scored for ev in evidence)
    if not readings:
        return Answer(refusal_text(question, evidence), False, (), query=question, retrieved=retrieved)
    ranked = sorted(readings, key=lambda r: (-r.probability, -r.span_score))
    best = ranked[0]
    if best.probability < threshold:
        return Answer(refusal_text(question, evidence), False, (), query=question, retrieved=retrieved,
                      confidence=best.probability)
    chosen = [best] + rivals(best, ranked[1:], evidence, rival_floor)
    parts: list[tuple[str, Chunk, list[Citation], int]] = []
    citations: list[Citation] = []
    for reading in chosen:
        chunk = evidence[reading.window].scored.chunk
        cites = [_cite(len(citations) + i + 1, chunk, s) for i, s in enumerate(supporting(question, chunk, reading))]
        citations += cites
        at = chunk.start + reading.start
        marker = next((c.n for c in cites if c.start <= at < c.end), cites[0].n)
        parts.append((span_text(chunk, reading), chunk, cites, marker))
    first_span, first_chunk, _, _ = parts[0]
    start = first_chunk.start + best.start + _lead_trim(first_chunk.text[best.start : best.end])
    return Answer(_render(parts), True, tuple(citations), query=question, retrieved=retrieved,
                  confidence=best.probability, answer_text=first_span, answer_start=start,
                  answer_end=start + len(first_span), answer_doc_id=first_chunk.doc_id)


def span_text(chunk: Chunk, reading: Reading) -> str:
    """The span without the punctuation and spaces at its edges."""
    return chunk.text[reading.start : reading.end].strip(_EDGE_PUNCT)


def _lead_trim(raw: str) -> int:
    return len(raw) - len(raw.lstrip(_EDGE_PUNCT))


def supporting(question: str, chunk: Chunk, reading: Reading) -> list[Span]:
    """The sentences of the chunk that support the span (at most MAX_SENTENCES)."""
    a, b = chunk.start + reading.start, chunk.start + reading.end
    sentences = list(chunk.sentences)
    hit = [i for i, s in enumerate(sentences) if s.start < b and a < s.end] or [_nearest(sentences, a)]
    first, last = hit[0], hit[-1]
    if first > 0 and _ANAPHOR.match(_sentence(chunk, sentences[first])):
        first -= 1
    if _EXPLAINS.search(question) and last + 1 < len(sentences) and _ANAPHOR.match(_sentence(chunk, sentences[last + 1])):
        last += 1
    return sentences[first : last + 1][:MAX_SENTENCES]


def rivals(best: Reading, others: Sequence[Reading], evidence: Sequence[Evidence], threshold: float) -> list[Reading]:
    """Confident answers from other documents that differ from the best one."""
    best_chunk = evidence[best.window].scored.chunk
    seen_docs, seen = {best_chunk.doc_id}, [_normal(span_text(best_chunk, best))]
    out = []
    for r in others:
        chunk = evidence[r.window].scored.chunk
        text = _normal(span_text(chunk, r))
        if r.probability < max(threshold, best.probability - DISAGREEMENT_MARGIN) or chunk.doc_id in seen_docs:
            continue
        if not text or any(text in s or s in text for s in seen) or answer_kind(text) != answer_kind(seen[0]):
            continue
        out.append(r)
        seen_docs.add(chunk.doc_id)
        seen.append(text)
    return out


def answer_kind(text: str) -> str:
    """figure | date | name | text: answers of different kinds never disagree."""
    if re.search(r"\b(1[5-9]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|october|"
                 r"november|december)\b", text, re.I):
        return "date"
    if re.search(r"\d", text):
        return "figure"
    if re.fullmatch(r"(?:[A-Z][\w.&'-]*\s?)+", text.strip()):
        return "name"
    return "text"


def refusal_text(question: str, evidence: Sequence[Evidence]) -> str:
    """The refusal, naming what was asked and where the closest passages came from."""
    titles = list(dict.fromkeys(ev.scored.chunk.title for ev in evidence if ev.scored.chunk.title))[:2]
    asked = " ".join(question.split()).rstrip("?").strip()
    where = f" The closest passages (from {' and '.join(f'“{t}”' for t in titles)})" if titles else " No passage"
    return f"{REFUSAL_TEXT}{where} do not state an answer to: “{asked}?”"


def _render(parts: list[tuple[str, Chunk, list[Citation], int]]) -> str:
    if len(parts) == 1:
        answer, _, cites, marker = parts[0]
        return f"{answer} [{marker}]\n\n" + _quotes(cites)
    lines = ["The sources differ:"]
    lines += [f"- {answer} ({chunk.published or 'undated'}) [{marker}]" for answer, chunk, _, marker in parts]
    return "\n".join(lines) + "\n\n" + "\n".join(_quotes(cites) for _, _, cites, _ in parts)


def _quotes(cites: list[Citation]) -> str:
    return " ".join(f"“{_shown(c.quote)}” [{c.n}]" for c in cites)


def _shown(sentence: str) -> str:
    """A sentence as shown: the source's own footnote markers would read as ours."""
    return " ".join(_FOOTNOTE.sub("", sentence).split())


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s.%$]", " ", text.lower()).split())


def _nearest(sentences: list[Span], offset: int) -> int:
    return min(range(len(sentences)), key=lambda i: abs(sentences[i].start - offset))


def _sentence(chunk: Chunk, span: Span) -> str:
    return chunk.text[span.start - chunk.start : span.end - chunk.start]


def _cite(n: int, chunk: Chunk, span: Span) -> Citation:
    quote = _sentence(chunk, span)
    return Citation(n, chunk.doc_id, chunk.title, chunk.published, quote, span.start, span.end, chunk.source, chunk.chunk_id)
