"""`/v1/chat/completions` through the official `openai` client, streaming and not."""
from __future__ import annotations

import re

import httpx
import openai
import pytest
from openai import OpenAI

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def client(api_url):
    return OpenAI(base_url=f"{api_url}/v1", api_key="x", max_retries=0, timeout=60)


def test_completion_has_markers_and_citations(client):
    resp = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    content = resp.choices[0].message.content
    citations = resp.model_extra["citations"]
    assert resp.choices[0].finish_reason == "stop"
    assert MARKER.search(content) and citations
    assert {int(n) for n in MARKER.findall(content)} == {c["n"] for c in citations}
    assert all(c["quote"] and c["doc_id"] for c in citations)


def test_streaming_yields_chunks_then_citations_on_the_last(client):
    stream = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert MARKER.search(text)
    assert chunks[-1].model_extra["citations"]
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_raw_stream_ends_with_done(api_url):
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with httpx.stream("POST", f"{api_url}/v1/chat/completions", json=body, timeout=60) as r:
        lines = [line for line in r.iter_lines() if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_follow_up_uses_the_earlier_turns(client):
    messages = [
        {"role": "user", "content": "What is Alibaba's cloud revenue growth?"},
        {"role": "assistant", "content": "Cloud revenue climbed 34%. [1]"},
        {"role": "user", "content": "What was its free cash flow?"},
    ]
    resp = client.chat.completions.create(model="rag", messages=messages)
    query = resp.model_extra["query"]
    assert "Alibaba" in query and query != messages[-1]["content"]
    assert resp.model_extra["answerable"] and resp.model_extra["citations"]
    alone = client.chat.completions.create(model="rag", messages=messages[-1:])
    assert alone.model_extra["query"] == messages[-1]["content"]


def test_content_parts_are_accepted(client):
    parts = [{"type": "text", "text": QUESTION}]
    resp = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": parts}])
    assert resp.model_extra["citations"]


def test_bad_conversations_are_400(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rag", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "q"}], stream=True,
                                       extra_body={"filters": {"published_to": "yesterday"}})


def test_streams_give_their_ask_slot_back(built_rag, serve):
    from rag.server.app import create_app

    app = create_app(built_rag, token="", max_inflight=1, busy_wait_s=2)
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with serve(app) as url:
        for _ in range(3):
            with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as r:
                assert r.status_code == 200  # closed here without reading the body
        httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        r = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=60)
    assert r.status_code == 200  # the only slot is free again
