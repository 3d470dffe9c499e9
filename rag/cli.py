"""`rag`: a thin command line over the Python API. Errors become messages and exit
codes here, and only here: 0 ok, 1 failure, 2 bad input, 3 ingest skipped some files."""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import click
import typer

from rag.config import Config
from rag.errors import NotReadyError, RagError
from rag.types import Filters

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
StoreOpt = typer.Option(None, "--store", help="Store folder (default .rag, or RAG_STORE)", metavar="DIR")
GeneratorOpt = typer.Option(None, "--generator", help="extractive | reader | openai | ollama | llamacpp (or RAG_GENERATOR)",
                            metavar="NAME")
ModelPathOpt = typer.Option(None, "--llm-model-path", help="GGUF file for --generator llamacpp (or RAG_LLM_MODEL_PATH)",
                            metavar="FILE")


class PlainHelp(typer.core.TyperCommand):
    """Help as people write it: `QUESTION`, not typer's `{question}`, and no `<bool>`
    after flags (set `metavar=""` on flags; this class handles --help)."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:  # type: ignore[override]
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]  # type: ignore[arg-type]

    def get_help_option(self, ctx: click.Context):  # type: ignore[override]
        option = super().get_help_option(ctx)  # type: ignore[arg-type]
        if option is not None:
            option.metavar = ""
        return option


command = lambda **kw: app.command(cls=PlainHelp, **kw)  # noqa: E731


def _fail(exc: RagError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _use_llm(generator: Optional[str], model_path: Optional[Path]) -> None:
    """Flags win over RAG_* variables; set as variables so every surface's Config sees them."""
    if generator:
        os.environ["RAG_GENERATOR"] = generator
    if model_path:
        os.environ["RAG_LLM_MODEL_PATH"] = str(model_path)


def _open(store: Optional[Path], must_exist: bool = False, **overrides):
    """The RAG of `--store` (or RAG_STORE, or .rag); a store the user named must
    already exist unless the command creates one."""
    from rag.pipeline import RAG

    config = Config.from_env(store=store, **overrides)
    if must_exist and (store is not None or "RAG_STORE" in os.environ):
        RAG.require_store(config)
    return RAG.open(config=config)


@command()
def ingest(
    path: Path = typer.Argument(None, help="Folder or file (default corpus/)"),
    store: Optional[Path] = StoreOpt,
    rebuild: bool = typer.Option(False, "--rebuild", metavar="",
                                 help="Build a new index beside the old one, then switch to it"),
    check: bool = typer.Option(False, "--check", help="Verify and repair the store instead of ingesting", metavar=""),
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


@command()
def doctor(store: Optional[Path] = StoreOpt, repair: bool = typer.Option(True, "--repair/--no-repair")):
    """Check the store's invariants and repair what can be repaired."""
    try:
        rag = _open(store)
        for line in rag.models():
            typer.echo(line)
        _report_check(rag.check(repair=repair), repaired=repair)
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


@command()
def ask(
    question: str = typer.Argument(..., help="The question, in plain language", metavar="QUESTION"),
    as_json: bool = typer.Option(False, "--json", help="Print the Answer as JSON", metavar=""),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=50, metavar="N"),
    doc: list[str] = typer.Option([], "--doc", help="Only this document id (repeatable)", metavar="ID"),
    since: Optional[str] = typer.Option(None, help="Published on or after this day", metavar="YYYY-MM-DD"),
    until: Optional[str] = typer.Option(None, help="Published on or before this day", metavar="YYYY-MM-DD"),
    store: Optional[Path] = StoreOpt,
    generator: Optional[str] = GeneratorOpt,
    llm_model_path: Optional[Path] = ModelPathOpt,
):
    """Answer a question from the stored documents, with numbered sources.

    --since and --until search only documents that state a publication date; the
    answer says how many undated documents were left out."""
    _use_llm(generator, llm_model_path)
    try:
        from rag.pipeline import clean_question

        clean_question(question, Config.max_question_chars)  # a bad question first, then the store
        filters = Filters.parse(doc or None, since, until)
        rag = _open(store, must_exist=True)
        try:
            answer = rag.ask(question, top_k=top_k, filters=filters)
        except NotReadyError:
            if Path(rag.config.corpus).is_dir():
                typer.echo(f"The store is empty; ingesting {rag.config.corpus}/ first…", err=True)
            report = rag.ingest_if_empty(progress=sys.stderr.isatty())
            if report is not None:
                typer.echo(report.summary(), err=True)
            answer = rag.ask(question, top_k=top_k, filters=filters)
    except RagError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    typer.echo(answer.text)
    for note in answer.notes:
        typer.echo(f"Note: {note}.")
    if answer.citations:
        typer.echo("\nSources:")
    for c in answer.citations:
        title = c.title.rstrip(" ,;:") or c.doc_id  # "dominance," + ", 2025-12-06" reads as a typo
        date = f", {c.published}" if c.published else ""
        typer.echo(f"[{c.n}] {title}{date} ({c.doc_id}, chars {c.start}-{c.end})\n    “{c.quote}”")


