"""`RAG` as llama-index components, for apps built on llama-index.

    from rag import RAG
    from rag.llama_index import RagQueryEngine, RagRetriever

    rag = RAG.open(store=".rag")
    nodes = RagRetriever(rag, top_k=5).retrieve("How much is Alibaba investing?")
    response = RagQueryEngine(rag=rag).query("How much is Alibaba investing?")

Each node is a `TextNode` whose text is exactly `document_text[start_char_idx:end_char_idx]`,
with `doc_id`, `title`, `published`, `source` and the offsets in its metadata and the
document as its source (`node.ref_doc_id`). The query engine's `Response` carries the
retrieved passages as `source_nodes` and our citations in `metadata["citations"]`.
Both go through `RAG.retrieve` / `RAG.ask` only.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.bridge.pydantic import Field
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from rag.pipeline import RAG
from rag.types import Answer, Filters, ScoredChunk

# Shown to a downstream LLM with the text; offsets and paths would only be noise there.
_NOT_FOR_LLM = ["doc_id", "start_char", "end_char", "source", "chunk_id"]


def to_node(scored: ScoredChunk) -> NodeWithScore:
    """One retrieved chunk as a llama-index node, with its exact place in its document."""
    c = scored.chunk
    metadata = {"doc_id": c.doc_id, "title": c.title, "published": c.published, "start_char": c.start,
                "end_char": c.end, "source": c.source, "chunk_id": c.chunk_id}
    node = TextNode(id_=c.chunk_id, text=c.text, metadata=metadata, start_char_idx=c.start, end_char_idx=c.end,
                    excluded_llm_metadata_keys=_NOT_FOR_LLM, excluded_embed_metadata_keys=_NOT_FOR_LLM,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.doc_id)})
    return NodeWithScore(node=node, score=scored.score)


def to_response(answer: Answer) -> Response:
    """An `Answer` as a llama-index `Response`: same text, passages as source nodes."""
    metadata = {"citations": [asdict(c) for c in answer.citations], "answerable": answer.answerable,
                "timings_ms": dict(answer.timings_ms)}
    return Response(response=answer.text, source_nodes=[to_node(s) for s in answer.retrieved], metadata=metadata)


class RagRetriever(BaseRetriever):
    """Our hybrid (dense + BM25, fused) retrieval as a llama-index retriever."""

    def __init__(self, rag: RAG, top_k: int | None = None, filters: Filters | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rag, self.top_k, self.filters = rag, top_k, filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        _, evidence = self.rag.retrieve(query_bundle.query_str, self.top_k, self.filters)
        return [to_node(e.scored) for e in evidence]


class RagQueryEngine(CustomQueryEngine):
    """Our grounded answers (cited, or a refusal) as a llama-index query engine."""

    rag: Any = Field(description="the rag.RAG to ask")
    top_k: int | None = None
    filters: Filters | None = None

    def custom_query(self, query_str: str) -> Response:
        return to_response(self.rag.ask(query_str, top_k=self.top_k, filters=self.filters))
