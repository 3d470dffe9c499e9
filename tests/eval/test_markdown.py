"""The one number format and Markdown table of the reports (eval and bench)."""
from __future__ import annotations

import math

from eval.markdown import fmt, table


def test_fmt_by_magnitude_and_kind():
    assert [fmt(v) for v in (None, math.nan, True, 1234567, 0.98765, 0.05, 18.04, 2345.6)] == [
        "–", "–", "yes", "1,234,567", "0.988", "0.050", "18.0", "2,346"]
    assert fmt(0.99999994, digits=7) == "0.9999999"


def test_table_formats_non_text_cells_only():
    assert table(["a", "b"], [("0.5", 0.5)]).splitlines() == ["| a | b |", "|---|---|", "| 0.5 | 0.500 |"]
