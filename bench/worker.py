"""The measured side of `rag bench`: each task runs in a fresh process
(`python -m bench.worker TASK JSON-ARGS`) and prints one JSON line, so model load,
imports and peak RSS are those of that task alone. Heavy libraries are imported before
the clock starts, the same ones on both sides of a comparison.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _timed_embedder(precision: str = "auto", batch_size: int | None = None):
    """The product's Embedder, also adding up the time spent in forward passes."""
    from rag.config import Config
    from rag.embedding import Embedder

    class TimedEmbedder(Embedder):
        forward_s = 0.0

        def _forward(self, texts):
            t0 = time.perf_counter()
            try:
                return super()._forward(texts)
            finally:
                self.forward_s += time.perf_counter() - t0

    config = Config.from_env()
    return TimedEmbedder(config.embed_model, precision, batch_size or config.embed_batch_size)


def _model_tokens(texts, max_len: int) -> int:
    """Tokens the model sees for `texts` (special tokens included, truncated like the model)."""
    from tokenizers import Tokenizer

    from rag.config import PACKAGED_MODEL
    from rag.embedding import resolve_model

    tokenizer = Tokenizer.from_file(f"{resolve_model(PACKAGED_MODEL)}/tokenizer.json")
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return sum(min(len(e.ids), max_len) for e in tokenizer.encode_batch(list(texts)))


def _all_texts(collection) -> list[str]:
    from rag.store import pages

    return [t or "" for got in pages(collection, ["documents"]) for t in got["documents"]]


def task_ours(docs: str, store: str, precision: str = "auto", batch_size: int | None = None, **cfg) -> dict:
    """A first ingest with the product pipeline."""
    # Each side's libraries are imported before its clock starts: ours runs ONNX Runtime,
    # and both sides split sentences with nltk's Punkt (~0.9 s to import).
    import chromadb  # noqa: F401
    import nltk  # noqa: F401
    import onnxruntime  # noqa: F401

    from rag.config import Config
    from rag.pipeline import RAG

    embedder = _timed_embedder(precision, batch_size)
    t0 = time.perf_counter()
    rag = RAG(Config.from_env(store=store, **cfg), embedder=embedder)
    report = rag.ingest(docs, rebuild=True)
    wall, peak = time.perf_counter() - t0, peak_rss_mb()  # before the bench's own counting below
    chunks = rag.store.count()
    tokens = _model_tokens(_all_texts(rag.store.chunks), embedder.encoder.pipeline.max_len)
    return {
        "side": "ours", "wall_s": wall, "chunks": chunks, "chunks_embedded": report.chunks_embedded,
        "docs": len(report.added), "tokens": tokens, "embed_s": embedder.forward_s,
        "precision": embedder.active_precision, "encoder": embedder.encoder.describe(),
        "batch_size": embedder.batch_size,
        "stages_s": report.timings_s, "peak_rss_mb": peak,
    }


def task_export() -> dict:
    """The ONNX export of the configured model, made now if not cached: a one-off per
    model (like a download), kept out of the timed ingest rounds."""
    from rag.config import Config
    from rag.embedding import Embedder

    config = Config.from_env()
    t0 = time.perf_counter()
    encoder = Embedder(config.embed_model, config.embed_precision).encoder
    return {"wall_s": time.perf_counter() - t0, "encoder": encoder.describe(), "file": str(encoder.file)}


def task_naive(docs: str, store: str) -> dict:
    """The llama-index quick-start: SimpleDirectoryReader, VectorStoreIndex, Chroma."""
    import chromadb
    import nltk  # noqa: F401  (as on our side)
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.config import PACKAGED_MODEL
    from rag.embedding import resolve_model

    t0 = time.perf_counter()
    embed_model = HuggingFaceEmbedding(model_name=resolve_model(PACKAGED_MODEL))
    client = chromadb.PersistentClient(path=store)
    collection = client.get_or_create_collection("naive")
    documents = SimpleDirectoryReader(docs).load_data()
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embed_model)
    wall, peak = time.perf_counter() - t0, peak_rss_mb()
    tokens = _model_tokens(_all_texts(collection), embed_model._model.max_seq_length or 512)
    return {"side": "naive", "wall_s": wall, "chunks": collection.count(), "docs": len(documents),
            "tokens": tokens, "peak_rss_mb": peak}


