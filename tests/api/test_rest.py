"""The REST API against a real uvicorn server, over HTTP with httpx."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.config import Config
from rag.errors import NotReadyError, StoreLockedError
from rag.types import Answer

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"


def test_ask_returns_an_answer_whose_quotes_are_in_the_sources(api_url, built_rag):
    r = httpx.post(f"{api_url}/v1/ask", json={"question": QUESTION}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"text", "answerable", "answer_text", "answer_span", "confidence", "citations", "timings_ms",
                         "raw_text", "dropped_sentences"}
    assert body["answerable"] and body["citations"]
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["text"]
        assert "/" not in c["source"]  # a file name, never a server path
        text = (Path(built_rag.config.corpus) / c["source"]).read_text(encoding="utf-8")
        assert text[c["start"]:c["end"]] == c["quote"]


def test_ask_with_filters_only_cites_the_chosen_documents(api_url):
    doc = "000_706a5f9b3ca919df"
    body = {"question": QUESTION, "top_k": 3, "filters": {"doc_ids": [doc]}}
    r = httpx.post(f"{api_url}/v1/ask", json=body, timeout=60)
    assert r.status_code == 200
    assert {c["doc_id"] for c in r.json()["citations"]} <= {doc}


def test_unanswerable_question_is_refused(api_url):
    body = httpx.post(f"{api_url}/v1/ask", json={"question": "What is the boiling point of tungsten?"}, timeout=60).json()
    assert body["answerable"] is False and body["citations"] == []


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01\x02", "a" * 2001])
def test_unusable_questions_are_400(api_url, question):
    r = httpx.post(f"{api_url}/v1/ask", json={"question": question}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("payload, status", [
    ({"question": "x?", "filters": {"published_from": "2025-13-40"}}, 400),
    ({"question": "x?", "filters": {"published_from": "2025-05-01", "published_to": "2025-01-01"}}, 400),
    ({}, 422),
    ({"question": "x?", "top_k": 0}, 422),
])
def test_bad_requests_get_json_errors(api_url, payload, status):
    r = httpx.post(f"{api_url}/v1/ask", json=payload, timeout=30)
    assert r.status_code == status
    assert set(r.json()["error"]) == {"message", "type"}


def test_documents_are_listed_without_server_paths(api_url):
    docs = httpx.get(f"{api_url}/v1/documents", timeout=30).json()
    assert len(docs) == 5
    assert all("root" not in d and "/" not in d["source"] and d["n_chunks"] > 0 for d in docs)


def test_health_and_openapi(api_url):
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok", "ready": True}
    assert httpx.get(f"{api_url}/docs").status_code == 200
    paths = httpx.get(f"{api_url}/openapi.json").json()["paths"]
    assert {"/v1/ask", "/v1/documents", "/v1/chat/completions"} <= set(paths)
    assert httpx.get(f"{api_url}/nowhere").json()["error"]["type"] == "not_found"


def test_upload_then_ask_then_delete(writable_url, writable_rag):
    text = b"Zorblax Corp was founded in 2011 by Mira Quell.\n\nZorblax sells quantum anvils to bakeries.\n"
    r = httpx.post(f"{writable_url}/v1/documents", files={"file": ("zorblax.txt", text, "text/plain")}, timeout=120)
    assert r.status_code == 201, r.text
    assert r.json()["document"]["doc_id"] == "zorblax"
    assert "zorblax" in {d["doc_id"] for d in httpx.get(f"{writable_url}/v1/documents").json()}
    answer = httpx.post(f"{writable_url}/v1/ask", json={"question": "Who founded Zorblax Corp?"}, timeout=60).json()
    assert any(c["doc_id"] == "zorblax" for c in answer["citations"])
    assert httpx.delete(f"{writable_url}/v1/documents/zorblax").status_code == 200
    assert not (Path(writable_rag.config.store) / "uploads" / "zorblax.txt").exists()
    r = httpx.delete(f"{writable_url}/v1/documents/zorblax")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_upload_path_traversal_stays_in_the_upload_folder(writable_url, writable_rag):
    store = Path(writable_rag.config.store)
    before = {p for p in store.parent.rglob("*") if "uploads" not in p.parts}
    r = httpx.post(f"{writable_url}/v1/documents",
                   files={"file": ("../../evil.txt", b"Evil Inc. was founded by Bob Trent in 1999.\n")}, timeout=120)
    assert r.status_code == 201, r.text
    assert (store / "uploads" / "evil.txt").is_file()
    after = {p for p in store.parent.rglob("*") if "uploads" not in p.parts}
    assert not {p for p in after - before if p.name.startswith("evil")}
    assert not (store.parent.parent / "evil.txt").exists()
    httpx.delete(f"{writable_url}/v1/documents/evil")


@pytest.mark.parametrize("name, data, status", [
    ("malware.exe", b"MZ\x90\x00", 415),
    ("noextension", b"hello", 415),
    ("binary.txt", b"\x00\x01\x02" * 100, 400),
])
def test_unusable_uploads_are_refused(writable_url, writable_rag, name, data, status):
    r = httpx.post(f"{writable_url}/v1/documents", files={"file": (name, data)}, timeout=60)
    assert r.status_code == status, r.text
    assert not any((Path(writable_rag.config.store) / "uploads").glob(Path(name).stem + "*"))


def test_oversized_upload_is_413(writable_url, writable_rag):
    data = b"a" * (20 * 1024 * 1024 + 10)
    r = httpx.post(f"{writable_url}/v1/documents", files={"file": ("big.txt", data)}, timeout=120)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "file_too_large"
    assert not (Path(writable_rag.config.store) / "uploads" / "big.txt").exists()


def test_bearer_token_is_required_when_set(built_rag, monkeypatch, serve):
    from rag.server.app import create_app

    monkeypatch.setenv("RAG_API_TOKEN", "s3cret")
    with serve(create_app(built_rag)) as url:
        assert httpx.post(f"{url}/v1/ask", json={"question": QUESTION}).status_code == 401
        assert httpx.get(f"{url}/v1/documents", headers={"Authorization": "Bearer nope"}).status_code == 401
        r = httpx.get(f"{url}/v1/documents", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200
        assert httpx.get(f"{url}/healthz").status_code == 200


class FakeRAG:
    """Stands in for RAG where a test needs a slow or failing library."""

    def __init__(self, error=None, delay=0.0):
        self.config, self.error, self.delay = Config(), error, delay

    def ask(self, question, top_k=None, filters=None):
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return Answer("ok", True)

    def is_empty(self):
        return False


@pytest.mark.parametrize("error, status, kind", [
    (NotReadyError("the store is empty"), 503, "not_ready"),
    (StoreLockedError("the store /srv/secret/.rag is in use by PID 7"), 409, "store_locked"),
    (RuntimeError("boom in /srv/secret/file.py"), 500, "server_error"),
])
def test_library_errors_map_to_statuses_without_leaking_paths(error, status, kind, serve):
    from rag.server.app import create_app

    with serve(create_app(FakeRAG(error), token="")) as url:
        r = httpx.post(f"{url}/v1/ask", json={"question": "anything?"})
    assert r.status_code == status and r.json()["error"]["type"] == kind
    assert "/srv" not in r.text and "Traceback" not in r.text


def test_too_many_concurrent_asks_get_503_busy(serve):
    from rag.server.app import create_app

    app = create_app(FakeRAG(delay=1.0), token="", max_inflight=1, busy_wait_s=0.1)
    replies: list[httpx.Response] = []
    with serve(app) as url:
        def one():
            replies.append(httpx.post(f"{url}/v1/ask", json={"question": "q?"}, timeout=30))

        threads = [threading.Thread(target=one) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sorted(r.status_code for r in replies) == [200, 503, 503]
    busy = [r for r in replies if r.status_code == 503]
    assert all(r.json()["error"]["type"] == "busy" and r.headers["retry-after"] for r in busy)
