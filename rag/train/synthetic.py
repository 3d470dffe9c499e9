"""Training examples we generate ourselves, beyond the gold questions.

2k gold questions are few for a reader (few-shot QA: BERT-sized readers reach F1 ~0.4
from 1k SQuAD questions). Two generators, both cheap and both from text we have:

- **Answer removed** (negatives): a gold positive's window with every sentence that
  holds the answer cut out. Same question, same topic, same neighbours; only the
  answer is gone. This is the near miss a user meets ("founded when?" against the
  sentence before the founding date) and what SQuAD 2.0's unanswerables look like.
- **Cloze questions** (positives, after Lewis et al. 2019, "Unsupervised QA by cloze
  translation", without the translation): in a sentence of a paragraph, a name or
  number becomes a wh-word, and the clause around it becomes the question. Each cloze
  positive also gets its answer-removed negative. Cloze questions are made only from
  articles without gold questions, so no held-out article's text is trained on.

Left out: rewriting cloze questions into natural word order; dates as their own kind.
"""
from __future__ import annotations

import random
import re

from rag.train.data import Example, find_answer
from rag.types import Chunk

CLAUSE_WORDS = 10  # words kept each side of the answer in a cloze question
_CANDIDATE = re.compile(r"(?<!^)\b(?:[A-Z][\w'’-]+(?:\s+(?:of\s+|de\s+)?[A-Z][\w'’-]+)*|\d[\d,.]*\d|\d)\b")
_YEAR = re.compile(r"(1[0-9]|20)\d\d")


def without_answer(chunk: Chunk, example: Example, answers: tuple[str, ...]) -> Example | None:
    """`example`'s window minus the sentences that hold an answer; None when nothing
    else is left or an answer survives elsewhere."""
    kept = [chunk.text[s.start - chunk.start : s.end - chunk.start] for s in chunk.sentences
            if find_answer(chunk.text[s.start - chunk.start : s.end - chunk.start], answers) is None]
    window = " ".join(kept)
    if len(kept) == len(chunk.sentences) or not window.strip() or find_answer(window, answers):
        return None
    return Example(example.qid + "-removed", example.question, window, -1, -1, example.article)


def wh_word(answer: str) -> str:
    """The question word that stands for an answer of this kind."""
    if _YEAR.fullmatch(answer):
        return "what year"
    return "how many" if answer[0].isdigit() else "what"


def cloze_question(sentence: str, match: re.Match) -> str:
    """The clause around the answer, with the answer replaced by its wh-word."""
    before = sentence[: match.start()].split()[-CLAUSE_WORDS:]
    after = sentence[match.end() :].rstrip(" .;:!?").split()[:CLAUSE_WORDS]
    words = before + [wh_word(match.group())] + after
    text = " ".join(words)
    return text[0].upper() + text[1:] + "?"


def cloze_examples(chunks: list[Chunk], article_of: dict[str, str], rng: random.Random) -> list[Example]:
    """One cloze positive and its answer-removed negative per chunk (module docstring)."""
    out = []
    for chunk in chunks:
        found = [(s, m) for s in chunk.sentences
                 for m in _CANDIDATE.finditer(chunk.text[s.start - chunk.start : s.end - chunk.start])]
        if not found:
            continue
        span, match = rng.choice(found)
        sentence = chunk.text[span.start - chunk.start : span.end - chunk.start]
        at = span.start - chunk.start + match.start()
        positive = Example(f"cloze-{chunk.chunk_id[:12]}", cloze_question(sentence, match), chunk.text,
                           at, at + len(match.group()), article_of[chunk.doc_id])
        out.append(positive)
        negative = without_answer(chunk, positive, (match.group(),))
        if negative:
            out.append(negative)
    return out


def removed_negatives(examples: list[Example], chunks: list[Chunk], answers: dict[str, tuple[str, ...]]) -> list[Example]:
    """The answer-removed negative of every gold positive where one exists."""
    by_text = {c.text: c for c in chunks}
    made = (without_answer(by_text[e.window], e, answers[e.qid]) for e in examples
            if e.answerable and e.window in by_text and e.qid in answers)
    return [e for e in made if e]


def generated(examples: list[Example], chunks: list[Chunk], answers: dict[str, tuple[str, ...]],
              gold_articles: set[str], seed: int) -> list[Example]:
    """Both generators' examples: answer-removed negatives of the gold positives, and
    cloze pairs from the chunks of articles without gold questions."""
    article_of = {c.doc_id: c.doc_id.split("__")[0] for c in chunks}
    others = [c for c in chunks if article_of[c.doc_id] not in gold_articles]
    return removed_negatives(examples, chunks, answers) + cloze_examples(others, article_of, random.Random(seed))
