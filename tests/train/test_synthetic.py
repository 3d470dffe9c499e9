"""The generated training examples: answer-removed negatives and cloze questions."""
from __future__ import annotations

import random

from rag.train.data import Example
from rag.train.synthetic import cloze_examples, generated, removed_negatives, without_answer
from rag.types import Chunk, Span

TEXT = ("The Zephyr Bakery opened its third store in Tallinn. "
        "The cooperative was founded in 2019 by four friends from Tartu. "
        "It sells rye bread.")


def chunk(doc_id: str = "Bakery__000", text: str = TEXT) -> Chunk:
    spans, at = [], 0
    for sentence in text.split(". "):
        end = at + len(sentence) + (1 if not sentence.endswith(".") else 0)
        spans.append(Span(at, min(end, len(text))))
        at = end + 1
    return Chunk("c-" + doc_id, doc_id, text, 0, len(text), tuple(spans))


def positive(question: str = "When was the cooperative founded?", answer: str = "2019") -> Example:
    at = TEXT.index(answer)
    return Example("q1", question, TEXT, at, at + len(answer), "Bakery")


def test_removing_the_answer_keeps_the_question_and_the_other_sentences():
    negative = without_answer(chunk(), positive(), ("2019",))
    assert negative is not None and not negative.answerable
    assert negative.question == "When was the cooperative founded?" and negative.qid == "q1-removed"
    assert "2019" not in negative.window
    assert "third store in Tallinn" in negative.window and "rye bread" in negative.window


def test_no_negative_when_the_answer_is_in_every_sentence():
    text = "In 2019 it opened. In 2019 it grew."
    assert without_answer(chunk(text=text), Example("q", "When?", text, 3, 7, "a"), ("2019",)) is None


def test_removed_negatives_are_made_only_for_positives_of_known_chunks():
    examples = [positive(), Example("q2", "Who?", TEXT, -1, -1, "Bakery"), Example("q3", "Where?", "other", 0, 5, "x")]
    made = removed_negatives(examples, [chunk()], {"q1": ("2019",), "q2": (), "q3": ("other",)})
    assert [e.qid for e in made] == ["q1-removed"]


def test_a_cloze_question_asks_for_the_masked_name_or_number_and_points_at_it():
    made = cloze_examples([chunk()], {"Bakery__000": "Bakery"}, random.Random(0))
    pos = [e for e in made if e.answerable]
    assert len(pos) == 1
    answer = pos[0].window[pos[0].answer_start : pos[0].answer_end]
    assert answer in pos[0].window and answer not in pos[0].question
    assert pos[0].question.endswith("?")
    assert any(w in pos[0].question for w in ("what", "how many", "what year"))
    neg = [e for e in made if not e.answerable]
    assert all(answer not in e.window for e in neg)


def test_cloze_questions_come_only_from_articles_without_gold_questions():
    chunks = [chunk("Bakery__000"), chunk("Other__000")]
    made = generated([], chunks, {}, {"Bakery"}, seed=0)
    assert made and {e.article for e in made} == {"Other"}
