"""Independent consistency checks of a store on disk, for the reliability tests.

`audit` re-derives every invariant from Chroma's two collections and the BM25 files,
without trusting the code under test beyond opening the collections; it also runs
`rag.doctor.check_store(..., repair=False)`. It returns a list of problems ([] = good).
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections import Counter, defaultdict
from pathlib import Path

from rag import generations
from rag.chunking import chunk_document, chunk_id
from rag.config import PACKAGED_MODEL, Config
from rag.doctor import check_store
from rag.keyword_index import KeywordIndex
from rag.loading import load_documents
from rag.pipeline import JOURNAL
from rag.store import ChunkStore

RAG_BIN = str(Path(sys.executable).with_name("rag"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def open_store(store_dir: Path) -> ChunkStore:
    """A fresh view of the store (Chroma caches clients per path in a process)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    collection = generations.collection_name(Config.collection, generations.current(store_dir))
    return ChunkStore(Config(store=Path(store_dir), collection=collection), PACKAGED_MODEL, 384)


def all_chunks(store: ChunkStore) -> list[tuple[str, str, dict]]:
    """(chunk id, text, metadata) of every chunk, paged."""
    out, offset = [], 0
    while True:
        got = store.chunks.get(include=["documents", "metadatas"], limit=1000, offset=offset)
        if not got["ids"]:
            return out
        out += list(zip(got["ids"], got["documents"], got["metadatas"], strict=True))
        offset += len(got["ids"])


def audit(store_dir: Path, folder: Path | None = None, count_tokens=None, after_crash: bool = False) -> list[str]:
    """Problems found in the store at `store_dir`.

    after_crash: the state right after a SIGKILL, before any repair. Then only what
    readers rely on is required: every catalogued document is complete and whole;
    orphan chunks and a stale BM25 index are allowed (the next open repairs them).
    folder: the store must then hold exactly the documents of this folder, with the
    content hashes (and, given `count_tokens`, the chunk ids) that ingesting it yields.
    """
    store_dir = Path(store_dir)
    store = open_store(store_dir)
    problems: list[str] = []
    catalog = store.catalog()
    rows = all_chunks(store)

    ids = Counter(cid for cid, _, _ in rows)
    problems += [f"chunk id {cid} stored {n} times" for cid, n in ids.items() if n > 1]
    members: dict[str, list[tuple[str, str, dict]]] = defaultdict(list)
    orphans = []
    for cid, text, meta in rows:
        info = catalog.get(meta["doc_id"])
        if info is None or info.content_hash != meta["doc_hash"]:
            orphans.append(cid)
            continue
        members[meta["doc_id"]].append((cid, text, meta))
        if chunk_id(meta["doc_id"], meta["doc_hash"], int(meta["start"]), text) != cid:
            problems.append(f"chunk {cid} of {meta['doc_id']}: text or offsets do not match its id")
    for doc_id, info in catalog.items():
        got = members.get(doc_id, [])
        if len(got) != info.n_chunks:
            problems.append(f"{doc_id}: {len(got)} chunks stored, catalog says {info.n_chunks}")
        spans = Counter((int(m["start"]), int(m["end"])) for _, _, m in got)
        problems += [f"{doc_id}: span {s} stored {n} times" for s, n in spans.items() if n > 1]
    if after_crash:
        return problems

    if (store_dir / JOURNAL).exists():
        problems.append("the ingest journal is still there after a finished ingest")
    if orphans:
        problems.append(f"{len(orphans)} orphan chunk(s)")
    keywords = KeywordIndex(generations.keyword_dir(store_dir, generations.current(store_dir)))
    if not keywords.load() and rows:
        problems.append("no BM25 index on disk")
    kw_ids = Counter(keywords.chunk_ids)
    problems += [f"BM25 holds {cid} {n} times" for cid, n in kw_ids.items() if n > 1]
    if set(kw_ids) != set(ids):
        problems.append(f"BM25 and Chroma differ: {len(set(kw_ids) - set(ids))} only in BM25, "
                        f"{len(set(ids) - set(kw_ids))} only in Chroma")
    if keywords.fingerprint != store.fingerprint(catalog):
        problems.append("BM25 fingerprint does not match the catalog")
    problems += [f"doctor: {m}" for m in check_store(store, keywords, repair=False)]

    if folder is not None:
        docs, _ = load_documents(Path(folder))
        want = {d.doc_id: d for d in docs}
        if set(want) != set(catalog):
            problems.append(f"catalog differs from the folder: missing {sorted(set(want) - set(catalog))[:5]}, "
                            f"extra {sorted(set(catalog) - set(want))[:5]}")
        for doc_id in set(want) & set(catalog):
            doc = want[doc_id]
            if catalog[doc_id].content_hash != doc.content_hash:
                problems.append(f"{doc_id}: recorded content hash is not the file's")
            elif count_tokens is not None:
                cfg = Config()
                expected = {c.chunk_id for c in chunk_document(doc, cfg.chunk_tokens, cfg.chunk_overlap_tokens,
                                                                count_tokens)}
                if expected != {cid for cid, _, _ in members.get(doc_id, [])}:
                    problems.append(f"{doc_id}: stored chunk ids are not the ones its text yields")
    return problems


