"""Issue 13's server items: no 500s, one strict schema, bodies capped before reading,
/docs offline, uploads as jobs that never freeze asks, copies that leave originals alone."""
from __future__ import annotations

import re
import time

import httpx
import pytest

QUESTION = "What is Qwen3?"
CHAT = {"messages": [{"role": "user", "content": QUESTION}]}


@pytest.mark.parametrize("filters", [
    {"published_from": 2025}, {"doc_ids": 5}, {"published_to": ["2025-01-01"]},
    {"doc_ids": "004_a5d52d93e4e3da4f"}, {"doc_ids": [1, 2]}, {"unknown": 1},
])
def test_chat_filters_of_the_wrong_type_are_422_like_ask(api_url, filters):
    for path, body in (("chat/completions", {**CHAT, "filters": filters}), ("ask", {"question": QUESTION, "filters": filters})):
        r = httpx.post(f"{api_url}/v1/{path}", json=body, timeout=30)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["message"].startswith("filters.")


@pytest.mark.parametrize("body", [
    {"question": QUESTION, "top_k": True},
    {"question": QUESTION, "top_k": "3"},
    {"question": QUESTION, "surprise": 1},
    {"question": 42},
])
def test_ask_rejects_unknown_fields_and_loose_types(api_url, body):
    r = httpx.post(f"{api_url}/v1/ask", json=body, timeout=30)
    assert r.status_code == 422, r.text


def test_a_null_text_part_is_rejected_not_searched_as_none(api_url):
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]}
    r = httpx.post(f"{api_url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 422 and "text part" in r.json()["error"]["message"]


@pytest.mark.parametrize("path, body", [
    ("ask", {"question": QUESTION, "filters": {"doc_ids": ["nonexistent"]}}),
    ("chat/completions", {**CHAT, "filters": {"doc_ids": ["nonexistent"]}}),
])
def test_an_unknown_document_is_400_no_such_document(api_url, path, body):
    r = httpx.post(f"{api_url}/v1/{path}", json=body, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["message"] == "no such document: nonexistent"


def test_a_date_filter_says_how_many_undated_documents_it_skipped(api_url, built_rag):
    undated = sum(1 for d in built_rag.documents() if not d.published)
    assert undated, "the corpus has an undated document"
    r = httpx.post(f"{api_url}/v1/ask", json={"question": QUESTION, "filters": {"published_from": "2020-01-01"}})
    assert r.status_code == 200
    assert r.json()["notes"] == [f"{undated} undated document{'s were' if undated > 1 else ' was'} not searched "
                                 "(a date filter skips documents without a date)"]


def test_a_huge_body_is_refused_before_it_is_read(api_url):
    declared = httpx.post(f"{api_url}/v1/ask", content=b"{" + b" " * (20 * 1024 * 1024), timeout=30,
                          headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["type"] == "request_too_large"

    def chunked():  # no Content-Length: counted while it arrives
        for _ in range(40):
            yield b" " * (64 * 1024)
    r = httpx.post(f"{api_url}/v1/chat/completions", content=chunked(), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]


def test_invalid_json_says_what_is_wrong(api_url):
    r = httpx.post(f"{api_url}/v1/ask", content=b'{"question": "x?",}', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert re.fullmatch(r"the body is not valid JSON: .+ at character \d+", r.json()["error"]["message"])


def test_docs_page_loads_its_assets_from_this_server(api_url):
    page = httpx.get(f"{api_url}/docs").text
    assert "cdn" not in page.lower()
    for asset in re.findall(r"""(?:src|href)=['"](/docs-assets/[^'"]+)""", page):
        assert httpx.get(f"{api_url}{asset}").status_code == 200
    assert httpx.get(f"{api_url}/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_a_long_upload_returns_202_and_asks_are_answered_meanwhile(writable_rag, serve):
    from rag.server.app import create_app

    text = "".join(f"Paragraph {i}: the Vexlor foundry cast {i} bronze bells in Tallinn.\n\n" for i in range(2500))
    with serve(create_app(writable_rag, token="", upload_wait_s=0.0)) as url:
        r = httpx.post(f"{url}/v1/documents", files={"file": ("vexlor.txt", text.encode())}, timeout=60)
        assert r.status_code == 202, r.text
        job = r.json()
        asks, state = [], job["state"]
        while state == "running":
            t0 = time.monotonic()
            a = httpx.post(f"{url}/v1/ask", json={"question": "How much has Alibaba committed to AI?"}, timeout=60)
            asks.append((a.status_code, time.monotonic() - t0))
            state = httpx.get(f"{url}{job['status_url']}").json()["state"]
        final = httpx.get(f"{url}{job['status_url']}").json()
    assert final["state"] == "done" and final["result"]["document"]["doc_id"] == "vexlor", final
    assert asks and all(code == 200 for code, _ in asks)
    assert max(s for _, s in asks) < 10  # answered during the ingest, not after it
    writable_rag.delete_document("vexlor")


def test_an_unknown_job_is_404(api_url):
    assert httpx.get(f"{api_url}/v1/jobs/nope").status_code == 404


def test_uploading_a_copy_leaves_the_original_unchanged(writable_url, writable_rag):
    text = b"Zephyr Bakery\n\nZephyr Bakery was founded in 2009 in Leeds by Ada Moss.\n\nIt bakes rye bread.\n"
    assert httpx.post(f"{writable_url}/v1/documents", files={"file": ("zephyr_bakery.txt", text)}, timeout=120).status_code == 201
    before = {d["doc_id"]: d for d in httpx.get(f"{writable_url}/v1/documents").json()}["zephyr_bakery"]
    assert httpx.post(f"{writable_url}/v1/documents", files={"file": ("pwned.txt", text)}, timeout=120).status_code == 201
    docs = {d["doc_id"]: d for d in httpx.get(f"{writable_url}/v1/documents").json()}
    assert docs["zephyr_bakery"]["title"] == before["title"] == docs["pwned"]["title"]
    assert before["title"].startswith("Zephyr Bakery")
    for doc_id in ("pwned", "zephyr_bakery"):
        assert httpx.delete(f"{writable_url}/v1/documents/{doc_id}").status_code == 200


def test_a_failed_upload_keeps_a_file_that_existed_before(writable_rag):
    from rag.errors import InputError

    folder = writable_rag.upload_dir
    good = b"Keepsake Ltd repairs clocks in Bergen.\n"
    writable_rag.upload("keep.txt", [good])
    with pytest.raises(InputError):
        writable_rag.upload("keep.txt", [b"\x00\x01\x02" * 100])
    assert (folder / "keep.txt").read_bytes() == good
    assert "keep" in {d.doc_id for d in writable_rag.documents()}
    with pytest.raises(InputError):
        writable_rag.upload("fresh.txt", [b"\x00\x01\x02" * 100])
    assert not (folder / "fresh.txt").exists()
    writable_rag.delete_document("keep")
    assert not (folder / "keep.txt").exists()
