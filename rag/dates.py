"""Publication dates as stated in a document's text, returned as ISO dates.

Only short lines are searched (datelines, bylines, footers): a date inside a body
sentence is usually an event, not the publication. Formats: ISO `2025-12-06` (also
inside a timestamp, `2025-02-24T09:44:00Z`), day-first dotted `04.01.2026`, slashed
`1/4/2026` (month first unless the first number exceeds 12), and month names in
English, Spanish, German and French in either order (`Dec.06 2025`, `December 6,
2025`, `lunes, 24 de febrero de 2025`, `6. Dezember 2025`).
Left out: relative dates ("yesterday"), two-digit years, other languages.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

MAX_DATELINE_CHARS = 80
_MONTH_NAMES = {
    1: "january jan enero ene januar janvier janv",
    2: "february feb febrero februar février fevrier févr",
    3: "march mar marzo märz maerz mars",
    4: "april apr abril avril avr",
    5: "may mayo mai",
    6: "june jun junio juni juin",
    7: "july jul julio juli juillet juil",
    8: "august aug agosto août aout",
    9: "september sep sept septiembre setiembre septembre",
    10: "october oct octubre oktober okt octobre",
    11: "november nov noviembre novembre",
    12: "december dec diciembre dic dezember dez décembre decembre déc",
}
MONTHS = {name: num for num, names in _MONTH_NAMES.items() for name in names.split()}
_M = r"(?P<mon>[^\W\d_]{3,10})"
_PATTERNS = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:\b|(?=T\d))"),  # also ISO 8601 timestamps
    re.compile(r"\b(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})\b"),
    re.compile(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})\b"),
    re.compile(_M + r"\.?\s*(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b", re.I),
    re.compile(r"\b(?P<d>\d{1,2})(?:\.|st|nd|rd|th|er)?\s+(?:de\s+)?" + _M + r"\.?,?\s+(?:de\s+)?(?P<y>\d{4})\b", re.I),
]


def parse_date(text: str) -> dt.date | None:
    """The first valid date found in `text`, or None."""
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            date = _to_date(match.groupdict())
            if date:
                return date
    return None


def find_published(text: str) -> str | None:
    """ISO date of the first short line that states a full date, or None."""
    for line in text.splitlines():
        line = line.strip()
        if line and len(line) <= MAX_DATELINE_CHARS:
            date = parse_date(line)
            if date:
                return date.isoformat()
    return None


def _to_date(g: dict[str, Any]) -> dt.date | None:
    year = int(g["y"])
    if "mon" in g:
        month = MONTHS.get(g["mon"].lower())
        day = int(g["d"])
    elif "a" in g:
        a, b = int(g["a"]), int(g["b"])
        month, day = (b, a) if a > 12 else (a, b)
    else:
        month, day = int(g["m"]), int(g["d"])
    if not month or not 1900 <= year <= 2100:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
