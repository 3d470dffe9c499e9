"""Reading files: formats, HTML to text, and every reason a file is skipped."""
from __future__ import annotations

import codecs
import os
import time
from pathlib import Path

import pytest
from hostile_samples import (
    PROSE,
    bomb_pdf,
    encrypted_pdf_aes,
    encrypted_pdf_rc4,
    pdf_bytes,
    text_pdf,
)

from rag.errors import LoadError
from rag.loading import (
    MAX_LINES,
    discover,
    escape_unfinished_markup,
    html_to_text,
    load_documents,
    read_text,
)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def reason_for(folder: Path, name: str) -> str:
    _, skipped = load_documents(folder)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert name in reasons, f"{name} was not skipped: {reasons}"
    return reasons[name]


# --- formats --------------------------------------------------------------------

def test_txt_and_md_are_read_as_they_are(tmp_path):
    write(tmp_path, "a.txt", "Plain text.\nSecond line.\n")
    write(tmp_path, "b.md", "# Heading\n\nSome *markdown* text.\n")
    docs, skipped = load_documents(tmp_path)
    assert not skipped
    by_id = {d.doc_id: d for d in docs}
    assert by_id["a"].text == "Plain text.\nSecond line.\n"
    assert by_id["b"].text == "# Heading\n\nSome *markdown* text.\n"
    assert by_id["a"].source == str(tmp_path / "a.txt")


def test_html_visible_text_without_scripts_and_styles(tmp_path):
    html = ("<html><head><title>Port news</title><style>p { color: red }</style>"
            "<script>var hidden = 'SCRIPT';</script></head><body><h1>Harbour grows</h1>"
            "<p>Cargo volumes <b>rose</b> &amp; cranes arrived.</p><noscript>NOSCRIPT</noscript>"
            "<div>Second<br>line</div><script>document.write('SCRIPT')</script></body></html>")
    write(tmp_path, "page.html", html)
    (doc,), _ = load_documents(tmp_path)
    assert "SCRIPT" not in doc.text and "color" not in doc.text
    assert doc.text.splitlines() == ["Port news", "Harbour grows", "Cargo volumes rose & cranes arrived.", "Second",
                                     "line"]
    assert doc.title == "Cargo volumes rose & cranes arrived."


def test_html_attributes_with_angle_brackets_stay_markup():
    html = "<p>a</p><a onclick=\"if (a<b) go()\" title='x>y'>link</a><p>b</p>"
    assert html_to_text(html).splitlines() == ["a", "link", "b"]


def test_html_unfinished_markup_is_text_and_linear():
    assert escape_unfinished_markup("a < b and <p>c</p> <") == "a &lt; b and <p>c</p> &lt;"
    assert escape_unfinished_markup("<!-- open comment <p>x</p>") == "&lt;!-- open comment <p>x</p>"
    t0 = time.perf_counter()
    text = html_to_text("<p>Before</p>" + "</" * 200_000)  # quadratic in html.parser alone
    assert time.perf_counter() - t0 < 10
    assert text.startswith("Before")


def test_html_unclosed_script_hides_the_rest(tmp_path):
    write(tmp_path, "x.html", "<p><script>document.write('never closed')")
    assert "empty" in reason_for(tmp_path, "x.html")


def test_pdf_text_is_extracted(tmp_path):
    write(tmp_path, "report.pdf", text_pdf("A small PDF about the harbour of Valparaiso.", "Cargo volumes grew."))
    (doc,), skipped = load_documents(tmp_path)
    assert not skipped
    assert "harbour of Valparaiso" in doc.text and "Cargo volumes grew." in doc.text
    assert doc.doc_id == "report"


