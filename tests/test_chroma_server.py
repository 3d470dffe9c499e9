"""Server mode: the product against a real Chroma server over HTTP.

`.ci/run` starts `chroma run --path <tmp> --host 127.0.0.1 --port <free port>` and sets
RAG_TEST_CHROMA_PORT (and optionally RAG_TEST_CHROMA_HOST). Each test run uses its own
collection names, so a reused server holds no surprises.
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

pytestmark = pytest.mark.server
QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"


@pytest.fixture(scope="module")
def server():
    port = os.environ.get("RAG_TEST_CHROMA_PORT")
    if not port:
        pytest.skip("RAG_TEST_CHROMA_PORT is not set (start `chroma run --path DIR --port N` and set it)")
    return os.environ.get("RAG_TEST_CHROMA_HOST", "127.0.0.1"), int(port)


@pytest.fixture()
def server_config(server, tmp_path):
    from rag.config import Config

    host, port = server
    config = Config(store=tmp_path / "replica-a", corpus=tmp_path / "corpus", collection=f"t{uuid.uuid4().hex[:10]}",
                    chroma_host=host, chroma_port=port)
    yield config
    import chromadb

    client = chromadb.HttpClient(host=host, port=port)
    for kind in ("chunks", "docs"):
        try:
            client.delete_collection(f"{config.collection}_{kind}")
        except Exception:  # noqa: BLE001  (already gone)
            pass


def test_config_from_env_selects_server_mode(server):
    from rag.config import Config

    host, port = server
    config = Config.from_env({"RAG_CHROMA_HOST": host, "RAG_CHROMA_PORT": str(port)})
    assert config.server_mode and config.chroma_port == port


def test_ingest_ask_and_incremental_reingest_against_server(server_config, embedder, corpus_dir):
    from rag.pipeline import RAG

    docs = server_config.corpus
    shutil.copytree(corpus_dir, docs)
    rag = RAG(server_config, embedder=embedder)
    first = rag.ingest(docs)
    assert rag.store.client.get_settings().chroma_api_impl == "chromadb.api.fastapi.FastAPI"  # HttpClient
    assert not (server_config.store / "chroma").exists()  # vectors live on the server, not in the folder
    assert first.added and first.chunks_embedded == rag.store.count() > 0

    answer = rag.ask(QUESTION)
    assert answer.answerable and answer.citations
    assert "billion" in answer.text

    again = RAG(server_config, embedder=embedder).ingest(docs)  # a fresh process would see the same
    assert again.embed_calls == 0 and again.chunks_embedded == 0 and len(again.unchanged) == len(first.added)

    files = sorted(docs.glob("*.txt"))
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\nA sentence added for the server test.\n",
                        encoding="utf-8")
    files[1].unlink()
    changed = RAG(server_config, embedder=embedder).ingest(docs)
    assert changed.updated == (files[0].stem,) and changed.removed == (files[1].stem,)
    assert 0 < changed.chunks_embedded < first.chunks_embedded
    reader = RAG(server_config, embedder=embedder)
    assert files[1].stem not in {d.doc_id for d in reader.documents()}
    assert not reader.store.chunk_ids_of(files[1].stem)


def test_second_replica_rebuilds_its_bm25_from_the_server(server_config, embedder, corpus_dir, tmp_path):
    from rag.pipeline import RAG

    shutil.copytree(corpus_dir, server_config.corpus)
    writer = RAG(server_config, embedder=embedder)
    writer.ingest(server_config.corpus)
    replica = RAG(server_config.with_(store=tmp_path / "replica-b"), embedder=embedder)
    answer = replica.ask(QUESTION)  # its own BM25 folder is empty: rebuilt from Chroma
    assert answer.answerable and answer.citations
    assert replica.keywords.fingerprint == writer.store.fingerprint()
    assert len(replica.keywords) == writer.store.count()
