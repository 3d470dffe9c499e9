"""One small real run through `rag eval` (12 gold questions, all three systems), then
the gate's exit codes on re-runs that reuse its store."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from eval.gating import lookup
from eval.scoring import FAILURES
from rag.cli import app

REQUIRED = ("n", "retrieval.hit_at_1", "retrieval.hit_at_5", "retrieval.mrr", "retrieval.evidence_recall",
            "answer.contains", "answer.f1", "citation.precision", "citation.recall", "refusal.precision",
            "refusal.recall", "refusal.false_refusal_rate", "latency_ms.p50", "latency_ms.p95", "by_tag")


def has_path(summary: dict, path: str) -> bool:
    node = summary
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def rag_eval(*args: str):
    return CliRunner().invoke(app, ["eval", *args, "--quiet"])


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus_dir, repo_root):
    out = tmp_path_factory.mktemp("eval") / "out"
    gold = repo_root / "eval" / "gold.jsonl"
    args = ["--corpus", str(corpus_dir), "--gold", str(gold), "--out", str(out)]
    result = rag_eval(*args, "--limit", "12", "--seed", "0", "--system", "all", "--calibrate")
    assert result.exit_code == 0, result.output
    files = {name: (out / name).read_text(encoding="utf-8") for name in
             ("summary.json", "results.jsonl", "sweep.json", "report.md", "report.html")}
    return {"out": out, "args": args, "output": result.output, **files}


def test_summary_has_every_key_per_system(run):
    summary = json.loads(run["summary.json"])
    assert set(summary["systems"]) == {"ours", "extractive-v1", "bm25", "naive"}
    for s in (summary, *summary["systems"].values()):
        missing = [k for k in REQUIRED if not has_path(s, k)]
        assert not missing, missing
        assert isinstance(lookup(s, "answer.contains"), float)
        assert s["n"] == 12 and s["n_answerable"] == 6
        assert "hit_at_1" in s["by_tag"]["paraphrase"]["retrieval"]
    assert summary["run"]["store"].startswith(str(run["out"]))  # never the user's .rag


def test_results_rows(run):
    rows = [json.loads(line) for line in run["results.jsonl"].splitlines()]
    assert len(rows) == 48 and {r["system"] for r in rows} == {"ours", "extractive-v1", "bm25", "naive"}
    for r in rows:
        assert r["failure"] in (*FAILURES, None)
        assert {"question", "answer", "answerable", "citations", "scores"} <= set(r)
    assert all(r["confidence"] is not None for r in rows if r["system"] == "ours")


def test_reports_and_sweep(run):
    sweep = json.loads(run["sweep.json"])
    assert sweep["points"] and {"threshold", "coverage", "accuracy", "false_refusal_rate"} <= set(sweep["points"][0])
    assert "| metric | ours | extractive-v1 | bm25 | naive |" in run["report.md"] and "threshold sweep" in run["report.md"]
    assert run["report.html"].count("data:image/png;base64,") == 3
    assert "suggested refusal_threshold" in run["output"] or "no threshold" in run["output"]


def test_gate_exit_codes(run, tmp_path):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(run["summary.json"])
    ok, impossible = tmp_path / "ok.toml", tmp_path / "impossible.toml"
    ok.write_text('[t]\ntolerance = 0.0\n[t.bm25]\n"retrieval.hit_at_5" = { min = 0.0 }\n')
    impossible.write_text('[t.bm25]\n"retrieval.hit_at_5" = { min = 1.01 }\n"latency_ms.p95" = { max = 0 }\n')
    passed = rag_eval(*run["args"], "--limit", "12", "--system", "bm25", "--thresholds", str(ok), "--suite", "t",
                      "--baseline", str(baseline))
    assert passed.exit_code == 0, passed.output
    failed = rag_eval(*run["args"], "--limit", "12", "--system", "bm25", "--thresholds", str(impossible),
                      "--suite", "t")
    assert failed.exit_code == 1
    assert "bm25 retrieval.hit_at_5" in failed.output and "bm25 latency_ms.p95" in failed.output
    regressed = json.loads(run["summary.json"])
    regressed["systems"]["bm25"]["answer"]["contains"] = 1.5
    baseline.write_text(json.dumps(regressed))
    worse = rag_eval(*run["args"], "--limit", "12", "--system", "bm25", "--baseline", str(baseline))
    assert worse.exit_code == 1 and "bm25 answer.contains regressed" in worse.output
