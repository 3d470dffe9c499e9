"""Crash safety: SIGKILL a real `rag ingest` at seeded random moments.

After every kill the store, as readers see it, holds each document whole or not at all;
the next `rag ingest` exits 0 and leaves the store consistent: each document of the
folder present with all its chunks and the content hash of its file, no chunk twice,
no orphan, the BM25 index holding exactly Chroma's chunk ids (see store_audit.py).

The same store is reused across kills. The first kill hits the initial ingest of the
whole folder; before each later one the folder changes (10% of the files rewritten,
10% removed or the removed ones restored), so every killed run has new, changed and
removed documents to write, and replace-then-delete is exercised.

Kill moments follow the ingest's own progress, not the clock (other work on the machine
makes durations vary several-fold): the run's stderr is a pseudo-terminal, so it draws
its progress bar (documents stored), and the target moments are stratified over
  [-0.1, 0)  after the journal is written, before embedding (loading, chunking, model);
  [0, 1)     that share of the documents stored (the writer thread stores each batch as
             the next one is embedded), interpolated between bar updates;
  [1, 1.1)   after the last batch: old chunks deleted, removed documents, BM25 saved.
A kill that would land after the run removed its journal is a miss and is retried.
Every fourth killed run is `rag ingest --rebuild` (the old generation must stay whole
and current), and before every second one a process deleting documents one by one is
killed during one of its deletions.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_audit import ENV, ProgressRun, audit, open_store, output

from rag.pipeline import JOURNAL

SEED = 20240611


class Folder:
    """The documents being ingested, and the changes made between runs."""

    def __init__(self, root: Path, held: Path, rng: random.Random):
        self.root, self.held, self.rng = root, held, rng
        self.held.mkdir(parents=True, exist_ok=True)
        self.edits = 0

    def present(self) -> list[Path]:
        return sorted(self.root.glob("*.txt"))

    def update(self, fraction: float) -> int:
        """Rewrite a fraction of the files: append a paragraph, or drop the last one."""
        files = self.present()
        chosen = self.rng.sample(files, max(1, int(len(files) * fraction)))
        for path in chosen:
            self.edits += 1
            text = path.read_text()
            paragraphs = [p for p in text.split("\n\n") if p.strip()]
            words = text.split()
            if len(paragraphs) > 1 and self.rng.random() < 0.4:
                text = "\n\n".join(paragraphs[:-1]) + "\n"
            else:
                sample = " ".join(self.rng.sample(words, min(25, len(words))))
                text = text.rstrip("\n") + f"\n\nEdit {self.edits} notes that {sample}.\n"
            path.write_text(text)
        return len(chosen)

    def remove(self, fraction: float) -> int:
        files = self.present()
        chosen = self.rng.sample(files, max(1, int(len(files) * fraction)))
        for path in chosen:
            shutil.move(path, self.held / path.name)
        return len(chosen)

    def restore(self) -> int:
        files = sorted(self.held.glob("*.txt"))
        for path in files:
            shutil.move(path, self.root / path.name)
        return len(files)


def copy_docs(src: Path, dst: Path, n: int) -> Path:
    dst.mkdir(parents=True)
    files = sorted(src.glob("*.txt"))
    assert len(files) >= n, f"need {n} documents in {src}"
    for path in files[:n]:
        shutil.copy(path, dst / path.name)
    return dst


def targets(rng: random.Random, n: int) -> list[float]:
    """n kill moments stratified over [-0.1, 1.1), in random order."""
    out = [-0.1 + 1.2 * (i + rng.random()) / n for i in range(n)]
    rng.shuffle(out)
    return out


def journal_written_since(store: Path, since: float) -> bool:
    try:
        return float((store / JOURNAL).read_text() or 0) >= since
    except (OSError, ValueError):
        return False


def ingest_to_end(store: Path, folder: Path, logs: Path, name: str) -> str:
    """Run `rag ingest` to completion; its stdout."""
    run = ProgressRun(["ingest", str(folder), "--store", str(store)], logs, name)
    while run.proc.poll() is None:
        run.pump()
        time.sleep(0.02)
    run.finish()
    out, err = output(run.proc)
    assert run.proc.returncode == 0, f"{name}: exit {run.proc.returncode}\n{out[-2000:]}\n{err[-4000:]}"
    assert "Traceback" not in err, err[-4000:]
    return out


def ingest_killed(store: Path, folder: Path, logs: Path, name: str, target: float, rebuild: bool = False) -> dict:
    """Start `rag ingest` (or `rag ingest --rebuild`) and SIGKILL it at `target` (see the module docstring)."""
    run = ProgressRun(["ingest", str(folder), "--store", str(store), *(["--rebuild"] if rebuild else [])], logs, name)
    proc, journal_at, samples = run.proc, None, []
    where = "missed"
    while proc.poll() is None:
        now = time.monotonic()
        bar = run.progress()
        if journal_at is None:
            if journal_written_since(store, run.started_at):
                journal_at = now
            time.sleep(0.005)
            continue
        if not (store / JOURNAL).exists():
            break  # the ingest is done with the store: too late, a miss
        if bar and (not samples or samples[-1][1:] != bar):
            samples.append((now, *bar))
        if target < 0:
            if bar or now - journal_at >= -target * 10:  # up to 1 s after the journal
                where = "before embedding"
        elif bar and target < 1:
            done, total = bar
            estimate = done
            if len(samples) >= 2 and samples[-1][1] > samples[0][1]:
                (t0, n0, _), (t1, n1, _) = samples[0], samples[-1]
                estimate = n1 + (n1 - n0) / (t1 - t0) * (now - t1)
            if total and estimate >= target * total:
                where = f"embedding {min(estimate, total):.0f}/{total}"
        elif target >= 1 and ((bar and bar[0] == bar[1]) or (journal_at and not bar and now - journal_at > 3)):
            ready = samples[-1][0] if samples else journal_at + 3
            if now - ready >= (target - 1) * 10:  # up to 1 s after the last batch
                where = "after embedding"
        if where != "missed":
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    run.finish()
    killed = proc.returncode == -signal.SIGKILL
    if not killed:
        _, err = output(proc)
        assert proc.returncode == 0 and "Traceback" not in err, err[-4000:]
        where = "missed"
    return {"killed": killed, "where": where, "target": round(target, 3), **({"rebuild": True} if rebuild else {})}


DELETER = """
import sys
from rag.pipeline import RAG
rag = RAG.open(store=sys.argv[1])
for doc_id in sys.argv[2:]:
    print("deleting", doc_id, flush=True)
    rag.delete(doc_id)
