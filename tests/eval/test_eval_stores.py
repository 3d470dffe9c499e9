"""The eval's store keys and pruning (eval/stores.py); no model needed."""
from __future__ import annotations

import os

from eval.stores import naive_dir, prune_stale, store_dir
from rag.config import Config


def test_store_key_follows_corpus_and_config(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("hello")
    out, config = tmp_path / "out", Config()
    first = store_dir(out, corpus, config)
    assert first == store_dir(out, corpus, config) and first.parent == out
    assert store_dir(out, corpus, config.with_(chunk_tokens=100)) != first
    assert store_dir(out, corpus, config.with_(refusal_threshold=0.9)) == first  # query-time knob
    naive = naive_dir(out, corpus, config)
    os.utime(corpus / "a.txt", ns=(1, 1))
    assert store_dir(out, corpus, config) != first and naive_dir(out, corpus, config) != naive


def test_prune_keeps_the_current_store_only(tmp_path):
    keep, old = tmp_path / "store-0123456789ab", tmp_path / "store-ba9876543210"
    other = tmp_path / "store-notes"
    for path in (keep, old, other):
        path.mkdir()
    assert prune_stale(tmp_path, keep) == [old]
    assert keep.exists() and other.exists() and not old.exists()
