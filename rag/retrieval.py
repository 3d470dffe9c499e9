"""Hybrid retrieval: dense search in Chroma plus BM25, fused by reciprocal rank fusion.

RRF (Cormack et al., 2009) needs no score calibration between the two retrievers:
each chunk scores sum(1 / (k + rank)) over the lists it appears in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.config import Config
from rag.embedding import Embedder
from rag.keyword_index import KeywordIndex
from rag.store import ChunkStore
from rag.timing import stage
from rag.types import Filters, ScoredChunk


@dataclass(frozen=True, eq=False)
class Evidence:
    """A retrieved chunk with the vectors of its sentences (rows follow chunk.sentences)."""

    scored: ScoredChunk
    sentence_vectors: np.ndarray


def reciprocal_rank_fusion(ranked_lists: list[list[str]], k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists; best first, ties broken by first appearance."""
    scores: dict[str, float] = {}
    for ranked in ranked_lists:
        for rank, item in enumerate(ranked):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class HybridRetriever:
    """Dense + BM25 over one store."""

    def __init__(self, store: ChunkStore, keywords: KeywordIndex, embedder: Embedder, config: Config):
        self.store, self.keywords, self.embedder, self.config = store, keywords, embedder, config

    def retrieve(self, query: str, top_k: int, filters: Filters | None = None,
                 timings: dict[str, float] | None = None) -> tuple[np.ndarray, list[Evidence]]:
        """The query vector and the `top_k` best chunks, best first."""
        timings = {} if timings is None else timings
        n = max(self.config.candidates, top_k)
        with stage(timings, "embed"):
            qvec = self.embedder.embed_query(query)
        with stage(timings, "dense"):
            dense = self.store.dense_search(qvec, n, filters)
        with stage(timings, "bm25"):
            keyword = self.keywords.search(query, n, filters)
        with stage(timings, "fuse"):
            fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in keyword]], self.config.rrf_k)
        with stage(timings, "fetch"):
            evidence = self._materialise(fused, dense, keyword, top_k)
        return qvec, evidence

    def _materialise(self, fused: list[tuple[str, float]], dense: list[tuple[str, float]],
                     keyword: list[tuple[str, float]], top_k: int) -> list[Evidence]:
        # Fetch a few spares: chunks of a document version being replaced are dropped.
        wanted = [i for i, _ in fused[: top_k + 5]]
        rows = self.store.fetch(wanted)
        d_rank = {i: r for r, (i, _) in enumerate(dense)}
        d_score = dict(dense)
        k_rank = {i: r for r, (i, _) in enumerate(keyword)}
        out: list[Evidence] = []
        for chunk_id, score in fused[: top_k + 5]:
            if chunk_id in rows and len(out) < top_k:
                chunk, vectors = rows[chunk_id]
                scored = ScoredChunk(chunk, score, d_rank.get(chunk_id), k_rank.get(chunk_id),
                                     d_score.get(chunk_id, 0.0))
                out.append(Evidence(scored, vectors))
        return out
