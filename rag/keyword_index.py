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
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.store import date_ordinal
from rag.types import Filters

log = logging.getLogger(__name__)


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


def _bm25s():
    import bm25s

    bm25s.logger.setLevel(logging.WARNING)  # bm25s sets DEBUG on import and logs every build
    return bm25s


def terms(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed terms without stopwords, as BM25 sees them."""
    return _bm25s().tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


class KeywordIndex:
    """BM25 over chunk texts, with doc-id and date filters as score masks."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.fingerprint = ""
        self._rows: list[KeywordRow] | None = []
        self._version: Path | None = None
        self._bm25: Any = None  # a bm25s.BM25 once built or loaded
        self._bm25_dir: Path | None = None  # saved, not yet loaded (see `bm25`)
        self._doc_freq: dict[str, int] = {}
        self._loaded_pointer: float | None = None
        self._set_keys([], [], [])

    # --- persistence ---------------------------------------------------------------
    def load(self) -> bool:
        """Load the saved index, if any (texts stay on disk until an update needs them).
        Returns False when there is none. The BM25 matrix itself loads on first search:
        importing bm25s (and scipy) was most of an unchanged re-ingest."""
        pointer = self.folder / "current.json"
        try:
            current = json.loads(pointer.read_text())
            version = self.folder / current["version"]
            keys = json.loads((version / "keys.json").read_text())
            self._doc_freq = json.loads((version / "doc_freq.json").read_text())
            self._bm25, self._bm25_dir = None, (version / "bm25" if keys["chunk_ids"] else None)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self._set_keys(keys["chunk_ids"], keys["doc_ids"], keys["dates"])
        self._rows, self._version = None, version
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
        """Write the index under a fresh version folder and swap the pointer atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        version = self.folder / f"v-{uuid.uuid4().hex[:12]}"
        version.mkdir()
        rows = self.rows
        with open(version / "rows.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps([r.chunk_id, r.doc_id, r.published_ord, r.text], ensure_ascii=False) + "\n")
        keys = {"chunk_ids": self._chunk_ids, "doc_ids": list(self._doc_ids), "dates": self._dates.tolist()}
        (version / "keys.json").write_text(json.dumps(keys, ensure_ascii=False))
        (version / "doc_freq.json").write_text(json.dumps(self._doc_freq, ensure_ascii=False))
        if self.bm25 is not None:
            self.bm25.save(version / "bm25", show_progress=False)
        _fsync_tree(version)
        staging = self.folder / "current.json.tmp"
        staging.write_text(json.dumps({"version": version.name, "fingerprint": fingerprint}))
        os.replace(staging, self.folder / "current.json")
        self.fingerprint, self._version = fingerprint, version
        self._loaded_pointer = (self.folder / "current.json").stat().st_mtime
        self._remove_old_versions(keep=version.name)

    def _remove_old_versions(self, keep: str) -> None:
        for old in self.folder.glob("v-*"):
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)

    @property
    def rows(self) -> list[KeywordRow]:
        """Every indexed chunk, with its text (read from disk on first use)."""
        if self._rows is None:
            assert self._version is not None  # rows are dropped only by load(), which sets it
            with open(self._version / "rows.jsonl", encoding="utf-8") as f:
                self._rows = [KeywordRow(*json.loads(line)) for line in f]
        return self._rows

    # --- building ------------------------------------------------------------------
    def replace(self, remove_docs: Iterable[str], add: Sequence[KeywordRow]) -> None:
        """Drop every row of `remove_docs`, add `add`, and re-index."""
        gone = set(remove_docs)
        self._index([r for r in self.rows if r.doc_id not in gone] + list(add))

    def rebuild(self, rows: Sequence[KeywordRow]) -> None:
        """Index exactly `rows`."""
        self._index(list(rows))

    def _index(self, rows: list[KeywordRow]) -> None:
        bm25s = _bm25s()
        self._rows, self._bm25, self._bm25_dir, self._doc_freq = rows, None, None, {}
        self._set_keys([r.chunk_id for r in rows], [r.doc_id for r in rows], [r.published_ord for r in rows])
        if not rows:
            return
        tokens = bm25s.tokenize([r.text for r in rows], stopwords="en", stemmer=_stemmer(), show_progress=False)
        self._bm25 = bm25s.BM25()
        self._bm25.index(tokens, show_progress=False)
        present = np.zeros(len(tokens.vocab), dtype=np.int64)
        for ids in tokens.ids:
            present[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        self._doc_freq = {term: int(present[i]) for term, i in tokens.vocab.items()}

    def _set_keys(self, chunk_ids: list[str], doc_ids: list[str], dates: list[int]) -> None:
        self._chunk_ids = list(chunk_ids)
        self._doc_ids = np.array(doc_ids, dtype=object)
        self._dates = np.array(dates, dtype=np.int64)

    @property
    def bm25(self) -> Any:
        """The bm25s index (None when empty), loaded from disk on first use; a damaged
        saved matrix is rebuilt from the saved rows."""
        if self._bm25 is None and self._bm25_dir is not None:
            folder, self._bm25_dir = self._bm25_dir, None
            try:
                self._bm25 = _bm25s().BM25.load(folder, mmap=False)
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("the saved BM25 matrix in %s is unreadable; rebuilding it from the rows", folder)
                self._index(self.rows)
        return self._bm25

    @property
    def chunk_ids(self) -> list[str]:
        return self._chunk_ids

    def __len__(self) -> int:
        return len(self._chunk_ids)

    # --- querying ------------------------------------------------------------------
    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency of a stemmed term."""
        n = len(self._chunk_ids)
        return float(np.log(1 + (n - self._doc_freq.get(term, 0) + 0.5) / (self._doc_freq.get(term, 0) + 0.5)))

    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only positive scores."""
        bm25 = self.bm25
        if bm25 is None:
            return []
        query_terms = [t for t in terms([query])[0] if t in self._doc_freq]
        if not query_terms:
            return []
        mask = self._mask(filters)
        k = min(n, len(self._chunk_ids))
        docs, scores = bm25.retrieve([query_terms], k=k, weight_mask=mask, show_progress=False, n_threads=1)
        return [(self._chunk_ids[d], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def _mask(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.empty:
            return None
        keep = np.ones(len(self._chunk_ids), dtype=bool)
        if filters.doc_ids:
            keep &= np.isin(self._doc_ids, list(filters.doc_ids))
        if filters.published_from:
            keep &= self._dates >= max(1, date_ordinal(filters.published_from))
        if filters.published_to:
            keep &= (self._dates <= date_ordinal(filters.published_to)) & (self._dates > 0)
        return keep.astype(np.float32)


def _fsync_tree(folder: Path) -> None:
    """Flush every file of a new index version before the pointer names it."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
