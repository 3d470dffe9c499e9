"""The report's figures, as base64 PNG strings for inline <img> tags (matplotlib Agg:
no display needed)."""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from eval.gating import lookup
from eval.sweep import SweepPoint

BAR_METRICS = ("retrieval.hit_at_1", "retrieval.hit_at_5", "retrieval.mrr", "answer.contains", "answer.f1",
               "citation.precision", "citation.recall", "refusal.recall")


def _figure(width: float = 7.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def metrics_bars(systems: dict[str, dict]) -> str:
    """Grouped bars: headline quality metrics per system."""
    fig, ax = _figure(8.5)
    width = 0.8 / max(len(systems), 1)
    for k, (name, summary) in enumerate(systems.items()):
        values = [lookup(summary, m) or 0.0 for m in BAR_METRICS]
        ax.bar([i + k * width for i in range(len(BAR_METRICS))], values, width, label=name)
    ax.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(BAR_METRICS))])
    ax.set_xticklabels([m.replace(".", "\n") for m in BAR_METRICS], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Quality metrics per system")
    return _png(fig)


def risk_coverage(points: Sequence[SweepPoint], current: SweepPoint | None, chosen: SweepPoint | None,
                  suggested: float | None = None) -> str:
    """Error on answered questions, and false refusal rate, against coverage."""
    fig, ax = _figure()
    cov = [p.coverage for p in points]
    ax.plot(cov, [1 - p.accuracy if p.accuracy is not None else None for p in points], label="error (answered)")
    ax.plot(cov, [p.false_refusal_rate for p in points], label="false refusal rate")
    ax.plot(cov, [p.refusal_recall for p in points], label="refusal recall", linestyle=":")
    marks = ((current, f"configured ({current.threshold:.3f})" if current else "", "o"),
             (chosen, f"suggested ({suggested})", "*"))
    for p, label, marker in marks:
        if p is not None and p.accuracy is not None:
            ax.plot([p.coverage], [1 - p.accuracy], marker, markersize=10, label=label)
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Refusal: error vs coverage as the threshold sweeps")
    return _png(fig)


def latency_hist(latencies: dict[str, list[float]]) -> str:
    """Distribution of total latency per system (log-spaced bins)."""
    import numpy as np

    fig, ax = _figure()
    values = [v for vs in latencies.values() for v in vs if v and v > 0]
    if values:
        bins = np.logspace(np.log10(min(values)), np.log10(max(values)) + 1e-9, 30)
        for name, vs in latencies.items():
            ax.hist([v for v in vs if v and v > 0], bins=bins, alpha=0.5, label=name)
        ax.set_xscale("log")
    ax.set_xlabel("total latency per question (ms)")
    ax.set_ylabel("questions")
    ax.legend()
    ax.set_title("Latency distribution")
    return _png(fig)
