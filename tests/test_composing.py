"""The default answer built from the answer model's readings (rag/composing.py), on
hand-made chunks and readings: no model involved."""
from __future__ import annotations

import numpy as np

from rag.composing import answer_kind, compose_answer, refusal_text
from rag.reader import Reading
from rag.retrieval import Evidence
from rag.types import REFUSAL_TEXT, Chunk, ScoredChunk, Span

THRESHOLD = 0.5


def evidence_of(doc_id: str, sentences: list[str], published: str | None = "2025-01-02", offset: int = 0) -> Evidence:
    """One chunk made of `sentences`, placed at `offset` of its document."""
    text = " ".join(sentences)
    spans, at = [], offset
    for s in sentences:
        spans.append(Span(at, at + len(s)))
        at += len(s) + 1
    chunk = Chunk(f"c-{doc_id}-{offset}", doc_id, text, offset, offset + len(text), tuple(spans),
                  title=f"Title {doc_id}", published=published)
    return Evidence(ScoredChunk(chunk, 1.0), np.zeros((len(spans), 4), dtype=np.float32))


def reading_of(ev: Evidence, window: int, answer: str, probability: float, score: float = 5.0) -> Reading:
    at = ev.scored.chunk.text.index(answer)
    return Reading(window, probability, at, at + len(answer), score)


BOND = evidence_of("meitu", ["Alibaba invested in Meitu.",
                             "The convertible bond carries a conversion price of HK$6 per share."], offset=100)


def test_refuses_below_the_threshold_and_says_what_was_asked():
    answer = compose_answer("What is the dividend?", [BOND], [reading_of(BOND, 0, "HK$6", 0.2)], THRESHOLD, THRESHOLD)
    assert not answer.answerable and not answer.citations
    assert answer.text.startswith(REFUSAL_TEXT)
    assert "What is the dividend?" in answer.text and "Title meitu" in answer.text
    assert answer.confidence == 0.2


def test_the_short_answer_comes_first_with_its_exact_offsets_and_the_sentence_cited():
    doc_text = " " * 100 + BOND.scored.chunk.text
    answer = compose_answer("At what price can the bond convert?", [BOND],
                            [reading_of(BOND, 0, "HK$6 per share", 0.9)], THRESHOLD, THRESHOLD)
    assert answer.answerable and answer.answer_text == "HK$6 per share"
    assert answer.text.startswith("HK$6 per share [1]")
    assert doc_text[answer.answer_start:answer.answer_end] == "HK$6 per share"
    [cite] = answer.citations
    assert cite.quote == doc_text[cite.start:cite.end] == BOND.scored.chunk.text.split(". ", 1)[1]
    assert answer.to_dict()["answer_span"] == {"doc_id": "meitu", "start": answer.answer_start, "end": answer.answer_end}


def test_a_sentence_opening_with_a_pronoun_brings_the_one_naming_its_subject():
    ev = evidence_of("cloud", ["Alibaba Cloud grew fast last year.", "Its EBITDA rose 35% to $1.2 billion."])
    answer = compose_answer("What was the EBITDA of the cloud business?", [ev],
                            [reading_of(ev, 0, "$1.2 billion", 0.8)], THRESHOLD, THRESHOLD)
    assert [c.quote for c in answer.citations] == ["Alibaba Cloud grew fast last year.",
                                                   "Its EBITDA rose 35% to $1.2 billion."]
    assert answer.text.startswith("$1.2 billion [2]")  # the marker names the sentence holding the span


def test_a_why_answer_continues_into_an_explaining_sentence_but_others_do_not():
    ev = evidence_of("margin", ["Core-commerce profit fell on competition.",
                                "This came from subsidies by PDD and JD.", "Shares rose anyway."])
    why = compose_answer("Why is core-commerce profit under pressure?", [ev],
                         [reading_of(ev, 0, "competition", 0.8)], THRESHOLD, THRESHOLD)
    assert len(why.citations) == 2 and why.citations[1].quote.startswith("This came")
    what = compose_answer("What hurt core-commerce profit?", [ev],
                          [reading_of(ev, 0, "competition", 0.8)], THRESHOLD, THRESHOLD)
    assert len(what.citations) == 1
    how = compose_answer("How does competition hurt profit?", [ev], [reading_of(ev, 0, "competition", 0.8)],
                         THRESHOLD, THRESHOLD)
    assert len(how.citations) == 2
    how_much = compose_answer("How much did competition hurt profit?", [ev],
                              [reading_of(ev, 0, "competition", 0.8)], THRESHOLD, THRESHOLD)
    assert len(how_much.citations) == 1  # a quantity, not an explanation


def test_confident_different_figures_from_two_documents_are_shown_with_their_dates():
    a = evidence_of("a", ["Analysts see a price target of $205."], published="2025-11-01")
    b = evidence_of("b", ["The average target is $194."], published="2025-12-06")
    answer = compose_answer("What is the average analyst price target?", [a, b],
                            [reading_of(a, 0, "$205", 0.9), reading_of(b, 1, "$194", 0.85)], THRESHOLD, THRESHOLD)
    assert answer.text.startswith("The sources differ:")
    assert "$205 (2025-11-01) [1]" in answer.text and "$194 (2025-12-06) [2]" in answer.text
    assert [c.doc_id for c in answer.citations] == ["a", "b"]


def test_no_disagreement_from_the_same_document_a_weak_rival_or_another_kind_of_answer():
    a = evidence_of("a", ["Analysts see a price target of $205."])
    a2 = evidence_of("a", ["Another target is $194."], offset=500)
    b = evidence_of("b", ["The analyst is John Smith."])
    c = evidence_of("c", ["A target of $150 was also cited."])
    readings = [reading_of(a, 0, "$205", 0.9), reading_of(a2, 1, "$194", 0.9),
                reading_of(b, 2, "John Smith", 0.9), reading_of(c, 3, "$150", 0.6)]
    answer = compose_answer("What is the price target?", [a, a2, b, c], readings, THRESHOLD, THRESHOLD)
    assert not answer.text.startswith("The sources differ") and answer.answer_text == "$205"


def test_no_readings_is_a_refusal():
    answer = compose_answer("Anything?", [], [], THRESHOLD, THRESHOLD)
    assert not answer.answerable and answer.text == refusal_text("Anything?", [])


def test_answer_kinds():
    assert answer_kind("March 14, 2025") == "date"
    assert answer_kind("$52 billion") == "figure"
    assert answer_kind("Eddie Wu") == "name"
    assert answer_kind("competition from rivals") == "text"
