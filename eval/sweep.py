"""The refusal threshold sweep: what each threshold would do, from one run.

The product answers when its confidence is at least the threshold. Since the harness
records every question's confidence and the answer it would give unrefused, every
threshold can be replayed without re-running: refuse where confidence < t.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from eval import metrics as m

MAX_FALSE_REFUSAL = 0.05


@dataclass(frozen=True)
class ConfidenceRecord:
    """One question as the sweep needs it."""

    confidence: float
    answerable: bool
    correct: bool  # the unrefused answer contains a gold answer


@dataclass(frozen=True)
class SweepPoint:
    """The outcome of refusing every question with confidence below `threshold`."""

    threshold: float
    n: int
    answered: int
    coverage: float
    accuracy: float | None  # share of answered questions answered correctly
    refusal_precision: float | None
    refusal_recall: float | None
    refusal_f1: float | None
    false_refusal_rate: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def point(records: Sequence[ConfidenceRecord], threshold: float) -> SweepPoint:
    """Apply one threshold to every record."""
    refused = [r.confidence < threshold for r in records]
    answered = [r for r, ref in zip(records, refused, strict=True) if not ref]
    scores = m.refusal_scores([not r.answerable for r in records], refused)
    return SweepPoint(
        threshold=threshold, n=len(records), answered=len(answered),
        coverage=len(answered) / len(records) if records else 0.0,
        accuracy=m.ratio(sum(r.answerable and r.correct for r in answered), len(answered)),
        refusal_precision=scores["precision"], refusal_recall=scores["recall"],
        refusal_f1=scores["f1"], false_refusal_rate=scores["false_refusal_rate"],
    )


def thresholds(records: Iterable[ConfidenceRecord]) -> list[float]:
    """Every threshold that changes the outcome: each observed confidence (answer it and
    everything above), plus one above the maximum (refuse everything)."""
    seen = sorted({r.confidence for r in records})
    return seen + ([seen[-1] + 1e-6] if seen else [])


def sweep(records: Sequence[ConfidenceRecord]) -> list[SweepPoint]:
    """The outcome at every distinct threshold, lowest first."""
    return [point(records, t) for t in thresholds(records)]


def calibrate(points: Sequence[SweepPoint], max_false_refusal: float = MAX_FALSE_REFUSAL) -> SweepPoint | None:
    """The point with the best refusal F1 whose false refusal rate is at most the cap
    (ties: the higher coverage); None when no point has refusals and meets the cap."""
    ok = [p for p in points if p.false_refusal_rate is not None and p.false_refusal_rate <= max_false_refusal
          and p.refusal_f1 is not None]
    if not ok:
        return None
    return max(ok, key=lambda p: (p.refusal_f1, p.coverage))


def suggested_value(points: Sequence[SweepPoint], chosen: SweepPoint) -> float:
    """The roundest threshold that splits the questions as `chosen` does: a value in
    (next lower observed confidence, chosen confidence], near their midpoint."""
    below = [p.threshold for p in points if p.threshold < chosen.threshold]
    if not below:
        return round(chosen.threshold, 3)
    low, mid = max(below), (max(below) + chosen.threshold) / 2
    for digits in range(2, 7):
        if low < round(mid, digits) <= chosen.threshold:
            return round(mid, digits)
    return mid


def condensed(points: Sequence[SweepPoint], rows: int = 15, extra: Iterable[SweepPoint] = ()) -> list[SweepPoint]:
    """About `rows` points spread evenly over the sweep plus the `extra` ones (the
    configured and suggested thresholds), lowest threshold first, for readable tables."""
    step = max(len(points) - 1, 1) / max(rows - 1, 1)
    picked = [points[i] for i in sorted({round(i * step) for i in range(rows)}) if i < len(points)]
    unique = {p.threshold: p for p in [*picked, *extra]}
    return [unique[t] for t in sorted(unique)]
