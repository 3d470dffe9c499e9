"""The UI's handlers and rendering, called directly (no browser, no server)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Config
from rag.types import Answer, Chunk, Citation, ScoredChunk, Span
from ui import handlers, render

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
EVIL_TEXT = (
    "Zorblax Corp <script>alert(1)</script> news\n\n"
    "Zorblax Corp was founded in 2011 by Mira Quell <img src=x onerror=alert(1)> in Oslo. "
    "Zorblax sells quantum anvils to bakeries & cafés.\n"
)


def _final(outputs):
    return outputs[-1]


def test_chat_streams_then_shows_linked_markers_and_highlighted_sources(built_rag):
    outputs = list(handlers.chat(built_rag, QUESTION, [], [], 5, "extractive", [], "", ""))
    assert len(outputs) >= 2  # a partial state first, then the answer
    history, turns, sources, searched, box = _final(outputs)
    bubble = history[-1]["content"]
    assert history[-1]["role"] == "assistant" and box == ""
    assert 'href="#src-1"' in bubble and "▍" not in bubble
    assert 'id="src-1"' in sources and "<mark>" in sources
    assert turns == [[QUESTION, turns[0][1]]] and "[1]" in turns[0][1]
    assert "Searched for" in searched


def test_refusal_is_shown_as_a_refusal(built_rag):
    outputs = list(handlers.chat(built_rag, "What is the boiling point of tungsten?", [], [], 5, None, [], "", ""))
    history, _, sources, _, _ = _final(outputs)
    assert render.REFUSAL_LABEL in history[-1]["content"] and 'class="refusal"' in history[-1]["content"]
    assert "src-refusal" in sources and "<mark>" not in sources


def test_follow_up_shows_the_rewritten_query(built_rag):
    turns = [["What is Alibaba's cloud revenue growth?", "…"]]
    outputs = list(handlers.chat(built_rag, "What was its free cash flow?", [], turns, 5, None, [], "", ""))
    _, new_turns, sources, searched, _ = _final(outputs)
    assert "Alibaba" in searched and "rewritten" in searched
    assert len(new_turns) == 2 and "<mark>" in sources


@pytest.mark.parametrize("since, until", [("2025-02-30", ""), ("yesterday", ""), ("2025-05-01", "2025-01-01")])
def test_bad_dates_become_a_visible_notice(built_rag, since, until):
    history, *_ = _final(list(handlers.chat(built_rag, QUESTION, [], [], 5, None, [], since, until)))
    assert 'class="notice error"' in history[-1]["content"]


def test_empty_question_does_nothing(built_rag):
    history, turns, *_ = _final(list(handlers.chat(built_rag, "   ", [], [], 5, None, [], "", "")))
    assert history == [] and turns == []


def test_document_filter_restricts_citations(built_rag):
    doc = "002_3a9aaa5ed2089fde"
    *_, answer = _final(list(handlers.ask_stream(built_rag, QUESTION, [], 5, None, [doc], "", "")))
    assert answer.citations and {c.doc_id for c in answer.citations} == {doc}


def _answer_over(text: str, quote: str, title: str) -> Answer:
    start = text.index(quote)
    chunk = Chunk("c1", "evil", text, 0, len(text), (Span(start, start + len(quote)),), title, "2025-01-02")
    citation = Citation(1, "evil", title, "2025-01-02", quote, start, start + len(quote), "evil.txt", "c1")
    return Answer(f"{quote} [1]", True, (citation,), retrieved=(ScoredChunk(chunk, 1.0),))


def test_document_html_is_escaped_in_the_answer_and_the_sources():
    quote = "Zorblax Corp was founded in 2011 by Mira Quell <img src=x onerror=alert(1)> in Oslo."
    answer = _answer_over(EVIL_TEXT, quote, "<script>alert(1)</script> title")
    html, bubble = render.sources_html(answer), render.answer_markdown(answer)
    for out in (html, bubble):
        assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;img" in bubble
    assert html.count("<mark>") == 1 and "&amp; caf" in html


def test_escaping_end_to_end_through_a_real_store(tmp_path, embedder):
    from rag.pipeline import RAG

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil.txt").write_text(EVIL_TEXT, encoding="utf-8")
    rag = RAG(Config(store=tmp_path / "store", corpus=docs), embedder=embedder)
    rag.ingest(docs)
    *_, answer = _final(list(handlers.ask_stream(rag, "Who founded Zorblax Corp?", [], 5, None, [], "", "")))
    sources = render.sources_html(answer)
    assert answer.citations and "<mark>" in sources
    assert "<script" not in sources and "<img" not in sources
    assert "&lt;script&gt;" in sources or "&lt;img" in sources


def test_passage_puts_the_quote_in_its_context():
    text = "A" * 400 + " The cited sentence. " + "B" * 400
    answer = _answer_over(text, "The cited sentence.", "T")
    before, quote, after = render.passage(answer.citations[0], answer.retrieved)
    assert quote == "The cited sentence." and before.startswith("…") and after.endswith("…")
    assert len(before) + len(after) <= 2 * render.CONTEXT_CHARS + 2


def test_passage_falls_back_to_the_source_file(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text("Intro. The cited sentence. Outro.", encoding="utf-8")
    c = Citation(1, "doc", "T", None, "The cited sentence.", 7, 26, str(source), "gone")
    assert render.passage(c, ()) == ("Intro. ", "The cited sentence.", " Outro.")


def test_markers_without_a_citation_stay_plain_text():
    answer = Answer("Fact [1] and [7].", True, (Citation(1, "d", "T", None, "Fact", 0, 4),))
    md = render.answer_markdown(answer)
    assert 'href="#src-1"' in md and "#src-7" not in md and r"\[7\]" in md


def test_generators_listed_only_when_configured():
    assert handlers.available_generators(Config(), env={}) == ["reader", "extractive"]
    openai = Config(llm_model="gpt-4o-mini", llm_api_key="k")
    assert handlers.available_generators(openai, env={}) == ["reader", "extractive", "openai"]
    ollama = Config(llm_model="llama3", llm_base_url="http://localhost:11434")
    assert "ollama" in handlers.available_generators(ollama, env={})


def test_upload_delete_and_reindex(fresh_rag, tmp_path):
    fresh_rag.ingest(fresh_rag.config.corpus)
    good = tmp_path / "notes.md"
    good.write_text("# Quarkle notes\n\nQuarkle Ltd makes violet umbrellas in Porto.\n", encoding="utf-8")
    assert handlers.upload(fresh_rag, str(good)).startswith("Added notes.md")
    assert "notes" in handlers.doc_ids(fresh_rag)
    assert (Path(fresh_rag.config.store) / "uploads" / "notes.md").is_file()
    assert any(row[3] == "notes" for row in handlers.documents_table(fresh_rag))
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ")
    assert "'.exe' are not supported; use one of .docx, .htm, .html" in handlers.upload(fresh_rag, str(bad))
    assert "larger than" in handlers.upload(fresh_rag, str(good), max_bytes=10)
    assert handlers.delete(fresh_rag, "notes") == "Deleted notes."
    assert "notes" not in handlers.doc_ids(fresh_rag)
    assert handlers.delete(fresh_rag, "notes").startswith("No document")
    assert handlers.reindex(fresh_rag).startswith("Re-indexed.") and len(handlers.doc_ids(fresh_rag)) == 5


def test_an_empty_store_is_filled_from_the_corpus_on_the_first_question(fresh_rag):
    outputs = list(handlers.chat(fresh_rag, QUESTION, [], [], 5, None, [], "", ""))
    assert any("ingesting the corpus" in o[0][-1]["content"] for o in outputs)
    assert "<mark>" in _final(outputs)[2]


def test_an_abandoned_stream_does_not_block_a_writer(fresh_rag):
    import threading

    fresh_rag.ingest()
    stream = fresh_rag.stream(QUESTION)
    next(stream)  # a consumer that walks away mid-stream
    doc_id = fresh_rag.documents()[0].doc_id
    writer = threading.Thread(target=fresh_rag.delete, args=(doc_id,), daemon=True)
    writer.start()
    writer.join(30)
    assert not writer.is_alive()
    assert doc_id not in {d.doc_id for d in fresh_rag.documents()}


def test_the_ui_removes_gradios_temporary_copy_of_an_upload(fresh_rag, tmp_path, monkeypatch):
    fresh_rag.ingest(fresh_rag.config.corpus)
    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    for name, data in (("notes.md", b"# Quarkle notes\n\nQuarkle Ltd makes violet umbrellas.\n"), ("tool.exe", b"MZ")):
        copy = cache / "0123abcd" / name
        copy.parent.mkdir(parents=True)
        copy.write_bytes(data)
        handlers.upload(fresh_rag, str(copy))
        assert not copy.parent.exists()  # the copy and its per-upload folder are gone
    assert (Path(fresh_rag.config.store) / "uploads" / "notes.md").is_file()
    elsewhere = tmp_path / "mine.md"
    elsewhere.write_bytes(b"# Mine\n\nMine Ltd sells quills.\n")
    handlers.upload(fresh_rag, str(elsewhere))
    assert elsewhere.exists()  # only Gradio's own folder is cleaned


def test_the_upload_widget_lets_any_type_through_to_a_clear_message(built_rag):
    from ui.app import build_ui

    demo = build_ui(built_rag)
    widget = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "upload")
    assert widget.file_types is None  # Gradio would drop other types silently
    assert ".pdf" in widget.label and ".txt" in widget.label
    message = handlers.upload(built_rag, str(Path(__file__)))  # a .py file
    assert message == ("Error: files of type '.py' are not supported; "
                       "use one of .docx, .htm, .html, .markdown, .md, .pdf, .txt")


def test_ui_polish_no_emoji_no_floating_label_no_monospace_titles(built_rag):
    from ui.app import CSS, build_ui

    demo = build_ui(built_rag)
    chat = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "chat")
    assert chat.show_label is False  # its label overlapped the messages when scrolled
    assert "#documents, #documents * {font-family: var(--font) !important;}" in CSS
    statuses = [handlers.delete(built_rag, None), handlers.delete(built_rag, "nope"),
                handlers.upload(built_rag, None)]
    assert all(ch.isascii() or ch in "–…" for s in statuses for ch in s), statuses  # no emoji to render as boxes
