"""Property tests (Hypothesis): chunk offsets, citation quotes, question cleaning."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from citation_checks import assert_citations_exact
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document, word_count
from rag.errors import InputError
from rag.loading import make_document
from rag.pipeline import clean_question

BASE = Path("/nonexistent/props")
# Text built from pieces that stress sentence splitting, cleaning and offsets.
PIECES = st.sampled_from([
    "The harbour grew.", "Cargo rose 5%", " ", "  ", "\n", "\n\n", "\r\n", "\t", ".", "!", "?", "...",
    "returns.Alibaba", "U.S.", "$53 billion", "Ad", "LEAVE A REPLY", "spot_img", "Mr. Wu said", "e.g.",
    "Ünïcödé", "名前です。", "مرحبا", "\u200b", "\u2028", "\x0c", "\x85", "🚢", "a", "word", "—", "(see [1])",
    "\"Quoted.\"", "Dec.06 2025", "04.01.2026",
])
TEXTS = st.one_of(
    st.lists(PIECES, max_size=60).map("".join),
    st.text(max_size=400),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, max_tokens=st.integers(1, 30), overlap=st.integers(0, 12))
def test_chunks_are_exact_slices_that_cover_the_kept_text(text, max_tokens, overlap):
    doc = make_document(BASE / "doc.txt", text, set(), BASE)
    chunks = chunk_document(doc, max_tokens, overlap, word_count)
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.sentences and c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        for i in range(c.start, c.end):
            covered[i] = True
    for section in doc.kept:
        for i in range(section.start, section.end):
            assert covered[i] or text[i].isspace(), f"{text[i]!r} at {i} is in no chunk"
    # Chunks never reach outside the kept sections.
    for c in chunks:
        assert any(s.start <= c.start and c.end <= s.end for s in doc.kept)


@settings(max_examples=300, deadline=None)
@given(question=st.one_of(st.text(max_size=3000), st.binary(max_size=50), st.integers(), st.none(),
                          st.lists(st.text(max_size=5), max_size=3), st.floats()))
def test_clean_question_returns_clean_text_or_raises_input_error(question):
    try:
        cleaned = clean_question(question, 2000)
    except InputError:
        return
    assert isinstance(cleaned, str) and 0 < len(cleaned) <= 2000
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert not any(unicodedata.category(ch)[0] == "C" for ch in cleaned)
    assert re.search(r"\w", cleaned)


@pytest.fixture(scope="module")
def corpus_words(corpus_dir):
    words = set()
    for path in corpus_dir.glob("*.txt"):
        words.update(w.strip(".,;:!?()[]“”\"'’") for w in path.read_text().split())
    return sorted(w for w in words if w)


def test_every_citation_quotes_its_source_exactly(built_rag, corpus_words):
    texts: dict[str, str] = {}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
              derandomize=True)
    @given(words=st.lists(st.sampled_from(corpus_words), min_size=1, max_size=10),
           prefix=st.sampled_from(["", "How much ", "Who ", "When did ", "What is "]))
    def check(words, prefix):
        question = prefix + " ".join(words) + "?"
        try:
            answer = built_rag.ask(question)
        except InputError:
            return
        assert_citations_exact(answer, texts)
        assert answer.answerable == bool(answer.citations)

    check()
