"""Writing a trained answer model as the ONNX file that `rag.reader.Reader` runs.

Weights are stored in fp16 (half the size: the file stays under 50 MB), each followed
by a Cast to fp32 in the graph; ONNX Runtime folds those casts when it loads the
model, so inference runs in fp32 on any CPU. Left out: int8 quantisation.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.reader import encode_pairs, load_tokenizer
from rag.train.model import ReaderModel

MIN_FP16_ELEMENTS = 1024  # small tensors (biases, norms) stay fp32: no size to gain


def export(model: ReaderModel, out_dir: Path) -> Path:
    """Write reader.onnx and the tokenizer into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = Path(resolve_model(PACKAGED_MODEL))
    enc = encode_pairs(load_tokenizer(base), "Who wrote it?", ["It was written by someone in 1900."])
    inputs = tuple(torch.from_numpy(a) for a in (enc.input_ids, enc.attention_mask, enc.token_type_ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {
        "start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"}, "answer_logit": {0: "batch"}}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "reader.onnx"
        torch.onnx.export(model.float().eval(), inputs, str(raw), input_names=names,
                          output_names=["start_logits", "end_logits", "answer_logit"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
        _store_fp16(raw, out_dir / "reader.onnx")
    shutil.copy(base / "tokenizer.json", out_dir / "tokenizer.json")
    return out_dir / "reader.onnx"


def _store_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size >= MIN_FP16_ELEMENTS:
            keep.append(numpy_helper.from_array(array.astype(np.float16), init.name + "__fp16"))
            casts.append(helper.make_node("Cast", [init.name + "__fp16"], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
