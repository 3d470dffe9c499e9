"""`rag bench`: ingestion throughput against naive llama-index, re-ingest cost, query
latency and ANN recall at growing corpus sizes, cold start and memory.

Every measurement runs in a fresh worker process (bench/worker.py) and reports
JSON; this module orchestrates, takes medians and writes `bench.json`, `bench.md` and
`query_latency.png`. All text is real: squad2-open paragraphs, and for the big corpora
their sentences recombined into new documents (bench/corpus.py). `--quick` is the
CI version (a 300-paragraph subset, 1k chunks); it fails only on a wide miss of a ratio
target (see bench_report.evaluate_targets).
"""
from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import copy_subset, edit_documents, gold_articles, squad_root, token_counter, write_recombined
from bench.report import READER_STAGES, evaluate_targets, median, plot_latency, render_markdown, stage_percentiles

QUICK: dict[str, Any] = {"docs": 150, "rounds": 3, "quality_n": 150, "sizes": [1000], "serve_n": 300, "growth_n": 500,
         "recall_q": 200, "efs": [16, 64, 128, 512], "cold_runs": 3, "reader_n": 150}
FULL: dict[str, Any] = {"docs": None, "rounds": 3, "quality_n": 500, "sizes": [1000, 10_000, 100_000], "serve_n": 300,
        "growth_n": 1000, "recall_q": 300, "efs": [16, 64, 128, 256, 512], "cold_runs": 5, "reader_n": 300}
SAMPLE_QUESTION = "When did the 1973 oil crisis begin?"
BUILD_VERSION = 2  # bump when ingestion changes in a way that the stored build measurements no longer reflect


class BenchError(RuntimeError):
    """A worker failed; the message holds the end of its stderr."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def child_env() -> dict:
    """The environment of workers: offline, embedded stores (a configured Chroma
    server would mix the bench's stores into one server)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"RAG_CHROMA_HOST", "RAG_CHROMA_PORT", "RAG_STORE", "RAG_CORPUS"}}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def run_task(task: str, timeout: float | None = None, **args) -> dict:
    """Run one worker task in a fresh process; its JSON result plus `process_s`."""
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "bench.worker", task, json.dumps(args)], capture_output=True,
                          text=True, env=child_env(), timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"worker {task} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"], result["process_cpu_s"] = time.perf_counter() - t0, _children_cpu() - cpu0
    return result


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _side_summary(runs: list[dict]) -> dict:
    for r in runs:
        r["chunks_per_s"] = r["chunks"] / r["wall_s"]
        r["tokens_per_s"] = r["tokens"] / r["wall_s"]
        if "embed_s" in r:
            r["embed_fraction"] = r["embed_s"] / r["wall_s"]
    keys = ("chunks", "wall_s", "chunks_per_s", "tokens_per_s", "embed_fraction", "peak_rss_mb", "process_s")
    return {k: median([r[k] for r in runs]) for k in keys if all(k in r for r in runs)}


