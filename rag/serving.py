"""What the two network edges (REST in `rag.server.rest`, the Gradio UI in `ui.app`) share:
one readers-writer lock per RAG instance, upload handling confined to one folder,
filter validation, follow-up rewriting, and the public (path-free) JSON forms.

Nothing here turns errors into messages: callers (the edges) do that.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path, PurePath

from rag.errors import InputError, NotReadyError, RagError
from rag.loading import MAX_FILE_BYTES, SUPPORTED
from rag.types import Answer, DocumentInfo, Filters

UPLOADS = "uploads"
MAX_NAME_CHARS = 120
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class UploadTooLarge(InputError):
    """An uploaded file exceeds the size limit."""


class UnsupportedType(InputError):
    """An uploaded file's type is not one the loaders read."""


class ReadWriteLock:
    """Many concurrent asks, or one writer (ingest/delete). Writers are preferred, so
    a steady stream of questions cannot starve an upload."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self):
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def lock_for(rag) -> ReadWriteLock:
    """The lock of this RAG instance, shared by REST and UI when both run in one process."""
    return rag.__dict__.setdefault("_edge_lock", ReadWriteLock())  # dict.setdefault is atomic


def stream_locked(rag, question: str, top_k=None, filters=None):
    """`rag.stream`, each step under the read lock: a stream its consumer abandons
    (a closed browser tab) never keeps writers waiting."""
    lock = lock_for(rag)
    pieces = rag.stream(question, top_k, filters)
    while True:
        with lock.reading():
            item = next(pieces, None)
        if item is None:
            return
        yield item


# --- input ---------------------------------------------------------------------------
def parse_day(value: str | None, name: str) -> str | None:
    """A YYYY-MM-DD string (validated) or None; InputError otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InputError(f"{name} must be a date as YYYY-MM-DD, not {value[:20]!r}") from None


def make_filters(doc_ids=(), published_from=None, published_to=None) -> Filters | None:
    """Validated `Filters`, or None when nothing restricts the search."""
    since, until = parse_day(published_from, "published_from"), parse_day(published_to, "published_to")
    if since and until and since > until:
        raise InputError("published_from is after published_to")
    filters = Filters(tuple(str(d) for d in doc_ids or () if str(d).strip()), since, until)
    return None if filters.empty else filters


def standalone_question(history: list, question: str, config) -> str:
    """The question made self-contained using earlier turns: questions, or
    (question, answer) pairs, oldest first."""
    if not history:
        return question
    try:
        from rag.followup import rewrite
    except ImportError:  # follow-up support not installed: answer the question as asked
        return question
    return rewrite([h if isinstance(h, str) else tuple(h) for h in history], question, config) or question


# --- uploads -------------------------------------------------------------------------
def upload_dir(config) -> Path:
    return Path(config.store) / UPLOADS


def safe_upload_name(filename: str | None) -> str:
    """A plain basename for an uploaded file: no folders, no leading dots, only word
    characters, dots and dashes. The suffix must be one the loaders read."""
    raw = unicodedata.normalize("NFKC", str(filename or ""))
    base = PurePath(raw.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED:
        allowed = ", ".join(sorted(SUPPORTED))
        raise UnsupportedType(f"unsupported file type {suffix or '(none)'!r}; use one of {allowed}")
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")[:MAX_NAME_CHARS] or "upload"
    return stem + suffix


def save_upload(folder: Path, filename: str | None, chunks, max_bytes: int = MAX_FILE_BYTES) -> Path:
    """Write the byte `chunks` of one upload to `folder/<safe name>`; nothing is left
    behind when it is too large."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_upload_name(filename)
    partial = target.with_name(f".{target.name}.part")  # dot files are not ingested
    size = 0
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def ingest_uploads(rag):
    """Ingest the upload folder (under the write lock); returns the IngestReport."""
    with lock_for(rag).writing():
        return rag.ingest(upload_dir(rag.config))


def delete_document(rag, doc_id: str) -> bool:
    """Remove a document from the store; an uploaded one loses its file too, so a
    later re-index does not bring it back."""
    with lock_for(rag).writing():
        info = next((d for d in rag.documents() if d.doc_id == doc_id), None)
        if info is None or not rag.delete(doc_id):
            return False
    source, folder = Path(info.source).resolve(), upload_dir(rag.config).resolve()
    if source.is_relative_to(folder):
        source.unlink(missing_ok=True)
    return True


def ensure_corpus(rag, progress: bool = False):
    """Ingest config.corpus when the store is empty; None when nothing was needed."""
    with lock_for(rag).writing():
        if not rag.is_empty():
            return None
        corpus = Path(rag.config.corpus)
        if not corpus.is_dir():
            raise NotReadyError("the store is empty and there is no corpus folder to ingest")
        return rag.ingest(corpus, progress=progress)


def warm_up(rag) -> None:
    """Load the model and indexes before the first user pays for it (seconds).
    Retrieval only: warming must not spend an LLM call."""
    try:
        with lock_for(rag).reading():
            if not rag.is_empty():
                rag.retrieve("warm up", top_k=1)
    except RagError:
        pass  # the first real question will report the problem


# --- public JSON ---------------------------------------------------------------------
def public_answer(answer: Answer) -> dict:
    """`Answer.to_dict()` with each citation's source reduced to its file name: the
    shape stays the same, the server's folders are not disclosed."""
    out = answer.to_dict()
    for c in out["citations"]:
        c["source"] = Path(c["source"]).name if c.get("source") else ""
    return out


def public_document(info: DocumentInfo) -> dict:
    """A DocumentInfo as JSON, without the server's folders."""
    out = asdict(info)
    out["source"] = Path(info.source).name if info.source else ""
    out.pop("root", None)
    return out
