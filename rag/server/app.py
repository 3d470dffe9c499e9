"""The HTTP server: the REST routes (`rag.server.rest`) and the OpenAI-compatible route
(`rag.server.openai_compat`) on one FastAPI app over one `RAG`, and `rag serve`."""
from __future__ import annotations

import asyncio
import logging
import os

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from rag.errors import NotReadyError
from rag.loading import MAX_FILE_BYTES
from rag.server import openai_compat, rest

log = logging.getLogger(__name__)


# --- the app -------------------------------------------------------------------------
def create_app(rag=None, config=None, *, token: str | None = None, max_inflight: int | None = None,
               busy_wait_s: float | None = None, max_upload: int = MAX_FILE_BYTES,
               upload_wait_s: float | None = None) -> FastAPI:
    """The REST app over `rag` (or a RAG opened from `config` / the environment)."""
    if rag is None:
        from rag.pipeline import RAG

        rag = RAG.open(config=config)
    app = FastAPI(title="rag", version="0.1.0", description=rest.__doc__, docs_url=None)
    rest.serve_docs_offline(app)
    app.state.rag = rag
    app.state.token = os.environ.get("RAG_API_TOKEN", "") if token is None else token
    app.state.slots = asyncio.Semaphore(max_inflight or int(os.environ.get("RAG_API_MAX_INFLIGHT", "4")))
    app.state.busy_wait_s = float(os.environ.get("RAG_API_BUSY_WAIT", "3")) if busy_wait_s is None else busy_wait_s
    app.state.max_upload = max_upload
    app.state.upload_wait_s = float(os.environ.get("RAG_API_UPLOAD_WAIT", "2")) if upload_wait_s is None else upload_wait_s
    rest.install_error_handlers(app)
    app.add_middleware(rest.BodySizeGuard, limit=max_upload)
    app.include_router(rest.router)
    app.include_router(openai_compat.router, dependencies=[Depends(rest.require_token)])

    @app.get("/healthz", summary="Liveness and readiness")
    async def healthz():
        empty = await run_in_threadpool(rag.is_empty)
        return {"status": "ok", "ready": not empty}

    return app


def run_server(host: str = "127.0.0.1", port: int = 8000, store=None, with_ui: bool = True) -> None:
    """`rag serve`: ingest corpus/ if the store is empty, then serve REST (+ UI at /ui)."""
    import uvicorn

    from rag.pipeline import RAG

    rag = RAG.open(store=store)
    try:
        report = rag.ingest_if_empty(progress=False)
        if report is not None:
            log.warning("the store was empty; ingested %s: %s", rag.config.corpus, report.summary())
    except NotReadyError as exc:  # serve anyway: uploads can fill the store
        log.warning("%s", exc)
    rag.warm_up()
    app = create_app(rag)
    if with_ui:
        from ui.app import mount_ui

        app = mount_ui(app, rag, path="/ui")
    uvicorn.run(app, host=host, port=port, log_level="warning")
