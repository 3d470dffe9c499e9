"""A local GGUF model behind llama.cpp's OpenAI-compatible server (the `xllamacpp`
wheel), run as a child process that the product starts and stops.

Why a child process and not the server inside this one: a model llama.cpp cannot load
may abort its process, and the child's log stays out of ours. The child binds 127.0.0.1
on a free port and lives until its stdin closes, so it also goes when this process dies
without running its exit handlers. One server per (model, context, threads) is shared by
every ask of this process and stopped at exit. Callers talk to it through llama-index's
`OpenAILike`, the code path of every OpenAI-compatible server (see rag.llm.build_llm).

Child:  python -m rag.llamacpp MODEL PORT CONTEXT THREADS
"""
from __future__ import annotations

import atexit
import importlib.util
import itertools
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rag.config import Config
from rag.errors import LLMError
from rag.types import REFUSAL_TEXT, Chunk

# Constrained decoding (llama.cpp's GBNF grammars), built per request from the passages:
# the reply is either the refusal or one to three statements, each a sentence of the
# passages followed by a passage marker. With SmolLM2-135M on gold questions: asked
# for "[n]" in the prompt it wrote a marker on 0 of 65 sentences; given a grammar of free
# statements that must each end in a marker, it wrote meta-commentary ("The passage does
# not provide ...") that no passage supports, so every statement was dropped. A small
# model is a poor writer but can still choose: here it chooses whether to answer, which
# sentences answer, and which passage to credit. The marker is free ([1]..[k] for any
# sentence), so the grounding check still decides whether the credited passage supports
# the sentence, and a mis-credit is dropped. Servers other than llama.cpp (vLLM, OpenAI)
# get the prompt alone and write freely; the same check judges what they write.
GRAMMAR = """root ::= refusal | statement (" " statement){0,2}
refusal ::= "REFUSAL"
statement ::= quote " [" marker "]."
marker ::= MARKERS
quote ::= QUOTES
"""
_SENTENCE_END = re.compile(r"[\s.!?]+$")
STARTUP_TIMEOUT_S = 300.0  # SmolLM2 loads in 0.6 s idle, but took over 120 s on a crowded 2-core machine
GGUF_MAGIC = b"GGUF"
_LOG_PREFIX = re.compile(r"^\s*[\d.]+\s+[A-Z]\s+")  # llama.cpp's "0.00.257.986 E " time and level
_servers: dict[tuple, "LocalServer"] = {}
_lock = threading.Lock()


def quoting_grammar(passages: Sequence[Chunk]) -> str:
    """The GBNF grammar of a reply that quotes the passages' sentences, each with a
    marker naming any of them (see GRAMMAR)."""
    quotes = dict.fromkeys(q for chunk in passages for q in quotable_sentences(chunk))
    markers = " | ".join(f'"{n}"' for n in range(1, len(passages) + 1)) or '"1"'
    alternatives = " | ".join(_gbnf_string(q) for q in quotes) or _gbnf_string(REFUSAL_TEXT)
    return (GRAMMAR.replace("REFUSAL", REFUSAL_TEXT).replace("MARKERS", markers)
            .replace("QUOTES", alternatives))


def quotable_sentences(chunk: Chunk) -> list[str]:
    """The chunk's sentences on one line each, without their closing punctuation."""
    starts = chunk.sentence_starts() + [len(chunk.text)]
    found = (" ".join(chunk.text[a:b].split()) for a, b in itertools.pairwise(starts))
    return [q for q in (_SENTENCE_END.sub("", s) for s in found) if len(q) > 1]


def _gbnf_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_model_file(path: str) -> Path:
    """The model path, or a one-line LLMError when it is missing or not a GGUF file."""
    if not path:
        raise LLMError("RAG_GENERATOR=llamacpp needs a model: set RAG_LLM_MODEL_PATH (or --llm-model-path)")
    model = Path(path).expanduser()
    if not model.is_file():
        raise LLMError(f"no model file at {model} (RAG_LLM_MODEL_PATH)")
    with open(model, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise LLMError(f"{model} is not a GGUF model file")
    return model.resolve()


def server_url(config: Config) -> str:
    """The /v1 base URL of a running llama.cpp server for the configured model (started
    on first use, shared afterwards)."""
    model = check_model_file(config.llm_model_path)
    key = (str(model), config.llm_context_tokens, config.llm_threads)
    with _lock:
        server = _servers.get(key)
        if server is None or not server.alive():
            server = LocalServer.start(model, config.llm_context_tokens, config.llm_threads)
            _servers[key] = server
    return server.url


def stop_all() -> None:
    """Stop every server this process started."""
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_all)


class LocalServer:
    """One child llama.cpp server process."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}/v1"

    @classmethod
    def start(cls, model: Path, context: int, threads: int) -> "LocalServer":
        """Start the child and wait until it answers /health; LLMError if it cannot."""
        if importlib.util.find_spec("xllamacpp") is None:
            raise LLMError("RAG_GENERATOR=llamacpp needs llama.cpp: pip install xllamacpp (or the project's [llm] extra)")
        port = _free_port()
        log = Path(tempfile.mkstemp(prefix="rag-llamacpp-", suffix=".log")[1])
        command = [sys.executable, "-m", "rag.llamacpp", str(model), str(port), str(context), str(threads)]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        server = cls(process, port, log)
        server._wait_ready(model)
        return server

    def _wait_ready(self, model: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                reason = self._log_reason()
                self.stop()
                raise LLMError(f"llama.cpp could not load {model}: {reason}")
            if self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise LLMError(f"llama.cpp did not load {model} within {STARTUP_TIMEOUT_S:g} s")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False  # not listening yet, or 503 while the model loads

    def _log_reason(self) -> str:
        # llama.cpp's first error line is the most specific ("failed to read header").
        lines = [_LOG_PREFIX.sub("", ln) for ln in self.log.read_text(encoding="utf-8", errors="replace").splitlines()]
        found = [ln for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
        text = " ".join((found or lines[-1:] or ["the server exited"])[0].split())
        return text[:200]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Close the child's stdin (it exits), then make sure it is gone."""
        if self.alive():
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        self.log.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: str, port: int, context: int, threads: int) -> None:
    """The child: load the model, serve on 127.0.0.1:port until stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = context
    params.n_parallel = 1  # one slot: a second request waits instead of halving the context
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # No spin-waiting between steps: on a shared CPU a spinning thread starves the others.
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.port = port
    server = xllamacpp.Server(params)  # noqa: F841 - serves while referenced
    sys.stdin.read()  # returns when the parent closes the pipe or dies


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
