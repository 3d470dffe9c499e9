"""The citation contract every answer must keep, shared by the tests."""
from __future__ import annotations

from pathlib import Path


def _skip_footnote_back(quote: str, end: int) -> int:
    """Where a source's own footnote marker ("[12]") ending at `end` starts, else `end`."""
    if end == 0 or quote[end - 1] != "]":
        return end
    start = end - 1
    while start > 0 and quote[start - 1].isdigit():
        start -= 1
    return start - 1 if start > 0 and start < end - 1 and quote[start - 1] == "[" else end


def shown_start(text: str, end: int, quote: str) -> int | None:
    """Where `quote` starts in `text` if `text[:end]` ends with it as an answer shows it
    (word for word, whitespace runs collapsed, and only the source's own footnote markers
    such as "goal[1]." left out: they would read as our citation numbers), else None.
    Written apart from the answerer's regex, walking both strings backwards, so that a
    drift between the two shows."""
    i, j = end, len(quote.rstrip())
    while j > 0:
        skipped = _skip_footnote_back(quote, j)
        if skipped != j:
            j = skipped
        elif quote[j - 1].isspace():
            j -= 1
            while i > 0 and text[i - 1] == " ":
                i -= 1
        elif i > 0 and text[i - 1] == quote[j - 1]:
            i, j = i - 1, j - 1
        else:
            return None
    return i


def shown_end(answer_text: str, n: int) -> int:
    """Where the sentence first cited as [n] ends in the answer text (before " [n]")."""
    return shown_ends(answer_text, n)[0]


def shown_ends(answer_text: str, n: int) -> list[int]:
    """Where a sentence cited as [n] may end in the answer text: before each " [n]", and
    inside the closing quote mark of a quoted sentence (“...” [n])."""
    ends, at = [], answer_text.find(f" [{n}]")
    assert at >= 0, (n, answer_text)
    while at >= 0:
        ends.append(at - 1 if answer_text[at - 1 : at] == "”" else at)
        at = answer_text.find(f" [{n}]", at + 1)
    return ends


def assert_citations_exact(answer, texts: dict[str, str] | None = None) -> None:
    """Each quote is exactly `source_text[start:end]`, and appears in the answer text
    followed by its marker."""
    texts = {} if texts is None else texts
    for c in answer.citations:
        if c.source not in texts:
            texts[c.source] = Path(c.source).read_text()
        assert texts[c.source][c.start : c.end] == c.quote, (c.source, c.start, c.end)
        shown = [shown_start(answer.text, end, c.quote) for end in shown_ends(answer.text, c.n)]
        assert any(at is not None for at in shown), (c.quote, answer.text)