def bench_ingest(p: dict, work: Path, docs: Path, gold: Path) -> tuple[dict, Path]:
    """Alternating rounds of ours and naive, an fp32 build, and hit@5 of ours (the encoder
    variant this CPU runs) and of fp32."""
    runs: dict[str, list[dict]] = {"ours": [], "naive": []}
    keep: Path | None = None
    for rnd in range(p["rounds"]):
        for side in (("ours", "naive") if rnd % 2 == 0 else ("naive", "ours")):
            store = work / "ingest" / f"{side}-{rnd}"
            shutil.rmtree(store, ignore_errors=True)
            result = run_task(side, docs=str(docs), store=str(store))
            runs[side].append(result)
            log(f"ingest round {rnd + 1}/{p['rounds']} {side}: {result['chunks']} chunks in {result['wall_s']:.1f} s")
            if side == "ours":
                if keep:
                    shutil.rmtree(keep, ignore_errors=True)
                keep = store
            else:
                shutil.rmtree(store, ignore_errors=True)
    fp32_store = work / "ingest" / "fp32"
    shutil.rmtree(fp32_store, ignore_errors=True)
    quality = run_task("quality", stores={"ours": str(keep)}, gold=str(gold), n=p["quality_n"],
                       build_fp32={"docs": str(docs), "store": str(fp32_store)})
    fp32 = quality["fp32_build"]
    log(f"fp32 build: {fp32['chunks']} chunks in {fp32['wall_s']:.1f} s; hit@5 ours {quality['ours']['hit_at_5']:.3f}"
        f" fp32 {quality['fp32']['hit_at_5']:.3f}")
    shutil.rmtree(fp32_store, ignore_errors=True)
    sides = {"ours": _side_summary(runs["ours"]), "naive": _side_summary(runs["naive"]),
             "ours fp32 (1 run)": _side_summary([fp32])}
    out = {
        "docs": len(list(docs.glob("*.txt"))), "rounds": p["rounds"], "runs": runs, "sides": sides,
        "precision": runs["ours"][0]["precision"], "encoder": runs["ours"][0]["encoder"],
        "batch_size": runs["ours"][0]["batch_size"],
        "chunks_per_s": sides["ours"]["chunks_per_s"], "naive_chunks_per_s": sides["naive"]["chunks_per_s"],
        "ratio_vs_naive": sides["ours"]["chunks_per_s"] / sides["naive"]["chunks_per_s"],
        "token_ratio_vs_naive": sides["ours"]["tokens_per_s"] / sides["naive"]["tokens_per_s"],
        "wall_ratio_vs_naive": sides["naive"]["wall_s"] / sides["ours"]["wall_s"],
        "non_embed_fraction": 1 - sides["ours"]["embed_fraction"],
        "first_ingest_s": sides["ours"]["wall_s"],
        "hit_at_5": {k: quality[k]["hit_at_5"] for k in ("ours", "fp32")},
        "dense_hit_at_5": {k: quality[k]["dense_hit_at_5"] for k in ("ours", "fp32")},
        "hit_at_5_gap": quality["ours"]["hit_at_5"] - quality["fp32"]["hit_at_5"],
        "dense_hit_at_5_gap": quality["ours"]["dense_hit_at_5"] - quality["fp32"]["dense_hit_at_5"],
        "quality_questions": quality["ours"]["questions"], "query_min_cosine": quality["query_min_cosine"],
    }
    assert keep is not None  # rounds >= 1 ran ours at least once
    return out, keep


def bench_reingest(docs: Path, store: Path, first_s: float) -> dict:
    """Unchanged re-ingest, then 1% edited plus deletions, each in a fresh process."""
    same = run_task("reingest", docs=str(docs), store=str(store))
    log(f"unchanged re-ingest: {same['wall_s']:.2f} s, {same['embed_calls']} embed calls")
    edited, deleted = edit_documents(docs, change=0.01, delete=0.005)
    changed = run_task("reingest", docs=str(docs), store=str(store))
    log(f"re-ingest after {len(edited)} edits, {len(deleted)} deletions: {changed['chunks_embedded']} chunks embedded")
    total_before = same["chunks_total"]
    return {
        "unchanged_s": same["wall_s"], "unchanged_fraction": same["wall_s"] / first_s,
        "unchanged_embed_calls": same["embed_calls"], "unchanged_model_loaded": same["model_loaded"],
        "unchanged_stages_s": same["stages_s"], "unchanged_process_s": same["process_s"],
        "first_ingest_s": first_s, "chunks_total": total_before,
        "changed_docs": len(edited), "deleted_docs": len(deleted), "changed_s": changed["wall_s"],
        "changed_embed_calls": changed["embed_calls"], "changed_chunks_embedded": changed["chunks_embedded"],
        "changed_reembedded_fraction": changed["chunks_embedded"] / total_before,
        "updated_docs": changed["updated"], "removed_docs": changed["removed"],
        "deletions_ok": changed["removed"] == len(deleted) and changed["removed_still_present"] == 0,
    }


