"""Publication dates: formats, invalid dates, and the corpus files' values."""
from __future__ import annotations

import datetime as dt

import pytest

from rag.dates import MAX_DATELINE_CHARS, find_published, parse_date
from rag.loading import load_documents


@pytest.mark.parametrize("text, expected", [
    ("04.01.2026", "2026-01-04"),  # day first, dotted
    ("04.01.2026 - 12:24:06", "2026-01-04"),
    ("lunes, 24 de febrero de 2025, 9:44 am ET", "2025-02-24"),
    ("Dec.06 2025", "2025-12-06"),
    ("2025-12-06", "2025-12-06"),
    ("Published 2025-02-24 09:44 UTC", "2025-02-24"),
    ("2025-02-24T09:44:00Z", "2025-02-24"),  # ISO 8601 timestamp
    ("datePublished: 2025-12-06T18:05:12+08:00", "2025-12-06"),
    ("December 6, 2025", "2025-12-06"),
    ("Sept. 3rd, 2024", "2024-09-03"),
    ("6. Dezember 2025", "2025-12-06"),
    ("3 mars 2024", "2024-03-03"),
    ("1/4/2026", "2026-01-04"),  # month first ...
    ("13/4/2026", "2026-04-13"),  # ... unless the first number cannot be a month
    ("29.02.2024", "2024-02-29"),  # leap day
])
def test_formats(text, expected):
    assert parse_date(text) == dt.date.fromisoformat(expected)


@pytest.mark.parametrize("text", [
    "31.02.2025",  # no such day
    "2025-13-01",  # no such month
    "29.02.2025",  # not a leap year
    "00.01.2025",
    "Foo 12 2025",  # not a month name
    "12 Smarch 2025",
    "04.01.1850",  # outside 1900-2100
    "2101-01-01",
    "2025-02-24Tuesday",  # not a timestamp: T must start a time
    "12/31/99",  # two-digit years are left out
    "",
    "no date at all",
    "version 2.0.1 of 3/4",
])
def test_invalid_or_absent_dates_give_none(text):
    assert parse_date(text) is None


def test_first_valid_date_wins_after_invalid_ones():
    assert parse_date("31.02.2025 then 01.03.2025") == dt.date(2025, 3, 1)


def test_find_published_reads_short_lines_only():
    body = "In a sentence long enough to be body text, the deal closed on 2024-03-01 after months of talks."
    assert len(body) > MAX_DATELINE_CHARS
    assert find_published(body) is None
    assert find_published(body + "\n\nUpdated 2024-03-05\n") == "2024-03-05"
    assert find_published("Title\n  04.01.2026  \nBody") == "2026-01-04"


@pytest.mark.parametrize("prefix, expected", [
    ("000", None),
    ("001", "2026-01-04"),
    ("002", "2025-02-24"),
    ("003", None),
    ("004", "2025-12-06"),
])
def test_corpus_published_values(corpus_dir, prefix, expected):
    docs, _ = load_documents(corpus_dir)
    (doc,) = [d for d in docs if d.doc_id.startswith(prefix)]
    assert doc.published == expected
