"""The `naive` baseline: what llama-index does with its defaults.

`VectorStoreIndex.from_documents(SimpleDirectoryReader(corpus).load_data())` with the
same packaged embedding model, stored in a Chroma collection inside the eval store,
top-5 retrieval, and the top node's best sentence as the answer. The embedding model is
passed explicitly: llama_index.core.Settings is never touched (it is process-global).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from eval.systems import Passage, Prediction, best_sentence, extractive_prediction
from rag.chunking import sentence_spans
from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.timing import stage
from rag.types import Span

COLLECTION = "naive"
DONE = "naive.done"


def _embed_model(model: str):
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=resolve_model(model))


def build_or_load_index(folder: Path, corpus: Path, model: str = PACKAGED_MODEL, progress: bool = False):
    """The llama-index index persisted in `folder`: built from `corpus` once (a marker
    file records a finished build), loaded from Chroma on later runs."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embed = _embed_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / DONE
    if not done.exists():
        shutil.rmtree(folder / "chroma", ignore_errors=True)  # an interrupted build
    client = chromadb.PersistentClient(path=str(folder / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection(COLLECTION))
    if done.exists():
        return VectorStoreIndex.from_vector_store(store, embed_model=embed)
    documents = SimpleDirectoryReader(str(corpus)).load_data()
    context = StorageContext.from_defaults(vector_store=store)
    index = VectorStoreIndex.from_documents(documents, storage_context=context, embed_model=embed,
                                            show_progress=progress)
    done.write_text(str(len(documents)))
    return index


def node_doc_id(metadata: dict) -> str:
    """The product's doc id for a llama-index node: its file name without extension."""
    return Path(metadata.get("file_name", "")).stem


class NaiveSystem:
    """Top-5 dense retrieval over llama-index's default nodes."""

    name = "naive"

    def __init__(self, index, k: int = 5):
        self.retriever = index.as_retriever(similarity_top_k=k)

    def predict(self, question: str) -> Prediction:
        t0, timings = time.perf_counter(), dict[str, float]()
        with stage(timings, "retrieve"):
            nodes = self.retriever.retrieve(question)
        retrieved = tuple(Passage(node_doc_id(n.node.metadata), n.node.get_content()) for n in nodes)
        with stage(timings, "answer"):
            top = retrieved[0].text if retrieved else ""
            text = best_sentence(question, [top[s.start : s.end] for s in sentence_spans(top, Span(0, len(top)))])
        timings["total"] = (time.perf_counter() - t0) * 1000
        return extractive_prediction(text, retrieved, timings)
