"""The pure parts of `rag bench`: statistics, recall, reports, and the corpora it builds.
Nothing here is timed."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from bench.corpus import copy_subset, edit_documents, gold_articles, recombine, sentences_by_article, write_recombined
from bench.report import (
    Target,
    evaluate_targets,
    exact_top_k,
    fmt,
    percentile,
    percentiles,
    recall_at_k,
    render_markdown,
    stage_percentiles,
    table,
)
from rag.chunking import word_count

PARAGRAPHS = {
    "Alpha__000.txt": "The alpha river rises in the northern hills. It flows south for two hundred miles. "
                      "Farmers along its banks grow wheat and barley. The river floods every spring.",
    "Alpha__001.txt": "A stone bridge crosses the alpha river at Millford. It was built in 1820 by local masons. "
                      "The bridge has seven arches. Carts paid a toll of one penny.",
    "Beta__000.txt": "Beta is a small mountain town. Its population was 4,200 in the last census. "
                     "The town is known for its cheese market. Tourists arrive by a narrow railway.",
    "Beta__001.txt": "The beta railway opened in 1902. Steam engines climbed a gradient of one in twelve. "
                     "Electric trains replaced them in 1955. The line still runs in summer.",
}


@pytest.fixture()
def tiny_docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in PARAGRAPHS.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def test_percentile_matches_numpy():
    values = [random.Random(1).uniform(0, 100) for _ in range(257)]
    for p in (0, 1, 50, 95, 99, 100):
        assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)))
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    summary = percentiles([1.0, 2.0, 3.0, 4.0])
    assert summary["p50"] == 2.5 and summary["n"] == 4 and summary["mean"] == 2.5


def test_stage_percentiles_treat_missing_stage_as_zero():
    stats = stage_percentiles([{"embed": 2.0, "total": 10.0}, {"embed": 4.0, "total": 20.0, "answer": 6.0}])
    assert stats["embed"]["p50"] == 3.0
    assert stats["answer"]["p50"] == 3.0  # (0 + 6) / 2
    assert set(stats) == {"embed", "dense", "bm25", "fuse", "fetch", "answer", "total"}


def test_recall_at_k_counts_shared_ids():
    exact = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    got = [["a", "b", "x", "y"], ["h", "g", "f", "e"]]
    assert recall_at_k(got, exact, k=4) == pytest.approx((2 / 4 + 4 / 4) / 2)
    assert recall_at_k(exact, exact, k=4) == 1.0
    assert recall_at_k([["a"]], [["a", "b"]], k=1) == 1.0


def test_exact_top_k_is_brute_force_order():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(50, 8)).astype(np.float32)
    queries = rng.normal(size=(3, 8)).astype(np.float32)
    top = exact_top_k(queries, matrix, 5)
    for q, row in zip(queries, top, strict=True):
        assert list(row) == list(np.argsort(-(matrix @ q))[:5])
    assert exact_top_k(queries, matrix[:3], 10).shape == (3, 3)


def test_table_renders_markdown():
    text = table(["size", "p95 ms", "ok"], [(1000, 12.3456, True), (100_000, None, False)])
    lines = text.splitlines()
    assert lines[0] == "| size | p95 ms | ok |"
    assert lines[1] == "|---|---|---|"
    assert lines[2] == "| 1,000 | 12.3 | yes |"
    assert lines[3] == "| 100,000 | – | no |"
    assert fmt(2345.6) == "2,346" and fmt(0.98765) == "0.988"


def _results(**over):
    r = {
        "quick": True, "load_start": 1.0, "load_end": 2.0, "bench_s": 100.0, "machine": "x86_64",
        "ingest": {"ratio_vs_naive": 3.0, "hit_at_5_gap": 0.002, "non_embed_fraction": 0.1,
                   "sides": {"ours": {"chunks": 10, "wall_s": 1.0, "chunks_per_s": 10.0, "tokens_per_s": 100.0,
                                      "embed_fraction": 0.9, "peak_rss_mb": 900.0}}},
        "reingest": {"unchanged_fraction": 0.01, "unchanged_embed_calls": 0, "changed_reembedded_fraction": 0.012,
                     "deletions_ok": True},
        "query": {"p95_ms": {"1000": 20.0, "100000": 45.0}, "ann_recall_at_10": 0.99,
                  "by_size": {"1000": {"chunks": 1000, "stages": stage_percentiles([{"total": 20.0}])}}},
        "cold_start_s": 1.2,
        "reader": {"chunks": 1500, "queries": 150, "stages": {"total": {"p50": 80.0, "p95": 120.0, "p99": 130.0}}},
        "memory": {"ingest_peak_rss_mb": 1500.0, "query_growth_fraction": 0.01},
    }
    for key, value in over.items():
        r[key] = {**r[key], **value} if isinstance(value, dict) else value
    return r


def test_targets_met_missed_and_wide():
    targets = {t.name.split(" (")[0]: t for t in evaluate_targets(_results())}
    assert all(t.met for t in targets.values()), [t for t in targets.values() if not t.met]
    assert "query p95 at 100000 chunks" in targets  # the largest size is the one judged
    slow = evaluate_targets(_results(ingest={"ratio_vs_naive": 1.6}))  # the idle quick bench's ratio
    assert [t.verdict for t in slow if t.name.startswith("ingest chunks/s")] == ["missed"]
    wide = evaluate_targets(_results(ingest={"ratio_vs_naive": 1.2}, reingest={"unchanged_embed_calls": 3}))
    assert {t.name for t in wide if t.fail_quick} == {"ingest chunks/s vs naive llama-index",
                                                      "unchanged re-ingest embed calls"}
    missing = evaluate_targets(_results(cold_start_s=None))
    assert [t.verdict for t in missing if t.name.startswith("cold")] == ["n/a"]


def test_render_markdown_has_targets_and_latency():
    r = _results()
    text = render_markdown(r, evaluate_targets(r))
    assert text.startswith("# rag bench --quick")
    assert "| ingest chunks/s vs naive llama-index | 3.000 | >= 2.5x | met |" in text
    assert "## Query latency" in text
    assert isinstance(Target("x", 1.0, "<= 2", True).verdict, str)


def test_recombined_corpus_is_real_text(tiny_docs):
    sentences = sentences_by_article(tiny_docs)
    assert set(sentences) == {"Alpha", "Beta"}
    known = {s for pool in sentences.values() for s in pool}
    assert "The bridge has seven arches." in known
    docs = recombine(sentences, seed=1)
    for _ in range(5):
        text = next(docs)
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        assert paragraphs
        for paragraph in paragraphs:
            # every sentence of a new paragraph is a sentence of one source article
            article = next(a for a, pool in sentences.items() if paragraph.startswith(tuple(pool)))
            rest = paragraph
            while rest:
                match = next(s for s in sentences[article] if rest.startswith(s))
                rest = rest[len(match):].lstrip()


def test_write_recombined_reaches_target_and_is_reused(tiny_docs, tmp_path):
    spec = write_recombined(tmp_path / "c", 12, tiny_docs, word_count, chunk_tokens=30, overlap=5)
    assert spec["chunks"] >= 12 - 3 and spec["docs"] == len(list((tmp_path / "c" / "docs").glob("*.txt")))
    again = write_recombined(tmp_path / "c", 12, tiny_docs, word_count, chunk_tokens=30, overlap=5)
    assert again == spec
    assert json.loads((tmp_path / "c" / "spec.json").read_text())["chunks"] == spec["chunks"]


def test_copy_subset_prefers_articles_and_edit_documents(tiny_docs, tmp_path):
    chosen = copy_subset(tiny_docs, tmp_path / "sub", 2, prefer=["Beta"])
    assert chosen == ["Beta__000.txt", "Beta__001.txt"]
    copy_subset(tiny_docs, tmp_path / "all", None)
    before = {p.name: p.read_text() for p in (tmp_path / "all").glob("*.txt")}
    edited, deleted = edit_documents(tmp_path / "all", change=0.25, delete=0.25)
    assert len(edited) == 1 and len(deleted) == 1 and not set(edited) & set(deleted)
    after = {p.name: p.read_text() for p in (tmp_path / "all").glob("*.txt")}
    assert f"{deleted[0]}.txt" not in after
    assert after[f"{edited[0]}.txt"].startswith(before[f"{edited[0]}.txt"].rstrip("\n"))
    assert after[f"{edited[0]}.txt"] != before[f"{edited[0]}.txt"]


def test_gold_articles(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in [{"sources": ["Beta__001"]}, {"sources": []},
                                                      {"sources": ["Alpha__000", "Beta__000"]}]))
    assert gold_articles(gold) == ["Beta", "Alpha"]


def test_onnx_encoder_matches_sentence_transformers(embedder):
    """The fp32 ONNX encoder gives SentenceTransformer's vectors, one text or a batch; the
    int8 variant (opt-in, where it passed its gate) stays close."""
    from sentence_transformers import SentenceTransformer

    from rag.embedding import Embedder

    texts = ["How much has Alibaba committed to AI?", "When did the 1973 oil crisis begin? " * 30, "",
             "naïve café – “quotes” 東京"]
    ref = SentenceTransformer(str(embedder.path), device="cpu").encode(texts, normalize_embeddings=True)
    fp32 = Embedder(precision="fp32")
    assert fp32.active_precision == "fp32"
    ours = np.stack([fp32.embed_query(t) for t in texts])
    assert np.min(np.sum(ours * ref, axis=1)) > 0.99999
    assert np.min(np.sum(fp32.embed_texts(texts) * ref, axis=1)) > 0.99999
    assert embedder.dim == ours.shape[1]
    # int8 error averages out over real text; an empty text (two special tokens) measured 0.977.
    close = np.sum(Embedder(precision="int8").embed_texts(texts) * ref, axis=1)
    assert np.min(close[[0, 1, 3]]) > 0.985 and close[2] > 0.95
