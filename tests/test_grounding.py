"""The grounding check (rag/grounding.py) on hand-written replies: no model, no store."""
from __future__ import annotations

from rag.grounding import (
    SUPPORT_THRESHOLD,
    GroundedStream,
    LexicalSupport,
    SentenceStream,
    cited_numbers,
    judge_reply,
    judge_sentence,
    split_sentences,
)

PASSAGE_1 = ("Alibaba invested $250 million in Meitu through a convertible bond issued on June 20, 2025. "
             "The bond converts into Meitu shares at HK$6.00 per share.")
PASSAGE_2 = "Tencent reported revenue of 167 billion yuan for the quarter, up 8 percent."
PASSAGES = [PASSAGE_1, PASSAGE_2]


def test_copied_sentence_is_fully_supported():
    assert LexicalSupport().supports("The bond converts into Meitu shares at HK$6.00 per share.", PASSAGE_1) == 1.0


def test_invented_number_or_name_scores_zero():
    judge = LexicalSupport()
    assert judge.supports("Alibaba invested $300 million in Meitu.", PASSAGE_1) == 0.0
    assert judge.supports("Alibaba invested $250 million in Xiaomi.", PASSAGE_1) == 0.0
    assert judge.supports("Alibaba Group has 1,222 employees.", PASSAGE_1) == 0.0


def test_thousands_separators_do_not_matter():
    assert LexicalSupport().supports("Revenue was 1,500 yuan.", "revenue was 1500 yuan") == 1.0


def test_sentence_about_something_else_is_below_threshold():
    score = LexicalSupport().supports("Meitu shares rallied after strong smartphone camera sales in Europe.", PASSAGE_1)
    assert score < SUPPORT_THRESHOLD


def test_markers_after_the_full_stop_stay_with_their_sentence():
    reply = "Alibaba invested $250 million. [1] Tencent grew 8 percent [2]. Thanks!"
    assert split_sentences(reply) == ["Alibaba invested $250 million. [1]", "Tencent grew 8 percent [2].", "Thanks!"]
    assert split_sentences("Shares of Alibaba Group Holding Ltd. (NYSE: BABA) rose.") == \
        ["Shares of Alibaba Group Holding Ltd. (NYSE: BABA) rose."]


def test_stream_emits_a_sentence_once_the_next_begins():
    stream = SentenceStream()
    assert stream.feed("Alibaba invested $2") == []
    assert stream.feed("50 million. [1]") == []
    assert stream.feed(" Tencent") == ["Alibaba invested $250 million. [1]"]
    assert stream.flush() == ["Tencent"]


def test_cited_numbers_in_every_marker_style():
    assert cited_numbers("A [2] B [1, 3][2] C [ 4 ]") == (2, 1, 3, 4)


def test_only_supporting_markers_are_kept():
    verdict = judge_sentence("Tencent reported revenue of 167 billion yuan [1][2].", PASSAGES, LexicalSupport())
    assert verdict.cited == (1, 2) and verdict.supporting == (2,)
    assert verdict.text == "Tencent reported revenue of 167 billion yuan. [2]"


def test_uncited_and_dangling_sentences_are_unsupported():
    verdicts = judge_reply("Alibaba invested $250 million in Meitu. Tencent grew 8 percent [7].", PASSAGES)
    assert [v.supported for v in verdicts] == [False, False]


def test_grounded_stream_keeps_supported_sentences_and_counts_the_rest():
    reply = ["Alibaba invested $250 million in Meitu ", "[1]. Alibaba Group has ", "1,222 employees [1]. ",
             "The bond converts at HK$6.00 per share [1]."]
    grounded = GroundedStream(PASSAGES, LexicalSupport(), lambda s: False, lambda text: text.replace("[1]", "[A]"))
    pieces = list(grounded.pieces(reply))
    assert pieces == ["Alibaba invested $250 million in Meitu. [A]", " The bond converts at HK$6.00 per share. [A]"]
    assert grounded.text == "".join(pieces) and grounded.dropped == 1 and grounded.raw == "".join(reply)