@command()
def documents(store: Optional[Path] = StoreOpt, as_json: bool = typer.Option(False, "--json", metavar="")):
    """List the stored documents."""
    try:
        docs = _open(store, must_exist=True).documents()
    except RagError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
        return
    for d in docs:
        chunks = "1 chunk" if d.n_chunks == 1 else f"{d.n_chunks} chunks"
        typer.echo(f"{d.doc_id}\t{d.published or '-'}\t{chunks}\t{d.title}")


@command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: this machine only)"),
    port: int = typer.Option(8000, min=1, max=65535),
    store: Optional[Path] = StoreOpt,
    no_ui: bool = typer.Option(False, "--no-ui", help="Do not mount the web UI at /ui", metavar=""),
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


@command()
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


@command()
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


@command(name="train-reader")
def train_reader(
    out: Path = typer.Option(Path("out/reader"), "--out", help="Folder for reader.onnx, tokenizer.json, reader.json"),
    gold: Path = typer.Option(SQUAD / "gold.jsonl", "--gold", help="Training questions (squad2-open gold.jsonl)"),
    docs: Path = typer.Option(SQUAD / "docs", "--docs", help="The documents those questions are about"),
    folds: int = typer.Option(2, "--folds", min=0, help="Cross-validation folds by article (0: none, no calibration)"),
    epochs: int = typer.Option(3, "--epochs", min=1),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Stop each training after N batches (smoke runs)"),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N questions (smoke runs)"),
    swap_negatives: bool = typer.Option(True, "--swap-negatives/--no-swap-negatives",
                                        help="Add negatives made by swapping a name or number of a question"),
    generated: bool = typer.Option(True, "--generated/--no-generated",
                                   help="Add answer-removed negatives and cloze questions (rag/train/synthetic.py)"),
):
    """Train the answer model from a gold Q&A set (see rag/models/reader/MODEL_CARD.md)."""
    for path in (gold, docs):
        if not path.exists():
            typer.echo(f"error: {path} does not exist", err=True)
            raise typer.Exit(2)
    from rag.train.loop import TrainSettings
    from rag.train.recipe import train_reader as run_recipe

    card = run_recipe(gold, docs, out, folds, TrainSettings(epochs=epochs, seed=seed, max_steps=max_steps,
                                                               swap_negatives=swap_negatives, generated=generated),
                      limit=limit, progress=sys.stderr.isatty())
    shown = ("threshold", "calibration", "out_of_fold", "validation", "seconds_train")
    typer.echo(json.dumps({k: card.get(k) for k in shown}, indent=2))
    typer.echo(f"wrote {out}/reader.onnx")


@app.command("eval", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def eval_(ctx: typer.Context):
    """Evaluate against a gold set: rag eval --corpus DIR --gold FILE --out DIR [...] (see --help)."""
    from eval.cli import main as eval_main  # the harness parses its own arguments

    raise typer.Exit(eval_main(ctx.args))


@command()
def bench(
    out: Path = typer.Option(Path("out/bench"), "--out", help="Folder for bench.json, bench.md and the plot"),
    quick: bool = typer.Option(False, "--quick", metavar="", help="The CI version: under 3 minutes, fails on wide misses"),
    work: Optional[Path] = typer.Option(None, "--work", help="Scratch folder for corpora and stores (default OUT/work)"),
    fresh: bool = typer.Option(False, "--fresh", metavar="", help="Rebuild the big stores even when a previous run left them"),
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
