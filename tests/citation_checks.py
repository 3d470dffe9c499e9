"""The citation contract every answer must keep, shared by the tests."""
from __future__ import annotations

import re
from pathlib import Path

_FOOTNOTE = re.compile(r"\[\d{1,3}\]")  # a source's own footnote markers ("goal[1].")


def shown(quote: str) -> str:
    """A quote as the extractive answer text shows it: the source's footnote markers
    dropped (they would read as our citation numbers), spaces collapsed."""
    return " ".join(_FOOTNOTE.sub("", quote).split())


def assert_citations_exact(answer, texts: dict[str, str] | None = None) -> None:
    """Each quote is exactly `source_text[start:end]`, and appears in the answer text
    followed by its marker."""
    texts = {} if texts is None else texts
    for c in answer.citations:
        if c.source not in texts:
            texts[c.source] = Path(c.source).read_text()
        assert texts[c.source][c.start : c.end] == c.quote, (c.source, c.start, c.end)
        assert f"{shown(c.quote)} [{c.n}]" in answer.text, (c.quote, answer.text)
