"""The answer model: span decoding and tokenisation (no model), the training labels,
and clear errors for a missing or corrupt model. Training and loading a real exported
model is covered by tests/train/test_train_smoke.py (slow tier)."""
from __future__ import annotations

import numpy as np
import pytest

from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.errors import ConfigError
from rag.reader import MAX_ANSWER_TOKENS, Reader, best_span, encode_pairs, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model(PACKAGED_MODEL))


def test_best_span_maximises_start_plus_end_within_the_window_and_in_order():
    start = np.array([9.0, 1.0, 0.0, 5.0, 0.0])
    end = np.array([9.0, 0.0, 4.0, 0.0, 1.0])
    allowed = np.array([False, True, True, True, True])  # [CLS] is never an answer
    assert best_span(start, end, allowed)[:2] == (3, 4)  # 5 + 1 beats 1 + 4; end never before start


def test_best_span_is_never_longer_than_the_limit():
    n = MAX_ANSWER_TOKENS + 10
    start, end = np.zeros(n), np.zeros(n)
    start[0], end[-1] = 10.0, 10.0
    i, j, _ = best_span(start, end, np.ones(n, dtype=bool))
    assert j - i < MAX_ANSWER_TOKENS


def test_offsets_point_into_the_window_and_only_window_tokens_are_marked(tokenizer):
    window = "The bond converts at HK$6 per share, Meitu said."
    enc = encode_pairs(tokenizer, "What is the price?", [window])
    marked = [enc.offsets[0][t] for t in range(enc.input_ids.shape[1]) if enc.in_window[0][t]]
    assert window[marked[0][0]:marked[-1][1]] == "The bond converts at HK$6 per share, Meitu said."
    assert enc.token_type_ids[0].tolist().count(1) == len(marked) + 1  # the window and its [SEP]


def test_training_labels_cover_exactly_the_answer(tokenizer):
    from rag.train.data import Example
    from rag.train.model import make_batch

    window = "The cooperative was founded in 2019 by four friends from Tartu."
    at = window.index("2019")
    batch = make_batch(tokenizer, [Example("q", "When was it founded?", window, at, at + 4, "a"),
                                   Example("q", "When was it founded?", window, -1, -1, "a")])
    enc = encode_pairs(tokenizer, "When was it founded?", [window])
    s, e = int(batch.start[0]), int(batch.end[0])
    assert window[enc.offsets[0][s][0]:enc.offsets[0][e][1]] == "2019"
    assert batch.answerable.tolist() == [1.0, 0.0] and int(batch.start[1]) == 0


def test_a_missing_model_folder_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no answer model"):
        Reader(tmp_path)


def test_a_corrupt_model_file_is_a_config_error(tmp_path):
    (tmp_path / "reader.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match="cannot load the answer model"):
        _ = Reader(tmp_path).session


def test_signals_carry_each_windows_retrieval_rank_and_calibration_uses_them():
    from rag.reader import calibrated, signals

    rows = signals([2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    assert rows.shape == (3, 3) and rows[0, 2] == 0.0 and rows[1, 2] < rows[2, 2]
    p = calibrated({"weights": [1.0, 0.5, -1.0], "bias": 0.0}, rows)
    assert p[0] > p[1] > p[2]  # same reading, lower rank: less probable
    older = calibrated({"weights": [1.0, 0.0], "bias": 0.0}, rows)  # a two-signal card ignores the rank
    assert np.allclose(older, older[0])


def test_an_answer_never_crosses_a_sentence_boundary_when_sentences_are_given():
    from rag.reader import token_sentences

    start = np.array([0.0, 1.0, 5.0, 0.0, 0.0])
    end = np.array([0.0, 0.0, 0.0, 6.0, 1.0])
    allowed = np.ones(5, dtype=bool)
    assert best_span(start, end, allowed)[:2] == (2, 3)  # across the boundary: 5 + 6
    sentence = token_sentences([(0, 3), (4, 8), (9, 12), (14, 18), (19, 22)], [0, 13])
    assert sentence.tolist() == [1, 1, 1, 2, 2]
    assert best_span(start, end, allowed, sentence)[:2] == (3, 3)  # 0 + 6 inside the second sentence
