"""The citation check itself can fail: it accepts only a quote shown word for word."""
from __future__ import annotations

from citation_checks import shown_end, shown_start

QUOTE = "Revenue grew 8%[3] in the\nquarter [12]."


def test_accepts_the_quote_without_footnotes_and_with_collapsed_whitespace():
    text = "Source 1: Revenue grew 8% in the quarter . [1] Source 2: other. [2]"
    end = shown_end(text, 1)
    assert text[shown_start(text, end, QUOTE) : end] == "Revenue grew 8% in the quarter ."


def test_rejects_a_changed_word_or_a_kept_footnote():
    for text in ("Revenue grew 9% in the quarter . [1]", "Revenue grew 8%[3] in the quarter . [1]",
                 "Revenue grew in the quarter . [1]"):
        assert shown_start(text, shown_end(text, 1), QUOTE) is None, text