@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                            (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_byte_order_marks(tmp_path, bom, encoding):
    write(tmp_path, "bom.txt", bom + "Ünïcode text with a BOM.".encode(encoding))
    (doc,), _ = load_documents(tmp_path)
    assert doc.text == "Ünïcode text with a BOM."


def test_doc_ids_are_relative_paths_without_suffix(tmp_path):
    write(tmp_path, "sub/dir/page.md", PROSE)
    write(tmp_path, "name with spaces.txt", PROSE)
    docs, _ = load_documents(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["name with spaces", "sub/dir/page"]


def test_a_single_file_can_be_loaded(tmp_path):
    path = write(tmp_path, "one.txt", PROSE)
    (doc,), _ = load_documents(path)
    assert doc.doc_id == "one"


def test_content_hash_changes_with_the_text(tmp_path):
    path = write(tmp_path, "a.txt", PROSE)
    (before,), _ = load_documents(tmp_path)
    path.write_text(PROSE + " More.")
    (after,), _ = load_documents(tmp_path)
    assert before.content_hash != after.content_hash


# --- what is left out, and why ------------------------------------------------

def test_hidden_and_unsupported_files_are_ignored_silently(tmp_path):
    write(tmp_path, ".hidden.txt", PROSE)
    write(tmp_path, ".git/config.txt", PROSE)
    write(tmp_path, "image.png", b"\x89PNG")
    write(tmp_path, "slides.pptx", b"PK")  # .docx is read since llama-index readers came in
    write(tmp_path, "kept.txt", PROSE)
    docs, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in docs] == ["kept"] and skipped == []


@pytest.mark.parametrize("name, data, reason", [
    ("empty.txt", b"", "empty"),
    ("spaces.md", b" \n\t\r\n  ", "empty"),
    ("bom_only.txt", codecs.BOM_UTF8, "empty"),
    ("script_only.html", b"<script>x()</script>", "empty"),
    ("latin1.txt", "Café crème".encode("cp1252"), "not valid UTF-8"),
    ("nul.txt", b"text\x00with NUL", "binary"),
    ("controls.txt", bytes(range(1, 9)) * 100, "binary"),
    ("utf16_without_bom.txt", PROSE.encode("utf-16-le"), "binary"),
    ("odd_utf16.txt", codecs.BOM_UTF16_LE + b"a\x00b", "not valid utf-16"),
    ("junk.pdf", os.urandom(4096), "unreadable PDF"),
    ("zero.pdf", b"", "PDF"),
    ("truncated.pdf", text_pdf(PROSE)[:150], "unreadable PDF"),
    ("blank.pdf", pdf_bytes([b"q Q"]), "no text could be extracted"),
    ("rc4.pdf", encrypted_pdf_rc4(), "encrypted PDF"),
    ("aes.pdf", encrypted_pdf_aes(), "encrypted PDF"),
])
def test_skip_reasons(tmp_path, name, data, reason):
    write(tmp_path, name, data)
    write(tmp_path, "good.txt", PROSE)
    docs, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in docs] == ["good"]
    assert len(skipped) == 1 and Path(skipped[0].path).name == name
    assert reason in skipped[0].reason


def test_pdf_decompression_bomb_is_refused_quickly(tmp_path):
    write(tmp_path, "bomb.pdf", bomb_pdf(300_000_000))
    t0 = time.perf_counter()
    assert "safety limit" in reason_for(tmp_path, "bomb.pdf")
    assert time.perf_counter() - t0 < 20


def test_too_large_file(tmp_path):
    with open(tmp_path / "big.txt", "wb") as f:
        f.truncate(21 * 1024 * 1024)  # sparse: costs no disk
    assert "larger than 20 MB" in reason_for(tmp_path, "big.txt")
    with pytest.raises(LoadError, match="larger than"):
        read_text(write(tmp_path, "small.txt", PROSE), max_bytes=10)


def test_too_many_lines(tmp_path):
    write(tmp_path, "lines.txt", "a\n" * (MAX_LINES + 1))
    assert "lines" in reason_for(tmp_path, "lines.txt")


def test_symlink_outside_the_folder_is_refused(tmp_path):
    folder, outside = tmp_path / "docs", tmp_path / "outside"
    write(outside, "secret.txt", "SECRET " + PROSE)
    write(folder, "good.txt", PROSE)
    os.symlink(outside / "secret.txt", folder / "link.txt")
    os.symlink(outside, folder / "linked_dir")  # linked folders are not walked
    docs, skipped = load_documents(folder)
    assert [d.doc_id for d in docs] == ["good"]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [("link.txt", "symbolic link pointing outside the folder")]


def test_symlink_inside_the_folder_is_read(tmp_path):
    write(tmp_path, "real.txt", PROSE)
    os.symlink("real.txt", tmp_path / "alias.txt")
    docs, skipped = load_documents(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["alias", "real"] and not skipped


def test_broken_and_looping_links_fifos_and_bad_names(tmp_path):
    write(tmp_path, "good.txt", PROSE)
    os.symlink("missing.txt", tmp_path / "dangling.txt")
    os.symlink("loop2.txt", tmp_path / "loop1.txt")
    os.symlink("loop1.txt", tmp_path / "loop2.txt")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would block forever
    with open(os.fsencode(tmp_path) + b"/bad\xffname.txt", "wb") as f:
        f.write(PROSE.encode())
    found, skipped = discover(tmp_path)
    assert [p.name for p in found] == ["good.txt"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons == {
        "dangling.txt": "broken symbolic link (missing target or a loop)",
        "loop1.txt": "broken symbolic link (missing target or a loop)",
        "loop2.txt": "broken symbolic link (missing target or a loop)",
        "pipe.txt": "not a regular file",
        os.fsdecode(b"bad\xffname.txt"): "file name is not valid UTF-8",
    }


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(LoadError, match="does not exist"):
        load_documents(tmp_path / "nope")
