"""A .docx in the ingested folder is read through llama-index's DocxReader, answered
and cited with exact offsets into its extracted text (real model)."""
from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from rag.loading import load_documents

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PARAGRAPHS = [
    "Harbor Lights Festival draws record crowds",
    "Published 2025-03-14",
    "The Harbor Lights Festival opened on Friday in the old port of Valmere.",
    "The organisers launched 4,200 paper lanterns over the bay on opening night.",
    "Local bakeries sold out of saffron buns before noon on the second day.",
]


def write_docx(path: Path, paragraphs: list[str]) -> None:
    """A minimal WordprocessingML package: what Word writes, less styles and settings."""
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
                   '</Relationships>')
        z.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W}">'
                   f"<w:body>{body}</w:body></w:document>")


def test_docx_text_is_the_documents_text(tmp_path):
    write_docx(tmp_path / "festival.docx", PARAGRAPHS)
    docs, skipped = load_documents(tmp_path)
    assert skipped == [] and [d.doc_id for d in docs] == ["festival"]
    doc = docs[0]
    assert all(p in doc.text for p in PARAGRAPHS)
    assert doc.title == PARAGRAPHS[0] and doc.published == "2025-03-14"


def test_damaged_docx_is_skipped_with_a_reason(tmp_path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    docs, skipped = load_documents(tmp_path)
    assert docs == [] and len(skipped) == 1 and "not a valid .docx" in skipped[0].reason


def test_docx_is_answered_and_cited_with_exact_offsets(tmp_path, embedder, corpus_dir):
    from rag.config import Config
    from rag.pipeline import RAG

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "alibaba.txt").write_text((corpus_dir / "002_3a9aaa5ed2089fde.txt").read_text())
    write_docx(folder / "festival.docx", PARAGRAPHS)
    rag = RAG(Config(store=tmp_path / "store", corpus=folder), embedder=embedder)
    report = rag.ingest(folder)
    assert sorted(report.added) == ["alibaba", "festival"] and not report.skipped

    answer = rag.ask("How many paper lanterns were launched at the Harbor Lights Festival?")
    assert answer.answerable and "4,200" in answer.text
    text = {d.doc_id: d.text for d in load_documents(folder)[0]}["festival"]
    cited = [c for c in answer.citations if c.doc_id == "festival"]
    assert cited and cited[0].published == "2025-03-14"
    for c in cited:
        assert c.quote == text[c.start : c.end]
    assert any("4,200 paper lanterns" in c.quote for c in cited)


def test_docx_without_text_is_skipped(tmp_path):
    write_docx(tmp_path / "empty.docx", [])
    docs, skipped = load_documents(tmp_path)
    assert docs == [] and skipped[0].reason == "empty, or no text could be extracted"


def test_docx_that_unzips_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    import rag.loading

    write_docx(tmp_path / "bomb.docx", PARAGRAPHS * 50)
    monkeypatch.setattr(rag.loading, "MAX_UNZIPPED_BYTES", 1000)
    docs, skipped = load_documents(tmp_path)
    assert docs == [] and "unzips to more than" in skipped[0].reason