def build_store(work: Path, size: int, src: Path, fresh: bool) -> dict:
    """The recombined corpus of `size` chunks, ingested into its own store (reused
    when the corpus and the configuration are the same as last time)."""
    from rag.config import Config
    from rag.embedding import resolve_model

    config = Config.from_env(env=child_env())
    folder = work / f"corpus-{size}"
    spec = write_recombined(folder, size, src, token_counter(resolve_model(config.embed_model)),
                            config.chunk_tokens, config.chunk_overlap_tokens)
    store, marker = work / f"store-{size}", work / f"store-{size}" / "build.json"
    key = {"spec": spec, "model": config.embed_model, "hnsw": [config.hnsw_m, config.hnsw_construction_ef],
           "batch": config.embed_batch_size, "build": BUILD_VERSION}
    if not fresh and marker.exists():
        built = json.loads(marker.read_text())
        if built.get("key") == key:
            log(f"reusing the {size}-chunk store built {built['when']}")
            return {**built["result"], "reused": True, "store": str(store)}
    shutil.rmtree(store, ignore_errors=True)
    log(f"building the {size}-chunk store ({spec['docs']} documents)")
    result = run_task("build", docs=str(folder / "docs"), store=str(store))
    marker.write_text(json.dumps({"key": key, "when": time.strftime("%Y-%m-%d %H:%M"), "result": result}))
    log(f"built: {result['chunks']} chunks in {result['wall_s']:.0f} s, peak RSS {result['peak_rss_mb']:.0f} MB")
    return {**result, "reused": False, "store": str(store)}


def bench_queries(p: dict, work: Path, src: Path, questions: Path, fresh: bool) -> tuple[dict, dict, Path]:
    by_size, builds = {}, {}
    for size in p["sizes"]:
        build = build_store(work, size, src, fresh)
        largest = size == p["sizes"][-1]
        served = run_task("serve", store=build["store"], questions=str(questions),
                          n=p["growth_n"] if largest else p["serve_n"])
        stages = stage_percentiles(served["timings_ms"])
        log(f"{served['chunks']} chunks: p50 {stages['total']['p50']:.1f} ms, p95 {stages['total']['p95']:.1f} ms")
        by_size[str(served["chunks"])] = {"chunks": served["chunks"], "queries": served["queries"], "stages": stages,
                                          **{k: served[k] for k in ("peak_rss_mb", "rss_first_ask_mb", "warmup",
                                                                    "rss_start_mb", "rss_end_mb")}}
        builds[str(served["chunks"])] = build
    store = Path(build["store"])
    recall = run_task("recall", store=str(store), questions=str(questions), efs=p["efs"], n=p["recall_q"])
    default = next((s for s in recall["sweep"] if s["ef_search"] == recall["ef_search_default"]), recall["sweep"][-1])
    log(f"recall@10 at ef_search={default['ef_search']}: {default['recall_at_10']:.4f}")
    last = by_size[max(by_size, key=int)]
    query = {
        "p50_ms": {k: v["stages"]["total"]["p50"] for k, v in by_size.items()},
        "p95_ms": {k: v["stages"]["total"]["p95"] for k, v in by_size.items()},
        "p99_ms": {k: v["stages"]["total"]["p99"] for k, v in by_size.items()},
        "by_size": by_size, "ann_recall_at_10": default["recall_at_10"], "ef_search": default["ef_search"],
        "recall_sweep": recall["sweep"], "recall_chunks": recall["chunks"], "recall_queries": recall["queries"],
        "replica": {k: recall[k] for k in ("documents", "fingerprint_s", "count_s", "bm25_rebuild_s")},
    }
    big = builds[max(builds, key=int)]
    memory = {
        "ingest_peak_rss_mb": big["peak_rss_mb"], "ingest_chunks": big["chunks"],
        "ingest_chunks_per_s": big["chunks"] / big["wall_s"], "ingest_s": big["wall_s"],
        "ingest_store_reused": big["reused"], "query_peak_rss_mb": last["peak_rss_mb"],
        "query_rss_first_ask_mb": last["rss_first_ask_mb"], "query_warmup_queries": last["warmup"],
        "query_rss_start_mb": last["rss_start_mb"], "query_rss_end_mb": last["rss_end_mb"],
        "query_growth_fraction": (last["rss_end_mb"] - last["rss_start_mb"]) / last["rss_start_mb"],
        "growth_queries": last["queries"],
    }
    return query, memory, store


