"""Reading a gold set (the schema of eval/GOLD.md) and drawing a seeded sample of it."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


class GoldError(ValueError):
    """The gold file is missing or malformed."""


@dataclass(frozen=True)
class GoldItem:
    """One question with its accepted answers; no answers means unanswerable."""

    id: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    evidence: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _item(row: dict) -> GoldItem:
    return GoldItem(
        id=str(row["id"]), question=str(row["question"]), answers=tuple(row.get("answers", ())),
        sources=tuple(row.get("sources", ())), evidence=tuple(row.get("evidence", ())),
        tags=tuple(row.get("tags", ())),
    )


def load_gold(path: Path) -> list[GoldItem]:
    """Every question of a JSON-lines gold file, in file order."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise GoldError(f"cannot read gold file {path}: {exc.strerror or exc}") from exc
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(_item(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise GoldError(f"{path}:{n}: not a gold row ({exc})") from exc
    if not items:
        raise GoldError(f"{path} holds no questions")
    return items


def sample(items: list[GoldItem], limit: int | None, seed: int) -> list[GoldItem]:
    """A seeded sample of `limit` questions, stratified so about half are answerable
    (as many as exist of each kind), kept in file order. No limit: all of them."""
    if limit is None or limit >= len(items):
        return list(items)
    answerable = [i for i, it in enumerate(items) if it.answerable]
    unanswerable = [i for i, it in enumerate(items) if not it.answerable]
    want_ans = min(len(answerable), max(limit - len(unanswerable), (limit + 1) // 2))
    want_un = min(len(unanswerable), limit - want_ans)
    rng = random.Random(seed)
    chosen = rng.sample(answerable, want_ans) + rng.sample(unanswerable, want_un)
    return [items[i] for i in sorted(chosen)]
