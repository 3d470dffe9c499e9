"""`Filters.parse`: the one validation of search filters, shared by every surface."""
from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.types import Filters


def test_valid_filters_are_normalised():
    f = Filters.parse([" 004_a ", "004_a", "b"], "2025-01-01", " 2025-12-31 ")
    assert f == Filters(("004_a", "b"), "2025-01-01", "2025-12-31")
    assert Filters.parse(None, "", None) is None and Filters.parse([], None, "  ") is None


@pytest.mark.parametrize("doc_ids, since, until, message", [
    ("004_a5d52d93e4e3da4f", None, None, "doc_ids must be a list"),  # not split into characters
    (5, None, None, "doc_ids must be a list"),
    ([5], None, None, "doc_ids must be a list of strings"),
    (None, 2025, None, "published_from must be a date as YYYY-MM-DD, not a int"),
    (None, None, ["2025-01-01"], "published_to must be a date as YYYY-MM-DD, not a list"),
    (None, "2025-13-01", None, "real date as YYYY-MM-DD, not '2025-13-01'"),
    (None, "2025-02-30", None, "real date"),
    (None, "2025-6-1", None, "real date"),
    (None, "yesterday", None, "real date"),
    (None, "2025-06-01T00:00", None, "real date"),
    (None, "2026-01-01", "2025-01-01", "published_from (2026-01-01) is after published_to (2025-01-01)"),
])
def test_bad_filters_are_one_line_input_errors(doc_ids, since, until, message):
    with pytest.raises(InputError) as caught:
        Filters.parse(doc_ids, since, until)
    assert message in str(caught.value) and "\n" not in str(caught.value)
