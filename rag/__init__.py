"""Grounded question answering over a folder of documents, with citations."""
from rag.config import Config
from rag.errors import RagError
from rag.types import Answer, Citation, Filters

__all__ = ["RAG", "Answer", "Citation", "Config", "Filters", "RagError"]


def __getattr__(name: str) -> type:  # the pipeline imports heavy libraries: load it on first use
    if name == "RAG":
        from rag.pipeline import RAG

        return RAG
    raise AttributeError(name)
