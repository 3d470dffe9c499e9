"""Boilerplate removal: which lines go, which stay, and that kept sections are exact
slices of the original text."""
from __future__ import annotations

import pytest

from rag.cleaning import (
    MAX_TEMPLATE_CHARS,
    is_boilerplate,
    kept_sections,
    line_spans,
    repeated_templates,
    template_key,
    title_of,
)
from rag.loading import load_documents

CORPUS_BOILERPLATE = [
    "Ad",
    "LEAVE A REPLY",
    "Please enter your comment!",
    "Please enter your name here",
    "Should investors sell immediately? Or is it worth buying Alibaba?",
    "Add a public comment...",
    "spot_img",
    "Must Read",
    "Comentarios",
    "Sin comentarios",
    "Aún no hay comentarios",
    "BABA--",
    "Alibaba: Buy or sell? Read more here...",
    "Daily stocks & crypto headlines, free to your inbox",
]


@pytest.fixture(scope="module")
def corpus_docs(corpus_dir):
    docs, skipped = load_documents(corpus_dir)
    assert not skipped
    return {d.doc_id[:3]: d for d in docs}


def kept_lines(doc) -> set[str]:
    return {line.strip() for s in doc.kept for line in doc.text[s.start : s.end].splitlines() if line.strip()}


@pytest.mark.parametrize("line", CORPUS_BOILERPLATE)
def test_corpus_boilerplate_line_is_dropped_wherever_it_appears(corpus_docs, line):
    holders = [d for d in corpus_docs.values() if line in d.text.splitlines()]
    assert holders, f"{line!r} is no longer in the corpus"
    for doc in holders:
        assert line not in kept_lines(doc), doc.doc_id


@pytest.mark.parametrize("line", ["Ad", "LEAVE A REPLY", "Please enter your comment!", "Add a public comment...",
                                  "spot_img", "Should investors sell immediately? Or is it worth buying Alibaba?",
                                  "Advertisement", "Share this article", "Subscribe now", "12 Comments"])
def test_boilerplate_lines_on_their_own(line):
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", [
    "Alibaba has committed a staggering $53 billion to expand its AI infrastructure.",
    "The Heavy Cost of Leadership",
    "Adding capacity was the main goal.",  # starts like "Ad"
    "Comments from analysts were mixed, but most expect growth.",
    "",  # blank lines are separators, not boilerplate
])
def test_prose_and_headings_are_not_boilerplate(line):
    assert not is_boilerplate(line)


def test_body_text_of_the_corpus_is_kept(corpus_docs):
    doc = corpus_docs["000"]
    kept = kept_lines(doc)
    assert "The Heavy Cost of Leadership" in kept
    assert any("$53 billion" in line for line in kept)
    assert "Meta’s AI Ambitions Lean on Alibaba’s Technology, Yet Shares Face Pressure" in kept


def test_breadcrumb_line_is_dropped_and_headline_kept(corpus_docs):
    doc = corpus_docs["000"]
    first = doc.text.splitlines()[0]
    assert first.startswith("HomeAI & Quantum Computing")
    assert first not in kept_lines(doc)
    assert doc.title == "Meta’s AI Ambitions Lean on Alibaba’s Technology, Yet Shares Face Pressure"


def test_breadcrumb_needs_the_next_line_as_its_tail():
    text = "News > Markets > Ports handle record cargo this spring\nPorts handle record cargo this spring\nBody text here.\n"
    kept = kept_sections(text)
    assert [text[s.start : s.end] for s in kept] == ["Ports handle record cargo this spring\nBody text here."]
    # A short line that merely ends like the next one is not a breadcrumb.
    text = "A cargo record.\nrecord.\nThe port grew.\n"
    assert kept_sections(text)[0].start == 0


def test_template_key_folds_case_digits_quotes_and_months():
    assert template_key("Published  12 March 2025 – “Ports”") == template_key("published 3 april 2024 – \"ports\"")
    assert template_key("Page 1 of 10") == "page 0 of 0"


def test_repeated_template_across_documents():
    a = "Subscribe to the Daily Port Brief for 12 March 2025\nThe harbour grew by a third this year.\n"
    b = "Subscribe to the Daily Port Brief for 3 April 2024\nCranes arrived late in the season.\n"
    c = "Nothing in common here at all.\nJust one document of prose.\n"
    repeated = repeated_templates([a, b, c])
    assert template_key("Subscribe to the Daily Port Brief for 12 March 2025") in repeated
    assert template_key("The harbour grew by a third this year.") not in repeated
    kept = kept_sections(a, repeated)
    assert [a[s.start : s.end] for s in kept] == ["The harbour grew by a third this year."]


def test_repeated_template_within_one_document():
    text = "Share on social media now please\nFirst paragraph of prose.\nShare on social media now please\nSecond one.\n"
    repeated = repeated_templates([text])
    assert template_key("Share on social media now please") in repeated
    kept = [text[s.start : s.end] for s in kept_sections(text, repeated)]
    assert kept == ["First paragraph of prose.", "Second one."]


def test_long_lines_are_never_templates():
    line = "word " * (MAX_TEMPLATE_CHARS // 4)
    assert template_key(line) not in repeated_templates([line, line])


def test_corpus_templates_are_detected_across_its_documents(corpus_dir):
    texts = [p.read_text() for p in sorted(corpus_dir.glob("*.txt"))]
    repeated = repeated_templates(texts)
    assert template_key("Should investors sell immediately? Or is it worth buying Alibaba?") in repeated
    assert template_key("Ad") in repeated


def test_kept_sections_are_verbatim_trimmed_ordered_slices(corpus_docs):
    for doc in corpus_docs.values():
        assert doc.kept, doc.doc_id
        previous_end = 0
        for span in doc.kept:
            piece = doc.text[span.start : span.end]
            assert 0 <= span.start < span.end <= len(doc.text)
            assert span.start >= previous_end
            assert piece == piece.strip() and piece
            previous_end = span.end
        # Every kept line is a whole line of the original text.
        lines = {doc.text[s.start : s.end] for s in line_spans(doc.text)}
        for span in doc.kept:
            for line in doc.text[span.start : span.end].splitlines():
                assert line in lines or not line.strip()


def test_sections_split_at_dropped_lines():
    text = "First part of the story.\nAd\nSecond part of the story.\n"
    sections = [text[s.start : s.end] for s in kept_sections(text)]
    assert sections == ["First part of the story.", "Second part of the story."]


def test_line_spans_follow_every_kind_of_line_break():
    text = "a\r\nb\rc\nd\u2028e\n"
    spans = line_spans(text)
    # "\u2028" stays in its line's span (rstrip("\r\n") leaves it); it is whitespace,
    # so trimming drops it from kept sections.
    assert [text[s.start : s.end] for s in spans] == ["a", "b", "c", "d\u2028", "e"]
    assert [s.start for s in spans] == [0, 3, 5, 7, 9]
    prose = "Line one is prose.\u2028"
    assert [prose[s.start : s.end] for s in kept_sections(prose)] == ["Line one is prose."]


def test_title_is_the_first_kept_line_of_three_words():
    text = "Ad\nShort\nA proper headline here\nBody.\n"
    assert title_of(text, kept_sections(text), "fallback") == "A proper headline here"
    assert title_of("", (), "fallback") == "fallback"
