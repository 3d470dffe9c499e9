"""The embedding model as an ONNX Runtime session: one encoder for ingest batches and for
queries, importing only onnxruntime, tokenizers and numpy (so `rag ask` never imports
torch).

The ONNX files come from `rag.encoder_export.open_encoder`, once per model content, into a cache
folder keyed by the model's content hash (see `export_dir`). Two variants are exported:
fp32 (graph-optimised: fused attention, GELU and LayerNorm) and int8 (dynamic
quantisation of the dense layers). Each is checked against fp32 torch at export and the
figures are kept in export.json; int8 runs only when asked for (RAG_EMBED_PRECISION=int8)
and only where it passed that gate (see `choose_variant` for why it is not the default).
Left out: bf16 (ONNX Runtime has no fast bf16 CPU kernels on
x86) and GPU execution providers.

Pooling follows the model's sentence-transformers modules: mean or CLS, then an optional
Normalize. Any other pipeline (a Dense layer, weighted pooling) is refused with a clear
error rather than embedded differently from `SentenceTransformer.encode`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, RagError

EXPORT_FORMAT = 1  # bump when the export changes: old cache folders are then ignored
MIN_PROBE_COSINE = 0.99
VARIANTS = ("fp32", "int8")
_MODEL_FILES = ("modules.json", "config.json", "sentence_bert_config.json", "tokenizer.json",
                "1_Pooling/config.json", "model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Pipeline:
    """What the sentence-transformers folder says about encoding."""

    path: Path
    max_len: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    dim: int


def read_pipeline(path: Path) -> Pipeline:
    """The model folder's Transformer -> Pooling [-> Normalize] pipeline; RagError otherwise."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        config = json.loads((path / "config.json").read_text())
        st_config = json.loads((path / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise RagError(f"{path} is not a sentence-transformers model folder: {exc}") from exc
    modes = sorted(k.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
                   for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or modes not in (
            ["mean"], ["cls"]):
        raise RagError(f"embedding model {path} is {' -> '.join(modules)} with {modes} pooling; "
                       "only Transformer -> mean or CLS Pooling [-> Normalize] models are supported")
    max_len = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
    return Pipeline(path, max_len, modes[0], modules[-1] == "Normalize", int(pooling["word_embedding_dimension"]))


def cache_root() -> Path:
    """Where exports live: $RAG_CACHE_DIR, else ~/.cache/rag."""
    return Path(os.environ.get("RAG_CACHE_DIR") or Path.home() / ".cache" / "rag")


def content_hash(path: Path) -> str:
    """SHA-256 over the model's files. Memoised by file size and mtime in the cache root,
    so a start reads a small JSON file instead of hashing ~90 MB."""
    files = [path / f for f in _MODEL_FILES if (path / f).is_file()]
    stamp = "|".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    memo_file = cache_root() / "model-hashes.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if stamp in memo:
        return memo[stamp]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    memo[stamp] = digest.hexdigest()
    try:
        _write_atomic(memo_file, json.dumps(memo, indent=1))
    except OSError:
        pass  # a read-only cache only costs hashing again next time
    return memo[stamp]


def export_dir(path: Path) -> Path:
    """The cache folder of this model's export (it may not exist yet)."""
    return cache_root() / "onnx" / f"{content_hash(path)[:24]}-v{EXPORT_FORMAT}"


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def cpu_has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def choose_variant(precision: str, gate: dict) -> tuple[str, str]:
    """(variant, reason) for the requested precision (auto, fp32 or int8) and the export's
    gate figures ({variant: min cosine}). `auto` is fp32: int8 passed its gate (probe
    cosine 0.992, hit@5 +0.004 on 500 questions) but answered one more unanswerable gold
    question (refusal recall 0.500 -> 0.455) and lost one answer (contains 0.733 -> 0.722)."""
    if precision not in ("auto", *VARIANTS):
        raise ConfigError(f"unknown embedding precision {precision!r} (RAG_EMBED_PRECISION): use auto, fp32 or int8")
    cosine = gate.get("int8", 0.0)
    if precision != "int8":
        return "fp32", "asked for" if precision == "fp32" else "the default: int8 costs answer quality"
    if cosine < MIN_PROBE_COSINE:
        return "fp32", f"int8 failed its gate (min cosine {cosine:.4f} < {MIN_PROBE_COSINE})"
    if not cpu_has_vnni():
        return "int8", f"asked for; min cosine {cosine:.4f}; no VNNI on this CPU, so it may not beat fp32"
    return "int8", f"asked for; min cosine {cosine:.4f}; VNNI CPU"


def _write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, target)


class OnnxEncoder:
    """Token embeddings and pooled vectors of texts, from one ONNX Runtime session."""

    def __init__(self, pipeline: Pipeline, onnx_file: Path, variant: str = "fp32", reason: str = "",
                 gate: dict | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No spin-waiting between ops: on a shared 2-core machine a spinning thread starves the rest.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise RagError(f"cannot load the ONNX encoder {onnx_file}: {exc}") from exc
        self.pipeline, self.file, self.variant, self.reason, self.gate = pipeline, onnx_file, variant, reason, gate or {}
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(pipeline.path / "tokenizer.json"))
        pad = self.tokenizer.padding or {"pad_id": 0, "pad_token": "[PAD]"}
        self.tokenizer.enable_truncation(pipeline.max_len)
        self.tokenizer.enable_padding(pad_id=pad["pad_id"], pad_token=pad["pad_token"])  # to the batch's longest
        self.counter = Tokenizer.from_file(str(pipeline.path / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()

    @classmethod
    def load(cls, pipeline: Pipeline, folder: Path, precision: str = "auto") -> "OnnxEncoder":
        """The variant of an export folder that `precision` and the CPU call for."""
        gate = json.loads((folder / "export.json").read_text())["min_cosine"]
        variant, reason = choose_variant(precision, gate)
        return cls(pipeline, folder / f"model.{variant}.onnx", variant, reason, gate)

    @property
    def dim(self) -> int:
        return self.pipeline.dim

    def describe(self) -> str:
        """One line: which encoder runs and why (for `rag doctor` and the bench report)."""
        figures = ", ".join(f"{v} {c:.4f}" for v, c in self.gate.items())
        return f"onnx {self.variant} ({self.reason}); probe min cosine vs torch fp32: {figures or 'not measured'}"

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without special tokens or truncation."""
        return len(self.counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pooled vectors, token embeddings, token character offsets) of a batch."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        tokens = self.session.run(None, {k: feed[k] for k in self.inputs})[0]
        if self.pipeline.pooling == "cls":
            vecs = tokens[:, 0].copy()
        else:
            weights = mask[..., None].astype(np.float32)
            vecs = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.pipeline.normalize:
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        offsets = np.array([e.offsets for e in encodings], dtype=np.int64)
        return vecs.astype(np.float32), tokens, offsets
