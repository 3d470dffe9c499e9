"""Exporting a sentence-transformers model to the ONNX files `rag.encoder` runs. Needs
torch; runs once per model content (~30 s for MiniLM on 2 cores), on the first ingest or
query that finds no cached export.

Steps: sentence-transformers loads the model; its transformer is traced with eager
attention (SDPA attention traces to a graph ONNX Runtime's fusions do not match); ONNX
Runtime's BERT optimiser fuses attention, GELU and LayerNorm into model.fp32.onnx; the
dense layers' weights are quantised to int8 (per channel, dynamic activations) into
model.int8.onnx. Each file is then compared with `SentenceTransformer.encode` in fp32
torch on PROBES, and the minimum cosine per variant is written to export.json, the file
whose presence marks a finished export. Everything is written to a temporary folder
first and renamed into place, so an interrupted export leaves nothing half-written.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from rag.encoder import EXPORT_FORMAT, VARIANTS, OnnxEncoder, Pipeline, export_dir, read_pipeline
from rag.errors import RagError

log = logging.getLogger(__name__)

# Short questions and statements, and chunk-length passages: int8 error grows with length.
PROBES = [
    "Who is the chief executive?",
    "Alibaba committed $53 billion to AI and cloud infrastructure over three years.",
    "Cloud revenue climbed 34% to $5.59 billion while free cash flow turned negative.",
    "The steam engine was refined by James Watt, whose separate condenser cut fuel use sharply. "
    "Mills and mines adopted it within decades, and by the 1830s locomotives carried freight and "
    "passengers between cities. Coal demand rose with every new line, which in turn paid for deeper "
    "shafts, better pumps and, eventually, the first railways built for passengers alone.",
    "Shares fell 4% in Hong Kong after the company said capital spending would stay high for at least "
    "two more quarters. Analysts at two banks cut their price targets, citing thinner margins in the "
    "e-commerce business, while others argued that cloud growth of more than 30% a year justified the "
    "outlay. The board also approved a buyback of up to $25 billion and a special dividend.",
]


def open_encoder(path: Path, precision: str = "auto") -> OnnxEncoder:
    """The encoder of a sentence-transformers folder, exported first if not cached."""
    pipeline = read_pipeline(path)
    folder = export_dir(path)
    if not (folder / "export.json").is_file():
        export(pipeline, folder)
    return OnnxEncoder.load(pipeline, folder, precision)


def export(pipeline: Pipeline, folder: Path) -> None:
    """Write model.fp32.onnx, model.int8.onnx and export.json into `folder`."""
    log.warning("exporting the embedding model %s to ONNX (once per model, ~30 s)", pipeline.path)
    model = _load(pipeline.path)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    except OSError as exc:
        raise RagError(f"cannot write the ONNX export under {folder.parent} ({exc.strerror}): "
                       "set RAG_CACHE_DIR to a writable folder") from exc
    try:
        raw = work / "raw.onnx"
        _trace(model, raw)
        _optimise(raw, work / "model.fp32.onnx", model[0].auto_model.config)
        _quantise(raw, work / "model.int8.onnx")
        raw.unlink()
        gate = {v: _min_probe_cosine(model, pipeline, work / f"model.{v}.onnx") for v in VARIANTS}
        info = {"format": EXPORT_FORMAT, "model": str(pipeline.path), "min_cosine": gate,
                "onnxruntime": _version("onnxruntime"), "torch": _version("torch")}
        (work / "export.json").write_text(json.dumps(info, indent=1))
        try:
            os.replace(work, folder)
        except OSError:  # another process finished the same export first: keep theirs
            if not (folder / "export.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.warning("ONNX export done: probe min cosine %s", ", ".join(f"{v} {c:.4f}" for v, c in gate.items()))


def _load(path: Path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RagError("exporting the embedding model to ONNX (once per model) needs torch and "
                       f"sentence-transformers: {exc}") from exc

    try:
        model = SentenceTransformer(str(path), device="cpu")
    except (OSError, ValueError) as exc:
        raise RagError(f"cannot load embedding model {path}: {exc}") from exc
    model[0].auto_model.set_attn_implementation("eager")  # type: ignore[union-attr,operator]
    return model.eval()


def _trace(model, out: Path) -> None:
    import torch

    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in model.tokenizer.model_input_names]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(["A short text.", "A somewhat longer text, to vary the length."],
                             padding=True, return_tensors="pt")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]}
    # The tracer warns about Python branches on shapes (the attention mask's padding); that
    # the graph holds for other lengths is what the probe cosine checks, on mixed lengths.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TokenEmbeddings(model[0].auto_model), tuple(sample[n] for n in names), str(out),
                          input_names=names, output_names=["token_embeddings"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _optimise(raw: Path, out: Path, config) -> None:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size, opt_level=1)
    fused = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    log.info("ONNX fusions: %s", fused)
    model.save_model_to_file(str(out))


def _quantise(raw: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(raw)).graph
    weights = {i.name for i in graph.initializer}
    dense = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    quantize_dynamic(str(raw), str(out), weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=dense)


def _min_probe_cosine(model, pipeline: Pipeline, onnx_file: Path) -> float:
    reference = model.encode(PROBES, convert_to_numpy=True, normalize_embeddings=True)
    got = OnnxEncoder(pipeline, onnx_file).encode(PROBES)[0]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    return round(float(np.min(np.sum(reference * got, axis=1))), 5)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