def bench_reader(store: Path, questions: Path, n: int) -> dict:
    """Warm per-question latency with the answer model in the path (the default
    generator), on the squad2-open ingest store."""
    served = run_task("serve", store=str(store), questions=str(questions), n=n, warmup=20, generator="reader")
    stages = stage_percentiles(served["timings_ms"], READER_STAGES)
    log(f"answer model, {served['chunks']} chunks: p50 {stages['total']['p50']:.1f} ms, "
        f"p95 {stages['total']['p95']:.1f} ms (reading p95 {stages['read']['p95']:.1f} ms)")
    return {"chunks": served["chunks"], "queries": n, "stages": stages}


def bench_cold_start(stores: dict[str, Path], runs: int) -> dict:
    """Wall time of `rag ask` in a new process, from start to printed answer."""
    script = Path(sys.executable).parent / "rag"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "rag.cli"]
    out = {}
    for name, store in stores.items():
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd + ["ask", SAMPLE_QUESTION, "--store", str(store)], capture_output=True,
                                  text=True, env=child_env())
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise BenchError(f"rag ask failed: {proc.stderr[-2000:]}")
        out[name] = {"median_s": median(times), "min_s": min(times), "runs": runs, "times_s": times}
        log(f"cold start on {name}: median {out[name]['median_s']:.2f} s")
    return out


def run_bench(out: Path, quick: bool = False, work: Path | None = None, fresh: bool = False) -> int:
    """Run everything, write the reports; 1 when `--quick` misses a target widely."""
    t0, p = time.perf_counter(), QUICK if quick else FULL
    out = Path(out)
    work = Path(work) if work else out / "work"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    root = squad_root()
    if not (root / "docs").is_dir():
        raise BenchError(f"squad2-open not found at {root} (set RAG_BENCH_SQUAD)")
    gold = root / "gold.jsonl"
    results: dict[str, Any] = {"quick": quick, "params": p, "load_start": os.getloadavg()[0],
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    docs = work / "squad-docs"
    copy_subset(root / "docs", docs, p["docs"], prefer=gold_articles(gold))
    exported = run_task("export")
    log(f"encoder: {exported['encoder']} (opened or exported in {exported['wall_s']:.1f} s)")
    log(f"ingestion: {len(list(docs.glob('*.txt')))} paragraphs, {p['rounds']} alternating rounds")
    results["ingest"], store = bench_ingest(p, work, docs, gold)
    results["cold_start"] = bench_cold_start({"squad": store}, p["cold_runs"])
    results["cold_start_s"] = results["cold_start"]["squad"]["median_s"]
    results["reingest"] = bench_reingest(docs, store, results["ingest"]["first_ingest_s"])
    questions = work / "questions.json"
    rows = [json.loads(line)["question"] for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(3).shuffle(rows)
    questions.write_text(json.dumps(rows))
    results["reader"] = bench_reader(store, questions, p["reader_n"])
    results["query"], results["memory"], big = bench_queries(p, work, root / "docs", questions, fresh)
    results["memory"]["naive_ingest_peak_rss_mb"] = results["ingest"]["sides"]["naive"]["peak_rss_mb"]
    results["memory"]["ours_ingest_peak_rss_mb_squad"] = results["ingest"]["sides"]["ours"]["peak_rss_mb"]
    if len(p["sizes"]) > 1:
        results["cold_start"].update(bench_cold_start({f"{results['memory']['ingest_chunks']} chunks": big}, 3))
    results["load_end"] = os.getloadavg()[0]
    results["bench_s"] = time.perf_counter() - t0
    targets = evaluate_targets(results)
    results["targets"] = [t.__dict__ | {"verdict": t.verdict} for t in targets]
    (out / "bench.json").write_text(json.dumps(results, indent=2))
    (out / "bench.md").write_text(render_markdown(results, targets) + "\n")
    plot_latency(results["query"]["by_size"], out / "query_latency.png")
    log(f"done in {results['bench_s']:.0f} s: {out / 'bench.md'}")
    wide = [t.name for t in targets if t.fail_quick]
    if wide:
        log("missed by a wide margin: " + "; ".join(wide))
    return 1 if quick and wide else 0
