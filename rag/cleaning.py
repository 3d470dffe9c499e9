"""Boilerplate removal and metadata (title, publication date) for one document.

Cleaning never rewrites text: it decides which *lines* to keep and returns the kept
sections as offsets into the original text, so every chunk and sentence maps back to
its exact place in the source file. A line is dropped when

1. it matches the short pattern list below (ads, comment forms, calls to action);
2. its template (digits and month names masked) repeats: in two or more documents of
   the same ingest, or twice within one document (datelines, teasers, share bars);
3. its shape says it is not prose: one bare token ("Ad", "BABA--"), or a short line
   that is mostly non-words ("@ site.de | US01609W1027");
4. it is a breadcrumb: it ends with the text of the next line (the real headline).

Dropped lines split the text into sections; chunks never cross a section, so no chunk
contains boilerplate. Left out: language detection, HTML layout cues, learned
classifiers (boilerpipe-style); those need more than line-level evidence.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Set

from rag.dates import find_published
from rag.types import Span

# Lines that are boilerplate wherever they appear. Kept short on purpose: the repetition
# rule catches site templates without naming them.
BOILERPLATE_PATTERNS = [
    r"(ad|ads|advertisement|sponsored( content)?|anzeige|publicidad)",
    r"(leave a (reply|comment)|post a comment|add a public comment\W*)",
    r"please enter your (comment|name|email).*",
    r"(\d+ )?(comments?|comentarios)|no comments yet\W*|sin comentarios|aún no hay comentarios\W*",
    r".*\b(read more here|click here|sign up now|subscribe( now)?|free to your inbox)\b.*",
    r".*\b(newsletter|must read|related (articles|posts)|share this( article)?)",
    r".*\b(buy or sell|sell immediately|worth buying)\b.*",  # investment-site calls to action
]
_BOILERPLATE = re.compile("|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS), re.IGNORECASE)
_MONTHS = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.IGNORECASE
)
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
MAX_TEMPLATE_CHARS = 200  # longer lines are prose, never templates


def line_spans(text: str) -> list[Span]:
    """Offsets of every line, without its line break."""
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        spans.append(Span(pos, pos + len(body)))
        pos += len(line)
    return spans


def template_key(line: str) -> str:
    """A line's template: case, quotes, digits and month names folded."""
    key = " ".join(line.translate(_QUOTES).lower().split())
    return re.sub(r"\d+", "0", _MONTHS.sub("M", key))


def _template_sized(line: str) -> bool:
    # Judged on the raw line, before folding: folding long prose is most of cleaning's cost.
    return len(line.strip()) <= MAX_TEMPLATE_CHARS


def repeated_templates(texts: Iterable[str]) -> set[str]:
    """Templates seen in two or more documents, or twice in one."""
    across: Counter[str] = Counter()
    within: set[str] = set()
    for text in texts:
        keys = [template_key(line) for s in line_spans(text) if _template_sized(line := text[s.start : s.end])]
        keys = [k for k in keys if k]
        counts = Counter(keys)
        within.update(k for k, c in counts.items() if c > 1)
        across.update(counts.keys())
    return within | {k for k, c in across.items() if c > 1}


def is_boilerplate(line: str, repeated: Set[str] = frozenset()) -> bool:
    """True when a single line, judged on its own, is boilerplate (rules 1-3)."""
    stripped = line.strip()
    if not stripped:
        return False
    if _BOILERPLATE.fullmatch(stripped) or (_template_sized(stripped) and template_key(stripped) in repeated):
        return True
    tokens = stripped.split()
    if len(tokens) == 1 and not stripped.endswith((".", "!", "?", ":")):
        return True
    if len(tokens) > 8:  # checked first: counting letters is most of cleaning's cost
        return False
    wordlike = sum(1 for t in tokens if sum(ch.isalpha() for ch in t) >= max(2, len(t) * 0.6))
    return wordlike < len(tokens) / 2


def kept_sections(text: str, repeated: Set[str] = frozenset()) -> tuple[Span, ...]:
    """The maximal runs of kept lines, trimmed of surrounding whitespace."""
    lines = [s for s in line_spans(text) if text[s.start : s.end].strip()]
    sections: list[Span] = []
    current: Span | None = None
    for i, span in enumerate(lines):
        line = text[span.start : span.end]
        nxt = text[lines[i + 1].start : lines[i + 1].end] if i + 1 < len(lines) else ""
        if is_boilerplate(line, repeated) or _is_breadcrumb(line, nxt):
            if current:
                sections.append(current)
            current = None
            continue
        current = Span(current.start if current else span.start, span.end)
    if current:
        sections.append(current)
    return tuple(_trim(text, s) for s in sections if text[s.start : s.end].strip())


def title_of(text: str, sections: tuple[Span, ...], fallback: str) -> str:
    """The first kept line of three or more words, else the first kept line."""
    lines = [text[s.start : s.end].strip() for sec in sections for s in _lines_in(text, sec)]
    lines = [ln for ln in lines if ln]
    for line in lines:
        if len(line.split()) >= 3:
            return line[:200]
    return lines[0][:200] if lines else fallback


def metadata(text: str, sections: tuple[Span, ...], fallback_title: str) -> tuple[str, str | None]:
    """(title, published ISO date or None) of a document."""
    return title_of(text, sections, fallback_title), find_published(text)


def _is_breadcrumb(line: str, next_line: str) -> bool:
    a, b = template_key(line), template_key(next_line)
    return len(b) >= 15 and len(a) > len(b) and a.endswith(b)


def _lines_in(text: str, section: Span) -> list[Span]:
    return [
        Span(section.start + s.start, section.start + s.end)
        for s in line_spans(text[section.start : section.end])
    ]


def _trim(text: str, span: Span) -> Span:
    body = text[span.start : span.end]
    lead = len(body) - len(body.lstrip())
    return Span(span.start + lead, span.start + len(body.rstrip()))
