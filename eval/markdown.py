"""Numbers and tables for reports, one way for the evaluation and the benchmarks."""
from __future__ import annotations

import math
from collections.abc import Sequence


def fmt(value: object, digits: int = 3) -> str:
    """A report cell: '–' for undefined, yes/no, integers with thousands separators, and
    floats at `digits` decimals below 10 (rates), 1 below 1,000 (milliseconds), else none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        return f"{value:.{digits}f}" if size < 10 else f"{value:.1f}" if size < 1000 else f"{value:,.0f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells that are not text go through `fmt`."""
    cell = lambda c: c if isinstance(c, str) else fmt(c)  # noqa: E731
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
