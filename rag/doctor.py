"""Store invariants, checked and repaired.

1. Every chunk belongs to a catalogued document version (else: an orphan of a crashed
   or interrupted write, deleted).
2. Every catalogued document has exactly its recorded number of chunks (else: it is
   forgotten, so the next ingest stores it again).
3. The BM25 index holds exactly the catalogued chunks (else: rebuilt from the store).
Chunk ids are unique by construction (they are Chroma primary keys).
"""
from __future__ import annotations

from collections import defaultdict

from rag.embedding import Embedder
from rag.keyword_index import KeywordIndex, KeywordRow
from rag.reader import Reader
from rag.store import ChunkStore


def check_store(store: ChunkStore, keywords: KeywordIndex, repair: bool) -> list[str]:
    """Messages describing each problem found, and what was done about it."""
    catalog = store.catalog()
    members, orphans, rows = defaultdict(list), [], []
    for chunk_id, doc_id, doc_hash, published_ord, text in store.scan(with_text=True):
        info = catalog.get(doc_id)
        if info is None or info.content_hash != doc_hash:
            orphans.append(chunk_id)
        else:
            members[doc_id].append(chunk_id)
            rows.append(KeywordRow(chunk_id, doc_id, int(published_ord), text))
    incomplete = [d for d, info in catalog.items() if len(members[d]) != info.n_chunks]
    messages = []
    if orphans:
        messages.append(f"{len(orphans)} chunk(s) belong to no finished document" + (": deleted" if repair else ""))
    if incomplete:
        messages.append(f"{len(incomplete)} document(s) are incomplete ({', '.join(incomplete[:5])})"
                        + (": forgotten, the next ingest stores them again" if repair else ""))
    fingerprint_after = store.fingerprint({d: i for d, i in catalog.items() if d not in incomplete})
    keyword_ids = set(keywords.chunk_ids)
    good_rows = [r for r in rows if r.doc_id not in incomplete]
    stale = keyword_ids != {r.chunk_id for r in good_rows} or keywords.fingerprint != fingerprint_after
    if stale:
        messages.append("the BM25 index does not match the store" + (": rebuilt" if repair else ""))
    if repair:
        _repair(store, keywords, orphans, incomplete, members, good_rows if stale else None)
    return messages


def _repair(store: ChunkStore, keywords: KeywordIndex, orphans: list[str], incomplete: list[str],
            members: dict[str, list[str]], rows: list[KeywordRow] | None) -> None:
    store.delete_chunks(orphans)
    for doc_id in incomplete:
        store.forget_document(doc_id)
        store.delete_chunks(members[doc_id])
    if rows is not None:
        keywords.rebuild(rows)
        keywords.save(store.fingerprint())


def rebuild_keywords(store: ChunkStore, keywords: KeywordIndex) -> None:
    """Re-index BM25 in memory from the catalogued chunks of the store (readers use this)."""
    catalog = store.catalog()
    rows = [KeywordRow(cid, doc_id, int(ord_), text) for cid, doc_id, doc_hash, ord_, text in store.scan(with_text=True)
            if doc_id in catalog and catalog[doc_id].content_hash == doc_hash]
    keywords.rebuild(rows)
    keywords.fingerprint = store.fingerprint(catalog)


def describe_models(embedder: Embedder, reader: Reader) -> list[str]:
    """One line per model: the encoder variant that runs (and why), and the answer model
    with its card's threshold. Loading each one is part of the check."""
    _ = reader.session  # a truncated or foreign reader.onnx fails here, with its path
    return [f"encoder: {embedder.name}: {embedder.encoder.describe()}",
            f"answer model: {reader.model_dir} (calibrated threshold {float(reader.card['threshold']):.4f})"]
