"""Hostile input: a folder of 80-odd malformed, oversized, tricky and malicious files
(see tests/hostile_samples.py) ingested together with a copy of corpus/. Ingestion never
crashes, stays within time and memory, skips each bad file with its reason, ingests
everything good, and stores nothing from outside the folder."""
from __future__ import annotations

import ast
import os
import resource
import shutil
import time
from pathlib import Path

import psutil
import pytest
from citation_checks import assert_citations_exact
from hostile_samples import OUTSIDE_CANARY, make_hostile_folder
from store_audit import all_chunks, audit, output, start_rag

from rag.config import Config
from rag.errors import LoadError
from rag.loading import load_documents, read_text
from rag.pipeline import RAG

MAX_SECONDS_PER_FILE = 30
MAX_RSS = 2 * 1024**3
QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, corpus_dir):
    base = tmp_path_factory.mktemp("hostile")
    folder, outside = base / "docs", base / "outside"
    items = make_hostile_folder(folder, outside)
    shutil.copytree(corpus_dir, folder / "corpus")
    assert len(items) >= 50
    return folder, items


def corpus_ids(corpus_dir) -> set[str]:
    return {f"corpus/{p.stem}" for p in corpus_dir.glob("*.txt")}


def check_outcome(folder: Path, items, doc_ids: set[str], skipped: dict[str, str]) -> None:
    """Every file went where it should, with its reason."""
    for item in items:
        path = str(folder / item.name)
        if item.expect == "skip":
            assert path in skipped, f"{item.name!r} was not reported as skipped"
            assert item.reason in skipped[path], (item.name, skipped[path])
        elif item.expect == "ingest":
            assert item.doc_id in doc_ids, f"{item.name!r} was not ingested"
            assert path not in skipped, (item.name, skipped.get(path))
        elif item.expect == "ignore":
            assert path not in skipped and item.doc_id not in doc_ids, item.name


def test_every_hostile_file_loads_in_bounded_time_or_is_skipped(hostile, corpus_dir):
    folder, items = hostile
    for item in items:
        path = folder / item.name
        if item.expect == "ignore" or not os.path.lexists(path) or path.is_symlink() or not path.is_file():
            continue
        t0 = time.perf_counter()
        try:
            read_text(path)
        except LoadError as exc:
            assert str(exc)
        assert time.perf_counter() - t0 < MAX_SECONDS_PER_FILE, item.name

    docs, skipped = load_documents(folder)
    by_path = {s.path: s.reason for s in skipped}
    ids = {d.doc_id for d in docs}
    check_outcome(folder, items, ids, by_path)
    assert corpus_ids(corpus_dir) <= ids
    for doc in docs:
        assert OUTSIDE_CANARY not in doc.text and "SCRIPTCANARY" not in doc.text
        assert Path(doc.source).parent.resolve().is_relative_to(folder.resolve())
    print(f"\n{len(items)} hostile files: {len(docs)} documents, {len(skipped)} skipped")


def test_hostile_folder_ingests_in_process(hostile, tmp_path, embedder, corpus_dir):
    folder, items = hostile
    rag = RAG(Config(store=tmp_path / "store"), embedder=embedder)
    report = rag.ingest(folder)
    check_outcome(folder, items, {d.doc_id for d in rag.documents()}, {s.path: s.reason for s in report.skipped})
    assert corpus_ids(corpus_dir) <= {d.doc_id for d in rag.documents()}
    for _, text, _ in all_chunks(rag.store):
        assert OUTSIDE_CANARY not in text and "SCRIPTCANARY" not in text
    answer = rag.ask(QUESTION)
    assert answer.answerable and ("$52 billion" in answer.text or "$53 billion" in answer.text)
    assert_citations_exact(answer)
    assert rag.ingest(folder).embed_calls == 0


@pytest.mark.slow
def test_rag_ingest_subprocess_survives_the_hostile_folder(hostile, tmp_path, corpus_dir, embedder):
    folder, items = hostile
    store = tmp_path / "store"
    t0 = time.monotonic()
    proc = start_rag(["ingest", str(folder), "--store", str(store)], tmp_path / "logs", "ingest")
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss + sum(c.memory_info().rss for c in watched.children(True)))
        except psutil.Error:
            pass
        assert time.monotonic() - t0 < 900, "ingest took too long"
        time.sleep(0.02)
    seconds = time.monotonic() - t0
    out, err = output(proc)
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)

    assert proc.returncode in (0, 3), err[-3000:]
    assert proc.returncode == 3  # there are skipped files
    assert "Traceback" not in err and "Traceback" not in out
    assert peak < MAX_RSS, f"peak RSS {peak / 2**20:.0f} MB"
    skipped = {}
    for line in err.splitlines():
        if line.startswith(" skipped  "):
            path, _, reason = line[len(" skipped  "):].partition(": ")
            skipped[ast.literal_eval(path)] = reason  # the CLI prints repr(path)
    rag = RAG(Config(store=store), embedder=embedder)
    check_outcome(folder, items, {d.doc_id for d in rag.documents()}, skipped)
    assert corpus_ids(corpus_dir) <= {d.doc_id for d in rag.documents()}
    for _, text, meta in all_chunks(rag.store):
        assert OUTSIDE_CANARY not in text and "SCRIPTCANARY" not in text
        assert Path(meta["source"]).parent.resolve().is_relative_to(folder.resolve())
    assert audit(store, folder) == []
    answer = rag.ask(QUESTION)
    assert answer.answerable
    assert_citations_exact(answer)
    print(f"\n{len(items)} hostile files + corpus: exit {proc.returncode} in {seconds:.1f} s, "
          f"peak RSS {peak / 2**20:.0f} MB, {len(skipped)} skipped, {len(rag.documents())} documents")
