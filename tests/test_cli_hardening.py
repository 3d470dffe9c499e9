"""Issue 13's CLI items: dates checked like REST, unknown documents, undated
documents named, a missing store not created, and help text people can read."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rag.cli import app

QUESTION = "How much has Alibaba committed to AI and cloud infrastructure over three years?"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("extra, message", [
    (["--since", "2025-13-01"], "published_from must be a real date as YYYY-MM-DD, not '2025-13-01'"),
    (["--since", "2025-6-1"], "published_from must be a real date as YYYY-MM-DD, not '2025-6-1'"),
    (["--since", "yesterday"], "published_from must be a real date as YYYY-MM-DD, not 'yesterday'"),
    (["--since", "2026-01-01", "--until", "2025-01-01"], "published_from (2026-01-01) is after published_to (2025-01-01)"),
    (["--doc", "nonexistent"], "no such document: nonexistent"),
])
def test_bad_filters_exit_2_with_one_line(built_rag, extra, message):
    result = run("ask", QUESTION, "--store", str(built_rag.config.store), *extra)
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {message}\n"


def test_a_date_filter_names_the_undated_documents_it_skipped(built_rag):
    result = run("ask", QUESTION, "--store", str(built_rag.config.store), "--since", "2020-01-01")
    assert result.exit_code == 0, result.output
    undated = sum(1 for d in built_rag.documents() if not d.published)
    assert undated == 2 and f"Note: {undated} undated documents were not searched" in result.output
    assert "undated" in run("ask", "--help").output


def test_sources_have_no_doubled_commas(built_rag):
    result = run("ask", "In the global race for artificial intelligence dominance, what is Alibaba betting on?",
                 "--store", str(built_rag.config.store), "--doc", "004_a5d52d93e4e3da4f")
    assert result.exit_code == 0, result.output
    assert ",," not in result.output and "Sources:" in result.output


def test_a_missing_store_is_named_not_created(tmp_path):
    store = tmp_path / "nonexistent"
    result = run("ask", QUESTION, "--store", str(store))
    assert result.exit_code == 2
    assert result.output == (f"error: there is no store at {store}: create it with "
                             f"`rag ingest FOLDER --store {store}`\n")
    assert not store.exists()
    assert run("documents", "--store", str(store)).exit_code == 2 and not store.exists()


def test_help_shows_plain_metavars():
    text = run("ask", "--help").output
    assert "ask [OPTIONS] QUESTION" in text and "{question}" not in text.lower()
    assert "<bool>" not in text
    assert "<bool>" not in run("ingest", "--help").output


def test_documents_say_1_chunk(tmp_path, embedder):
    from rag.config import Config
    from rag.pipeline import RAG

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tiny.txt").write_text("Tiny Co makes small spoons in Oslo.\n")
    rag = RAG.open(Config(store=tmp_path / "store"), embedder=embedder)
    report = rag.ingest(tmp_path / "docs")
    assert "(1 chunk embedded" in report.summary()
    listing = run("documents", "--store", str(tmp_path / "store")).output
    assert "\t1 chunk\t" in listing
