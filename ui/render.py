"""Pure formatting for the UI: answers as chat markdown, citations as a sources panel.

Every piece of document text is escaped here before it reaches a browser: the
answer (its sentences come from the documents), titles, quotes and passages.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from rag.types import Answer, Citation, ScoredChunk

MARKER = re.compile(r"\[(\d+)\]")
CONTEXT_CHARS = 150  # on each side of the cited sentence: ~300 characters of passage
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$^-])")
REFUSAL_LABEL = "Not in the documents"


def md_escape(text: str) -> str:
    """Text shown literally inside markdown: no HTML, no markdown syntax."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def cite_link(n: int) -> str:
    """A superscript [n] that jumps to source card n in the sources panel."""
    return f'<sup><a class="cite" href="#src-{n}">[{n}]</a></sup>'


def answer_markdown(answer: Answer) -> str:
    """The chat bubble for a finished answer: the short answer in bold above its quoted
    evidence, linked [n] markers; or a refusal."""
    if not answer.answerable:
        return refusal_markdown(answer.text)
    body = _linked(answer)
    if answer.answer_text:
        head, _, rest = body.partition("\n\n")
        body = f"**{head}**\n\n{rest}" if rest else f"**{head}**"
    return body


def _linked(answer: Answer) -> str:
    cited = {c.n for c in answer.citations}
    parts, last = [], 0
    for m in MARKER.finditer(answer.text):
        n = int(m.group(1))
        if n in cited:
            parts += [md_escape(answer.text[last:m.start()].rstrip(" ")), cite_link(n)]
            last = m.end()
    parts.append(md_escape(answer.text[last:]))
    return "".join(parts).strip()


def refusal_markdown(text: str) -> str:
    """A refusal looks like one: a labelled, muted notice rather than an answer."""
    return f'<span class="refusal">⊘ {REFUSAL_LABEL}</span>\n\n<em>{md_escape(text)}</em>'


def partial_markdown(text: str) -> str:
    """Text still streaming: escaped, with a cursor."""
    return md_escape(text) + " ▍"


def notice_markdown(text: str, kind: str = "error") -> str:
    """A message from the app itself (errors, progress), not from the documents."""
    return f'<span class="notice {kind}">{html.escape(text)}</span>'


def searched_for(question: str, query: str) -> str:
    """The standalone query, so a rewritten follow-up can be checked by the reader."""
    if not query:
        return ""
    note = " (rewritten from your follow-up)" if query.strip() != question.strip() else ""
    return f"**Searched for:** “{md_escape(query)}”{note}"


def passage(citation: Citation, retrieved: tuple[ScoredChunk, ...]) -> tuple[str, str, str]:
    """(before, quote, after): the cited sentence inside its surrounding passage."""
    text, offset = _source_text(citation, retrieved)
    if text is None or text[citation.start - offset : citation.end - offset] != citation.quote:
        return "", citation.quote, ""
    lo, hi = citation.start - offset, citation.end - offset
    a, b = max(0, lo - CONTEXT_CHARS), min(len(text), hi + CONTEXT_CHARS)
    if a > 0:  # start and end on word boundaries, not mid-word
        a = next((i + 1 for i in range(a, lo) if text[i].isspace()), a)
    if b < len(text):
        b = next((i for i in range(b, hi, -1) if text[i].isspace()), b)
    before = ("…" if a > 0 else "") + text[a:lo]
    after = text[hi:b] + ("…" if b < len(text) else "")
    return before, citation.quote, after


def _source_text(citation: Citation, retrieved) -> tuple[str | None, int]:
    """The retrieved chunk holding the citation (text, its start offset); failing
    that, the source file re-read (offsets are into the loaded text)."""
    for sc in retrieved:
        c = sc.chunk
        if c.doc_id == citation.doc_id and c.start <= citation.start and citation.end <= c.end:
            return c.text, c.start
    try:
        from rag.loading import read_text

        return read_text(Path(citation.source)), 0
    except Exception:  # noqa: BLE001 - a moved or unreadable file: the quote alone still shows
        return None, 0


def source_card(citation: Citation, retrieved) -> str:
    """One source: number, title, date, document id, the passage with the quote marked."""
    before, quote, after = passage(citation, retrieved)
    e = html.escape
    date = e(citation.published) if citation.published else "undated"
    return (
        f'<div class="src-card" id="src-{citation.n}">'
        f'<div class="src-head"><span class="src-n">{citation.n}</span>'
        f'<span class="src-title">{e(citation.title or citation.doc_id)}</span></div>'
        f'<div class="src-meta">{date} · {e(citation.doc_id)}</div>'
        f'<p class="src-passage">{e(before)}<mark>{e(quote)}</mark>{e(after)}</p></div>'
    )


def sources_html(answer: Answer | None) -> str:
    """The sources panel for an answer (or its empty / refusal state)."""
    if answer is None:
        return '<div class="src-panel"><p class="src-empty">Sources appear here after a question.</p></div>'
    if not answer.answerable:
        return ('<div class="src-panel"><div class="src-refusal">'
                f'<b>{REFUSAL_LABEL}.</b> No passage in the corpus supports an answer, '
                'so nothing is cited.</div></div>')
    cards = "".join(source_card(c, answer.retrieved) for c in answer.citations)
    return f'<div class="src-panel">{cards}</div>'


def documents_rows(docs) -> list[list]:
    """Rows of the documents table: title, date, chunks, id."""
    return [[d.title, d.published or "", d.n_chunks, d.doc_id] for d in docs]
