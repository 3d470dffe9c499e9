"""Chroma persistence: chunks with their vectors, and a catalog of finished documents.

Two collections per store. `<name>_chunks` holds every chunk: its vector, its text, and
metadata (doc id, offsets, document metadata, sentence offsets and sentence vectors, so
one read gives the answerer all it needs). `<name>_docs` is the catalog: one record per
document, written only after all its chunks are stored. Readers trust a chunk only when
the catalog names its document version, so a crash mid-write never shows half a
document. Chroma has no plain key-value table, so catalog records carry a constant
1-d vector. The embedding model and chunking settings are recorded in the collection
metadata; opening with different ones is refused.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Config
from rag.errors import ModelMismatchError, StoreError
from rag.types import Chunk, DocumentInfo, Filters, Span

SCHEMA = 1
PAGE = 2000


def date_ordinal(iso: str | None) -> int:
    """2025-12-06 -> 20251206; 0 for unknown (Chroma filters need numbers)."""
    return int(iso.replace("-", "")) if iso else 0


def connect(config: Config):
    """A Chroma client: embedded under `config.store`, or HTTP to a Chroma server."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if config.server_mode:
        return chromadb.HttpClient(host=config.chroma_host, port=int(config.chroma_port), settings=settings)
    path = Path(config.store) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store at {config.store}: {exc.strerror}") from exc
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:  # opening writes: a read-only or full disk fails here
        error = as_store_error(exc, config.store)
        if error is None:
            raise
        raise error from exc