"""


def deletes_killed(store: Path, logs: Path, name: str, rng: random.Random) -> dict:
    """Delete ~5% of the stored documents one by one in a subprocess; SIGKILL it during
    (or just after) a randomly chosen one. The files stay, so the next ingest restores them."""
    docs = sorted(d.doc_id for d in open_store(store).catalog().values())
    victims = rng.sample(docs, max(2, len(docs) // 20))
    at, delay = rng.randrange(len(victims)), rng.random() * 0.05
    out_path = logs / f"{name}.out"
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", DELETER, str(store), *victims], stdout=out,
                                stderr=subprocess.STDOUT, env=ENV, cwd=logs)
    while proc.poll() is None and out_path.read_text().count("deleting") <= at:
        time.sleep(0.002)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    killed = proc.returncode == -signal.SIGKILL
    assert killed or proc.returncode == 0, out_path.read_text()[-4000:]
    return {"delete_killed": killed, "delete_at": f"{at + 1}/{len(victims)} +{delay * 1000:.0f} ms"}


def crash_rounds(folder: Folder, store: Path, logs: Path, embedder, rng: random.Random, kills_wanted: int,
                 max_rounds: int) -> list[dict]:
    """Kill an ingest, check, finish with a clean ingest, check again; change the folder."""
    pending = targets(rng, kills_wanted)
    log = []
    for round_no in range(max_rounds):
        if not pending:
            break
        if round_no == 0:
            change = {"initial": len(folder.present())}
        else:
            change = {"changed": folder.update(0.10)}
            if round_no % 2:
                change["removed"] = folder.remove(0.10)
            else:
                change["restored"] = folder.restore()
        if round_no % 2:
            change.update(deletes_killed(store, logs, f"round{round_no}-delete", rng))
            problems = audit(store, after_crash=True)
            assert problems == [], f"after a killed delete {change}: {problems[:10]}"
        rebuild = round_no % 4 == 3  # a rebuild killed anywhere leaves the old index whole
        entry = {"round": round_no, **change,
                 **ingest_killed(store, folder.root, logs, f"round{round_no}-killed", pending[0], rebuild)}
        if entry["killed"]:
            pending.pop(0)
            problems = audit(store, after_crash=True)
            assert problems == [], f"after kill {entry}: {problems[:10]}"
        out = ingest_to_end(store, folder.root, logs, f"round{round_no}-finish")
        entry["finish"] = out.strip().splitlines()[-1]
        problems = audit(store, folder.root, embedder.count_tokens)
        assert problems == [], f"after finishing {entry}: {problems[:10]}"
        log.append(entry)
        print(entry, flush=True)
    assert not pending, f"only {kills_wanted - len(pending)} of {kills_wanted} kills landed: {log}"
    return log


@pytest.mark.slow
def test_sigkill_at_20_moments_of_ingests_of_300_documents(tmp_path, squad_dir, embedder):
    rng = random.Random(SEED)
    logs = tmp_path / "logs"
    folder = Folder(copy_docs(squad_dir / "docs", tmp_path / "docs", 300), tmp_path / "held", rng)
    store = tmp_path / "store"
    t0 = time.monotonic()
    log = crash_rounds(folder, store, logs, embedder, rng, 20, max_rounds=40)
    out = ingest_to_end(store, folder.root, logs, "final")
    assert "0 chunks embedded" in out
    assert audit(store, folder.root, embedder.count_tokens) == []
    kills = [e for e in log if e["killed"]]
    print(f"\n{len(kills)} kills survived in {len(log)} rounds, {time.monotonic() - t0:.0f} s")
    assert len(kills) == 20
    places = {e["where"].split()[0] for e in kills}
    assert {"before", "embedding", "after"} <= places, places  # spread over the whole ingest
    assert any("initial" in e for e in kills)  # the 300-document first ingest was killed too
    assert any(e.get("rebuild") for e in kills)  # and a rebuild
    assert sum(e.get("delete_killed", False) for e in log) >= 5  # and deletions, each audited


def test_sigkill_three_times_small(tmp_path, squad_dir, embedder):
    """The quick version for the default run: 40 documents, 3 kills."""
    rng = random.Random(SEED + 1)
    logs = tmp_path / "logs"
    folder = Folder(copy_docs(squad_dir / "docs", tmp_path / "docs", 40), tmp_path / "held", rng)
    log = crash_rounds(folder, tmp_path / "store", logs, embedder, rng, 3, max_rounds=8)
    assert sum(e["killed"] for e in log) == 3