def task_reingest(docs: str, store: str) -> dict:
    """An incremental ingest of a built store, in a fresh process."""
    import chromadb  # noqa: F401

    from rag.config import Config
    from rag.pipeline import RAG

    t0 = time.perf_counter()
    rag = RAG(Config.from_env(store=store))
    report = rag.ingest(docs)
    wall = time.perf_counter() - t0
    gone = [d for d in report.removed if rag.store.chunk_ids_of(d) or d in rag.store.catalog_entries([d])]
    return {"wall_s": wall, "embed_calls": report.embed_calls, "chunks_embedded": report.chunks_embedded,
            "chunks_total": rag.store.count(), "added": len(report.added), "updated": len(report.updated),
            "removed": len(report.removed), "removed_still_present": len(gone), "unchanged": len(report.unchanged),
            "stages_s": report.timings_s, "model_loaded": "model" in rag.embedder.__dict__,
            "peak_rss_mb": peak_rss_mb()}


def task_quality(stores: dict, gold: str, n: int, seed: int = 7, build_fp32: dict | None = None) -> dict:
    """hit@5 (documents) of hybrid retrieval and of dense search alone, per store;
    first builds the fp32 store (`build_fp32`: docs, store) in this same process. Also
    the query vectors' agreement with SentenceTransformer.encode (`query_min_cosine`)."""
    import random

    import numpy as np

    from eval.gold import load_gold
    from eval.metrics import doc_order, hit_at_k
    from rag.config import Config
    from rag.pipeline import RAG

    out: dict[str, Any] = {}
    ours: Any = None  # the store read with the variant this CPU runs
    if build_fp32:
        out["fp32_build"] = task_ours(build_fp32["docs"], build_fp32["store"], precision="fp32")
        stores = {**stores, "fp32": build_fp32["store"]}
    for name, store in stores.items():
        # Queries embedded like the store's chunks: the fp32 store is read with fp32 vectors.
        rag = RAG(Config.from_env(store=store, embed_precision="fp32" if name == "fp32" else "auto"))
        if name != "fp32":
            ours = rag
        known = set(rag.store.catalog())
        items = [g for g in load_gold(Path(gold)) if g.answerable and set(g.sources) <= known]
        items = random.Random(seed).sample(items, min(n, len(items)))
        hybrid = dense = 0.0
        for g in items:
            qvec, evidence = rag.retrieve(g.question, top_k=30)
            hybrid += hit_at_k(doc_order(e.scored.chunk.doc_id for e in evidence), g.sources, 5)
            res = rag.store.chunks.query(query_embeddings=[qvec], n_results=30, include=["metadatas"])
            dense += hit_at_k(doc_order(m["doc_id"] for m in res["metadatas"][0]), g.sources, 5)
        out[name] = {"questions": len(items), "hit_at_5": hybrid / max(1, len(items)),
                     "dense_hit_at_5": dense / max(1, len(items))}
        texts = [g.question for g in items]
    vectors = np.stack([ours.embedder.embed_query(t) for t in texts])
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(ours.embedder.path), device="cpu")
    ref = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    out["query_min_cosine"] = float(np.min(np.sum(vectors * ref, axis=1)))
    return out


def task_build(docs: str, store: str, **cfg) -> dict:
    """A first ingest of a generated corpus (the store for the latency measurements)."""
    result = task_ours(docs, store, **cfg)
    result["hnsw"] = {k: v for k, v in cfg.items() if k.startswith("hnsw")}
    return result


def _questions(questions: str | list[str]) -> list[str]:
    return json.loads(Path(questions).read_text()) if isinstance(questions, str) else questions


