"""The shipped answer model (rag/models/reader) reproduces the figures its card
recorded on a fixed sample of its validation questions: articles it never trained on.
Real parts: the exported ONNX model, the squad2-open documents, the product's chunker."""
from __future__ import annotations

import pytest

from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.reader import SHIPPED, Reader, load_tokenizer
from rag.train.data import ChunkSearch, chunk_corpus, read_gold
from rag.train.recipe import CHUNK_OVERLAP, CHUNK_TOKENS, FIXED_SAMPLE, figures_at, read_questions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(SHIPPED)


def test_the_shipped_card_names_disjoint_training_and_validation_articles(reader):
    card = reader.card
    assert set(card["training_articles"]).isdisjoint(card["validation_articles"])
    questions = read_gold(SHIPPED / "validation.jsonl")
    assert {q.article for q in questions} == set(card["validation_articles"])
    assert (SHIPPED / "reader.onnx").stat().st_size < 50_000_000


def test_the_shipped_model_reproduces_its_recorded_validation_figures(reader, squad_dir):
    tokenizer = load_tokenizer(resolve_model(PACKAGED_MODEL))
    chunks = chunk_corpus(squad_dir / "docs", lambda s: len(tokenizer.encode(s, add_special_tokens=False).ids),
                          CHUNK_TOKENS, CHUNK_OVERLAP)
    questions = read_gold(SHIPPED / "validation.jsonl")[:FIXED_SAMPLE]
    rows = read_questions(reader, questions, ChunkSearch(chunks))
    card = reader.card
    got = figures_at(rows, card["calibration"], card["threshold"])
    want = card["fixed_sample"]
    assert got["questions"] == want["questions"] == FIXED_SAMPLE
    # Exact on the machine that trained it; elsewhere ONNX Runtime's float kernels may
    # move a question across the threshold: allow two questions' worth.
    for key in ("refusal_recall", "false_refusal_rate", "answer_f1_answered", "exact_match_answered"):
        assert got[key] == pytest.approx(want[key], abs=2 / 25), key
