"""The one place that wires the stages: `RAG` is the Python API every surface uses.

    from rag import RAG
    rag = RAG.open(store=".rag")
    rag.ingest("corpus/")
    answer = rag.ask("How much has Alibaba committed to AI?")
"""
from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Generator, Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from rag.composing import compose_answer
from rag.config import Config
from rag.doctor import check_store, rebuild_keywords
from rag.embedding import Embedder
from rag.errors import InputError, NotReadyError, StoreLockedError
from rag.ingestion import IngestReport, ingest_path
from rag.keyword_index import KeywordIndex
from rag.locking import WriteLock
from rag.memory import release_freed_memory
from rag.reader import Reader
from rag.retrieval import Evidence, HybridRetriever
from rag.store import ChunkStore, as_store_error
from rag.timing import stage
from rag.types import Answer, DocumentInfo, Filters

log = logging.getLogger(__name__)
JOURNAL = "ingest.journal"
READER_CHECK_S = 2.0  # how stale a reader's BM25 index may get after an unseen write
# Answering frees its temporaries into glibc's heap, which keeps them: without a trim
# now and then, a process's heap grew 226 -> 269 MB over 1,000 asks (see memory.py).
TRIM_EVERY_ASKS = 100
GENERATORS = ("extractive", "reader", "openai", "ollama", "llamacpp")


# Terminal escape sequences (colours, cursor moves) pasted with a question: their
# printable tails ("[31m") are noise, not words.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

