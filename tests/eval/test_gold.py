"""Sanity tests for the gold Q&A set in eval/gold.jsonl.

The corpus is read from <repo>/corpus/ and, if that directory is absent,
from <repo>/../shared/corpus/.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLD_PATH = ROOT / "eval" / "gold.jsonl"

SCHEMA_KEYS = {"id", "question", "answers", "sources", "evidence", "tags"}
DOC_TAGS = {f"doc:{i:03d}" for i in range(5)}
ALLOWED_TAGS = {
    "number",
    "date",
    "person",
    "organisation",
    "product",
    "multi_doc",
    "conflict",
    "unanswerable",
    "paraphrase",
} | DOC_TAGS
NGRAM = 6
MIN_QUESTIONS = 60
MIN_UNANSWERABLE_RATIO = 0.15
MIN_ANSWERABLE_PER_DOC = 8
MIN_MULTI_DOC = 6
MIN_CONFLICT = 5
CFO_QUESTION = "who is alibaba's chief financial officer?"


def _corpus_dir() -> Path:
    for candidate in (ROOT / "corpus", ROOT.parent / "shared" / "corpus"):
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    raise FileNotFoundError(
        f"no corpus found in {ROOT / 'corpus'} or {ROOT.parent / 'shared' / 'corpus'}"
    )


@pytest.fixture(scope="module")
def corpus() -> dict[str, str]:
    return {
        p.stem: p.read_text(encoding="utf-8")
        for p in sorted(_corpus_dir().glob("*.txt"))
    }


@pytest.fixture(scope="module")
def raw_lines() -> list[str]:
    assert GOLD_PATH.is_file(), f"missing {GOLD_PATH}"
    return [ln for ln in GOLD_PATH.read_text(encoding="utf-8").splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def gold(raw_lines) -> list[dict]:
    return [json.loads(ln) for ln in raw_lines]


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and x.strip() for x in value)


def _words(text: str) -> list[str]:
    """Lowercase, drop apostrophes, strip other punctuation, split into words."""
    text = text.lower()
    text = re.sub(r"['\u2018\u2019]", "", text)
    return re.findall(r"[^\W_]+", text)


def _answerable(item: dict) -> bool:
    return bool(item["answers"])


# --------------------------------------------------------------------------- schema


def test_every_line_parses(raw_lines):
    for n, line in enumerate(raw_lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            pytest.fail(f"line {n} is not valid JSON: {exc}")
        assert isinstance(obj, dict), f"line {n} is not a JSON object"


def test_schema_keys_and_types(gold):
    for item in gold:
        assert set(item) == SCHEMA_KEYS, f"{item.get('id')}: keys {sorted(item)}"
        assert isinstance(item["id"], str) and re.fullmatch(r"g\d{3,}", item["id"]), item["id"]
        assert isinstance(item["question"], str) and item["question"].strip(), item["id"]
        for key in ("answers", "sources", "evidence", "tags"):
            assert isinstance(item[key], list), f"{item['id']}: {key} is not a list"
            assert _is_str_list(item[key]), f"{item['id']}: {key} must hold non-empty strings"
        assert item["tags"], f"{item['id']}: no tags"
        unknown = set(item["tags"]) - ALLOWED_TAGS
        assert not unknown, f"{item['id']}: unknown tags {unknown}"
        assert len(set(item["tags"])) == len(item["tags"]), f"{item['id']}: duplicate tags"


def test_ids_unique(gold):
    ids = [item["id"] for item in gold]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate ids: {sorted(dupes)}"


def test_questions_unique(gold):
    qs = [item["question"].strip().lower() for item in gold]
    dupes = {q for q in qs if qs.count(q) > 1}
    assert not dupes, f"duplicate questions: {sorted(dupes)}"


# --------------------------------------------------------------------------- grounding


def test_sources_are_corpus_docs(gold, corpus):
    for item in gold:
        for src in item["sources"]:
            assert src in corpus, f"{item['id']}: unknown source {src!r}"
        assert len(set(item["sources"])) == len(item["sources"]), f"{item['id']}: duplicate sources"


def test_evidence_is_verbatim_in_a_source(gold, corpus):
    for item in gold:
        for quote in item["evidence"]:
            assert any(
                quote in corpus.get(src, "") for src in item["sources"]
            ), f"{item['id']}: evidence not found verbatim in its sources: {quote!r}"


def test_every_source_backed_by_evidence(gold, corpus):
    for item in gold:
        for src in item["sources"]:
            assert any(
                quote in corpus.get(src, "") for quote in item["evidence"]
            ), f"{item['id']}: no evidence quote comes from source {src}"


def test_answers_occur_in_evidence(gold):
    for item in gold:
        for answer in item["answers"]:
            assert any(
                answer.lower() in quote.lower() for quote in item["evidence"]
            ), f"{item['id']}: answer {answer!r} not in any evidence quote"


# --------------------------------------------------------------------------- answerability & tags


def test_unanswerable_consistency(gold):
    for item in gold:
        tagged = "unanswerable" in item["tags"]
        if not item["answers"]:
            assert tagged, f"{item['id']}: empty answers but not tagged unanswerable"
            assert item["sources"] == [], f"{item['id']}: unanswerable with sources"
            assert item["evidence"] == [], f"{item['id']}: unanswerable with evidence"
            assert not (set(item["tags"]) & (DOC_TAGS | {"multi_doc", "conflict"})), item["id"]
        else:
            assert not tagged, f"{item['id']}: has answers but tagged unanswerable"
            assert item["sources"], f"{item['id']}: answerable without sources"
            assert item["evidence"], f"{item['id']}: answerable without evidence"


def test_doc_tags_match_sources(gold):
    for item in gold:
        if not _answerable(item):
            continue
        expected = {f"doc:{src[:3]}" for src in item["sources"]}
        got = set(item["tags"]) & DOC_TAGS
        assert got == expected, f"{item['id']}: doc tags {sorted(got)} vs sources {sorted(expected)}"


def test_multi_doc_and_conflict_tags(gold):
    for item in gold:
        if not _answerable(item):
            continue
        multi = len(item["sources"]) >= 2
        assert ("multi_doc" in item["tags"]) == multi, f"{item['id']}: multi_doc tag vs sources"
        if "conflict" in item["tags"]:
            assert multi, f"{item['id']}: conflict needs at least two sources"
            assert len(item["answers"]) >= 2, f"{item['id']}: conflict needs every figure listed"


# --------------------------------------------------------------------------- coverage


def test_size_and_unanswerable_ratio(gold):
    assert len(gold) >= MIN_QUESTIONS, f"only {len(gold)} questions"
    unanswerable = sum(1 for item in gold if not item["answers"])
    ratio = unanswerable / len(gold)
    assert ratio >= MIN_UNANSWERABLE_RATIO, f"unanswerable ratio {ratio:.2%} too low"


def test_every_article_covered(gold, corpus):
    for doc in corpus:
        n = sum(1 for item in gold if doc in item["sources"])
        assert n >= MIN_ANSWERABLE_PER_DOC, f"{doc}: only {n} answerable questions"


def test_multi_doc_and_conflict_counts(gold):
    multi = [i for i in gold if "multi_doc" in i["tags"]]
    conflict = [i for i in gold if "conflict" in i["tags"]]
    assert len(multi) >= MIN_MULTI_DOC, f"only {len(multi)} multi_doc questions"
    assert len(conflict) >= MIN_CONFLICT, f"only {len(conflict)} conflict questions"


def test_cfo_question_is_unanswerable(gold):
    matches = [i for i in gold if i["question"].strip().lower() == CFO_QUESTION]
    assert matches, "the CFO question is missing"
    assert all(not i["answers"] for i in matches)


# --------------------------------------------------------------------------- paraphrase


def test_questions_do_not_copy_long_fragments(gold, corpus):
    corpus_grams: set[tuple[str, ...]] = set()
    for text in corpus.values():
        words = _words(text)
        corpus_grams.update(tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1))
    offenders = []
    for item in gold:
        words = _words(item["question"])
        for i in range(len(words) - NGRAM + 1):
            gram = tuple(words[i : i + NGRAM])
            if gram in corpus_grams:
                offenders.append(f"{item['id']}: {' '.join(gram)!r}")
                break
    assert not offenders, "questions copy article text:\n" + "\n".join(offenders)
