"""Real servers for the REST tests: uvicorn in a background thread on a free port."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest


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


@pytest.fixture(scope="module")
def api_url(built_rag):
    """The REST app over the shared, read-only store."""
    from rag.api import create_app

    with live_server(create_app(built_rag, token="")) as url:
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
def writable_url(writable_rag):
    from rag.api import create_app

    with live_server(create_app(writable_rag, token="")) as url:
        yield url
