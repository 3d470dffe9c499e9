"""`rag`: a thin command line over the Python API. Errors become messages and exit
codes here, and only here: 0 ok, 1 failure, 2 bad input, 3 ingest skipped some files."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from rag.config import Config
from rag.errors import NotReadyError, RagError
from rag.types import Filters

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
StoreOpt = typer.Option(None, "--store", help="Store folder (default .rag, or RAG_STORE)")


def _fail(exc: RagError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _open(store: Optional[Path], **overrides):
    from rag.pipeline import RAG

    return RAG(Config.from_env(store=store, **overrides))


@app.command()
def ingest(
    path: Path = typer.Argument(None, help="Folder or file (default corpus/)"),
    store: Optional[Path] = StoreOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the store and build it again"),
    check: bool = typer.Option(False, "--check", help="Verify and repair the store instead of ingesting"),
):
    """Ingest documents incrementally: add new, update changed, remove deleted."""
    try:
        rag = _open(store)
        if check:
            return _report_check(rag.check(repair=True))
        report = rag.ingest(path, rebuild=rebuild, progress=sys.stderr.isatty())
    except RagError as exc:
        _fail(exc)
    for kind in ("added", "updated", "removed"):
        for doc_id in getattr(report, kind):
            typer.echo(f"{kind:>8}  {doc_id}")
    for skipped in report.skipped:
        typer.echo(f" skipped  {skipped.path!r}: {skipped.reason}", err=True)
    typer.echo(report.summary())
    raise typer.Exit(3 if report.skipped else 0)


@app.command()
def doctor(store: Optional[Path] = StoreOpt, repair: bool = typer.Option(True, "--repair/--no-repair")):
    """Check the store's invariants and repair what can be repaired."""
    try:
        _report_check(_open(store).check(repair=repair))
    except RagError as exc:
        _fail(exc)


def _report_check(messages: list[str]) -> None:
    for message in messages:
        typer.echo(message)
    typer.echo("store is consistent" if not messages else f"{len(messages)} problem(s) handled")


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in plain language"),
    as_json: bool = typer.Option(False, "--json", help="Print the Answer as JSON"),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=50),
    doc: list[str] = typer.Option([], "--doc", help="Only this document (repeatable)"),
    since: Optional[str] = typer.Option(None, help="Published on or after (YYYY-MM-DD)"),
    until: Optional[str] = typer.Option(None, help="Published on or before (YYYY-MM-DD)"),
    store: Optional[Path] = StoreOpt,
):
    """Answer a question from the stored documents, with numbered sources."""
    try:
        rag = _open(store)
        filters = Filters(tuple(doc), since, until)
        try:
            answer = rag.ask(question, top_k=top_k, filters=filters)
        except NotReadyError:
            _ingest_default_corpus(rag)
            answer = rag.ask(question, top_k=top_k, filters=filters)
    except RagError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(answer.text)
    if answer.citations:
        typer.echo("\nSources:")
    for c in answer.citations:
        date = f", {c.published}" if c.published else ""
        typer.echo(f"[{c.n}] {c.title}{date} ({c.doc_id}, chars {c.start}-{c.end})\n    “{c.quote}”")


def _ingest_default_corpus(rag) -> None:
    corpus = Path(rag.config.corpus)
    if not corpus.is_dir():
        raise NotReadyError(f"the store is empty and {corpus}/ does not exist: run `rag ingest FOLDER` first")
    typer.echo(f"The store is empty; ingesting {corpus}/ first…", err=True)
    typer.echo(rag.ingest(corpus, progress=sys.stderr.isatty()).summary(), err=True)


@app.command()
def documents(store: Optional[Path] = StoreOpt, as_json: bool = typer.Option(False, "--json")):
    """List the stored documents."""
    try:
        docs = _open(store).documents()
    except RagError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps([d.__dict__ for d in docs], ensure_ascii=False, indent=2))
        return
    for d in docs:
        typer.echo(f"{d.doc_id}\t{d.published or '-'}\t{d.n_chunks} chunks\t{d.title}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
