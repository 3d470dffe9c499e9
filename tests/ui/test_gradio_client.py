"""The UI's endpoints through gradio_client, against a running server."""
from __future__ import annotations

import pytest

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"


@pytest.fixture(scope="module")
def client(ui_url):
    from gradio_client import Client

    return Client(ui_url, verbose=False)


def test_chat_endpoint_answers_with_highlighted_sources(client):
    history, sources, searched, box = client.predict(QUESTION, [], 5, "extractive", [], "", "", api_name="/chat")
    bubble = history[-1]
    text = bubble["content"][0]["text"] if isinstance(bubble["content"], list) else bubble["content"]
    assert bubble["role"] == "assistant" and 'href="#src-1"' in text
    assert 'id="src-1"' in sources and "<mark>" in sources
    assert QUESTION in searched and box == ""


def test_chat_endpoint_streams_partial_updates(client):
    job = client.submit(QUESTION, [], 5, "extractive", [], "", "", api_name="/chat")
    job.result(timeout=60)
    assert len(job.outputs()) >= 2


def test_ask_json_returns_the_rest_answer_shape(client):
    answer = client.predict(QUESTION, 3, api_name="/ask_json")
    assert set(answer) == {"text", "answerable", "answer_text", "answer_span", "confidence", "citations", "timings_ms",
                     "raw_text", "dropped_sentences"}
    assert answer["answerable"] and answer["citations"][0]["quote"] in answer["text"]
    assert client.predict("", api_name="/ask_json") == {"error": "the question is empty"}


def test_password_protects_the_mounted_ui(built_rag, monkeypatch, serve):
    import httpx
    from gradio_client import Client

    from rag.server.app import create_app
    from ui.app import mount_ui

    monkeypatch.setenv("RAG_UI_PASSWORD", "pw")
    with serve(mount_ui(create_app(built_rag, token=""), built_rag)) as url:
        assert httpx.get(f"{url}/ui/config").status_code == 401
        answer = Client(f"{url}/ui/", auth=("rag", "pw"), verbose=False).predict(QUESTION, 3, api_name="/ask_json")
        assert answer["citations"]
