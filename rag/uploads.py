"""Uploads, as one flow for every edge (REST and UI): a safe name inside
`<store>/uploads/`, a size cap while writing, ingest, and, when the file cannot be
used, removal of the new file only (a file that existed before is kept). Long uploads
run as jobs in a background thread; asks keep being answered meanwhile."""
from __future__ import annotations

import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from rag.errors import InputError, LoadError, RagError
from rag.loading import MAX_FILE_BYTES, SUPPORTED, read_text
from rag.types import DocumentInfo

UPLOADS = "uploads"
MAX_NAME_CHARS = 120
MAX_JOBS_KEPT = 100


class UploadTooLarge(InputError):
    """An uploaded file exceeds the size limit."""


class UnsupportedType(InputError):
    """An uploaded file's type is not one the loaders read."""


def supported_types() -> str:
    return ", ".join(sorted(SUPPORTED))


def safe_upload_name(filename: str | None) -> str:
    """A plain basename for an uploaded file: no folders, no leading dots, only word
    characters, dots and dashes. The suffix must be one the loaders read."""
    raw = unicodedata.normalize("NFKC", str(filename or ""))
    base = PurePath(raw.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED:
        raise UnsupportedType(f"files of type {suffix or '(none)'!r} are not supported; use one of {supported_types()}")
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")[:MAX_NAME_CHARS] or "upload"
    return stem + suffix


def save_upload(folder: Path, filename: str | None, chunks, max_bytes: int = MAX_FILE_BYTES) -> Path:
    """Write the byte `chunks` of one upload to `folder/<safe name>`. Nothing is left
    behind, and a file of that name is left as it was, when the upload is too large or
    the loader cannot read it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_upload_name(filename)
    partial = target.with_name(f".{target.stem}.part{target.suffix}")  # dot files are not ingested
    size = 0
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
        try:
            read_text(partial, max_bytes)
        except LoadError as exc:
            raise InputError(f"{target.name} could not be ingested: {exc}") from None
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class UploadResult:
    """What became of one uploaded file."""

    status: str  # added | updated | unchanged
    document: DocumentInfo | None
    summary: str


@dataclass
class UploadJob:
    """An upload being ingested in the background; poll `state`."""

    job_id: str
    filename: str
    state: str = "running"  # running | done | failed
    result: UploadResult | None = None
    error: RagError | None = None
    done: threading.Event = field(default_factory=threading.Event)


class UploadJobs:
    """The upload jobs of one RAG: started in threads, looked up by id."""

    def __init__(self):
        self._jobs: dict[str, UploadJob] = {}
        self._lock = threading.Lock()

    def start(self, filename: str, run) -> UploadJob:
        """Run `run()` (returning an UploadResult) in a thread, as a job."""
        job = UploadJob(uuid.uuid4().hex[:16], filename)
        with self._lock:
            self._jobs[job.job_id] = job
            for old in list(self._jobs)[:-MAX_JOBS_KEPT]:
                self._jobs.pop(old)
        threading.Thread(target=self._run, args=(job, run), daemon=True, name=f"upload-{job.job_id}").start()
        return job

    @staticmethod
    def _run(job: UploadJob, run) -> None:
        try:
            job.result, job.state = run(), "done"
        except RagError as exc:
            job.error, job.state = exc, "failed"
        except Exception as exc:  # noqa: BLE001 - a job must end; the edge reports it as a failure
            job.error, job.state = RagError(f"the upload failed ({type(exc).__name__})"), "failed"
        finally:
            job.done.set()

    def get(self, job_id: str) -> UploadJob | None:
        return self._jobs.get(job_id)
