"""Disk full and read-only stores: a clear StoreError (CLI: a message and exit 1, no
traceback), and nothing half-written recorded as done. Tests run as root, so chmod
cannot make a folder read-only: these use injected write errors, a file where the
store folder should be, and (where the kernel lets us) real tmpfs and read-only mounts.
"""
from __future__ import annotations

import errno
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from store_audit import ENV, RAG_BIN, audit

from rag.errors import StoreError
from rag.pipeline import JOURNAL


def failing_after(calls: int, exc: BaseException):
    """A replacement for a Chroma write that works `calls` times, then raises `exc`."""
    state = {"n": 0}

    def wrap(real):
        def write(*args, **kwargs):
            state["n"] += 1
            if state["n"] > calls:
                raise exc
            return real(*args, **kwargs)

        return write

    return wrap


def test_disk_full_while_storing_chunks(fresh_rag, monkeypatch):
    monkeypatch.setattr(fresh_rag.embedder, "batch_size", 4)  # several batches, several writes
    store = fresh_rag.store
    monkeypatch.setattr(store.chunks, "upsert",
                        failing_after(2, OSError(errno.ENOSPC, "No space left on device"))(store.chunks.upsert))
    with pytest.raises(StoreError, match="No space left on device"):
        fresh_rag.ingest()

    stored = {d.doc_id for d in fresh_rag.documents()}
    assert len(stored) < 5, "the documents whose chunks failed must not be recorded as done"
    assert audit(Path(fresh_rag.config.store), after_crash=True) == []  # what is recorded is whole
    assert (Path(fresh_rag.config.store) / JOURNAL).exists()  # the next open repairs

    monkeypatch.undo()  # space is back
    report = fresh_rag.ingest()
    assert set(report.added) | stored == {d.doc_id for d in fresh_rag.documents()}
    assert len(fresh_rag.documents()) == 5
    assert audit(Path(fresh_rag.config.store), Path(fresh_rag.config.corpus)) == []


def test_chroma_refusing_the_catalog_write(fresh_rag, monkeypatch):
    from chromadb.errors import InternalError

    store = fresh_rag.store
    monkeypatch.setattr(store.docs, "upsert", failing_after(1, InternalError("database or disk is full"))(store.docs.upsert))
    with pytest.raises(StoreError, match="disk is full"):
        fresh_rag.ingest()
    assert len(fresh_rag.documents()) <= 1
    assert audit(Path(fresh_rag.config.store), after_crash=True) == []
    monkeypatch.undo()
    fresh_rag.ingest()
    assert audit(Path(fresh_rag.config.store), Path(fresh_rag.config.corpus)) == []


def test_disk_full_while_saving_the_keyword_index(fresh_rag, monkeypatch):
    from rag.keyword_index import KeywordIndex

    def full(self, fingerprint):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(KeywordIndex, "save", full)
    with pytest.raises(StoreError, match="No space left on device"):
        fresh_rag.ingest()
    monkeypatch.undo()
    fresh_rag.ingest()
    assert audit(Path(fresh_rag.config.store), Path(fresh_rag.config.corpus)) == []


def run_rag(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([RAG_BIN, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)


def test_cli_store_path_is_a_file(tmp_path, corpus_dir):
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    for store, reason in ((blocker, "File exists"), (blocker / "inner", "Not a directory")):
        result = run_rag("ingest", str(corpus_dir), "--store", str(store), cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip() == f"error: cannot write the store at {store}: {reason}"
        assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a folder"


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture()
def mount_point(tmp_path):
    point = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    yield point
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # the audit's Chroma client keeps files open
    if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True)


@pytest.mark.slow
def test_cli_real_disk_full_then_space_freed(mount_point, squad_dir, tmp_path):
    if not mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)):
        pytest.skip("cannot mount a tmpfs here")
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in sorted((squad_dir / "docs").glob("*.txt"))[:80]:
        shutil.copy(path, docs / path.name)
    store = mount_point / "store"

    full = run_rag("ingest", str(docs), "--store", str(store), cwd=tmp_path)
    assert full.returncode == 1, full.stdout + full.stderr
    assert full.stderr.startswith(f"error: cannot write the store at {store}")
    assert "Traceback" not in full.stderr

    assert mount("-o", "remount,size=200m", str(mount_point))
    done = run_rag("ingest", str(docs), "--store", str(store), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert audit(store, docs) == []


def test_cli_read_only_store(mount_point, built_rag, tmp_path, corpus_dir):
    source = tmp_path / "store-copy"
    shutil.copytree(built_rag.config.store, source)
    if not (mount("--bind", str(source), str(mount_point)) and mount("-o", "remount,ro,bind", str(mount_point))):
        pytest.skip("cannot make a read-only bind mount here")
    before = sorted(p.name for p in source.rglob("*"))

    result = run_rag("ingest", str(corpus_dir), "--store", str(mount_point), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot write the store at {mount_point}: Read-only file system"
    asked = run_rag("ask", "How much has Alibaba committed?", "--store", str(mount_point), cwd=tmp_path)
    assert asked.returncode == 1  # Chroma must write to open a store: a message, not a traceback
    assert asked.stderr.startswith(f"error: cannot write the store at {mount_point}")
    for r in (result, asked):
        assert "Traceback" not in r.stderr
    assert sorted(p.name for p in source.rglob("*")) == before


@pytest.mark.parametrize("failure", [OSError(errno.EIO, "Input/output error"), "chroma"])
def test_read_failure_while_asking_is_a_store_error(fresh_rag, monkeypatch, failure):
    from chromadb.errors import InternalError

    fresh_rag.ingest()
    exc = InternalError("Error executing plan: segment reader failed") if failure == "chroma" else failure
    monkeypatch.setattr(fresh_rag.store.chunks, "query", failing_after(0, exc)(fresh_rag.store.chunks.query))
    with pytest.raises(StoreError, match=f"cannot read the store at {fresh_rag.config.store}"):
        fresh_rag.ask("How much has Alibaba committed to AI?")
    monkeypatch.undo()  # the disk is back: asking works again
    assert fresh_rag.ask("How much has Alibaba committed to AI?").answerable
