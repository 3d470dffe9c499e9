"""The BM25 side of hybrid retrieval (bm25s, English stemming and stopwords).

It is a derived index: the store (Chroma) is the truth. The index lives in
`<store>/bm25/` with the rows it was built from and the catalog fingerprint it matches.
Ingestion updates it in place (drop the rows of replaced documents, add the new ones,
re-index: bm25s indexes ~100k short chunks in seconds); on open, a fingerprint that
differs from the store's (a crash, another replica's ingest) triggers a rebuild from
the store. With a Chroma server each app replica keeps its own copy, rebuilt the same
way. Saving is atomic: a new versioned folder, then a pointer file swapped with
os.replace.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.types import Filters
from rag.store import date_ordinal


@dataclass(frozen=True)
class KeywordRow:
    """What the index needs of one chunk."""

    chunk_id: str
    doc_id: str
    published_ord: int
    text: str


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed terms without stopwords, as BM25 sees them."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class KeywordIndex:
    """BM25 over chunk texts, with doc-id and date filters as score masks."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.rows: list[KeywordRow] = []
        self.fingerprint = ""
        self._bm25 = None
        self._doc_freq: dict[str, int] = {}
        self._loaded_pointer: float | None = None

    # --- persistence ---------------------------------------------------------------
    def load(self) -> bool:
        """Load the saved index, if any. Returns False when there is none."""
        pointer = self.folder / "current.json"
        try:
            current = json.loads(pointer.read_text())
            version = self.folder / current["version"]
            with open(version / "rows.jsonl", encoding="utf-8") as f:
                rows = [KeywordRow(*json.loads(line)) for line in f]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self._index(rows)
        self.fingerprint = current["fingerprint"]
        self._loaded_pointer = pointer.stat().st_mtime
        return True

    def is_stale_on_disk(self) -> bool:
        """True when another process saved a newer index since we loaded ours."""
        try:
            return (self.folder / "current.json").stat().st_mtime != self._loaded_pointer
        except OSError:
            return False

    def save(self, fingerprint: str) -> None:
        """Write rows under a fresh version folder and swap the pointer atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        version = f"v-{uuid.uuid4().hex[:12]}"
        tmp = self.folder / version
        tmp.mkdir()
        with open(tmp / "rows.jsonl", "w", encoding="utf-8") as f:
            for r in self.rows:
                f.write(json.dumps([r.chunk_id, r.doc_id, r.published_ord, r.text], ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        staging = self.folder / "current.json.tmp"
        staging.write_text(json.dumps({"version": version, "fingerprint": fingerprint}))
        os.replace(staging, self.folder / "current.json")
        self.fingerprint = fingerprint
        self._loaded_pointer = (self.folder / "current.json").stat().st_mtime
        self._remove_old_versions(keep=version)

    def _remove_old_versions(self, keep: str) -> None:
        for old in self.folder.glob("v-*"):
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)

    # --- building ------------------------------------------------------------------
    def replace(self, remove_docs: Iterable[str], add: Sequence[KeywordRow]) -> None:
        """Drop every row of `remove_docs`, add `add`, and re-index."""
        gone = set(remove_docs)
        self._index([r for r in self.rows if r.doc_id not in gone] + list(add))

    def rebuild(self, rows: Sequence[KeywordRow]) -> None:
        """Index exactly `rows`."""
        self._index(list(rows))

    def _index(self, rows: list[KeywordRow]) -> None:
        import bm25s

        self.rows = rows
        self._bm25, self._doc_freq = None, {}
        if not rows:
            return
        tokens = bm25s.tokenize([r.text for r in rows], stopwords="en", stemmer=_stemmer(), show_progress=False)
        self._bm25 = bm25s.BM25()
        self._bm25.index(tokens, show_progress=False)
        present = np.zeros(len(tokens.vocab), dtype=np.int64)
        for ids in tokens.ids:
            present[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        self._doc_freq = {term: int(present[i]) for term, i in tokens.vocab.items()}
        self._doc_ids = np.array([r.doc_id for r in rows], dtype=object)
        self._dates = np.array([r.published_ord for r in rows], dtype=np.int64)

    # --- querying ------------------------------------------------------------------
    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency of a stemmed term."""
        n = len(self.rows)
        return float(np.log(1 + (n - self._doc_freq.get(term, 0) + 0.5) / (self._doc_freq.get(term, 0) + 0.5)))

    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only positive scores."""
        if self._bm25 is None:
            return []
        query_terms = [t for t in terms([query])[0] if t in self._doc_freq]
        if not query_terms:
            return []
        mask = self._mask(filters)
        k = min(n, len(self.rows))
        docs, scores = self._bm25.retrieve([query_terms], k=k, weight_mask=mask, show_progress=False, n_threads=1)
        return [(self.rows[d].chunk_id, float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def _mask(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.empty:
            return None
        keep = np.ones(len(self.rows), dtype=bool)
        if filters.doc_ids:
            keep &= np.isin(self._doc_ids, list(filters.doc_ids))
        if filters.published_from:
            keep &= self._dates >= max(1, date_ordinal(filters.published_from))
        if filters.published_to:
            keep &= (self._dates <= date_ordinal(filters.published_to)) & (self._dates > 0)
        return keep.astype(np.float32)
