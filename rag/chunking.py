"""Sentence-aware chunking with overlap and exact character offsets.

Sentences come from the Punkt model that llama-index bundles (the same one its
`SentenceSplitter` uses), but we pack them ourselves: llama-index's node parsers
re-join text and only estimate offsets, while every chunk here must satisfy
`document.text[start:end] == chunk.text`. Lines are sentence boundaries too, so list
items and headings never merge with the next sentence. Chunks never cross a cleaned
section (see cleaning.py), and are sized in the embedding model's tokens.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.types import Chunk, Document, Span

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktTokenizer

TokenCounter = Callable[[str], int]
# Scraped text often loses the space between sentences ("returns.Alibaba's"); Punkt
# cannot see those boundaries, so they are cut first.
_GLUED = re.compile(r"(?<=[a-z\]\)][.!?])(?=[A-Z][a-z])")


def word_count(text: str) -> int:
    """A token counter that needs no model (tests, estimates)."""
    return len(text.split())


@lru_cache(maxsize=1)
def _punkt() -> PunktTokenizer:
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    spec = importlib.util.find_spec("llama_index.core")
    if spec and spec.submodule_search_locations:
        nltk.data.path.append(os.path.join(spec.submodule_search_locations[0], "_static", "nltk_cache"))
    return PunktTokenizer("english")


def sentence_spans(text: str, section: Span) -> list[Span]:
    """Sentences inside `section`, as absolute offsets, split at line breaks and by Punkt."""
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text[section.start : section.end]):
        base = section.start + line.start()
        for piece in _GLUED.split(line.group()):  # zero-width cuts: pieces tile the line
            for start, end in _punkt().span_tokenize(piece):
                if piece[start:end].strip():
                    spans.append(Span(base + start, base + end))
            base += len(piece)
    return spans


def split_long(text: str, span: Span, max_tokens: int, count: TokenCounter) -> list[Span]:
    """Cut a sentence longer than `max_tokens` at word boundaries."""
    if count(text[span.start : span.end]) <= max_tokens:
        return [span]
    words = [(span.start + m.start(), span.start + m.end()) for m in re.finditer(r"\S+", text[span.start : span.end])]
    pieces, i = [], 0
    while i < len(words):
        # The most words from i that fit, by binary search (every word is at least one
        # token): a few counts per piece, so a megabyte-long line stays linear.
        lo, hi = 1, min(len(words) - i, max_tokens)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[words[i][0] : words[i + mid - 1][1]]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        start = span.start if i == 0 else words[i][0]
        i += lo
        pieces.append(Span(start, words[i - 1][1] if i < len(words) else span.end))
    return pieces


def pack(sentences: list[Span], sizes: list[int], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy windows [i, j) of sentences within `max_tokens`; consecutive windows share
    trailing sentences worth at most `overlap` tokens."""
    windows, i = [], 0
    while i < len(sentences):
        j, total = i, 0
        while j < len(sentences) and (j == i or total + sizes[j] <= max_tokens):
            total += sizes[j]
            j += 1
        windows.append((i, j))
        if j == len(sentences):
            break
        back, shared = j, 0
        while back - 1 > i and shared + sizes[back - 1] <= overlap:
            back -= 1
            shared += sizes[back]
        i = back
    return windows


def chunk_document(doc: Document, max_tokens: int, overlap: int, count: TokenCounter = word_count) -> list[Chunk]:
    """Chunks of one document, in order, each a verbatim slice of `doc.text`."""
    chunks = []
    for section in doc.kept:
        sentences, sizes = _sized_sentences(doc.text, section, max_tokens, count)
        for i, j in pack(sentences, sizes, max_tokens, overlap):
            chunks.append(_make_chunk(doc, tuple(sentences[i:j])))
    return chunks


def _sized_sentences(text: str, section: Span, max_tokens: int, count: TokenCounter) -> tuple[list[Span], list[int]]:
    """Sentences no longer than `max_tokens`, with their token counts. Counting is most
    of chunking's cost, so each sentence is counted once."""
    sentences, sizes = [], []
    for s in sentence_spans(text, section):
        n = count(text[s.start : s.end])
        pieces = [s] if n <= max_tokens else split_long(text, s, max_tokens, count)
        sentences += pieces
        sizes += [n] if len(pieces) == 1 else [count(text[p.start : p.end]) for p in pieces]
    return sentences, sizes


def chunk_id(doc_id: str, doc_hash: str, start: int, text: str) -> str:
    """Content hash: the same text at the same place of the same version gets the same id."""
    key = "\x00".join([doc_id, doc_hash, str(start), text])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _make_chunk(doc: Document, sentences: tuple[Span, ...]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = doc.text[start:end]
    return Chunk(
        chunk_id=chunk_id(doc.doc_id, doc.content_hash, start, text),
        doc_id=doc.doc_id, text=text, start=start, end=end, sentences=sentences,
        title=doc.title, published=doc.published, source=doc.source, doc_hash=doc.content_hash,
    )
