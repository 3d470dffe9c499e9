"""Real servers for the REST tests: uvicorn in a background thread on a free port."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def api_url(built_rag, serve):
    """The REST app over the shared, read-only store."""
    from rag.server.app import create_app

    with serve(create_app(built_rag, token="")) as url:
        yield url


@pytest.fixture(scope="module")
def writable_rag(tmp_path_factory, embedder, corpus_dir):
    """A RAG of this module's own (uploads and deletes change it)."""
    from rag.config import Config
    from rag.pipeline import RAG

    base = tmp_path_factory.mktemp("writable")
    shutil.copytree(corpus_dir, base / "corpus")
    rag = RAG(Config(store=base / "store", corpus=base / "corpus"), embedder=embedder)
    rag.ingest(base / "corpus")
    return rag


@pytest.fixture(scope="module")
def writable_url(writable_rag, serve):
    from rag.server.app import create_app

    with serve(create_app(writable_rag, token="")) as url:
        yield url
