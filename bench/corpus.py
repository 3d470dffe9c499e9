"""Corpora for `rag bench`, all real text from squad2-open.

- `copy_subset`: the paragraphs themselves (one document each), for ingestion and quality.
- `edit_documents`: the 1% change and the deletions of the re-ingest measurement.
- `write_recombined`: bigger corpora for the latency measurements. The paragraphs are
  split into sentences (the product's splitter), and new documents are drawn from one
  article at a time: paragraphs of 3-5 of its sentences in a new order. Every line is
  a new combination, so the cleaner's repeated-template rule keeps them all. Documents
  are added until the product's own chunker counts `target` chunks.
"""
from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

SPEC_VERSION = 1


def squad_root() -> Path:
    """squad2-open beside the repository (as the tests expect), or RAG_BENCH_SQUAD."""
    import os

    env = os.environ.get("RAG_BENCH_SQUAD")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets" / "squad2-open"


def article_of(name: str) -> str:
    return name.split("__")[0]


def gold_articles(gold: Path) -> list[str]:
    """Articles that answerable gold questions point into, in first-seen order."""
    seen: dict[str, None] = {}
    for line in gold.read_text(encoding="utf-8").splitlines():
        if line.strip():
            for source in json.loads(line).get("sources", ()):
                seen.setdefault(article_of(source), None)
    return list(seen)


def copy_subset(src: Path, dest: Path, n: int | None, prefer: Sequence[str] = ()) -> list[str]:
    """Copy `n` paragraphs (all when None) to `dest`, whole articles of `prefer` first so
    gold questions have their sources; returns the copied file names."""
    names = sorted(p.name for p in src.glob("*.txt"))
    rank = {a: i for i, a in enumerate(prefer)}
    names.sort(key=lambda x: (rank.get(article_of(x), len(rank)), x))
    chosen = sorted(names if n is None else names[:n])
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in chosen:
        shutil.copyfile(src / name, dest / name)
    return chosen


def edit_documents(folder: Path, change: float, delete: float, seed: int = 11) -> tuple[list[str], list[str]]:
    """Edit `change` of the documents (a sentence of another paragraph appended, so each
    edit is unique) and delete `delete` of them; returns (edited, deleted) doc ids."""
    files = sorted(folder.glob("*.txt"))
    rng = random.Random(seed)
    picked = rng.sample(files, max(1, round(len(files) * change)) + max(1, round(len(files) * delete)))
    edited, deleted = picked[: max(1, round(len(files) * change))], picked[max(1, round(len(files) * change)):]
    donors = [f for f in files if f not in picked]
    for path in edited:
        donor = rng.choice(donors).read_text(encoding="utf-8").strip().split(". ")[0].rstrip(".")
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + f" {donor}.\n", encoding="utf-8")
    for path in deleted:
        path.unlink()
    return [p.stem for p in edited], [p.stem for p in deleted]


def sentences_by_article(docs: Path) -> dict[str, list[str]]:
    """Every sentence of every paragraph, grouped by article (deduplicated, in order)."""
    from rag.chunking import sentence_spans
    from rag.types import Span

    out: dict[str, dict[str, None]] = defaultdict(dict)
    for path in sorted(docs.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for s in sentence_spans(text, Span(0, len(text))):
            sentence = " ".join(text[s.start : s.end].split())
            if len(sentence) > 20:
                out[article_of(path.name)].setdefault(sentence, None)
    return {a: list(s) for a, s in out.items() if len(s) >= 8}


def recombine(sentences: dict[str, list[str]], seed: int) -> Iterator[str]:
    """New documents, endlessly: 4-8 paragraphs of 3-5 sentences of one article."""
    rng = random.Random(seed)
    articles = sorted(sentences)
    while True:
        pool = sentences[rng.choice(articles)]
        picked = rng.sample(pool, min(len(pool), rng.randint(4, 8) * 4))
        paragraphs, at = [], 0
        while at < len(picked):
            size = rng.randint(3, 5)
            paragraphs.append(" ".join(picked[at : at + size]))
            at += size
        yield "\n\n".join(paragraphs) + "\n"


def token_counter(model_path: str) -> Callable[[str], int]:
    """The embedding model's word-piece count (as Embedder.count_tokens), cached."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()

    @lru_cache(maxsize=200_000)
    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


def write_recombined(dest: Path, target: int, src: Path, count: Callable[[str], int], chunk_tokens: int,
                     overlap: int, seed: int = 5) -> dict:
    """A folder of recombined documents holding `target` chunks (as the product chunks
    them). Reused when `dest/spec.json` matches. Returns the spec."""
    from rag.chunking import chunk_document
    from rag.loading import make_document

    spec = {"version": SPEC_VERSION, "target": target, "seed": seed, "chunk_tokens": chunk_tokens,
            "overlap": overlap, "source": str(src)}
    spec_file = dest / "spec.json"
    if spec_file.exists():
        found = json.loads(spec_file.read_text())
        if {k: found.get(k) for k in spec} == spec:
            return found
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "docs").mkdir(parents=True)
    chunks = docs = 0
    for text in recombine(sentences_by_article(src), seed):
        if chunks >= target:
            break
        path = dest / "docs" / f"{docs:06d}.txt"
        n = len(chunk_document(make_document(path, text, set(), dest / "docs"), chunk_tokens, overlap, count))
        if chunks + n > target and chunks > 0 and target - chunks < n / 2:
            break
        path.write_text(text, encoding="utf-8")
        chunks, docs = chunks + n, docs + 1
    spec.update(chunks=chunks, docs=docs)
    spec_file.write_text(json.dumps(spec))
    return spec
