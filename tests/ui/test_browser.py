"""End to end in headless Chromium: type a question, watch the answer stream in, see
the highlighted source. Leaves a screenshot in the test's folder and out/."""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"
SCREENSHOT = Path(__file__).resolve().parents[2] / "out" / "ui-screenshot.png"

pytestmark = pytest.mark.browser


@pytest.fixture()
def page():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (install Debian's chromium, as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(120_000)  # a loaded 2-core CI machine renders Gradio slowly
            yield page
        finally:
            browser.close()


def test_ask_in_the_browser(page, ui_url, tmp_path):
    from playwright.sync_api import expect

    page.goto(ui_url)
    box = page.locator("#question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    answer = page.locator("#chat [data-testid='bot']").last
    expect(page.locator("#chat a.cite").first).to_be_visible(timeout=60_000)
    expect(page.locator("#sources mark").first).to_be_visible(timeout=30_000)
    # the answer bubble, not the question (which names Alibaba too): it states the figure
    assert "billion" in answer.inner_text()
    # the short answer comes first, in bold, above its quoted evidence
    short = answer.locator("strong").first
    expect(short).to_be_visible()
    assert "billion" in short.inner_text() and answer.inner_text().index(short.inner_text()) < \
        answer.inner_text().index("“")
    assert page.locator("#sources .src-card").count() >= 1
    assert "Searched for" in page.locator("#searched").inner_text()
    page.locator("#sources .src-card").first.scroll_into_view_if_needed()
    shot = tmp_path / "ui-screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOT)


def test_refusal_in_the_browser(page, ui_url):
    from playwright.sync_api import expect

    page.goto(ui_url)
    page.locator("#question textarea").fill("What is the boiling point of tungsten?")
    page.locator("#question textarea").press("Enter")
    expect(page.locator("#chat .refusal").first).to_be_visible(timeout=60_000)
    expect(page.locator("#sources .src-refusal")).to_be_visible()


def _upload(page, path: Path):
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Add to the index").click()


def _gradio_copies(name: str) -> list[Path]:
    from gradio.utils import get_upload_folder

    return list(Path(get_upload_folder()).rglob(name))


def test_upload_then_delete_leaves_no_copy_outside_the_store(page, fresh_rag, serve, tmp_path):
    from playwright.sync_api import expect

    from rag.server.app import create_app
    from ui.app import mount_ui

    fresh_rag.ingest(fresh_rag.config.corpus)
    name = f"quarkle_{uuid.uuid4().hex[:8]}.md"
    note = tmp_path / name
    note.write_text("# Quarkle notes\n\nQuarkle Ltd makes violet umbrellas in Porto.\n", encoding="utf-8")
    with serve(mount_ui(create_app(fresh_rag, token=""), fresh_rag)) as url:
        page.goto(f"{url}/ui/")
        _upload(page, note)
        expect(page.locator("#doc-status")).to_contain_text(f"Added {name}", timeout=120_000)
        expect(page.locator("#documents")).to_contain_text("Quarkle notes", timeout=30_000)
        page.screenshot(path=str(tmp_path / "uploaded.png"), full_page=True)
        assert _gradio_copies(name) == []  # item 8: only <store>/uploads/ holds it
        page.locator("#doc-choice input").click()
        page.get_by_role("option", name=Path(name).stem).click()
        page.get_by_role("button", name="Delete").click()
        expect(page.locator("#doc-status")).to_contain_text(f"Deleted {Path(name).stem}", timeout=60_000)
        page.screenshot(path=str(tmp_path / "deleted.png"), full_page=True)
    assert Path(name).stem not in [d.doc_id for d in fresh_rag.documents()]
    assert not list(Path(fresh_rag.config.store).rglob(name)) and _gradio_copies(name) == []


def test_a_wrong_file_type_is_named_with_the_supported_ones(page, ui_url, tmp_path):
    from playwright.sync_api import expect

    tool = tmp_path / f"tool_{uuid.uuid4().hex[:8]}.exe"
    tool.write_bytes(b"MZ\x90\x00")
    page.goto(ui_url)
    _upload(page, tool)
    status = page.locator("#doc-status")
    expect(status).to_contain_text("'.exe' are not supported", timeout=60_000)
    expect(status).to_contain_text(".html, .markdown, .md, .pdf, .txt")
    page.screenshot(path=str(tmp_path / "wrong-type.png"), full_page=True)
    assert _gradio_copies(tool.name) == []


def varied_text(chars: int) -> str:
    """Prose-like paragraphs that differ in their words: lines of one repeated shape
    would be dropped as boilerplate by cleaning, leaving nothing to index."""
    import random

    rng = random.Random(5)
    words = ("Vexlor foundry cast bronze bells Tallinn guild river harbour winter merchants ledger copper tin "
             "furnace apprentice tower chapel market square council seal charter ship cargo amber").split()
    out, size = [], 0
    while size < chars:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(8, 18))).capitalize() + ". "
        out.append(sentence + ("\n\n" if rng.random() < 0.2 else ""))
        size += len(out[-1])
    return "".join(out)


def test_a_question_is_answered_while_an_upload_indexes(page, fresh_rag, serve, tmp_path):
    from playwright.sync_api import expect

    from rag.server.app import create_app
    from ui.app import mount_ui

    fresh_rag.ingest(fresh_rag.config.corpus)
    big = tmp_path / "vexlor.txt"
    big.write_text(varied_text(2_000_000), encoding="utf-8")  # the 2 MB: minutes to embed
    with serve(mount_ui(create_app(fresh_rag, token=""), fresh_rag)) as url:
        page.goto(f"{url}/ui/")
        _upload(page, big)
        expect(page.locator("#doc-status")).to_contain_text("Embedding and indexing", timeout=60_000)
        page.get_by_role("tab", name="Chat").click()
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#question textarea").press("Enter")
        expect(page.locator("#chat a.cite").first).to_be_visible(timeout=60_000)
        still_indexing = fresh_rag.writing_now
        page.screenshot(path=str(tmp_path / "answered-during-upload.png"), full_page=True)
        page.get_by_role("tab", name="Documents").click()
        expect(page.locator("#doc-status")).to_contain_text("Added vexlor.txt", timeout=600_000)
    assert still_indexing, "the upload had finished before the answer came: not a concurrent ask"
