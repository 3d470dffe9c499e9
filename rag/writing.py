"""The write side of `RAG`: ingest, atomic rebuild, delete, check, "ingest if empty".

Discipline between asks and writes, inside one process as across processes: one
writer at a time (a thread lock in the process, a file lock across processes), and
asks never wait for it. A writer works on its own BM25 index object and, for a rebuild,
on a new store generation; when it is done it publishes them (`RAG._publish`), and the
asks in flight finish on the objects they started with. Chroma readers only trust
chunks whose document version is in the catalog, so half-written documents stay
invisible (see rag.store).
"""
from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from rag import generations
from rag.doctor import check_store, describe_models
from rag.errors import InputError, NotReadyError, RagError
from rag.ingestion import IngestReport, ingest_path
from rag.keyword_index import KeywordIndex
from rag.loading import MAX_FILE_BYTES
from rag.locking import WriteLock
from rag.store import as_store_error
from rag.uploads import UPLOADS, UploadJob, UploadJobs, UploadResult, save_upload

JOURNAL = "ingest.journal"


class StoreWriting:
    """Mixed into `RAG` (which provides store, keywords, _publish, _loaded_keywords)."""

    def _init_writing(self) -> None:
        self._write_mutex = threading.RLock()
        self._writers = 0
        self._readers: Counter[int] = Counter()  # asks reading each store object, by id
        self._readers_changed = threading.Condition()
        self.upload_jobs = UploadJobs()

    @property
    def writing_now(self) -> bool:
        """True while this process writes the store."""
        return self._writers > 0

    @contextmanager
    def _reading(self, store):
        """Marks an ask reading `store`, so a rebuild drops it only once they are done."""
        with self._readers_changed:
            self._readers[id(store)] += 1
        try:
            yield
        finally:
            with self._readers_changed:
                self._readers[id(store)] -= 1
                self._readers_changed.notify_all()

    def _drop_when_unread(self, store, timeout_s: float = 60.0) -> None:
        with self._readers_changed:
            self._readers_changed.wait_for(lambda: self._readers[id(store)] <= 0, timeout_s)
            self._readers.pop(id(store), None)
        store.drop()

    @contextmanager
    def _writing(self):
        """One writer: queued behind this process's other writers, refused at once
        (StoreLockedError) while another process writes."""
        with self._write_mutex, WriteLock(self.config.store):
            self._writers += 1
            try:
                yield
            finally:
                self._writers -= 1

    def ingest(self, path: str | Path | None = None, rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Add, update and remove documents so the store matches the files under `path`.
        `rebuild` builds a new index from scratch beside the current one, which keeps
        answering until the switch."""
        path = Path(path or self.config.corpus)
        with self._writing():
            store = self.store  # opened (and repaired) before this ingest's journal exists
            if rebuild:
                return self._rebuild(path, progress)
            # Our own copy, current with the store: asks keep reading the published one.
            index, report = self._journaled(lambda: self._update(store, path, progress))
            self._publish(store, index)
        return report

    def _update(self, store, path: Path, progress: bool) -> tuple[KeywordIndex, IngestReport]:
        # Our own index object, current with the store (asks keep reading the published
        # one), saved when rebuilt: the ingest saves it only when documents change.
        index = self._loaded_keywords(store, save_rebuilt=True)
        return index, ingest_path(path, store, index, self.embedder, self.config, progress)

    def _rebuild(self, path: Path, progress: bool) -> IngestReport:
        old_store, old = self.store, self.generation_of(self.store)
        new = old + 1
        leftover = self._open_store(new)  # a rebuild killed earlier may have left one
        leftover.drop()
        store = self._open_store(new)
        folder = generations.keyword_dir(self.config.store, new)
        shutil.rmtree(folder, ignore_errors=True)
        index = KeywordIndex(folder)
        index.rebuild([])
        report = self._journaled(lambda: ingest_path(path, store, index, self.embedder, self.config, progress))
        generations.switch(self.config.store, new)  # the atomic moment
        self._has_chunks = False
        self._publish(store, index)
        self._drop_when_unread(old_store)  # asks that began on it finish on it
        shutil.rmtree(generations.keyword_dir(self.config.store, old), ignore_errors=True)
        return report

    def _journaled(self, write):
        """Run `write` with the crash journal in place; errors of the disk become StoreError."""
        journal = Path(self.config.store) / JOURNAL
        try:
            journal.write_text(str(time.time()))
            result = write()
        except Exception as exc:  # disk full, read-only: a StoreError; the journal stays
            error = as_store_error(exc, self.config.store)
            if error is None or error is exc:
                raise
            raise error from exc
        journal.unlink(missing_ok=True)
        return result

    def ingest_if_empty(self, progress: bool = False) -> IngestReport | None:
        """Ingest `config.corpus` when the store holds nothing; None when it was not needed."""
        with self._writing():
            if not self.is_empty():
                return None
            corpus = Path(self.config.corpus)
            if not corpus.is_dir():
                raise NotReadyError(f"the store is empty and there is no {corpus}/ folder to ingest: "
                                    "run `rag ingest FOLDER` first")
            return self.ingest(corpus, progress=progress)

    def delete(self, doc_id: str) -> bool:
        """Remove one document; False when it was not stored."""
        with self._writing():
            store = self.store
            if doc_id not in store.catalog_entries([doc_id]):
                return False
            index = self._journaled(lambda: self._delete_from(store, doc_id))
            self._publish(store, index)
        return True

    def _delete_from(self, store, doc_id: str) -> KeywordIndex:
        index = self._loaded_keywords(store, save_rebuilt=True)  # another process may have written the store
        # Catalog first: from then on readers ignore the chunks, whatever happens next.
        store.forget_document(doc_id)
        store.delete_chunks(store.chunk_ids_of(doc_id))
        index.replace([doc_id], [])
        index.save(store.fingerprint())
        return index

    def models(self) -> list[str]:
        """Which encoder and answer model this configuration runs (see rag.doctor)."""
        return describe_models(self.embedder, self.reader)

    def check(self, repair: bool = True) -> list[str]:
        """Verify the store's invariants (and repair them); returns what was found."""
        with self._writing():
            store = self.store
            # The index as saved: the published one may have been rebuilt in memory on
            # open, which would hide a stale or tampered index on disk.
            index = KeywordIndex(generations.keyword_dir(self.config.store, self.generation_of(store)))
            index.load()
            messages = check_store(store, index, repair)
            if repair:
                self._publish(store, self._loaded_keywords(store))
            return messages

    # --- uploads -------------------------------------------------------------------
    @property
    def upload_dir(self) -> Path:
        return Path(self.config.store) / UPLOADS

    def upload(self, filename: str | None, chunks, max_bytes: int = MAX_FILE_BYTES) -> UploadResult:
        """Save one uploaded file (its byte `chunks`) into the upload folder and ingest it."""
        target, existed = self._save_upload(filename, chunks, max_bytes)
        return self._ingest_upload(target, existed)

    def start_upload(self, filename: str | None, chunks, max_bytes: int = MAX_FILE_BYTES) -> UploadJob:
        """`upload`, with the ingest in a background job (the bytes are saved first)."""
        target, existed = self._save_upload(filename, chunks, max_bytes)
        return self.upload_jobs.start(target.name, lambda: self._ingest_upload(target, existed))

    def _save_upload(self, filename, chunks, max_bytes) -> tuple[Path, bool]:
        from rag.uploads import safe_upload_name

        existed = (self.upload_dir / safe_upload_name(filename)).exists()
        return save_upload(self.upload_dir, filename, chunks, max_bytes), existed

    def _ingest_upload(self, target: Path, existed: bool) -> UploadResult:
        """Ingest the upload folder; a file the loader rejects is an InputError, and only
        a file that is new is removed on failure."""
        try:
            report = self.ingest(self.upload_dir)
            reason = next((s.reason for s in report.skipped if Path(s.path).name == target.name), None)
            if reason is not None:
                raise InputError(f"{target.name} could not be ingested: {reason}")
        except RagError:
            if not existed:
                target.unlink(missing_ok=True)
            raise
        doc_id = target.stem
        status = "added" if doc_id in report.added else "updated" if doc_id in report.updated else "unchanged"
        return UploadResult(status, self.store.catalog_entries([doc_id]).get(doc_id), report.summary())

    def delete_document(self, doc_id: str) -> bool:
        """`delete`, and an uploaded document loses its file too, so a later re-index
        does not bring it back."""
        with self._writing():
            info = self.store.catalog_entries([doc_id]).get(doc_id)
            if info is None or not self.delete(doc_id):
                return False
            source = Path(info.source).resolve()
            if source.is_relative_to(self.upload_dir.resolve()):
                source.unlink(missing_ok=True)
        return True

    def warm_up(self) -> threading.Thread:
        """Load the ingest model and the indexes in a background thread, so neither the
        first question nor the first upload pays for it (seconds)."""
        def load():
            try:
                _ = self.embedder.encoder  # the encoder uploads embed with
                if not self.is_empty():
                    self.retrieve("warm up", top_k=1)  # retrieval only: no LLM call
            except RagError:
                pass  # the first real request reports the problem
        thread = threading.Thread(target=load, daemon=True, name="rag-warm-up")
        thread.start()
        return thread
