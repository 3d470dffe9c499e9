"""Ingestion in bounded groups: the same store as one pass, whatever the group size."""
from __future__ import annotations

from collections import deque
from pathlib import Path

import rag.ingestion as ingestion
from rag.chunking import chunk_document
from rag.ingestion import _groups
from rag.loading import load_documents
from rag.types import Document


def _doc(doc_id: str, chars: int) -> Document:
    return Document(doc_id, "x" * chars, doc_id, None, doc_id, doc_id, ())


def test_groups_are_consecutive_bounded_runs():
    docs = [_doc(str(i), n) for i, n in enumerate([40, 30, 50, 10, 10, 200, 5])]
    todo = deque(docs)
    groups = list(_groups(todo, 80))
    assert not todo  # taken out as grouped: a stored group can be freed
    assert [d for g in groups for d in g] == docs  # every document once, in order
    assert [[d.doc_id for d in g] for g in groups] == [["0", "1"], ["2", "3", "4"], ["5"], ["6"]]
    assert all(sum(len(d.text) for d in g) <= 80 for g in groups if len(g) > 1)  # a big one stands alone


def test_one_document_per_group_gives_the_same_store(fresh_rag, monkeypatch):
    monkeypatch.setattr(ingestion, "GROUP_CHARS", 1)  # every document its own group
    report = fresh_rag.ingest()
    docs, _ = load_documents(Path(fresh_rag.config.corpus))
    cfg = fresh_rag.config
    expected = {d.doc_id: {c.chunk_id for c in chunk_document(d, cfg.chunk_tokens, cfg.chunk_overlap_tokens,
                                                              fresh_rag.embedder.count_tokens)} for d in docs}
    every = set().union(*expected.values())
    assert report.chunks_embedded == len(every) == fresh_rag.store.count()
    assert set(fresh_rag.keywords.chunk_ids) == every
    for info in fresh_rag.documents():
        assert set(fresh_rag.store.chunk_ids_of(info.doc_id)) == expected[info.doc_id]
        assert info.n_chunks == len(expected[info.doc_id])
    assert report.embed_calls >= len(docs)  # a forward pass per group at least
