"""End to end with the real model on the real corpus: ingest, ask, cite, refuse,
incremental updates, filters, and the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from citation_checks import assert_citations_exact

from rag.chunking import chunk_document
from rag.errors import InputError
from rag.loading import load_documents
from rag.types import REFUSAL_TEXT, Filters

COMMITMENT = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
CFO = "Who is Alibaba's chief financial officer?"
RAG_BIN = str(Path(sys.executable).with_name("rag"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def assert_quotes_exact(answer):
    assert_citations_exact(answer)
    for c in answer.citations:
        assert Path(c.source).read_text()[c.start : c.end] == c.quote


def doc_id_starting(rag, prefix: str) -> str:
    (doc_id,) = [d.doc_id for d in rag.documents() if d.doc_id.startswith(prefix)]
    return doc_id


def test_ingest_ask_refuse_and_reingest(fresh_rag):
    report = fresh_rag.ingest()
    assert len(report.added) == 5 and not report.skipped and report.chunks_embedded > 0
    assert [d.doc_id[:3] for d in fresh_rag.documents()] == ["000", "001", "002", "003", "004"]

    answer = fresh_rag.ask(COMMITMENT)
    assert answer.answerable
    assert "$52 billion" in answer.text or "$53 billion" in answer.text
    assert answer.citations
    assert_quotes_exact(answer)
    assert set(answer.to_dict()) == {"text", "answerable", "answer_text", "answer_span", "confidence", "citations", "timings_ms",
                     "raw_text", "dropped_sentences"}

    refused = fresh_rag.ask(CFO)
    assert refused.text.startswith(REFUSAL_TEXT)
    assert refused.answerable is False and refused.citations == ()

    again = fresh_rag.ingest()
    assert again.embed_calls == 0 and again.chunks_embedded == 0
    assert len(again.unchanged) == 5 and not (again.added or again.updated or again.removed)


def test_changed_file_replaces_its_chunks(fresh_rag):
    fresh_rag.ingest()
    doc_id = doc_id_starting(fresh_rag, "003")
    old_ids = set(fresh_rag.store.chunk_ids_of(doc_id))
    assert old_ids
    path = Path(fresh_rag.config.corpus) / f"{doc_id}.txt"
    path.write_text(path.read_text() + "\nThe harbour of Valparaiso will host Alibaba's new data centre in 2027.\n")

    report = fresh_rag.ingest()
    assert report.updated == (doc_id,) and not report.added and len(report.unchanged) == 4
    new_ids = set(fresh_rag.store.chunk_ids_of(doc_id))
    assert new_ids and not (new_ids & old_ids)
    assert fresh_rag.store.chunks.get(ids=sorted(old_ids))["ids"] == []  # old version deleted
    (doc,) = [d for d in load_documents(Path(fresh_rag.config.corpus))[0] if d.doc_id == doc_id]
    cfg = fresh_rag.config
    assert new_ids == {c.chunk_id for c in chunk_document(doc, cfg.chunk_tokens, cfg.chunk_overlap_tokens,
                                                          fresh_rag.embedder.count_tokens)}
    keyword_ids = set(fresh_rag.keywords.chunk_ids)
    assert new_ids <= keyword_ids and not (old_ids & keyword_ids)
    info = {d.doc_id: d for d in fresh_rag.documents()}[doc_id]
    assert info.content_hash == doc.content_hash and info.n_chunks == len(new_ids)

    answer = fresh_rag.ask("Where will Alibaba's new data centre be hosted in 2027?")
    assert answer.answerable and "Valparaiso" in answer.text
    assert answer.citations[0].doc_id == doc_id
    assert_quotes_exact(answer)


def test_deleted_file_disappears(fresh_rag):
    fresh_rag.ingest()
    doc_id = doc_id_starting(fresh_rag, "002")
    (Path(fresh_rag.config.corpus) / f"{doc_id}.txt").unlink()

    report = fresh_rag.ingest()
    assert report.removed == (doc_id,) and report.embed_calls == 0
    assert doc_id not in {d.doc_id for d in fresh_rag.documents()}
    assert fresh_rag.store.chunk_ids_of(doc_id) == []
    assert all(r.doc_id != doc_id for r in fresh_rag.keywords.rows)
    for question in (COMMITMENT, "Alibaba $52 billion 380 billion yuan gamble sink the stock"):
        _, evidence = fresh_rag.retrieve(question, top_k=10)
        assert evidence and all(ev.scored.chunk.doc_id != doc_id for ev in evidence)
        assert all(c.doc_id != doc_id for c in fresh_rag.ask(question).citations)


def test_filter_by_document(built_rag):
    doc_id = doc_id_starting(built_rag, "001")
    filters = Filters(doc_ids=(doc_id,))
    _, evidence = built_rag.retrieve(COMMITMENT, top_k=10, filters=filters)
    assert evidence and {ev.scored.chunk.doc_id for ev in evidence} == {doc_id}
    assert {i for i, _ in built_rag.keywords.search(COMMITMENT, 50, filters)} <= set(built_rag.store.chunk_ids_of(doc_id))
    answer = built_rag.ask("What did Alibaba invest in Meitu?", filters=filters)
    assert answer.answerable and {c.doc_id for c in answer.citations} == {doc_id}
    assert_quotes_exact(answer)


@pytest.mark.parametrize("since, until, expected", [
    ("2025-12-01", "2026-01-31", {"001", "004"}),
    (None, "2025-06-30", {"002"}),  # documents without a date are left out
    ("2026-01-01", None, {"001"}),
    ("2025-02-24", "2025-02-24", {"002"}),  # inclusive
])
def test_filter_by_published_date_range(built_rag, since, until, expected):
    filters = Filters(published_from=since, published_to=until)
    _, evidence = built_rag.retrieve("Alibaba AI investment cloud", top_k=20, filters=filters)
    assert {ev.scored.chunk.doc_id[:3] for ev in evidence} == expected
    for ev in evidence:
        assert (since or "0000") <= ev.scored.chunk.published <= (until or "9999")
    answer = built_rag.ask(COMMITMENT, filters=filters)
    assert {c.doc_id[:3] for c in answer.citations} <= expected


def test_empty_question_is_an_input_error(built_rag):
    with pytest.raises(InputError, match="empty"):
        built_rag.ask("")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([RAG_BIN, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


def test_cli_ask_rejects_bad_questions(built_rag, tmp_path):
    store = str(built_rag.config.store)
    empty = run_cli("ask", "", "--store", store, cwd=tmp_path)
    assert empty.returncode == 2
    assert empty.stderr.strip() == "error: the question is empty"
    too_long = run_cli("ask", "x" * 2001, "--store", store, cwd=tmp_path)
    assert too_long.returncode == 2
    assert "too long (2001 characters; the limit is 2000)" in too_long.stderr
    for result in (empty, too_long):
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_ask_json_shape(built_rag, tmp_path):
    result = run_cli("ask", "--json", COMMITMENT, "--store", str(built_rag.config.store), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"text", "answerable", "answer_text", "answer_span", "confidence", "citations", "timings_ms",
                     "raw_text", "dropped_sentences"}
    assert payload["answerable"] is True and payload["citations"]
    for c in payload["citations"]:
        assert Path(c["source"]).read_text()[c["start"] : c["end"]] == c["quote"]


def test_rebuild_starts_over(fresh_rag):
    fresh_rag.ingest()
    report = fresh_rag.ingest(rebuild=True)
    assert len(report.added) == 5 and not report.unchanged
    assert fresh_rag.check(repair=False) == []
    assert set(fresh_rag.keywords.chunk_ids) == {i for i, *_ in fresh_rag.store.scan()}
    assert fresh_rag.ask(COMMITMENT).answerable


def test_an_interrupted_rebuild_leaves_the_old_index_answering(fresh_rag, monkeypatch):
    import rag.writing
    from rag.pipeline import RAG

    fresh_rag.ingest()
    before = fresh_rag.ask(COMMITMENT)
    real = rag.writing.ingest_path

    def dies_halfway(path, store, *args):
        real(Path(path) / "000_706a5f9b3ca919df.txt", store, *args)  # some of the new index exists
        raise SystemExit("killed")

    monkeypatch.setattr(rag.writing, "ingest_path", dies_halfway)
    with pytest.raises(SystemExit):
        fresh_rag.ingest(rebuild=True)
    monkeypatch.undo()
    for reader in (fresh_rag, RAG.open(fresh_rag.config, embedder=fresh_rag.embedder)):  # this process, and a new one
        assert len(reader.documents()) == 5
        assert reader.ask(COMMITMENT).citations == before.citations
    report = fresh_rag.ingest(rebuild=True)  # the next rebuild clears the leftovers and switches
    assert len(report.added) == 5 and fresh_rag.check(repair=False) == []
    names = {c.name for c in fresh_rag.store.client.list_collections()}
    assert names == {"rag-g1_chunks", "rag-g1_docs"}  # the old generation is gone after the switch
    assert not (Path(fresh_rag.config.store) / "bm25").exists()


def test_asks_are_answered_throughout_a_rebuild(fresh_rag, monkeypatch):
    import threading
    import time

    fresh_rag.ingest()
    answers, errors, done = [], [], threading.Event()
    forward = fresh_rag.embedder._forward

    def slow_forward(texts):  # a rebuild of 5 documents is otherwise over before the second ask
        if len(texts) > 1:
            time.sleep(0.5)
        return forward(texts)

    monkeypatch.setattr(fresh_rag.embedder, "_forward", slow_forward)

    def ask_until_done():
        while not done.is_set():
            try:
                answers.append(fresh_rag.ask(COMMITMENT))
            except Exception as exc:  # noqa: BLE001 - collected, asserted below
                errors.append(exc)

    asker = threading.Thread(target=ask_until_done)
    asker.start()
    try:
        fresh_rag.ingest(rebuild=True)
    finally:
        done.set()
        asker.join(60)
    assert errors == []
    assert len(answers) >= 2 and all(a.answerable and a.citations for a in answers)


def test_warm_up_loads_the_encoder_in_the_background(built_rag):
    from rag.embedding import Embedder
    from rag.pipeline import RAG

    cold = RAG.open(built_rag.config, embedder=Embedder())
    thread = cold.warm_up()
    assert thread.daemon  # serving starts at once; the first upload no longer pays for the load
    thread.join(120)
    assert "encoder" in cold.embedder.__dict__ and "retriever" in cold.__dict__
