"""The BM25 index: saved, loaded lazily, and rebuilt from its rows when the saved matrix is damaged."""
from __future__ import annotations

import shutil

from rag.keyword_index import KeywordIndex, KeywordRow

ROWS = [KeywordRow("a", "d1", 0, "Alibaba committed $53 billion to cloud infrastructure."),
        KeywordRow("b", "d2", 0, "Meitu issued a convertible bond to Alibaba."),
        KeywordRow("c", "d3", 0, "The steam engine changed mining.")]


def saved_index(tmp_path) -> KeywordIndex:
    index = KeywordIndex(tmp_path / "bm25")
    index.rebuild(ROWS)
    index.save("fp-1")
    return index


def test_load_defers_the_matrix_until_a_search(tmp_path):
    saved_index(tmp_path)
    index = KeywordIndex(tmp_path / "bm25")
    assert index.load() and index.fingerprint == "fp-1" and index.chunk_ids == ["a", "b", "c"]
    assert index._bm25 is None  # an unchanged re-ingest stops here: nothing imported, nothing read
    assert [cid for cid, _ in index.search("convertible bond", 3)] == ["b"]


def test_a_damaged_saved_matrix_is_rebuilt_from_the_rows(tmp_path, caplog):
    saved_index(tmp_path)
    for matrix in (tmp_path / "bm25").glob("v-*/bm25"):
        shutil.rmtree(matrix)
    index = KeywordIndex(tmp_path / "bm25")
    assert index.load()
    assert [cid for cid, _ in index.search("steam engine", 3)] == ["c"]
    assert "rebuilding it from the rows" in caplog.text
