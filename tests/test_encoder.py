"""The ONNX encoder: pipeline checks, variant choice, the export cache, and that
answering a question imports no torch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from rag.encoder import MIN_PROBE_COSINE, OnnxEncoder, choose_variant, content_hash, export_dir, read_pipeline
from rag.encoder_export import open_encoder
from rag.errors import RagError


@pytest.fixture()
def model_copy(embedder, tmp_path):
    """A copy of the packaged model folder (symlinked weights), safe to edit."""
    folder = tmp_path / "model"
    shutil.copytree(embedder.path, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(embedder.path / "model.safetensors")
    return folder


def test_pipeline_of_the_packaged_model(embedder):
    pipeline = read_pipeline(embedder.path)
    assert (pipeline.pooling, pipeline.normalize, pipeline.dim, pipeline.max_len) == ("mean", True, 384, 256)


def test_unsupported_pipelines_are_refused_clearly(model_copy):
    modules = json.loads((model_copy / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (model_copy / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(RagError, match="Transformer -> Pooling -> Dense -> Normalize"):
        read_pipeline(model_copy)
    with pytest.raises(RagError, match="not a sentence-transformers model folder"):
        read_pipeline(model_copy / "1_Pooling")


def test_variant_follows_the_gate_and_the_request(monkeypatch):
    import rag.encoder

    good, bad = {"fp32": 1.0, "int8": MIN_PROBE_COSINE + 0.001}, {"fp32": 1.0, "int8": MIN_PROBE_COSINE - 0.001}
    monkeypatch.setattr(rag.encoder, "cpu_has_vnni", lambda: True)
    assert choose_variant("auto", good) == ("fp32", "the default: int8 costs answer quality")
    assert choose_variant("int8", good)[0] == "int8"
    assert choose_variant("int8", bad) == ("fp32", f"int8 failed its gate (min cosine {bad['int8']:.4f} < 0.99)")
    assert choose_variant("fp32", good)[0] == "fp32"
    monkeypatch.setattr(rag.encoder, "cpu_has_vnni", lambda: False)
    assert choose_variant("int8", good)[0] == "int8" and "no VNNI" in choose_variant("int8", good)[1]
    with pytest.raises(RagError, match="unknown embedding precision 'bf16'"):
        choose_variant("bf16", good)


def test_content_hash_keys_the_cache_and_changes_with_the_model(model_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    first = content_hash(model_copy)
    assert json.loads((tmp_path / "cache" / "model-hashes.json").read_text())  # memoised
    assert content_hash(model_copy) == first and export_dir(model_copy).name.startswith(first[:24])
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, "note": "edited"}))
    assert content_hash(model_copy) != first


def test_export_is_cached_and_gated(embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    encoder = open_encoder(embedder.path, "fp32")
    folder = export_dir(embedder.path)
    info = json.loads((folder / "export.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == ["export.json", "model.fp32.onnx", "model.int8.onnx"]
    assert info["min_cosine"]["fp32"] > 0.9999 and 0.9 < info["min_cosine"]["int8"] <= 1.0
    assert encoder.variant == "fp32" and "fp32 1.0000" in encoder.describe()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no export leftovers
    stamp = (folder / "export.json").stat().st_mtime_ns
    open_encoder(embedder.path, "auto")
    assert (folder / "export.json").stat().st_mtime_ns == stamp  # opened, not exported again


def test_a_corrupt_export_is_a_clear_error(embedder, tmp_path):
    bad = tmp_path / "model.fp32.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(RagError, match="cannot load the ONNX encoder"):
        OnnxEncoder(read_pipeline(embedder.path), bad)


def test_answering_imports_no_torch(built_rag):
    script = ("import sys; from rag.config import Config; from rag.pipeline import RAG; "
              f"a = RAG.open(Config(store={str(built_rag.config.store)!r})).ask('How much did Alibaba commit to AI?'); "
              "print(a.answerable, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False"]


def test_an_unwritable_cache_is_a_clear_error(embedder, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RAG_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(RagError, match=r"cannot write the ONNX export .* set RAG_CACHE_DIR"):
        open_encoder(embedder.path, "fp32")


def test_sentence_pooling_equals_the_mean_of_the_tokens_inside_each_span():
    import numpy as np

    from rag.embedding import _pool_sentences

    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(12, 8)).astype(np.float32)
    # [CLS], ten word pieces of 3-5 characters with spaces between, [SEP]; padding would also be (0, 0).
    ends = np.cumsum(rng.integers(4, 7, size=10))
    offsets = np.vstack([[0, 0], np.column_stack([ends - 3, ends]), [0, 0]])
    spans = [(0, int(ends[3])), (int(ends[3]) + 1, int(ends[9])), (int(ends[2]) - 1, int(ends[2])), (999, 1200)]
    fallback = np.ones(8, dtype=np.float32)
    got = _pool_sentences(tokens, offsets, spans, fallback)
    for k, (start, end) in enumerate(spans):
        inside = (offsets[:, 1] > offsets[:, 0]) & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        want = tokens[inside].mean(axis=0) if inside.any() else fallback
        assert np.allclose(got[k], want / np.linalg.norm(want), atol=1e-6)
