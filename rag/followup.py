"""Follow-up questions made standalone, so retrieval sees what they are about.

Without an LLM (`rewrite_followup`), by rules:
1. Each earlier question is made standalone in turn (oldest first), so chained
   follow-ups resolve against the last *standalone* question, `prev`.
2. A question is a follow-up when it starts with "and", "what about", "how about" or
   "what of", contains a pronoun (it, its, they, their, them, this, that, these, those,
   he, she, his, her), or has at most 4 words. Anything else is returned unchanged.
3. Entities are capitalised words and runs of them ("Alibaba Cloud", "AI"), skipping
   capitalised function words ("What", "And", "The", ...), plus quoted terms. The main
   entity of `prev` is its first entity; without one there is nothing to carry over.
4. Pronouns are replaced by that entity ("its" -> "Alibaba's", "it" -> "Alibaba"); a
   demonstrative is replaced only when it stands for a noun phrase ("that deal" ->
   "Alibaba's deal"), not when it stands alone ("why is that?"). A pronoun after the
   question's own entity refers back to that entity and is left alone.
5. Otherwise, a follow-up naming its own entity ("What about Tencent?") is `prev` with
   the main entity substituted; a trailing prepositional phrase is kept ("What about
   Tencent in 2023?" -> "... Tencent invested in AI in 2023?").
6. A follow-up with neither ("And the cloud revenue?") becomes "What about Alibaba's
   cloud revenue?"; a bare prepositional phrase ("And in 2023?") extends `prev`.
A complete question (it starts with a question word and names its own entity) is never
rewritten. The rules never raise: on anything odd the question comes back unchanged.

With an LLM generator, `rewrite` asks the LLM instead (`rag.llm.condense_question`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from rag.config import Config

LEADS = re.compile(r"^\s*(?:and|what about|how about|what of)\b[\s,:;-]*", re.I)
PRONOUNS = frozenset("it its they their them this that these those he she his her".split())
POSSESSIVE = frozenset("its their his".split())
DEMONSTRATIVE = frozenset("this that these those".split())
QUESTION_WORDS = frozenset("what who whom whose when where why which how is are was were do does did "
                           "has have had can could will would should may might".split())
PREPOSITIONS = frozenset("in on at for during since by over from before after until between within".split())
FUNCTION_WORDS = QUESTION_WORDS | PRONOUNS | frozenset(
    "and or but the a an of about and tell please list give show compare explain describe i "
    "if so then also in on at for by to with from as".split())
MAX_SHORT_WORDS = 4

_TOKEN = re.compile(r"[\w'’&.-]+|[^\w\s]")
_CAPITALISED = re.compile(r"^[A-Z][\w&’'.-]*$")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<!\w)'([^']+)'(?!\w)")


def rewrite(history: Sequence[str | tuple[str, str]], question: str, config: Config) -> str:
    """The standalone form of `question`. `history` holds earlier questions (oldest
    first), or (question, answer) turns; the extractive generator uses the rules here,
    the LLM generators `rag.llm.condense_question`. A local GGUF model (llamacpp) uses the
    rules too: small models fail the rewrite (SmolLM2 failed both it was given)."""
    turns = [(h, "") if isinstance(h, str) else (str(h[0]), str(h[1])) for h in history]
    if config.generator in ("extractive", "reader", "llamacpp"):
        return rewrite_followup([q for q, _ in turns], question)
    from rag.llm import condense_question

    return condense_question(turns, question, config)


def rewrite_followup(history: list[str], question: str) -> str:
    """A standalone question from the previous user questions (oldest first) and a
    follow-up; the question unchanged when it is not a follow-up or nothing can be carried."""
    if not isinstance(question, str):
        return question
    prev = ""
    for earlier in history or []:
        if isinstance(earlier, str) and earlier.strip():
            prev = _resolve(prev, earlier.strip())
    return _resolve(prev, question)


def is_followup(question: str) -> bool:
    """Starts like a follow-up, has a pronoun, or is short."""
    words = _words(question)
    return bool(LEADS.match(question)) or any(w.lower() in PRONOUNS for w in words) or len(words) <= MAX_SHORT_WORDS


def entities(text: str) -> list[str]:
    """Quoted terms and runs of capitalised words that are not function words, in order."""
    found = [(m.start(), next(g for g in m.groups() if g)) for m in _QUOTED.finditer(text)]
    quoted = [(m.start(), m.end()) for m in _QUOTED.finditer(text)]
    run: list[tuple[int, str]] = []
    for m in _TOKEN.finditer(text):
        word = m.group().strip(".'’-")
        inside = any(a <= m.start() < b for a, b in quoted)
        if word and not inside and _CAPITALISED.match(word) and word.lower() not in FUNCTION_WORDS:
            bare = re.sub(r"['’]s$", "", word)
            run.append((m.start(), bare))
            if bare != word:  # a possessive ends the name: "Alibaba's Qwen" is two
                found.append(_joined(run))
                run = []
            continue
        if run:
            found.append(_joined(run))
            run = []
    if run:
        found.append(_joined(run))
    return [e for _, e in sorted(found) if e.strip()]


def _joined(run: list[tuple[int, str]]) -> tuple[int, str]:
    return run[0][0], " ".join(w for _, w in run)


def _resolve(prev: str, question: str) -> str:
    q = question.strip()
    main = (entities(prev) or [""])[0] if prev else ""
    if not q or not main or not is_followup(q):
        return question
    words = _words(q)
    if not words:
        return question
    own = entities(q)
    # A pronoun after the question's own entity refers back to it, not to `prev`.
    own_at = min((q.find(e) for e in own if e in q), default=len(q))
    replaced = _replace_pronouns(q[:own_at], main) + q[own_at:]
    if replaced != q:
        return _as_question(replaced)
    if re.search(rf"(?<!\w){re.escape(main)}(?!\w)", q, re.I):
        return question  # it already names what it is about
    lead = LEADS.match(q)
    first = words[0].lower()
    if own and not lead and first in QUESTION_WORDS:
        return question  # a complete question about its own subject
    body = LEADS.sub("", q).strip().rstrip("?.! ").strip()
    if own:
        return _substitute(prev, main, own[0], body)
    return _extend(prev, main, body)


def _replace_pronouns(text: str, entity: str) -> str:
    # Each word is looked at with the next one: "her" and demonstratives depend on it.
    tokens = re.split(r"(\W+)", text)
    words = [i for i, t in enumerate(tokens) if t and re.match(r"\w", t)]
    for k, i in enumerate(words):
        low = tokens[i].lower()
        nxt = tokens[words[k + 1]].lower() if k + 1 < len(words) else ""
        takes_noun = bool(nxt) and nxt not in FUNCTION_WORDS
        if low in POSSESSIVE or (low == "her" and takes_noun):
            tokens[i] = f"{entity}'s"
        elif low in DEMONSTRATIVE:
            tokens[i] = f"{entity}'s" if takes_noun and tokens[i + 1].strip() == "" else tokens[i]
        elif low in PRONOUNS:
            tokens[i] = entity
    return "".join(tokens)


def _substitute(prev: str, main: str, new: str, body: str) -> str:
    rest = re.sub(r"^['’]s\b", "", body.replace(new, "", 1).strip()).strip(" ,")
    if rest and rest.split()[0].lower() not in PREPOSITIONS:
        return f"What about {body}?"  # it says more than a name: keep its own words
    swapped = prev.replace(main, new).rstrip("?.! ")
    return f"{swapped} {rest}?" if rest else f"{swapped}?"


def _extend(prev: str, main: str, body: str) -> str:
    words = body.split()
    if not words:
        return prev
    if words[0].lower() in PREPOSITIONS:
        return f"{prev.rstrip('?.! ')} {body}?"
    if words[0].lower() in QUESTION_WORDS:
        return f"{body} for {main}?"
    if words[0].lower() in {"the", "a", "an"}:
        body = " ".join(words[1:]) or body
    return f"What about {main}'s {body}?"


def _as_question(text: str) -> str:
    lead = LEADS.match(text)
    if not lead:
        return text
    body = text[lead.end():].strip().rstrip("?.! ")
    if not body:
        return text
    first = body.split()[0].lower()
    return f"{body[0].upper()}{body[1:]}?" if first in QUESTION_WORDS else f"What about {body}?"


def _words(text: str) -> list[str]:
    return re.findall(r"\w+(?:['’]\w+)?", text)