def task_serve(store: str, questions: str | list[str], n: int, warmup: int = 100,
               generator: str = "extractive") -> dict:
    """Per-stage timings of `n` asks in one warm process, after `warmup` asks; RSS
    after the first ask, after the warm-up and at the end. The default generator is the
    sentence picker: the retrieval path alone, as the growth sizes measure it."""
    from rag.config import Config
    from rag.pipeline import RAG

    questions = _questions(questions)
    rag = RAG(Config.from_env(store=store, generator=generator))
    rag.ask(questions[0])
    rss_first = rss_mb()
    for q in questions[1:warmup]:
        rag.ask(q)
    rss_start, timings = rss_mb(), []
    for k in range(n):
        timings.append(rag.ask(questions[(warmup + k) % len(questions)]).timings_ms)
    return {"chunks": rag.store.count(), "timings_ms": timings, "rss_first_ask_mb": rss_first, "warmup": warmup,
            "rss_start_mb": rss_start, "rss_end_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "queries": n}


def task_recall(store: str, questions: str | list[str], efs: list[int], k: int = 10, n: int = 300) -> dict:
    """ANN recall@k of the store's HNSW index against exact search over its stored
    vectors, and the dense-search latency, for each `ef_search` in `efs`. Chroma reads
    ef_search when it loads the index, so each setting reopens the client."""
    import numpy as np
    from chromadb.api.client import SharedSystemClient

    from bench.report import exact_top_k, percentiles, recall_at_k
    from rag.config import Config
    from rag.pipeline import RAG
    from rag.store import connect, pages

    questions = _questions(questions)[:n]
    config = Config.from_env(store=store)
    rag = RAG(config)
    coll = rag.store.chunks
    ids, vecs = [], []
    for got in pages(coll, ["embeddings"]):
        ids += got["ids"]
        vecs.append(np.asarray(got["embeddings"], dtype=np.float32))
    matrix = np.concatenate(vecs)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = np.stack([rag.embedder.embed_query(q) for q in questions])
    exact_ids = [[ids[j] for j in row] for row in exact_top_k(queries, matrix, k)]
    del matrix, vecs
    replica = _replica_costs(rag)
    name, original = coll.name, (coll.configuration_json or {}).get("hnsw", {}).get("ef_search")

    def reopen(ef: int | None):
        if ef is not None:
            connect(config).get_collection(name).modify(configuration={"hnsw": {"ef_search": ef}})
        SharedSystemClient.clear_system_cache()
        return connect(config).get_collection(name)

    sweep = []
    try:
        for ef in sorted(set(efs) | ({original} if original else set())):  # the default is always measured
            coll = reopen(ef)
            coll.query(query_embeddings=queries[:5], n_results=k, include=[])  # loads the index
            got_ids, ms = [], []
            for q in queries:
                t0 = time.perf_counter()
                got_ids.append(coll.query(query_embeddings=[q], n_results=k, include=[])["ids"][0])
                ms.append((time.perf_counter() - t0) * 1000)
            sweep.append({"ef_search": ef, "recall_at_10": recall_at_k(got_ids, exact_ids),
                          "dense_ms": percentiles(ms)})
    finally:
        if original:
            reopen(original)
    return {"chunks": len(ids), "queries": len(questions), "ef_search_default": original, "sweep": sweep,
            **replica}


def _replica_costs(rag) -> dict:
    """What a new replica (or a reader's periodic check) pays at this store size: the
    catalog fingerprint, a chunk count, and rebuilding BM25 from the store."""
    import tempfile

    from rag.doctor import rebuild_keywords
    from rag.keyword_index import KeywordIndex

    t0 = time.perf_counter()
    rag.store.fingerprint()
    t1 = time.perf_counter()
    rag.store.count()
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rebuild_keywords(rag.store, KeywordIndex(Path(tmp)))
    return {"fingerprint_s": t1 - t0, "count_s": t2 - t1, "bm25_rebuild_s": time.perf_counter() - t2,
            "documents": len(rag.store.catalog())}


TASKS = {name[5:]: fn for name, fn in globals().items() if name.startswith("task_")}

if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING)
    result = TASKS[sys.argv[1]](**json.loads(sys.argv[2]))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
