"""Real servers for the UI tests: the REST app with the UI mounted at /ui (as `rag
serve` runs it), in uvicorn on a background thread and a free port."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ui_url(built_rag, monkeypatch_module, serve):
    """Base URL of the UI (ending in /ui/) over the shared, read-only store."""
    from rag.server.app import create_app
    from ui.app import mount_ui

    monkeypatch_module.delenv("RAG_UI_PASSWORD", raising=False)
    with serve(mount_ui(create_app(built_rag, token=""), built_rag, path="/ui")) as url:
        yield f"{url}/ui/"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
