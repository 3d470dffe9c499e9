"""A llama-index user plugs our retriever and query engine into llama-index's own API
(real model, real corpus)."""
from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import QueryBundle
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.no_text import NoText
from llama_index.core.retrievers import BaseRetriever

from rag.llama_index import RagQueryEngine, RagRetriever
from rag.types import Filters

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
ALIBABA = "002_3a9aaa5ed2089fde"


def source_text(metadata: dict) -> str:
    return Path(metadata["source"]).read_text()


@pytest.fixture(scope="module")
def retriever(built_rag) -> RagRetriever:
    return RagRetriever(built_rag, top_k=5)


def test_retriever_nodes_carry_doc_id_exact_offsets_and_date(retriever):
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(QueryBundle(QUESTION))
    assert len(nodes) == 5
    assert nodes[0].node.metadata["doc_id"] == ALIBABA
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    for n in nodes:
        meta = n.node.metadata
        assert n.node.ref_doc_id == meta["doc_id"]
        assert (n.node.start_char_idx, n.node.end_char_idx) == (meta["start_char"], meta["end_char"])
        assert source_text(meta)[n.node.start_char_idx : n.node.end_char_idx] == n.node.get_content()
        assert meta["published"] is None or len(meta["published"]) == 10  # ISO; 000 and 003 state no date
        # what an LLM downstream sees: the title and date, not offsets or paths
        shown = n.node.get_content(metadata_mode="llm")
        assert meta["title"] in shown and "start_char" not in shown and meta["source"] not in shown


def test_retriever_composes_into_llama_index_query_engine(retriever):
    # Retrieval only (no LLM offline): llama-index's own engine, with its no-text synthesizer.
    engine = RetrieverQueryEngine(retriever, response_synthesizer=NoText(llm=MockLLM()))
    response = engine.query(QUESTION)
    direct = retriever.retrieve(QUESTION)
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in direct]
    assert response.source_nodes[0].node.metadata["doc_id"] == ALIBABA


def test_retriever_filters_by_document(built_rag):
    only = "001_17bc7c86aa70c97c"
    nodes = RagRetriever(built_rag, top_k=3, filters=Filters(doc_ids=(only,))).retrieve(QUESTION)
    assert nodes and {n.node.metadata["doc_id"] for n in nodes} == {only}


def test_query_engine_response_has_source_nodes_and_exact_citations(built_rag):
    response = RagQueryEngine(rag=built_rag).query(QUESTION)
    assert isinstance(response, Response)
    assert "billion" in str(response) and response.metadata["answerable"] is True
    citations = response.metadata["citations"]
    assert citations and citations[0]["doc_id"] == ALIBABA
    node_ids = {n.node.node_id for n in response.source_nodes}
    for c in citations:
        assert Path(c["source"]).read_text()[c["start"] : c["end"]] == c["quote"]
        assert f"[{c['n']}]" in response.response
        assert c["chunk_id"] in node_ids  # every cited passage is among the source nodes


def test_query_engine_refusal_cites_nothing(built_rag):
    response = RagQueryEngine(rag=built_rag).query(QueryBundle("Who is Alibaba's chief financial officer?"))
    assert response.metadata["answerable"] is False
    assert response.metadata["citations"] == []
    assert "does not contain" in response.response
