"""Gating a run: absolute thresholds from a TOML file, and regressions against a
baseline summary.

Thresholds file schema (one table per suite, one sub-table per system):

    [gold]
    tolerance = 0.02                      # allowed regression against --baseline
    [gold.ours]
    "answer.contains" = { min = 0.40 }    # dotted path into the system's summary
    "latency_ms.p95"  = { max = 500 }

A metric that is undefined in the run (None) fails its threshold. Systems named in the
file but not run are skipped.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOLERANCE = 0.02
# Metrics compared with the baseline, and whether higher is better. Latency is left
# out: it depends on the machine's load more than on the code.
BASELINE_METRICS = {
    "retrieval.hit_at_1": True, "retrieval.hit_at_5": True, "retrieval.mrr": True,
    "retrieval.evidence_recall": True, "answer.contains": True, "answer.f1": True,
    "citation.precision": True, "citation.recall": True, "refusal.precision": True,
    "refusal.recall": True, "refusal.false_refusal_rate": False,
}


class GateConfigError(ValueError):
    """The thresholds file or suite is unusable."""


@dataclass(frozen=True)
class Bound:
    """One threshold on one metric of one system."""

    system: str
    metric: str
    min: float | None = None
    max: float | None = None


def lookup(summary: dict, path: str):
    """The value at a dotted path ("answer.contains"), or None."""
    node = summary
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def system_summaries(summary: dict) -> dict[str, dict]:
    """Each system's summary, whether the run had one system or several."""
    return summary.get("systems") or {summary.get("system", "ours"): summary}


def load_suite(path: Path, suite: str | None) -> tuple[list[Bound], float]:
    """The bounds and baseline tolerance of one suite of a thresholds file."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GateConfigError(f"cannot read thresholds file {path}: {exc}") from exc
    if suite not in table:
        raise GateConfigError(f"suite {suite!r} is not in {path} (it has: {', '.join(table)})")
    bounds = []
    for system, metrics in table[suite].items():
        if not isinstance(metrics, dict):
            continue
        for metric, spec in metrics.items():
            if not isinstance(spec, dict) or not set(spec) <= {"min", "max"} or not spec:
                raise GateConfigError(f"{suite}.{system}.{metric}: expected {{min = x}} and/or {{max = y}}")
            bounds.append(Bound(system, metric, spec.get("min"), spec.get("max")))
    return bounds, float(table[suite].get("tolerance", DEFAULT_TOLERANCE))


def check_bounds(summary: dict, bounds: list[Bound]) -> list[str]:
    """A message for every bound the run breaks."""
    systems, failed = system_summaries(summary), []
    for b in bounds:
        if b.system not in systems:
            continue
        value = lookup(systems[b.system], b.metric)
        if not isinstance(value, (int, float)):
            failed.append(f"{b.system} {b.metric}: undefined in this run")
        elif b.min is not None and value < b.min:
            failed.append(f"{b.system} {b.metric} = {value:.4f} < min {b.min}")
        elif b.max is not None and value > b.max:
            failed.append(f"{b.system} {b.metric} = {value:.4f} > max {b.max}")
    return failed


def check_baseline(summary: dict, baseline: dict, tolerance: float) -> list[str]:
    """A message for every metric that regressed beyond `tolerance` from the baseline."""
    ours, theirs, failed = system_summaries(summary), system_summaries(baseline), []
    for system in sorted(set(ours) & set(theirs)):
        for metric, higher_better in BASELINE_METRICS.items():
            now, then = lookup(ours[system], metric), lookup(theirs[system], metric)
            if not isinstance(then, (int, float)):
                continue
            if not isinstance(now, (int, float)):
                failed.append(f"{system} {metric}: undefined now, {then:.4f} in the baseline")
            elif (then - now if higher_better else now - then) > tolerance:
                failed.append(f"{system} {metric} regressed: {now:.4f} vs baseline {then:.4f} "
                              f"(tolerance {tolerance})")
    return failed
