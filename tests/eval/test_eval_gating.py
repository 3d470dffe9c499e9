"""Thresholds and baseline gating (eval/gating.py) and the CLI's argument errors."""
from __future__ import annotations

import pytest

from eval.cli import main
from eval.gating import GateConfigError, check_baseline, check_bounds, load_suite, lookup

ONE = {"system": "ours", "n": 10, "answer": {"contains": 0.6}, "refusal": {"false_refusal_rate": 0.1,
                                                                           "precision": None}}
ALL = {**ONE, "systems": {"ours": ONE, "bm25": {"system": "bm25", "answer": {"contains": 0.4},
                                                "retrieval": {"hit_at_5": 0.9}}}}
TOML = """
[gold]
tolerance = 0.05
[gold.ours]
"answer.contains" = { min = 0.5 }
"refusal.false_refusal_rate" = { max = 0.2 }
[gold.bm25]
"retrieval.hit_at_5" = { min = 0.95 }
[gold.naive]
"answer.contains" = { min = 0.99 }
"""


@pytest.fixture()
def thresholds(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text(TOML)
    return path


def test_lookup():
    assert lookup(ALL, "answer.contains") == 0.6
    assert lookup(ALL, "answer.nope") is None and lookup(ALL, "n.x") is None


def test_bounds(thresholds):
    bounds, tolerance = load_suite(thresholds, "gold")
    assert tolerance == 0.05 and len(bounds) == 4
    failed = check_bounds(ALL, bounds)
    assert failed == ["bm25 retrieval.hit_at_5 = 0.9000 < min 0.95"]  # naive was not run: skipped
    assert check_bounds(ONE, bounds) == []


def test_undefined_metric_fails():
    from eval.gating import Bound

    assert check_bounds(ONE, [Bound("ours", "refusal.precision", min=0.1)]) == [
        "ours refusal.precision: undefined in this run"]


def test_bad_thresholds_files(tmp_path, thresholds):
    with pytest.raises(GateConfigError, match="suite 'squad'"):
        load_suite(thresholds, "squad")
    bad = tmp_path / "bad.toml"
    bad.write_text('[gold.ours]\n"answer.contains" = { least = 1 }\n')
    with pytest.raises(GateConfigError, match="expected"):
        load_suite(bad, "gold")
    bad.write_text("not toml [")
    with pytest.raises(GateConfigError):
        load_suite(bad, "gold")


def test_baseline_regressions():
    better = {**ONE, "answer": {"contains": 0.7}, "refusal": {"false_refusal_rate": 0.0}}
    assert check_baseline(ONE, ONE, 0.0) == []
    assert check_baseline(ONE, better, 0.15) == []
    failed = check_baseline(ONE, better, 0.05)
    assert len(failed) == 2 and "answer.contains regressed" in failed[0]
    assert "false_refusal_rate" in failed[1]  # lower is better: a rise is a regression
    assert check_baseline(ALL, {"systems": {"bm25": ALL["systems"]["bm25"]}}, 0.0) == []


def test_cli_errors_exit_2(tmp_path, thresholds, corpus_dir, repo_root):
    gold = repo_root / "eval" / "gold.jsonl"
    out = tmp_path / "out"
    assert main(["--corpus", str(tmp_path / "missing"), "--gold", str(gold), "--out", str(out)]) == 2
    assert main(["--corpus", str(corpus_dir), "--gold", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 2
    assert main(["--corpus", str(corpus_dir), "--gold", str(gold), "--out", str(out),
                 "--thresholds", str(thresholds)]) == 2  # no --suite
    assert main(["--corpus", str(corpus_dir), "--gold", str(gold), "--out", str(out),
                 "--thresholds", str(thresholds), "--suite", "nope"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--corpus", str(corpus_dir)])  # argparse: missing required arguments
    assert exc.value.code == 2
    assert not out.exists() or not any(out.glob("store-*"))  # failed before any slow work
