"""The refusal threshold sweep and calibration (eval/sweep.py)."""
from __future__ import annotations

import pytest

from eval.sweep import ConfidenceRecord as R
from eval.sweep import calibrate, condensed, point, suggested_value, sweep, thresholds

# Confidence, answerable, unrefused answer correct.
RECORDS = [R(0.1, False, False), R(0.2, False, False), R(0.3, True, True), R(0.4, False, False),
           R(0.5, True, False), R(0.6, True, True), R(0.7, True, True), R(0.8, True, True)]


def test_point_counts():
    p = point(RECORDS, 0.35)  # refuses 0.1, 0.2, 0.3
    assert p.answered == 5 and p.coverage == pytest.approx(5 / 8)
    assert p.refusal_precision == pytest.approx(2 / 3) and p.refusal_recall == pytest.approx(2 / 3)
    assert p.false_refusal_rate == pytest.approx(1 / 5)
    assert p.accuracy == pytest.approx(3 / 5)  # 0.4 answered wrongly, 0.5 wrong answer


def test_thresholds_cover_answer_all_and_refuse_all():
    ts = thresholds(RECORDS)
    assert ts[0] == 0.1 and ts[-1] > 0.8 and len(ts) == 9
    pts = sweep(RECORDS)
    assert pts[0].coverage == 1.0 and pts[0].refusal_recall == 0.0
    assert pts[-1].coverage == 0.0 and pts[-1].refusal_recall == 1.0 and pts[-1].false_refusal_rate == 1.0


def test_calibrate_respects_the_false_refusal_cap():
    pts = sweep(RECORDS)
    chosen = calibrate(pts, max_false_refusal=0.0)
    assert chosen.threshold == 0.3 and chosen.refusal_f1 == pytest.approx(0.8)  # refuses 0.1, 0.2
    loose = calibrate(pts, max_false_refusal=0.2)
    assert loose.threshold == 0.5  # refuses 0.1-0.4: P 3/4, R 1, F1 0.857, FRR 0.2
    assert suggested_value(pts, chosen) == 0.25
    assert suggested_value(pts, loose) == 0.45
    assert calibrate(sweep([R(0.5, True, True)]), 0.05) is None  # nothing to refuse


def test_condensed_keeps_extra_rows_in_order():
    pts = sweep([R(i / 100, i % 3 == 0, True) for i in range(100)])
    extra = point([R(i / 100, i % 3 == 0, True) for i in range(100)], 0.555)
    rows = condensed(pts, 10, [extra])
    assert len(rows) == 11 and extra in rows
    assert [r.threshold for r in rows] == sorted(r.threshold for r in rows)
    assert condensed(pts[:3], 10) == pts[:3]