def wait_for_fresh_journal(store_dir: Path, proc: subprocess.Popen, since: float, timeout: float = 120) -> float | None:
    """When `proc` wrote the ingest journal (its write phase begins), or None if it ended first."""
    journal = Path(store_dir) / JOURNAL
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            if float(journal.read_text() or 0) >= since:
                return time.monotonic()
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise TimeoutError("the ingest never started writing")


def start_rag(args: list[str], log_dir: Path, name: str) -> subprocess.Popen:
    """`rag ARGS` as a real subprocess, output to files under log_dir."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.out", "w") as out, open(log_dir / f"{name}.err", "w") as err:
        started_at = time.time()
        proc = subprocess.Popen([RAG_BIN, *args], stdout=out, stderr=err, env=ENV, cwd=log_dir)
    proc.started_at = started_at
    proc.log_files = (log_dir / f"{name}.out", log_dir / f"{name}.err")
    return proc


class ProgressRun:
    """`rag ARGS` with stderr on a pseudo-terminal, so the ingest shows its embedding
    progress bar ("Ingesting: 45%|... | 45/100 [...]", in documents); `progress()` parses it."""

    _BAR = re.compile(rb"(\d+)/(\d+) \[")

    def __init__(self, args: list[str], log_dir: Path, name: str):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.err_path = log_dir / f"{name}.err"
        master, slave = pty.openpty()
        # A real size: on a 0x0 terminal tqdm draws its bar 0 characters wide.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        with open(log_dir / f"{name}.out", "w") as out:
            self.started_at = time.time()
            self.proc = subprocess.Popen([RAG_BIN, *args], stdout=out, stderr=slave, env=ENV, cwd=log_dir)
        os.close(slave)
        os.set_blocking(master, False)
        self.master, self.buffer = master, b""
        self.proc.log_files = (log_dir / f"{name}.out", self.err_path)
        self.proc.started_at = self.started_at

    def pump(self) -> None:
        try:
            while chunk := os.read(self.master, 65536):
                self.buffer += chunk
        except (BlockingIOError, OSError):  # nothing yet; EIO once the child is gone
            pass

    def progress(self) -> tuple[int, int] | None:
        """(documents stored, documents to store) as last drawn, or None before the bar."""
        self.pump()
        found = self._BAR.findall(self.buffer[-4096:])
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    def finish(self) -> None:
        """After the process ended: keep its terminal output as the .err log."""
        self.proc.wait()
        self.pump()
        os.close(self.master)
        self.err_path.write_bytes(self.buffer)


def output(proc: subprocess.Popen) -> tuple[str, str]:
    return tuple(p.read_text(errors="replace") for p in proc.log_files)
