"""The eval's own stores, under the output folder and never the user's `.rag`.

A store is keyed by what its contents depend on: the corpus files (names, sizes,
modification times), the index-shaping config fields and the source of the product's
ingestion modules. Re-running on the same corpus reuses it; a changed corpus, chunking
setting or ingestion code gets a fresh store (an incremental ingest would not notice
new chunking code: it skips files whose content is unchanged).
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from rag.config import Config

# Config fields that change what an index holds (not how it is queried).
INDEX_FIELDS = ("embed_model", "chunk_tokens", "chunk_overlap_tokens", "collection",
                "hnsw_construction_ef", "hnsw_m")
# Product modules that decide what a store holds; answering and retrieval code is left
# out so tuning them reuses the store.
INDEX_MODULES = ("loading", "cleaning", "chunking", "dates", "embedding", "ingestion", "store", "keyword_index")
DONE = "rag.done"


def corpus_signature(corpus: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file under `corpus`, sorted."""
    corpus = Path(corpus)
    rows = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        stat = path.stat()
        rows.append((path.relative_to(corpus).as_posix(), stat.st_size, stat.st_mtime_ns))
    return rows


def ingestion_code() -> str:
    """A hash of the product's ingestion modules' source."""
    import rag

    digest = hashlib.sha256()
    for name in INDEX_MODULES:
        path = Path(rag.__file__).parent / f"{name}.py"
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return digest.hexdigest()


def store_key(corpus: Path, config: Config) -> str:
    """A short hash of the corpus signature, the index-shaping config and ingestion code."""
    payload = {"files": corpus_signature(corpus), "config": {f: str(getattr(config, f)) for f in INDEX_FIELDS},
               "code": ingestion_code()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def store_dir(out: Path, corpus: Path, config: Config) -> Path:
    """`OUT/store-<key>`: the folder holding the product's store for this corpus."""
    return Path(out) / f"store-{store_key(corpus, config)}"


def prune_stale(out: Path, keep: Path) -> list[Path]:
    """Remove the other `store-<key>` folders under `out` (built from an older corpus,
    config or ingestion code), so repeated runs do not pile up stores. Returns them."""
    gone = [p for p in Path(out).glob("store-*") if p.is_dir() and p != Path(keep)
            and re.fullmatch(r"store-[0-9a-f]{12}", p.name)]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone


def naive_dir(out: Path, corpus: Path, config: Config) -> Path:
    """`OUT/naive-<key>`: the llama-index store, keyed by the corpus and the embedding
    model only (it uses none of the product's code, so product changes keep it)."""
    payload = {"files": corpus_signature(corpus), "model": config.embed_model}
    return Path(out) / f"naive-{hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:12]}"


def open_product(folder: Path, corpus: Path, config: Config, embedder=None):
    """A RAG over `folder/rag`, ingested from `corpus` unless a finished ingest is recorded."""
    from rag.pipeline import RAG

    rag = RAG(config.with_(store=folder / "rag", corpus=corpus), embedder=embedder)
    done = folder / DONE
    if not done.exists() or rag.is_empty():
        report = rag.ingest(corpus, progress=sys.stderr.isatty())
        print(f"ingested {corpus}: {report.summary()}", file=sys.stderr)
        done.write_text(report.summary())
        prune_stale(folder.parent, folder)
    return rag
