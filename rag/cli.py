"""`rag`: a thin command line over the Python API. Errors become messages and exit
codes here, and only here: 0 ok, 1 failure, 2 bad input, 3 ingest skipped some files."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from rag.config import Config
from rag.errors import NotReadyError, RagError
from rag.types import Filters

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
StoreOpt = typer.Option(None, "--store", help="Store folder (default .rag, or RAG_STORE)")
GeneratorOpt = typer.Option(None, "--generator", help="extractive | openai | ollama | llamacpp (or RAG_GENERATOR)")
ModelPathOpt = typer.Option(None, "--llm-model-path", help="GGUF file for --generator llamacpp (or RAG_LLM_MODEL_PATH)")


def _fail(exc: RagError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _use_llm(generator: Optional[str], model_path: Optional[Path]) -> None:
    """Flags win over RAG_* variables; set as variables so every surface's Config sees them."""
    if generator:
        os.environ["RAG_GENERATOR"] = generator
    if model_path:
        os.environ["RAG_LLM_MODEL_PATH"] = str(model_path)


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
            return _report_check(rag.check(repair=True), repaired=True)
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
        _report_check(_open(store).check(repair=repair), repaired=repair)
    except RagError as exc:
        _fail(exc)


def _report_check(messages: list[str], repaired: bool) -> None:
    for message in messages:
        typer.echo(message)
    if not messages:
        typer.echo("store is consistent")
    elif repaired:
        typer.echo(f"{len(messages)} problem(s) repaired")
    else:
        typer.echo(f"{len(messages)} problem(s) found; run `rag doctor` to repair them")
        raise typer.Exit(1)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in plain language"),
    as_json: bool = typer.Option(False, "--json", help="Print the Answer as JSON"),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=50),
    doc: list[str] = typer.Option([], "--doc", help="Only this document (repeatable)"),
    since: Optional[str] = typer.Option(None, help="Published on or after (YYYY-MM-DD)"),
    until: Optional[str] = typer.Option(None, help="Published on or before (YYYY-MM-DD)"),
    store: Optional[Path] = StoreOpt,
    generator: Optional[str] = GeneratorOpt,
    llm_model_path: Optional[Path] = ModelPathOpt,
):
    """Answer a question from the stored documents, with numbered sources."""
    _use_llm(generator, llm_model_path)
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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: this machine only)"),
    port: int = typer.Option(8000, min=1, max=65535),
    store: Optional[Path] = StoreOpt,
    no_ui: bool = typer.Option(False, "--no-ui", help="Do not mount the web UI at /ui"),
    generator: Optional[str] = GeneratorOpt,
    llm_model_path: Optional[Path] = ModelPathOpt,
):
    """Serve the REST API (OpenAPI at /docs) and the web UI at /ui."""
    from rag.server.app import run_server

    _use_llm(generator, llm_model_path)
    try:
        run_server(host, port, store, with_ui=not no_ui)
    except RagError as exc:
        _fail(exc)


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: this machine only)"),
    port: int = typer.Option(7860, min=1, max=65535),
    store: Optional[Path] = StoreOpt,
    generator: Optional[str] = GeneratorOpt,
    llm_model_path: Optional[Path] = ModelPathOpt,
):
    """Serve the web UI (set RAG_UI_PASSWORD to require a login as user "rag")."""
    from ui.app import launch

    _use_llm(generator, llm_model_path)
    try:
        launch(host, port, store)
    except RagError as exc:
        _fail(exc)


@app.command()
def loadtest(
    clients: int = typer.Option(20, min=1, max=1000, help="Concurrent clients"),
    seconds: float = typer.Option(60, min=1, help="Duration"),
    url: Optional[str] = typer.Option(None, help="Target server (default: start one on a free port)"),
    store: Optional[Path] = StoreOpt,
):
    """Load-test the REST API with gold questions; exits 1 on any 5xx but 503 busy."""
    from bench.loadtest import run

    raise typer.Exit(run(clients, seconds, url, store))


SQUAD = Path("../shared/datasets/squad2-open")


@app.command("train-reader")
def train_reader(
    out: Path = typer.Option(Path("out/reader"), "--out", help="Folder for reader.onnx, tokenizer.json, reader.json"),
    gold: Path = typer.Option(SQUAD / "gold.jsonl", "--gold", help="Training questions (squad2-open gold.jsonl)"),
    docs: Path = typer.Option(SQUAD / "docs", "--docs", help="The documents those questions are about"),
    folds: int = typer.Option(2, "--folds", min=0, help="Cross-validation folds by article (0: none, no calibration)"),
    epochs: int = typer.Option(2, "--epochs", min=1),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Stop each training after N batches (smoke runs)"),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N questions (smoke runs)"),
    swap_negatives: bool = typer.Option(True, "--swap-negatives/--no-swap-negatives",
                                        help="Add negatives made by swapping a name or number of a question"),
):
    """Train the answer model from a gold Q&A set (see rag/models/reader/MODEL_CARD.md)."""
    for path in (gold, docs):
        if not path.exists():
            typer.echo(f"error: {path} does not exist", err=True)
            raise typer.Exit(2)
    from rag.train.loop import TrainSettings
    from rag.train.recipe import train_reader as run_recipe

    card = run_recipe(gold, docs, out, folds, TrainSettings(epochs=epochs, seed=seed, max_steps=max_steps,
                                                               swap_negatives=swap_negatives),
                      limit=limit, progress=sys.stderr.isatty())
    typer.echo(json.dumps({k: card[k] for k in ("threshold", "calibration", "out_of_fold", "seconds_total")}, indent=2))
    typer.echo(f"wrote {out}/reader.onnx")


@app.command("eval", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def eval_(ctx: typer.Context):
    """Evaluate against a gold set: rag eval --corpus DIR --gold FILE --out DIR [...] (see --help)."""
    from eval.cli import main as eval_main  # the harness parses its own arguments

    raise typer.Exit(eval_main(ctx.args))


@app.command()
def bench(
    out: Path = typer.Option(Path("out/bench"), "--out", help="Folder for bench.json, bench.md and the plot"),
    quick: bool = typer.Option(False, "--quick", help="The CI version: under 3 minutes, fails on wide misses"),
    work: Optional[Path] = typer.Option(None, "--work", help="Scratch folder for corpora and stores (default OUT/work)"),
    fresh: bool = typer.Option(False, "--fresh", help="Rebuild the big stores even when a previous run left them"),
):
    """Measure ingestion vs naive llama-index, re-ingest, query latency at scale, recall, cold start, memory."""
    from bench.runner import BenchError, run_bench

    try:
        code = run_bench(out, quick=quick, work=work, fresh=fresh)
    except BenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
