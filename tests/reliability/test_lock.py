"""One writer per store, between real processes; readers are never blocked."""
from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from store_audit import ENV, RAG_BIN, audit, output, start_rag, wait_for_fresh_journal

from rag.config import Config
from rag.errors import StoreLockedError
from rag.locking import WriteLock
from rag.pipeline import JOURNAL, RAG

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
HOLDER = """
import sys
from rag.locking import WriteLock
with WriteLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()  # hold until the test closes stdin
"""


def run_rag(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    result = subprocess.run([RAG_BIN, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)
    return result, time.monotonic() - t0


def test_second_writer_fails_at_once_and_readers_work(fresh_rag, tmp_path, embedder):
    fresh_rag.ingest()
    store = str(fresh_rag.config.store)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, store], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"

        writer, seconds = run_rag("ingest", str(fresh_rag.config.corpus), "--store", store, cwd=tmp_path)
        assert writer.returncode == 1 and seconds < 5
        assert f"is in use by PID {holder.pid}" in writer.stderr
        assert writer.stderr.startswith("error: ") and "Traceback" not in writer.stderr
        with pytest.raises(StoreLockedError, match=f"in use by PID {holder.pid}"):
            fresh_rag.ingest()

        # Readers are not blocked (`rag ask` as a process: the slow test below).
        other = RAG(Config(store=Path(store)), embedder=embedder)  # a reader opened while locked
        assert other.ask(QUESTION).answerable
        assert holder.poll() is None  # still holding
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert fresh_rag.ingest().embed_calls == 0  # free again


def test_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path):
    refused = []
    with WriteLock(tmp_path):
        with WriteLock(tmp_path):  # opening the store inside an ingest repairs under the same lock
            pass
        assert (tmp_path / "writer.pid").exists()  # the inner exit kept the lock

        def other():
            try:
                with WriteLock(tmp_path):
                    pass
            except StoreLockedError as exc:
                refused.append(str(exc))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1 and "in use by PID" in refused[0]
    assert not (tmp_path / "writer.pid").exists()
    with WriteLock(tmp_path):  # released
        pass


def test_crash_repair_runs_inside_an_ingest(fresh_rag):
    """The journal of a killed ingest is repaired by the next ingest in this process
    too: the repair takes the write lock that this process already holds."""
    fresh_rag.ingest()
    store_dir = Path(fresh_rag.config.store)
    victim = fresh_rag.documents()[0]
    # Killed while removing a document: the catalog entry is gone, its chunks are not.
    fresh_rag.store.forget_document(victim.doc_id)
    Path(victim.source).unlink()
    (store_dir / JOURNAL).write_text("0")
    assert fresh_rag.store.chunk_ids_of(victim.doc_id)

    again = RAG(fresh_rag.config, embedder=fresh_rag.embedder)
    report = again.ingest()
    assert not (report.added or report.updated or report.removed)
    assert again.store.chunk_ids_of(victim.doc_id) == []  # the orphans were deleted
    assert not (store_dir / JOURNAL).exists()
    assert audit(store_dir, Path(fresh_rag.config.corpus)) == []


def test_writers_in_turn_from_different_processes_keep_bm25_in_step(fresh_rag, tmp_path):
    """A long-lived RAG (an API server) ingests after another process (the CLI) wrote
    the store: its incremental BM25 update must start from the store as it is now."""
    fresh_rag.ingest()
    corpus = Path(fresh_rag.config.corpus)
    first, second = sorted(corpus.glob("*.txt"))[:2]
    first.write_text(first.read_text() + "\nA paragraph added while the server was running.\n")
    cli, _ = run_rag("ingest", str(corpus), "--store", str(fresh_rag.config.store), cwd=tmp_path)
    assert cli.returncode == 0 and "updated 1" in cli.stdout, cli.stderr

    second.write_text(second.read_text() + "\nAnother paragraph, added through the server.\n")
    report = fresh_rag.ingest()
    assert report.updated == (second.stem,)
    assert audit(Path(fresh_rag.config.store), corpus) == []
    assert set(fresh_rag.keywords.chunk_ids) == {i for i, *_ in fresh_rag.store.scan()}


@pytest.mark.slow
def test_real_ingest_holds_the_lock_while_readers_answer(tmp_path, corpus_dir, squad_dir):
    docs = tmp_path / "docs"
    shutil.copytree(corpus_dir, docs)
    store = tmp_path / "store"
    first, _ = run_rag("ingest", str(docs), "--store", str(store), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for path in sorted((squad_dir / "docs").glob("*.txt"))[:300]:
        shutil.copy(path, docs / path.name)

    writer = start_rag(["ingest", str(docs), "--store", str(store)], tmp_path / "logs", "writer")
    assert wait_for_fresh_journal(store, writer, writer.started_at) is not None
    second, seconds = run_rag("ingest", str(docs), "--store", str(store), cwd=tmp_path)
    assert second.returncode == 1 and seconds < 5
    assert f"is in use by PID {writer.pid}" in second.stderr and "Traceback" not in second.stderr
    reader, _ = run_rag("ask", QUESTION, "--store", str(store), cwd=tmp_path)
    assert writer.poll() is None, "the writer should still be at work"
    assert reader.returncode == 0, reader.stderr
    assert "$52 billion" in reader.stdout or "$53 billion" in reader.stdout
    assert writer.wait(timeout=900) == 0, output(writer)
    assert audit(store, docs) == []
