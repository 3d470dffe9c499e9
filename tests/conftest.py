"""Shared fixtures. The real model on the real corpus, in a store under tmp: the
default run needs no network and leaves the user's .rag/ alone."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


# Tests that load the real model (through these fixtures), run the `rag` program or the
# eval harness end to end, or need a real Chroma server or browser: `-m "not integration"`
# leaves the quick tier. Marked here, by what a test uses, so no test can forget it.
REAL_FIXTURES = {"embedder"}  # built_rag, fresh_rag and the server fixtures build on it
REAL_MARKERS = {"slow", "server", "browser"}
REAL_PROGRAM = ("RAG_BIN", 'CliRunner().invoke(app, ["eval"')  # a module that runs them, whole


@lru_cache
def _runs_real_program(module_file: str) -> bool:
    text = Path(module_file).read_text(encoding="utf-8")
    return any(word in text for word in REAL_PROGRAM)


def pytest_collection_modifyitems(items):
    for item in items:
        markers = {m.name for m in item.iter_markers()}
        if (REAL_FIXTURES & set(item.fixturenames) or REAL_MARKERS & markers
                or _runs_real_program(str(item.path))):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return REPO / "corpus"


@pytest.fixture(scope="session")
def squad_dir() -> Path:
    path = SHARED / "datasets" / "squad2-open"
    if not path.is_dir():
        pytest.skip("../shared/datasets/squad2-open is not beside the repository")
    return path


@pytest.fixture(scope="session")
def embedder():
    """One loaded model for the whole session (loading costs seconds)."""
    from rag.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def built_rag(tmp_path_factory, embedder, corpus_dir):
    """A RAG over a copy of corpus/, ingested once per session. Do not modify it:
    tests that change documents use `fresh_rag`."""
    from rag.config import Config
    from rag.pipeline import RAG

    base = tmp_path_factory.mktemp("built")
    docs = base / "corpus"
    shutil.copytree(corpus_dir, docs)
    rag = RAG(Config(store=base / "store", corpus=docs), embedder=embedder)
    rag.ingest(docs)
    return rag


@pytest.fixture()
def fresh_rag(tmp_path, embedder, corpus_dir):
    """A RAG over its own copy of corpus/ (not yet ingested), for tests that change files."""
    from rag.config import Config
    from rag.pipeline import RAG

    docs = tmp_path / "corpus"
    shutil.copytree(corpus_dir, docs)
    return RAG(Config(store=tmp_path / "store", corpus=docs), embedder=embedder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app):
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def serve():
    """`with serve(app) as base_url:` runs a real server for the block."""
    return live_server
