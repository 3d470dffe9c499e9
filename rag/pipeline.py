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

from rag import generations
from rag.composing import compose_answer
from rag.config import Config
from rag.doctor import check_store, rebuild_keywords
from rag.embedding import Embedder
from rag.errors import InputError, NotReadyError, StoreLockedError
from rag.keyword_index import KeywordIndex
from rag.locking import WriteLock
from rag.memory import release_freed_memory
from rag.reader import Reader
from rag.retrieval import Evidence, HybridRetriever
from rag.store import ChunkStore, as_store_error
from rag.timing import stage
from rag.types import Answer, DocumentInfo, Filters
from rag.writing import JOURNAL, StoreWriting

log = logging.getLogger(__name__)
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


def check_top_k(top_k) -> int | None:
    """`top_k` as given (None: the configured one), or InputError unless 1..50."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 50:
        raise InputError(f"top_k must be a whole number from 1 to 50, not {str(top_k)[:20]!r}")
    return top_k


class RAG(StoreWriting):
    """A store, and the stages that fill and question it. Asks read the current
    index while a writer in the same process builds the next one (see rag.writing)."""

    def __init__(self, config: Config, embedder: Embedder | None = None):
        self.config = config
        self.embedder = embedder or Embedder(config.embed_model, config.embed_precision, config.embed_batch_size)
        self._next_catalog_check = 0.0  # see _refresh_keywords_for_reading
        self._asks = 0
        self._has_chunks = False  # seen non-empty; a store emptied later answers with refusals
        self._init_writing()

    @classmethod
    def open(cls, store: "str | Path | Config | None" = None, config: Config | None = None,
             embedder: Embedder | None = None, **overrides) -> "RAG":
        """Open (or create) the store: `RAG.open(config)`, or `RAG.open(store=".rag")`
        with `overrides` as Config fields."""
        if isinstance(store, Config):
            store, config = None, store
        config = (config or Config.from_env()).with_(store=store, **overrides)
        return cls(config, embedder)

    @staticmethod
    def require_store(config: Config) -> None:
        """InputError unless `config.store` already exists (asking must not create one)."""
        if not config.server_mode and not Path(config.store).is_dir():
            raise InputError(f"there is no store at {config.store}: create it with `rag ingest FOLDER --store {config.store}`")

    @cached_property
    def store(self) -> ChunkStore:
        self._generation_seen = generations.pointer_mtime(self.config.store)
        store = self._open_store(generations.current(self.config.store))
        if (Path(self.config.store) / JOURNAL).exists():
            self._repair_after_crash(store)
        return store

    @cached_property
    def keywords(self) -> KeywordIndex:
        return self._loaded_keywords(self.store)

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

    def _open_store(self, generation: int) -> ChunkStore:
        config = self.config.with_(collection=generations.collection_name(self.config.collection, generation))
        return ChunkStore(config, self.embedder.name, self.embedder.dim)

    def _loaded_keywords(self, store: ChunkStore, save_rebuilt: bool = False) -> KeywordIndex:
        """A new BM25 index object as saved beside `store`, rebuilt when it disagrees
        with the catalog (and then saved, for a writer). New, never updated in place:
        asks may be reading the old one."""
        index = KeywordIndex(generations.keyword_dir(self.config.store, self.generation_of(store)))
        index.load()
        if index.fingerprint != store.fingerprint():
            log.info("BM25 index out of date; rebuilding from the store")
            rebuild_keywords(store, index)
            if save_rebuilt:
                index.save(index.fingerprint)
        return index

    def generation_of(self, store: ChunkStore) -> int:
        name, base = store.config.collection, self.config.collection
        return 0 if name == base else int(name.rsplit("-g", 1)[1])

    def _publish(self, store: ChunkStore, index: KeywordIndex) -> None:
        """Asks from now on read `store` and `index`; asks in flight finish on the old ones."""
        self.__dict__.update(store=store, keywords=index,
                             retriever=HybridRetriever(store, index, self.embedder, self.config))
        self._generation_seen = generations.pointer_mtime(self.config.store)

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
        top_k = check_top_k(top_k)
        if not self._has_chunks:  # counting costs ~6 ms at 100k chunks: once is enough
            if self.is_empty():
                raise NotReadyError("the store is empty: run `rag ingest corpus/` first")
            self._has_chunks = True
        filters, notes = self._checked_filters(filters)
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
        yield replace(answer, timings_ms=timings, query=question, notes=notes)

    def _checked_filters(self, filters: Filters | None) -> tuple[Filters | None, tuple[str, ...]]:
        """Filters validated like any caller's input, and what the answer should say
        about them. A document id that is not stored is an error, not an empty search."""
        if filters is None:
            return None, ()
        filters = Filters.parse(list(filters.doc_ids), filters.published_from, filters.published_to)
        if filters is None:
            return None, ()
        chosen = self.store.catalog_entries(filters.doc_ids) if filters.doc_ids else {}
        missing = set(filters.doc_ids) - set(chosen)
        if missing:
            raise InputError(f"no such document: {', '.join(sorted(missing))[:200]}")
        if not filters.by_date:
            undated = 0
        elif chosen:
            undated = sum(1 for info in chosen.values() if not info.published)
        else:
            undated = self.store.undated_count()
        if undated:
            plural = "document was" if undated == 1 else "documents were"
            return filters, (f"{undated} undated {plural} not searched (a date filter skips documents without a date)",)
        return filters, ()

    def _retrieve_pool(self, question: str, n: int, filters: Filters | None, timings: dict):
        try:
            with self._reading(self.store):
                return self.retrieve(question, n, filters, timings)
        except Exception as exc:  # Chroma failing to read (I/O error, damaged files): a StoreError
            error = as_store_error(exc, self.config.store, reading=True)
            if error is None:
                raise
            raise error from exc

    def _generate(self, question, qvec, evidence: list[Evidence], timings, generator: str) -> Generator[str, None, Answer]:
        sentences = self._pick_sentence(question, qvec, evidence, timings)
        if generator == "extractive":
            yield sentences.text
            return sentences
        answer = self._read(question, evidence, timings) if sentences.answerable else self._refuse(question, evidence)
        if generator == "reader" or not answer.answerable:
            yield answer.text  # with an LLM, a refusal here means the LLM is not called
            return answer
        from rag.llm import generate_with_llm

        generated = yield from generate_with_llm(question, evidence, self.config.with_(generator=generator), timings)
        return replace(generated, confidence=answer.confidence)

    def _pick_sentence(self, question, qvec, evidence: list[Evidence], timings) -> Answer:
        """extractive-v1's answer: the best sentence, or the refusal when no sentence
        matches the question well enough (RAG_REFUSAL_THRESHOLD). It is also the first
        refusal gate of the answer model: that gate measures whether the evidence is
        about the question at all, which the answer model, trained on 2k questions,
        judges poorly (see rag/models/reader/MODEL_CARD.md)."""
        with stage(timings, "answer"):
            from rag.answering import compose

            return compose(question, qvec, evidence, self.keywords, self.config.refusal_threshold,
                           self.config.max_answer_sentences)

    def _refuse(self, question: str, evidence: list[Evidence]) -> Answer:
        """The answer model's refusal, without reading (confidence 0)."""
        return compose_answer(question, evidence[: self.config.reader_windows], [], 1.0, 1.0)

    def _read(self, question: str, evidence: list[Evidence], timings) -> Answer:
        """The answer model's answer from the best few windows, or its refusal."""
        windows = evidence[: self.config.reader_windows]
        with stage(timings, "read"):
            chunks = [ev.scored.chunk for ev in windows]
            readings = self.reader.read(question, [c.text for c in chunks], [c.sentence_starts() for c in chunks])
        with stage(timings, "answer"):
            return compose_answer(question, windows, readings, self.answer_threshold,
                                  float(self.reader.card["threshold"]))

    def standalone_question(self, history: list, question: str, generator: str | None = None) -> str:
        """The question made self-contained using earlier turns: questions, or
        (question, answer) pairs, oldest first."""
        if not history:
            return question
        from rag.followup import rewrite

        turns = [h if isinstance(h, str) else tuple(h) for h in history]
        return rewrite(turns, question, self.config.with_(generator=generator)) or question

    # --- upkeep --------------------------------------------------------------------
    def _refresh_keywords_for_reading(self) -> None:
        """Pick up what other writers did, without reading the whole catalog each ask
        (at 20k documents that read costs ~0.3 s). A rebuild's switch or an index saved
        by any writer of this store folder is seen at once (their pointer files change);
        other changes (another replica writing a Chroma server, a writer that died) are
        checked for at most every READER_CHECK_S seconds, or 20x the check's duration.
        This process's own writer publishes its results itself."""
        if self.writing_now:
            return
        if generations.pointer_mtime(self.config.store) != self._generation_seen:
            # Another process rebuilt the store. Never wait for this process's writer:
            # it publishes what it switches to itself.
            if self._write_mutex.acquire(blocking=False):
                try:
                    store = self._open_store(generations.current(self.config.store))
                    self._publish(store, self._loaded_keywords(store))
                finally:
                    self._write_mutex.release()
            return
        index = self.keywords
        if not index.is_stale_on_disk() and time.monotonic() < self._next_catalog_check:
            return
        t0 = time.monotonic()
        if index.is_stale_on_disk() or index.fingerprint != self.store.fingerprint():
            self._publish(self.store, self._loaded_keywords(self.store))
        self._next_catalog_check = time.monotonic() + max(READER_CHECK_S, 20 * (time.monotonic() - t0))

    def _repair_after_crash(self, store: ChunkStore) -> None:
        try:
            with WriteLock(self.config.store):
                index = KeywordIndex(generations.keyword_dir(self.config.store, self.generation_of(store)))
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