class ChunkStore:
    """The chunk collection and the document catalog of one store."""

    def __init__(self, config: Config, model: str, dim: int, client=None):
        self.config = config
        self.client = client or connect(config)
        self.expected = {
            "embed_model": model, "embed_dim": int(dim), "schema": SCHEMA,
            "chunk_tokens": config.chunk_tokens, "chunk_overlap": config.chunk_overlap_tokens,
        }
        self.chunks = self._collection("chunks", {"space": "cosine", "ef_search": config.hnsw_search_ef,
                                                  "ef_construction": config.hnsw_construction_ef,
                                                  "max_neighbors": config.hnsw_m})
        self.docs = self._collection("docs", {"space": "l2"})
        self._check_compatible()

    def _collection(self, kind: str, hnsw: dict):
        try:
            return self.client.get_or_create_collection(
                f"{self.config.collection}_{kind}", metadata=dict(self.expected),
                configuration={"hnsw": hnsw}, embedding_function=None,
            )
        except Exception as exc:  # opening writes too: a read-only or full disk fails here
            error = as_store_error(exc, self.config.store)
            if error is None or self.config.server_mode:
                raise
            raise error from exc

    def _check_compatible(self) -> None:
        found = self.chunks.metadata or {}
        for key, want in self.expected.items():
            if found.get(key) != want:
                raise ModelMismatchError(
                    f"the store at {self.config.store} was built with {key}={found.get(key)!r}, "
                    f"not {want!r}; rebuild it with `rag ingest --rebuild`"
                )

    def drop(self) -> None:
        """Delete both collections (for --rebuild)."""
        for kind in ("chunks", "docs"):
            self.client.delete_collection(f"{self.config.collection}_{kind}")

    # --- catalog -------------------------------------------------------------------
    def catalog(self) -> dict[str, DocumentInfo]:
        """Every finished document, by id."""
        out = {}
        for got in pages(self.docs, ["metadatas"]):
            out.update({i: _info(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)})
        return out

    def catalog_entries(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        got = self.docs.get(ids=list(dict.fromkeys(doc_ids)), include=["metadatas"])
        return {i: _info(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def undated_count(self) -> int:
        """How many stored documents state no publication date."""
        return len(self.docs.get(where={"published": ""}, include=[])["ids"])

    def record_document(self, info: DocumentInfo) -> None:
        """Mark a document version done: call only after all its chunks are stored."""
        meta = {"content_hash": info.content_hash, "title": info.title, "published": info.published or "",
                "source": info.source, "n_chunks": info.n_chunks, "root": info.root}
        self.docs.upsert(ids=[info.doc_id], embeddings=[[1.0]], metadatas=[meta])

    def forget_document(self, doc_id: str) -> None:
        self.docs.delete(ids=[doc_id])

    def fingerprint(self, catalog: dict[str, DocumentInfo] | None = None) -> str:
        """A hash of the catalog: derived indexes compare it to know they are current."""
        catalog = self.catalog() if catalog is None else catalog
        digest = hashlib.sha256()
        for doc_id in sorted(catalog):
            digest.update(f"{doc_id}\x00{catalog[doc_id].content_hash}\n".encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    # --- chunks --------------------------------------------------------------------
    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray, sentence_vectors: Sequence[np.ndarray]) -> None:
        if not chunks:
            return
        self.chunks.upsert(
            ids=[c.chunk_id for c in chunks], embeddings=vectors.astype(np.float32),
            documents=[c.text for c in chunks],
            metadatas=[_chunk_meta(c, s) for c, s in zip(chunks, sentence_vectors, strict=True)],
        )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for at in range(0, len(ids), PAGE):
            self.chunks.delete(ids=list(ids[at : at + PAGE]))

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        return self.chunks.get(where={"doc_id": doc_id}, include=[])["ids"]

    def count(self) -> int:
        return self.chunks.count()

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        if n <= 0:  # no count() first: it scans the collection (~6 ms at 100k chunks),
            return []  # and Chroma returns fewer than n results when it holds fewer
        res = self.chunks.query(query_embeddings=[vector.astype(np.float32)], n_results=n,
                                where=chroma_where(filters), include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """Chunks and their sentence vectors, keeping only catalogued document versions."""
        if not ids:
            return {}
        got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        rows = {i: _chunk_from(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        current = self.catalog_entries([c.doc_id for c, _ in rows.values()])
        return {i: (chunk, vecs) for i, (chunk, vecs) in rows.items()
                if chunk.doc_id in current and current[chunk.doc_id].content_hash == chunk.doc_hash}

    def scan(self, with_text: bool = False):
        """Yield (chunk id, doc_id, doc_hash, published ordinal, text or None) for all chunks."""
        include = ["metadatas", "documents"] if with_text else ["metadatas"]
        for got in pages(self.chunks, include):
            texts = got["documents"] if with_text else [None] * len(got["ids"])
            for i, m, t in zip(got["ids"], got["metadatas"], texts, strict=True):
                yield i, m["doc_id"], m["doc_hash"], m.get("published_ord", 0), t


def as_store_error(exc: BaseException, store: Path | str, reading: bool = False) -> StoreError | None:
    """The StoreError to report for a failed write (disk full, read-only, I/O error, or
    Chroma refusing the write) or read, or None when `exc` is not such a failure."""
    from chromadb.errors import ChromaError

    if isinstance(exc, StoreError):
        return exc
    action, hint = ("read", "run `rag doctor`") if reading else ("write", "is the disk full or read-only?")
    if isinstance(exc, OSError):
        return StoreError(f"cannot {action} the store at {store}: {exc.strerror or exc}")
    if isinstance(exc, ChromaError):
        return StoreError(f"cannot {action} the store at {store} ({hint}): {exc}")
    return None


def chroma_where(filters: Filters | None) -> dict | None:
    """The Chroma `where` clause for `filters`."""
    if filters is None or filters.empty:
        return None
    parts: list[dict[str, Any]] = []
    if filters.doc_ids:
        parts.append({"doc_id": {"$in": list(filters.doc_ids)}})
    if filters.published_from:
        parts.append({"published_ord": {"$gte": date_ordinal(filters.published_from)}})
    if filters.published_to:
        parts.append({"published_ord": {"$lte": date_ordinal(filters.published_to)}})
    if filters.published_to and not filters.published_from:  # unknown dates are stored as 0
        parts.append({"published_ord": {"$gt": 0}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def pages(collection, include: list[str]):
    """Every record of a Chroma collection, as `get` results of at most PAGE records."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


def _info(doc_id: str, m: dict) -> DocumentInfo:
    return DocumentInfo(doc_id, m["content_hash"], m.get("title", ""), m.get("published") or None,
                        m.get("source", ""), int(m.get("n_chunks", 0)), m.get("root", ""))


def _chunk_meta(c: Chunk, sentence_vectors: np.ndarray) -> dict:
    rel = ",".join(f"{s.start - c.start}:{s.end - c.start}" for s in c.sentences)
    return {
        "doc_id": c.doc_id, "doc_hash": c.doc_hash, "start": c.start, "end": c.end,
        "title": c.title, "published": c.published or "", "published_ord": date_ordinal(c.published),
        "source": c.source, "sentences": rel,
        "sentence_vectors": base64.b64encode(sentence_vectors.astype(np.float16).tobytes()).decode(),
    }


def _chunk_from(chunk_id: str, text: str, m: dict) -> tuple[Chunk, np.ndarray]:
    start = int(m["start"])
    spans = tuple(Span(start + int(a), start + int(b)) for a, b in
                  (p.split(":") for p in m["sentences"].split(",") if p))
    vecs = np.frombuffer(base64.b64decode(m["sentence_vectors"]), dtype=np.float16)
    chunk = Chunk(chunk_id, m["doc_id"], text, start, int(m["end"]), spans, m.get("title", ""),
                  m.get("published") or None, m.get("source", ""), m["doc_hash"])
    return chunk, vecs.astype(np.float32).reshape(len(spans), -1) if spans else np.zeros((0, 0), np.float32)
