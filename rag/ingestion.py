"""Incremental ingestion of a folder into a store.

A content hash per document decides the work: unchanged documents are skipped, new
and changed ones are chunked and embedded, documents gone from the folder are removed.
The order of writes keeps every document whole for readers and after a crash:
1. store the new version's chunks (new ids: chunk ids include the content hash);
2. record the version in the catalog (readers now see it);
3. delete the old version's chunks.
Removal forgets the catalog entry first, then deletes chunks. A journal file marks an
ingest in progress; if a process dies, the next open repairs (see doctor.py).
Documents go through chunking and embedding in groups, so memory does not grow with
the corpus; embedding runs while a writer thread stores the previous batch.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from rag.chunking import chunk_document
from rag.config import Config
from rag.embedding import Embedder
from rag.keyword_index import KeywordIndex, KeywordRow
from rag.loading import Skipped, load_documents
from rag.memory import release_freed_memory
from rag.store import ChunkStore, date_ordinal
from rag.types import Chunk, Document, DocumentInfo

# Documents are chunked, embedded and stored in groups of about this much text (~2k
# chunks): enough for length-sorted batches to pad little, small enough that a
# corpus of any size never holds all its chunks in memory at once.
GROUP_CHARS = 2_000_000


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    chunks_embedded: int = 0
    embed_calls: int = 0
    seconds: float = 0.0
    timings_s: dict = field(default_factory=dict)

    def summary(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
                f"unchanged {len(self.unchanged)}, skipped {len(self.skipped)} "
                f"({self.chunks_embedded} chunk{'' if self.chunks_embedded == 1 else 's'} embedded "
                f"in {self.seconds:.1f} s)")


def plan(docs: list[Document], catalog: dict[str, DocumentInfo], root: str, prune: bool):
    """(new, changed, unchanged, removed doc ids) for the documents found under `root`."""
    found = {d.doc_id: d for d in docs}
    new = [d for d in docs if d.doc_id not in catalog]
    changed = [d for d in docs if d.doc_id in catalog and catalog[d.doc_id].content_hash != d.content_hash]
    unchanged = [d.doc_id for d in docs if d.doc_id in catalog and catalog[d.doc_id].content_hash == d.content_hash]
    removed = [i for i, info in catalog.items() if prune and info.root == root and i not in found]
    return new, changed, unchanged, removed


def ingest_path(path: Path, store: ChunkStore, keywords: KeywordIndex, embedder: Embedder,
                config: Config, progress: bool = True) -> IngestReport:
    """Bring the store in line with the files under `path`. Caller holds the write lock."""
    t0, calls0, timings = time.perf_counter(), embedder.calls, {}
    path = Path(path)
    root = str(path.resolve())
    docs, skipped = load_documents(path)
    timings["load"] = time.perf_counter() - t0
    catalog = store.catalog()
    new, changed, unchanged, removed = plan(docs, catalog, root, prune=path.is_dir())
    added, updated = tuple(d.doc_id for d in new), tuple(d.doc_id for d in changed)
    old_ids = {d.doc_id: store.chunk_ids_of(d.doc_id) for d in changed}
    todo = deque(new + changed)
    del docs, new, changed  # `todo` holds the only references: each group is freed once stored
    rows, new_ids = _chunk_embed_store(todo, store, embedder, config, root, progress, timings)
    release_freed_memory()  # before the BM25 build, the other peak
    for doc_id, ids in old_ids.items():
        store.delete_chunks([i for i in ids if i not in new_ids[doc_id]])
    for doc_id in removed:
        store.forget_document(doc_id)
        store.delete_chunks(store.chunk_ids_of(doc_id))
    t3 = time.perf_counter()
    if added or updated or removed or not keywords.fingerprint:
        keywords.replace(list(updated) + removed, rows)
        keywords.save(store.fingerprint())
    timings["keywords"] = time.perf_counter() - t3
    return IngestReport(
        added, updated, tuple(removed), tuple(unchanged),
        tuple(skipped), len(rows), embedder.calls - calls0,
        time.perf_counter() - t0, timings,
    )


def _chunk_embed_store(docs: deque[Document], store: ChunkStore, embedder: Embedder, config: Config,
                       root: str, progress: bool, timings: dict) -> tuple[list[KeywordRow], dict[str, set]]:
    """Chunk, embed and store `docs` a group at a time, taking them out of `docs`, so
    memory is bounded by a group, not the corpus. Returns the keyword rows and each
    document's new chunk ids."""
    rows, new_ids = [], {}
    timings["chunk"] = timings["embed_store"] = 0.0
    with _progress(len(docs), progress) as bar:
        for group in _groups(docs, GROUP_CHARS):
            t0 = time.perf_counter()
            chunks = {d.doc_id: chunk_document(d, config.chunk_tokens, config.chunk_overlap_tokens,
                                               embedder.count_tokens) for d in group}
            t1 = time.perf_counter()
            _embed_and_store(group, chunks, store, embedder, root, bar)
            timings["chunk"] += t1 - t0
            timings["embed_store"] += time.perf_counter() - t1
            rows += [_row(c) for cs in chunks.values() for c in cs]
            new_ids.update({doc_id: {c.chunk_id for c in cs} for doc_id, cs in chunks.items()})
    return rows, new_ids


def _groups(docs: deque[Document], max_chars: int):
    """Consecutive runs of documents with at most `max_chars` of text (at least one),
    each taken out of `docs` as it is yielded."""
    while docs:
        group = [docs.popleft()]
        size = len(group[0].text)
        while docs and size + len(docs[0].text) <= max_chars:
            size += len(docs[0].text)
            group.append(docs.popleft())
        yield group


def _embed_and_store(docs: list[Document], chunks: dict[str, list[Chunk]], store: ChunkStore,
                     embedder: Embedder, root: str, bar) -> None:
    """Embed every chunk; a writer thread stores batches and records finished documents."""
    flat = [c for d in docs for c in chunks[d.doc_id]]
    by_id = {d.doc_id: d for d in docs}
    remaining = Counter(c.doc_id for c in flat)
    for d in docs:  # a document whose text yields no chunk is still recorded
        if not remaining[d.doc_id]:
            store.record_document(_info(d, 0, root))
            bar.update(1)
    batches: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer():
        while (item := batches.get()) is not None:
            if failure:
                continue
            try:
                batch, vectors, sentence_vectors = item
                store.add_chunks(batch, vectors, sentence_vectors)
                for doc_id, n in Counter(c.doc_id for c in batch).items():
                    remaining[doc_id] -= n
                    if remaining[doc_id] == 0:
                        store.record_document(_info(by_id[doc_id], len(chunks[doc_id]), root))
                        bar.update(1)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
                failure.append(exc)

    thread = threading.Thread(target=writer, name="rag-store-writer", daemon=True)
    thread.start()
    try:
        spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in flat]
        for idx, vectors, sentence_vectors in embedder.embed_with_sentences([c.text for c in flat], spans):
            if failure:
                break
            batches.put(([flat[i] for i in idx], vectors, sentence_vectors))
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Ingesting", unit="doc", disable=not enabled or total == 0)


def _info(doc: Document, n_chunks: int, root: str) -> DocumentInfo:
    return DocumentInfo(doc.doc_id, doc.content_hash, doc.title, doc.published, doc.source, n_chunks, root)


def _row(c: Chunk) -> KeywordRow:
    return KeywordRow(c.chunk_id, c.doc_id, date_ordinal(c.published), c.text)