def clean_question(question: str, max_chars: int) -> str:
    """The question without control characters, or InputError when it is unusable."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    text = _ESCAPES.sub(" ", question)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        raise InputError("the question is empty")
    if len(text) > max_chars:
        raise InputError(f"the question is too long ({len(text)} characters; the limit is {max_chars})")
    if not re.search(r"\w", text):
        raise InputError("the question has no words")
    return text


class RAG:
    """A store, and the stages that fill and question it."""

    def __init__(self, config: Config, embedder: Embedder | None = None):
        self.config = config
        self.embedder = embedder or Embedder(config.embed_model, config.embed_precision, config.embed_batch_size)
        self._keywords_on_disk = ""  # fingerprint of the BM25 index saved in the store
        self._next_catalog_check = 0.0  # see _refresh_keywords_for_reading
        self._asks = 0
        self._has_chunks = False  # seen non-empty; a store emptied later answers with refusals

    @classmethod
    def open(cls, store: str | Path | None = None, config: Config | None = None, **overrides) -> "RAG":
        """Open (or create) the store; `overrides` are Config fields."""
        config = (config or Config.from_env()).with_(store=store, **overrides)
        return cls(config)

    @cached_property
    def store(self) -> ChunkStore:
        store = ChunkStore(self.config, self.embedder.name, self.embedder.dim)
        if (Path(self.config.store) / JOURNAL).exists():
            self._repair_after_crash(store)
        return store

    @cached_property
    def keywords(self) -> KeywordIndex:
        index = KeywordIndex(Path(self.config.store) / "bm25")
        index.load()
        self._keywords_on_disk = index.fingerprint
        self._refresh_keywords(index)
        return index

    @cached_property
    def reader(self) -> Reader:
        """The answer model; loaded on the first question that needs it."""
        return Reader(self.config.reader_model or None)

    @property
    def answer_threshold(self) -> float:
        """The probability below which the answer model's answer is refused."""
        if self.config.answer_threshold >= 0:
            return self.config.answer_threshold
        return float(self.reader.card["threshold"])

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.keywords, self.embedder, self.config)

    # --- writing -------------------------------------------------------------------
    def ingest(self, path: str | Path | None = None, rebuild: bool = False, progress: bool = False) -> IngestReport:
        """Add, update and remove documents so the store matches the files under `path`."""
        path = Path(path or self.config.corpus)
        with WriteLock(self.config.store):
            self._has_chunks = False
            if rebuild:
                self.store.drop()
                self.__dict__.pop("store", None)
                self.keywords.rebuild([])
            store = self.store  # opened (and repaired) before this ingest's journal exists
            # Another process may have written the store since our index was loaded: the
            # incremental update below must start from the index of the store as it is.
            self._refresh_keywords(self.keywords)
            journal = Path(self.config.store) / JOURNAL
            try:
                journal.write_text(str(time.time()))
                if self.keywords.fingerprint != self._keywords_on_disk:
                    # Rebuilt in memory (a failed save, a stale index): save it, as the
                    # ingest below saves only when documents change.
                    self.keywords.save(self.keywords.fingerprint)
                report = ingest_path(path, store, self.keywords, self.embedder, self.config, progress)
                self._keywords_on_disk = self.keywords.fingerprint
            except Exception as exc:  # disk full, read-only: a StoreError; the journal stays
                error = as_store_error(exc, self.config.store)
                if error is None or error is exc:
                    raise
                raise error from exc
            journal.unlink(missing_ok=True)
        return report

    def delete(self, doc_id: str) -> bool:
        """Remove one document; False when it was not stored."""
        with WriteLock(self.config.store):
            if doc_id not in self.store.catalog_entries([doc_id]):
                return False
            self._refresh_keywords(self.keywords)  # another process may have written the store
            self.store.forget_document(doc_id)
            self.store.delete_chunks(self.store.chunk_ids_of(doc_id))
            self.keywords.replace([doc_id], [])
            self.keywords.save(self.store.fingerprint())
            self._keywords_on_disk = self.keywords.fingerprint
        return True

    def check(self, repair: bool = True) -> list[str]:
        """Verify the store's invariants (and repair them); returns what was found."""
        with WriteLock(self.config.store):
            # The index as saved: `self.keywords` may have been rebuilt in memory on open,
            # which would hide a stale or tampered index on disk.
            index = KeywordIndex(Path(self.config.store) / "bm25")
            index.load()
            messages = check_store(self.store, index, repair)
            if repair:
                self.__dict__.pop("keywords", None)
                self.__dict__.pop("retriever", None)
            return messages

    # --- reading -------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        """Every stored document, by id."""
        return sorted(self.store.catalog().values(), key=lambda d: d.doc_id)

    def is_empty(self) -> bool:
        return self.store.count() == 0

    def retrieve(self, question: str, top_k: int | None = None, filters: Filters | None = None,
                 timings: dict | None = None):
        """(query vector, evidence) for a question, without answering."""
        self._refresh_keywords_for_reading()
        return self.retriever.retrieve(question, top_k or self.config.top_k, filters, timings)

    def ask(self, question: str, top_k: int | None = None, filters: Filters | None = None,
            generator: str | None = None) -> Answer:
        """Answer from the documents only, with citations, or refuse."""
        *_, answer = self.stream(question, top_k, filters, generator)
        return answer

    def stream(self, question: str, top_k: int | None = None, filters: Filters | None = None,
               generator: str | None = None) -> Iterator[str | Answer]:
        """Yield text pieces as they are produced, then the final `Answer`. `generator`
        overrides the configured one for this call."""
        generator = generator or self.config.generator
        if generator not in GENERATORS:
            raise InputError(f"unknown generator {generator!r}: use one of {', '.join(GENERATORS)}")
        t0 = time.perf_counter()
        question = clean_question(question, self.config.max_question_chars)
        if not self._has_chunks:  # counting costs ~6 ms at 100k chunks: once is enough
            if self.is_empty():
                raise NotReadyError("the store is empty: run `rag ingest corpus/` first")
            self._has_chunks = True
        timings: dict[str, float] = {}
        top_k = top_k or self.config.top_k
        qvec, pool = self._retrieve_pool(question, max(top_k, self.config.rerank_pool), filters, timings)
        with stage(timings, "rerank"):
            from rag.answering import rerank

            evidence = rerank(question, qvec, pool, self.keywords)[:top_k]
        answer = yield from self._generate(question, qvec, evidence, timings, generator)
        timings["total"] = (time.perf_counter() - t0) * 1000
        self._asks += 1
        if self._asks % TRIM_EVERY_ASKS == 0:  # after the clock: no answer waits for it
            release_freed_memory()
        yield replace(answer, timings_ms=timings, query=question)

    def _retrieve_pool(self, question: str, n: int, filters: Filters | None, timings: dict):
        try:
            return self.retrieve(question, n, filters, timings)
        except Exception as exc:  # Chroma failing to read (I/O error, damaged files): a StoreError
            error = as_store_error(exc, self.config.store, reading=True)
            if error is None:
                raise
            raise error from exc

    def _generate(self, question, qvec, evidence: list[Evidence], timings, generator: str) -> Generator[str, None, Answer]:
        if generator == "reader":
            windows = evidence[: self.config.reader_windows]
            with stage(timings, "read"):
                readings = self.reader.read(question, [ev.scored.chunk.text for ev in windows])
            with stage(timings, "answer"):
                answer = compose_answer(question, windows, readings, self.answer_threshold,
                                        float(self.reader.card["threshold"]))
            yield answer.text
            return answer
        with stage(timings, "answer"):
            from rag.answering import compose

            answer = compose(question, qvec, evidence, self.keywords, self.config.refusal_threshold,
                             self.config.max_answer_sentences)
        if generator == "extractive":
            yield answer.text
            return answer
        from rag.llm import evidence_can_answer, generate_with_llm

        if not evidence_can_answer(answer.confidence, self.config.refusal_threshold):
            yield answer.text  # the extractive refusal: the LLM is not called
            return answer
        generated = yield from generate_with_llm(question, evidence, self.config.with_(generator=generator), timings)
        return replace(generated, confidence=answer.confidence)

    # --- upkeep --------------------------------------------------------------------
    def _refresh_keywords_for_reading(self) -> None:
        """`_refresh_keywords` for queries, without reading the whole catalog each time
        (at 20k documents that read costs ~0.3 s). An index saved by any writer of this
        store folder is seen at once (its pointer file changes); other changes (another
        replica writing a Chroma server, a writer that died) are checked for at most
        every READER_CHECK_S seconds, or 20x the check's own duration if longer."""
        index = self.keywords
        if not index.is_stale_on_disk() and time.monotonic() < self._next_catalog_check:
            return
        t0 = time.monotonic()
        self._refresh_keywords(index)
        self._next_catalog_check = time.monotonic() + max(READER_CHECK_S, 20 * (time.monotonic() - t0))

    def _refresh_keywords(self, index: KeywordIndex) -> None:
        if index.is_stale_on_disk():
            index.load()
            self._keywords_on_disk = index.fingerprint
        if index.fingerprint != self.store.fingerprint():
            log.info("BM25 index out of date; rebuilding from the store")
            rebuild_keywords(self.store, index)

    def _repair_after_crash(self, store: ChunkStore) -> None:
        try:
            with WriteLock(self.config.store):
                index = KeywordIndex(Path(self.config.store) / "bm25")
                index.load()
                for message in check_store(store, index, repair=True):
                    log.warning("store repaired after an interrupted ingest: %s", message)
                (Path(self.config.store) / JOURNAL).unlink(missing_ok=True)
        except StoreLockedError:
            pass  # a writer is at work; readers filter unfinished documents out anyway
        except Exception as exc:  # disk full, read-only: readers still work, a writer fails later
            error = as_store_error(exc, self.config.store)
            if error is None:
                raise
            log.warning("could not repair the store after an interrupted ingest: %s", error)
