"""The pure parts of `rag bench`: statistics, recall, targets, the Markdown report and
the latency plot. Nothing here measures anything."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.markdown import fmt, table
from eval.metrics import percentile

STAGES = ("embed", "dense", "bm25", "fuse", "fetch", "answer", "total")
READER_STAGES = ("embed", "dense", "bm25", "fuse", "fetch", "rerank", "read", "answer", "total")


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def percentiles(values: Sequence[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "mean": sum(values) / len(values) if values else math.nan, "n": len(values)}


def stage_percentiles(timings: Sequence[dict], stages: Sequence[str] = ()) -> dict:
    """Percentiles per stage of a list of `Answer.timings_ms` (a missing stage is 0 ms)."""
    return {s: percentiles([t.get(s, 0.0) for t in timings]) for s in (stages or STAGES)}


def recall_at_k(got: Sequence[Sequence[str]], exact: Sequence[Sequence[str]], k: int = 10) -> float:
    """Mean share of the exact top-k ids that the approximate search returned."""
    if not exact:
        return math.nan
    return sum(len(set(g[:k]) & set(e[:k])) / max(1, len(e[:k])) for g, e in zip(got, exact, strict=True)) / len(exact)


def exact_top_k(queries, matrix, k: int = 10):
    """Row indices of the k best inner products per query, best first (numpy arrays)."""
    import numpy as np

    scores = queries @ matrix.T
    k = min(k, matrix.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    goal: str
    met: bool | None
    fail_quick: bool = False  # missed by a wide margin (fails `rag bench --quick`)

    @property
    def verdict(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else ("MISSED (wide)" if self.fail_quick else "missed"))


def _lt(value, goal: float, wide: float | None = None, name: str = "", text: str = "") -> Target:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Target(name, None, text, None)
    return Target(name, value, text, value <= goal, wide is not None and value > wide)


def _gt(value, goal: float, wide: float | None = None, name: str = "", text: str = "") -> Target:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Target(name, None, text, None)
    return Target(name, value, text, value >= goal, wide is not None and value < wide)


def evaluate_targets(r: dict) -> list[Target]:
    """Each target of the issue against the results; `fail_quick` marks wide misses of
    the ratio targets (ingest speed, re-ingest cost), the ones `--quick` fails on."""
    ing, re_, q, mem = r.get("ingest", {}), r.get("reingest", {}), r.get("query", {}), r.get("memory", {})
    largest = str(max((int(k) for k in q.get("p95_ms", {})), default=0))
    reader = r.get("reader", {})
    hit_gap = ing.get("hit_at_5_gap")
    return [
        # Wide miss: 1.3x, the level of the torch encoder this replaced (1.1-1.6x; see README).
        _gt(ing.get("ratio_vs_naive"), 2.5, 1.3, "ingest chunks/s vs naive llama-index", ">= 2.5x"),
        _lt(abs(hit_gap) if hit_gap is not None else None, 0.005, None,
            f"hit@5 gap, {ing.get('precision', '?')} vs fp32", "<= 0.005"),
        _lt(ing.get("non_embed_fraction"), 0.15, None, "ingest time outside embedding", "< 15% of wall"),
        _lt(re_.get("unchanged_fraction"), 0.02, 0.10, "unchanged re-ingest / first ingest", "<= 2%"),
        _lt(re_.get("unchanged_embed_calls"), 0, 0, "unchanged re-ingest embed calls", "0"),
        _lt(re_.get("changed_reembedded_fraction"), 0.015, 0.03, "1% changed: chunks re-embedded", "<= 1.5%"),
        _gt(1.0 if re_.get("deletions_ok") else 0.0, 1.0, None, "deletions propagate", "all removed"),
        _lt(q.get("p95_ms", {}).get(largest), 50.0, None, f"query p95 at {largest} chunks (ms)", "<= 50 ms"),
        _gt(q.get("ann_recall_at_10"), 0.98, None, f"ANN recall@10 at {largest} chunks", ">= 0.98"),
        _lt(reader.get("stages", {}).get("total", {}).get("p95"), 150.0, None,
            f"query p95 with the answer model, {reader.get('chunks', '?')} chunks (ms)", "<= 150 ms"),
        _lt(r.get("cold_start_s"), 1.5, None, "cold start `rag ask` (s)", "<= 1.5 s"),
        _lt(mem.get("ingest_peak_rss_mb"), 2048, None, f"peak RSS ingesting {mem.get('ingest_chunks', '?')} chunks (MB)",
            "<= 2048 MB"),
        _lt(mem.get("query_growth_fraction"), 0.05, None,
            f"RSS growth over {mem.get('growth_queries', '?')} queries", "<= 5%"),
    ]


def render_markdown(r: dict, targets: list[Target]) -> str:
    ing, re_, q, mem = r.get("ingest", {}), r.get("reingest", {}), r.get("query", {}), r.get("memory", {})
    out = [f"# rag bench{' --quick' if r.get('quick') else ''}", "",
           f"{r.get('machine', '')}. Load average at start/end: {fmt(r.get('load_start'))} / {fmt(r.get('load_end'))}"
           f" (the machine was shared: absolute times are pessimistic). Total {fmt(r.get('bench_s'))} s.", "",
           "## Targets", "", table(["target", "measured", "goal", "verdict"],
                                   [(t.name, t.value, t.goal, t.verdict) for t in targets]), ""]
    sides = ing.get("sides", {})
    if sides:
        out += [f"## Ingestion: {fmt(ing.get('docs'))} squad2-open paragraphs, {fmt(ing.get('rounds'))} alternating "
                "rounds, medians (fresh process per run)", "",
                table(["side", "chunks", "wall s", "chunks/s", "tokens/s", "embedding share", "peak RSS MB"],
                      [(name, s.get("chunks"), s.get("wall_s"), s.get("chunks_per_s"), s.get("tokens_per_s"),
                        s.get("embed_fraction"), s.get("peak_rss_mb")) for name, s in sides.items()]), "",
                f"Ratio (chunks/s): {fmt(ing.get('ratio_vs_naive'))}x; tokens/s: {fmt(ing.get('token_ratio_vs_naive'))}x."
                f" Encoder: {ing.get('encoder', '?')}."
                f" hit@5 ours ({ing.get('precision', '?')}) {fmt(ing.get('hit_at_5', {}).get('ours'))},"
                f" fp32 {fmt(ing.get('hit_at_5', {}).get('fp32'))}"
                f" (dense only: {fmt(ing.get('dense_hit_at_5', {}).get('ours'))} / "
                f"{fmt(ing.get('dense_hit_at_5', {}).get('fp32'))}; {fmt(ing.get('quality_questions'))} questions)."
                f" Query vectors (ONNX encoder) vs SentenceTransformer.encode: min cosine "
                f"{fmt(ing.get('query_min_cosine'), 7)}.", ""]
    if re_:
        out += ["## Re-ingest", "", table(["case", "wall s", "embed calls", "chunks embedded", "of total", "removed"], [
            ("unchanged", re_.get("unchanged_s"), re_.get("unchanged_embed_calls"), 0, re_.get("chunks_total"), 0),
            ("1% changed + deletions", re_.get("changed_s"), re_.get("changed_embed_calls"),
             re_.get("changed_chunks_embedded"), re_.get("chunks_total"), re_.get("removed_docs"))]), ""]
    sizes = q.get("by_size", {})
    if sizes:
        rows = []
        for size, s in sizes.items():
            for stage in STAGES:
                p = s["stages"][stage]
                rows.append((size if stage == "embed" else "", stage, p["p50"], p["p95"], p["p99"]))
        out += ["## Query latency (ms, extractive, warm process)", "",
                table(["chunks", "stage", "p50", "p95", "p99"], rows), ""]
        if q.get("recall_sweep"):
            out += [f"ANN recall@10 vs exact search at {fmt(q.get('recall_chunks'))} chunks:", "",
                    table(["ef_search", "recall@10", "dense p50 ms", "dense p95 ms"],
                          [(s["ef_search"], s["recall_at_10"], s["dense_ms"]["p50"], s["dense_ms"]["p95"])
                           for s in q["recall_sweep"]]), ""]
    if r.get("reader"):
        rd = r["reader"]
        out += [f"## Query latency with the answer model (ms, {fmt(rd['chunks'])} chunks, {fmt(rd['queries'])} "
                "questions, warm)", "", table(["stage", "p50", "p95", "p99"],
                                            [(k, v["p50"], v["p95"], v["p99"]) for k, v in rd["stages"].items()]), ""]
    if q.get("replica"):
        rep = q["replica"]
        out += [f"At {fmt(q.get('recall_chunks'))} chunks ({fmt(rep['documents'])} documents): catalog fingerprint "
                f"{fmt(rep['fingerprint_s'])} s, chunk count {fmt(rep['count_s'] * 1000)} ms, BM25 rebuilt from the "
                f"store (a new replica) {fmt(rep['bm25_rebuild_s'])} s.", ""]
    if mem:
        out += ["## Memory (peak RSS, MB)", "", table(["what", "value"], [(k, v) for k, v in mem.items()]), ""]
    if r.get("cold_start"):
        out += ["## Cold start (`rag ask` in a new process)", "",
                table(["store", "median s", "min s", "runs"], [(k, v["median_s"], v["min_s"], v["runs"])
                                                               for k, v in r["cold_start"].items()]), ""]
    return "\n".join(out)


def plot_latency(by_size: dict, path: Path) -> None:
    """Query latency (p50/p95/p99 total, p95 per stage) against corpus size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(by_size, key=int)
    xs = [by_size[s]["chunks"] for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p, style in (("p50", "-o"), ("p95", "-s"), ("p99", "-^")):
        ax.plot(xs, [by_size[s]["stages"]["total"][p] for s in sizes], style, label=f"total {p}")
    for stage in STAGES[:-1]:
        ax.plot(xs, [by_size[s]["stages"][stage]["p95"] for s in sizes], ":", alpha=0.7, label=f"{stage} p95")
    ax.axhline(50, color="grey", lw=0.8, ls="--", label="50 ms target")
    ax.set_xscale("log")
    ax.set_xlabel("corpus size (chunks)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("rag ask latency vs corpus size (extractive, warm)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
