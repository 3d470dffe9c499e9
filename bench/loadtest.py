"""`rag loadtest`: a benchmark of the REST API, not a unit test.

N concurrent clients (asyncio + httpx) ask the gold questions (eval/gold.jsonl) in a
loop for the given duration against `--url`, or against a `rag serve --no-ui` started
here on a free port. Reports requests/s, latency percentiles, counts by status and
the server's RSS (psutil) over the first and last 10 s. Exit status 1 on any 5xx
other than 503 (busy / not ready is the server protecting itself, not failing), or
when requests fail at the transport level.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from eval.metrics import percentile

WINDOW_S = 10.0
SAMPLE_EVERY_S = 0.5


def load_questions(path: Path | None = None) -> list[str]:
    path = path or Path(__file__).resolve().parents[1] / "eval" / "gold.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def target(url: str | None, store):
    """(base URL, server pid or None): the given server, or one started for the run."""
    if url:
        yield url.rstrip("/"), _pid_listening_on(url)
        return
    port = _free_port()
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--no-ui"]
    cmd += ["--store", str(store)] if store else []
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(base: str, proc, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s  # the first start may ingest corpus/
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).json().get("ready"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become ready")


def _pid_listening_on(url: str) -> int | None:
    """The local process serving `url`, when it runs on this machine (for its RSS)."""
    from urllib.parse import urlparse

    import psutil

    port = urlparse(url).port or 80
    try:
        return next((c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                     and c.status == psutil.CONN_LISTEN and c.pid), None)
    except (psutil.Error, OSError):
        return None


async def _client(http, base: str, questions: list[str], offset: int, stop_at: float, results: list) -> None:
    i = offset
    while time.monotonic() < stop_at:
        question = questions[i % len(questions)]
        i += 1
        t0 = time.monotonic()
        try:
            r = await http.post(f"{base}/v1/ask", json={"question": question})
            status = r.status_code
            if status == 503:
                status = f"503 {r.json().get('error', {}).get('type', '')}".strip()
        except Exception as exc:  # noqa: BLE001 - counted, never fatal to the run
            status = f"error {type(exc).__name__}"
        results.append((t0, time.monotonic() - t0, status))


async def _sample_rss(pid: int | None, t0: float, stop_at: float, samples: list) -> None:
    if pid is None:
        return
    import psutil

    proc = psutil.Process(pid)
    while time.monotonic() < stop_at:
        try:
            samples.append((time.monotonic() - t0, proc.memory_info().rss))
        except psutil.Error:
            return
        await asyncio.sleep(SAMPLE_EVERY_S)


async def drive(base: str, clients: int, seconds: float, questions: list[str], pid: int | None):
    """Run the clients; (results [(start, latency s, status)], rss samples [(t, bytes)])."""
    import httpx

    token = os.environ.get("RAG_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    results: list = []
    samples: list = []
    t0 = time.monotonic()
    stop_at = t0 + seconds
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as http:
        tasks = [_client(http, base, questions, k * 7, stop_at, results) for k in range(clients)]
        await asyncio.gather(_sample_rss(pid, t0, stop_at, samples), *tasks)
    return results, samples, time.monotonic() - t0


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def report(results, samples, elapsed: float, clients: int, seconds: float) -> str:
    """The run as a plain-text table."""
    ok = [lat * 1000 for _, lat, status in results if status == 200]
    counts = Counter(str(status) for _, _, status in results)
    first = [rss for t, rss in samples if t <= WINDOW_S]
    last = [rss for t, rss in samples if t >= seconds - WINDOW_S]
    mb = lambda xs: f"{max(xs) / 2**20:.0f} MB" if xs else "n/a"  # noqa: E731
    rows = [
        ("clients", str(clients)), ("duration", f"{elapsed:.1f} s"), ("requests", str(len(results))),
        ("requests/s (all)", f"{len(results) / elapsed:.1f}"), ("requests/s (200)", f"{len(ok) / elapsed:.1f}"),
        *((f"p{q} latency (200)", _ms(percentile(ok, q))) for q in (50, 95, 99)),
        *((f"status {k}", str(v)) for k, v in sorted(counts.items())),
        ("server RSS, first 10 s (max)", mb(first)), ("server RSS, last 10 s (max)", mb(last)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v:>10}" for k, v in rows)


def failed(results) -> bool:
    """Any 5xx but 503, or any transport error."""
    for _, _, status in results:
        if isinstance(status, str) and status.startswith("error"):
            return True
        if isinstance(status, int) and 500 <= status < 600 and status != 503:
            return True
    return False


def run(clients: int = 20, seconds: float = 60, url: str | None = None, store=None) -> int:
    """The whole benchmark; returns the exit status."""
    questions = load_questions()
    with target(url, store) as (base, pid):
        results, samples, elapsed = asyncio.run(drive(base, clients, seconds, questions, pid))
    print(report(results, samples, elapsed, clients, seconds))
    return 1 if failed(results) else 0
