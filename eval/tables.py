"""The report's tables, built once and rendered as Markdown or HTML."""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from eval.gating import lookup
from eval.markdown import fmt, table
from eval.scoring import FAILURES
from eval.sweep import SweepPoint

HEADLINE = ("retrieval.hit_at_1", "retrieval.hit_at_5", "retrieval.mrr", "retrieval.evidence_recall",
            "answer.contains", "answer.f1", "answer.judge", "citation.precision", "citation.recall",
            "refusal.precision", "refusal.recall", "refusal.false_refusal_rate",
            "latency_ms.p50", "latency_ms.p95")
TAG_METRICS = {"retrieval.hit_at_5": "hit@5", "answer.contains": "contains", "refusal.recall": "refusal R",
               "refusal.false_refusal_rate": "false refusal"}


@dataclass(frozen=True)
class Table:
    """A titled grid of already-formatted cells."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def markdown(self) -> str:
        return f"### {self.title}\n\n{table(self.headers, self.rows)}\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        return f"<h3>{html.escape(self.title)}</h3><table><tr>{head}</tr>{body}</table>"


def metrics_table(systems: dict[str, dict]) -> Table:
    """Headline metrics, one column per system."""
    names = tuple(systems)
    rows = [(metric, *(fmt(lookup(systems[s], metric)) for s in names)) for metric in HEADLINE
            if any(lookup(systems[s], metric) is not None for s in names)]
    rows.insert(0, ("n (answerable)", *(f"{systems[s]['n']} ({systems[s]['n_answerable']})" for s in names)))
    return Table("Metrics per system", ("metric", *names), tuple(rows))


def failures_table(systems: dict[str, dict]) -> Table:
    """Failure classes, one column per system."""
    names = tuple(systems)
    rows = tuple((f, *(str(systems[s]["failures"][f]) for s in names)) for f in FAILURES)
    return Table("Failure classes (questions)", ("failure", *names), rows)


def latency_table(systems: dict[str, dict]) -> Table:
    """p50 / p95 of the total and each stage, per system."""
    rows = []
    for s, summary in systems.items():
        lat = summary["latency_ms"]
        rows.append((s, "total", fmt(lat["p50"]), fmt(lat["p95"])))
        rows += [(s, stage, fmt(v["p50"]), fmt(v["p95"])) for stage, v in lat["stages"].items()]
    return Table("Latency (ms)", ("system", "stage", "p50", "p95"), tuple(rows))


def tag_table(systems: dict[str, dict]) -> Table:
    """A few metrics per tag, per system."""
    names = tuple(systems)
    tags = sorted({t for s in names for t in systems[s]["by_tag"]})
    headers = ("tag", "n", *(f"{label} ({s})" for label in TAG_METRICS.values() for s in names))
    rows = []
    for tag in tags:
        blocks = [systems[s]["by_tag"].get(tag, {}) for s in names]
        n = str(blocks[0].get("n", "–"))
        rows.append((tag, n, *(fmt(lookup(b, m)) for m in TAG_METRICS for b in blocks)))
    return Table("By tag", headers, tuple(rows))


def sweep_table(points: Sequence[SweepPoint], marks: dict[float, str]) -> Table:
    """The sweep rows, with the configured and suggested thresholds marked."""
    rows = tuple((fmt(p.threshold) if abs(p.threshold) >= 10 else f"{p.threshold:.4f}", marks.get(p.threshold, ""),
                  fmt(p.coverage), fmt(p.accuracy), fmt(p.refusal_precision), fmt(p.refusal_recall),
                  fmt(p.refusal_f1), fmt(p.false_refusal_rate)) for p in points)
    return Table("Refusal threshold sweep (ours; refuse when confidence < threshold)",
                 ("threshold", "", "coverage", "accuracy (answered)", "refusal P", "refusal R", "refusal F1",
                  "false refusal rate"), rows)
