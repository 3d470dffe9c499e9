"""The REST edge: a FastAPI app over one `RAG` instance.

    POST /v1/ask                 {question, top_k?, filters?} -> Answer JSON
    GET/POST /v1/documents       list / upload (multipart, .txt .md .html .pdf, <= 20 MB)
    DELETE /v1/documents/{id}    remove one document
    POST /v1/chat/completions    OpenAI-compatible, streaming or not (see rag.server.openai_compat)
    GET /healthz, /docs

RAG calls block, so they run in the thread pool; a semaphore bounds the asks in flight
and turns a long wait into 503 "busy" instead of an unbounded queue. Errors are JSON
`{"error": {"message", "type"}}` and never carry paths or tracebacks.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from rag import serving
from rag.errors import InputError, LLMError, NotReadyError, RagError, StoreLockedError

log = logging.getLogger(__name__)
UPLOAD_CHUNK = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file itself


class Busy(RagError):
    """Every ask slot stayed taken for longer than the allowed wait."""


class FiltersIn(BaseModel):
    doc_ids: list[str] = Field(default_factory=list, max_length=1000)
    published_from: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    published_to: str | None = Field(None, description="YYYY-MM-DD, inclusive")


class AskIn(BaseModel):
    question: str
    top_k: int | None = Field(None, ge=1, le=50)
    filters: FiltersIn | None = None


# --- errors --------------------------------------------------------------------------
def status_of(exc: RagError) -> tuple[int, str, str]:
    """(HTTP status, error type, message safe to show) for a library error."""
    if isinstance(exc, serving.UploadTooLarge):
        return 413, "file_too_large", str(exc)
    if isinstance(exc, serving.UnsupportedType):
        return 415, "unsupported_file_type", str(exc)
    if isinstance(exc, InputError):
        return 400, "invalid_request_error", str(exc)
    if isinstance(exc, Busy):
        return 503, "busy", "the server is busy; retry in a moment"
    if isinstance(exc, NotReadyError):
        return 503, "not_ready", "no documents are ingested yet"
    if isinstance(exc, StoreLockedError):  # its own message names the store folder
        return 409, "store_locked", "the store is being written by another process; retry shortly"
    if isinstance(exc, LLMError):
        return 502, "llm_error", "the language model failed to answer"
    return 500, "server_error", "the server could not complete the request"


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(_request, exc: RagError):
        status, kind, message = status_of(exc)
        if status >= 500 and status != 503:
            log.warning("request failed: %s: %s", type(exc).__name__, exc)
        return error_response(status, kind, message)

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        kind = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        # Only where and what, never the submitted value (it may be huge).
        where = lambda e: ".".join(str(p) for p in e.get("loc", ())[1:]) or "body"  # noqa: E731
        parts = [f"{where(e)}: {e.get('msg', '')}" for e in exc.errors()]
        return error_response(422, "invalid_request_error", "; ".join(parts[:5]) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "server_error", "internal server error")


# --- dependencies --------------------------------------------------------------------
def require_token(request: Request) -> None:
    """Bearer-token check, active only when the app was given a token."""
    token = request.app.state.token
    if not token:
        return
    sent = request.headers.get("authorization", "")
    scheme, _, value = sent.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(value.strip().encode(), token.encode()):
        raise HTTPException(401, "missing or wrong bearer token")


def get_rag(request: Request):
    return request.app.state.rag


async def acquire_slot(app) -> None:
    """Take one of the N ask slots, or raise Busy after the allowed wait."""
    try:
        async with asyncio.timeout(app.state.busy_wait_s):
            await app.state.slots.acquire()
    except TimeoutError:
        raise Busy("busy") from None


def release_slot(app) -> None:
    app.state.slots.release()


@asynccontextmanager
async def ask_slot(request: Request):
    """Hold an ask slot for the body of the block."""
    await acquire_slot(request.app)
    try:
        yield
    finally:
        release_slot(request.app)


def locked_ask(rag, question: str, top_k, filters):
    with serving.lock_for(rag).reading():
        return rag.ask(question, top_k=top_k, filters=filters)


# --- routes --------------------------------------------------------------------------
router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


@router.post("/ask", summary="Answer a question from the documents, with citations")
async def ask(body: AskIn, request: Request, rag=Depends(get_rag)):
    f = body.filters or FiltersIn()
    filters = serving.make_filters(f.doc_ids, f.published_from, f.published_to)
    async with ask_slot(request):
        answer = await run_in_threadpool(locked_ask, rag, body.question, body.top_k, filters)
    return serving.public_answer(answer)


@router.get("/documents", summary="List the stored documents")
async def list_documents(rag=Depends(get_rag)):
    docs = await run_in_threadpool(rag.documents)
    return [serving.public_document(d) for d in docs]


@router.post("/documents", status_code=201, summary="Upload and ingest one .txt/.md/.html/.pdf file")
async def upload_document(request: Request, file: UploadFile = File(...), rag=Depends(get_rag)):
    name = serving.safe_upload_name(file.filename)  # 415 before anything is written
    folder = serving.upload_dir(rag.config)
    existed = (folder / name).exists()
    chunks = iter(lambda: file.file.read(UPLOAD_CHUNK), b"")
    target = await run_in_threadpool(serving.save_upload, folder, name, chunks, request.app.state.max_upload)
    try:
        report = await run_in_threadpool(serving.ingest_uploads, rag)
    except RagError:
        if not existed:
            target.unlink(missing_ok=True)
        raise
    return await run_in_threadpool(_upload_result, rag, target, report, existed)


def _upload_result(rag, target: Path, report, existed: bool) -> dict:
    """The stored document, or InputError (400) when the loader could not use the file."""
    reason = next((s.reason for s in report.skipped if Path(s.path).name == target.name), None)
    if reason is not None:
        if not existed:
            target.unlink(missing_ok=True)
        raise InputError(f"the file could not be ingested: {reason}")
    info = next((d for d in rag.documents() if d.doc_id == target.stem), None)
    status = "added" if target.stem in report.added else "updated" if target.stem in report.updated else "unchanged"
    return {"status": status, "document": serving.public_document(info) if info else None}


@router.delete("/documents/{doc_id:path}", summary="Remove one document")
async def delete_document(doc_id: str, rag=Depends(get_rag)):
    if not await run_in_threadpool(serving.delete_document, rag, doc_id):
        raise HTTPException(404, "no such document")
    return {"deleted": doc_id}


class UploadSizeGuard:
    """413 before the body is read when an upload's declared size is already too large
    (plain ASGI, so the mounted UI's event streams pass through untouched)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        is_upload = scope["type"] == "http" and scope["method"] == "POST"
        if is_upload and scope["path"].rstrip("/").endswith("/v1/documents"):
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit + MULTIPART_SLACK:
                message = f"the file is larger than {self.limit // (1024 * 1024)} MB"
                return await error_response(413, "file_too_large", message)(scope, receive, send)
        await self.app(scope, receive, send)
