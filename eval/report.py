"""report.md and report.html: the same tables; the HTML adds inline plots."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from eval import plots, tables
from eval.sweep import SweepPoint, condensed

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
         "text-align:right;font-size:13px}td:first-child,th:first-child{text-align:left}"
         "img{max-width:100%}.fail{color:#b00}")


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows."""

    run: dict
    systems: dict[str, dict]
    sweep: list[SweepPoint] = field(default_factory=list)
    current: SweepPoint | None = None
    chosen: SweepPoint | None = None
    suggested: float | None = None
    latencies: dict[str, list[float]] = field(default_factory=dict)
    gate: list[str] = field(default_factory=list)


def _tables(data: ReportData) -> list[tables.Table]:
    out = [tables.metrics_table(data.systems), tables.failures_table(data.systems),
           tables.latency_table(data.systems), tables.tag_table(data.systems)]
    if data.sweep:
        extra = [p for p in (data.current, data.chosen) if p is not None]
        marks = {}
        if data.current:
            marks[data.current.threshold] = "configured"
        if data.chosen:
            marks[data.chosen.threshold] = (marks.get(data.chosen.threshold, "") + " suggested").strip()
        out.append(tables.sweep_table(condensed(data.sweep, 15, extra), marks))
    return out


def _intro(data: ReportData) -> list[str]:
    run = data.run
    lines = [f"corpus `{run.get('corpus')}`, gold `{run.get('gold')}`, {run.get('n')} questions "
             f"(limit {run.get('limit')}, seed {run.get('seed')}), systems: {', '.join(data.systems)}; "
             f"configured refusal threshold {run.get('refusal_threshold')}; product code {run.get('product')}."]
    if run.get("product_changed_during_run"):
        lines.append(f"**Warning: {', '.join(run['product_changed_during_run'])} changed during this run; "
                     "the numbers may mix two versions of the product.**")
    if data.chosen is not None:
        lines.append(f"Suggested refusal threshold: **{data.suggested}** (best refusal F1 with false refusal "
                     f"rate ≤ 0.05 on this run: F1 {tables.fmt(data.chosen.refusal_f1)}, false refusal rate "
                     f"{tables.fmt(data.chosen.false_refusal_rate)}, coverage {tables.fmt(data.chosen.coverage)}).")
    lines.append("Gate: " + ("passed" if not data.gate else "FAILED: " + "; ".join(data.gate)))
    return lines


def markdown(data: ReportData) -> str:
    """The Markdown report."""
    parts = ["# Evaluation report", "", *(line + "\n" for line in _intro(data))]
    parts += [t.markdown() for t in _tables(data)]
    return "\n".join(parts)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def html_report(data: ReportData) -> str:
    """The self-contained HTML report (plots inline as base64 PNG)."""
    intro = "".join(f"<p>{html.escape(line).replace('**', '')}</p>" for line in _intro(data))
    figures = [_img(plots.metrics_bars(data.systems), "metrics per system")]
    if data.sweep:
        figures.append(_img(plots.risk_coverage(data.sweep, data.current, data.chosen, data.suggested), "error vs coverage"))
    figures.append(_img(plots.latency_hist(data.latencies), "latency distribution"))
    body = intro + "".join(figures) + "".join(t.html() for t in _tables(data))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
            f"<style>{STYLE}</style></head><body><h1>Evaluation report</h1>{body}</body></html>")


def write_reports(out: Path, data: ReportData) -> None:
    """Write report.md and report.html into `out`."""
    (out / "report.md").write_text(markdown(data), encoding="utf-8")
    (out / "report.html").write_text(html_report(data), encoding="utf-8")
