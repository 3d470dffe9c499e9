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

from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import InputError, LLMError, NotReadyError, RagError, StoreLockedError
from rag.schema import AskIn
from rag.uploads import UnsupportedType, UploadJob, UploadTooLarge, safe_upload_name

log = logging.getLogger(__name__)
UPLOAD_CHUNK = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file itself
MAX_JSON_BODY = 256 * 1024  # a question is at most 2,000 characters; 200 long turns fit easily


class Busy(RagError):
    """Every ask slot stayed taken for longer than the allowed wait."""


# --- errors --------------------------------------------------------------------------
def status_of(exc: RagError) -> tuple[int, str, str]:
    """(HTTP status, error type, message safe to show) for a library error."""
    if isinstance(exc, UploadTooLarge):
        return 413, "file_too_large", str(exc)
    if isinstance(exc, UnsupportedType):
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
        kinds = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        kind = kinds.get(exc.status_code, "http_error")
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError):
        # Only where and what, never the submitted value (it may be huge).
        bad_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            at = bad_json.get("loc", ("body", "?"))[-1]
            reason = bad_json.get("ctx", {}).get("error", "malformed")
            return error_response(400, "invalid_json", f"the body is not valid JSON: {reason} at character {at}")
        parts = [f"{_field_of(e)}: {e.get('msg', '')}" for e in exc.errors()]
        return error_response(422, "invalid_request_error", "; ".join(parts[:5]) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "server_error", "internal server error")


def _field_of(error: dict) -> str:
    return ".".join(str(p) for p in error.get("loc", ())[1:]) or "body"


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


# --- routes --------------------------------------------------------------------------
router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


@router.post("/ask", summary="Answer a question from the documents, with citations")
async def ask(body: AskIn, request: Request, rag=Depends(get_rag)):
    filters = body.filters.parse() if body.filters else None
    async with ask_slot(request):
        answer = await run_in_threadpool(rag.ask, body.question, body.top_k, filters)
    return answer.public_dict()


@router.get("/documents", summary="List the stored documents")
async def list_documents(rag=Depends(get_rag)):
    docs = await run_in_threadpool(rag.documents)
    return [d.public_dict() for d in docs]


@router.post("/documents", status_code=201, summary="Upload and ingest one .txt/.md/.html/.pdf file",
             responses={202: {"description": "still indexing: poll the job's `status_url`"}})
async def upload_document(request: Request, file: UploadFile = File(...), rag=Depends(get_rag)):
    safe_upload_name(file.filename)  # 415 before anything is written
    chunks = iter(lambda: file.file.read(UPLOAD_CHUNK), b"")
    job = await run_in_threadpool(rag.start_upload, file.filename, chunks, request.app.state.max_upload)
    # Small files are indexed within the wait: 201 with the document. Longer ones: 202.
    await run_in_threadpool(job.done.wait, request.app.state.upload_wait_s)
    if job.state == "running":
        return JSONResponse(job_json(job), status_code=202)
    if job.error is not None:
        raise job.error
    return job_json(job)["result"]


@router.get("/jobs/{job_id}", summary="The state of an upload job")
async def upload_job(job_id: str, rag=Depends(get_rag)):
    job = rag.upload_jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return job_json(job)


def job_json(job: UploadJob) -> dict:
    """A job as JSON: state, and the result or the error once finished."""
    out: dict[str, object] = {"job_id": job.job_id, "file": job.filename, "state": job.state,
                              "status_url": f"/v1/jobs/{job.job_id}"}
    if job.result is not None:
        doc = job.result.document
        out["result"] = {"status": job.result.status, "document": doc.public_dict() if doc else None}
    if job.error is not None:
        status, kind, message = status_of(job.error)
        out["error"] = {"message": message, "type": kind, "status": status}
    return out


@router.delete("/documents/{doc_id:path}", summary="Remove one document")
async def delete_document(doc_id: str, rag=Depends(get_rag)):
    if not await run_in_threadpool(rag.delete_document, doc_id):
        raise HTTPException(404, "no such document")
    return {"deleted": doc_id}


class BodySizeGuard:
    """413 before the body is read: uploads may be `limit` bytes, any other request
    MAX_JSON_BODY. A declared Content-Length is checked up front; a chunked body is
    counted as it arrives. Plain ASGI, so the mounted UI's streams pass untouched."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        is_upload = scope["path"].rstrip("/").endswith("/v1/documents")
        cap = self.limit + MULTIPART_SLACK if is_upload else MAX_JSON_BODY
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            return await self._too_large(is_upload)(scope, receive, send)
        await self.app(scope, self._counting(receive, cap), send)

    def _too_large(self, is_upload: bool) -> JSONResponse:
        if is_upload:
            return error_response(413, "file_too_large", f"the file is larger than {self.limit // (1024 * 1024)} MB")
        return error_response(413, "request_too_large", f"the request body is larger than {MAX_JSON_BODY // 1024} KB")

    @staticmethod
    def _counting(receive, cap: int):
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                # HTTPException: FastAPI re-raises it as is from reading the body.
                raise HTTPException(413, f"the request body is larger than {cap // 1024} KB")
            return message
        return counted


def serve_docs_offline(app: FastAPI) -> None:
    """/docs with Swagger UI's assets from the swagger-ui-bundle package: FastAPI's
    default page loads them from a CDN, a blank page on an offline host."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="rag API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
