"""Real servers for the UI tests: the REST app with the UI mounted at /ui (as `rag
serve` runs it), in uvicorn on a background thread and a free port."""
from __future__ import annotations

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
def ui_url(built_rag, monkeypatch_module):
    """Base URL of the UI (ending in /ui/) over the shared, read-only store."""
    from rag.api import create_app
    from ui.app import mount_ui

    monkeypatch_module.delenv("RAG_UI_PASSWORD", raising=False)
    with live_server(mount_ui(create_app(built_rag, token=""), built_rag, path="/ui")) as url:
        yield f"{url}/ui/"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
