"""The UI's event handlers as plain functions of a `RAG` and the widget values, so
they can be tested without a browser. Library errors become visible messages here."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.errors import InputError, NotReadyError, RagError, StoreLockedError
from rag.loading import MAX_FILE_BYTES
from rag.types import Answer, Filters
from rag.uploads import UploadTooLarge, supported_types
from ui import render

READ_CHUNK = 1024 * 1024


def user_message(error: RagError) -> str:
    """What to tell the user about a library error (no paths, no tracebacks)."""
    if isinstance(error, InputError):
        return str(error)
    if isinstance(error, StoreLockedError):
        return "The store is being updated by another process; try again in a moment."
    if isinstance(error, NotReadyError):
        return "No documents are ingested yet: upload some in the Documents tab."
    return f"Something went wrong ({type(error).__name__}); see the server log."


def available_generators(config, env=None) -> list[str]:
    """reader (the answer model) and extractive (the sentence picker) always; openai /
    ollama / llamacpp only when the environment configures them."""
    env = os.environ if env is None else env
    names = ["reader", "extractive"]
    if config.llm_model and (config.llm_api_key or env.get("OPENAI_API_KEY")):
        names.append("openai")
    if config.llm_model and (env.get("OLLAMA_HOST") or "11434" in config.llm_base_url):
        names.append("ollama")
    if config.llm_model_path:
        names.append("llamacpp")
    if config.generator not in names:
        names.append(config.generator)
    return names


def ask_stream(rag, question: str, turns: list, top_k, generator, doc_ids, since, until):
    """Yield (bubble markdown, sources html, searched-for markdown, Answer | None)
    while the answer streams; errors come out as a notice bubble."""
    try:
        filters = Filters.parse(list(doc_ids or ()), since, until)
        generator = generator or None
        query = rag.standalone_question(list(turns), question, generator)
        searched = render.searched_for(question, query)
        yield render.partial_markdown("Searching the documents…"), render.sources_html(None), searched, None
        text = ""
        for piece in _pieces(rag, query, int(top_k) if top_k else None, filters, generator):
            if isinstance(piece, Answer):
                yield render.answer_markdown(piece), render.sources_html(piece), searched, piece
                return
            text += piece
            yield render.partial_markdown(text), render.sources_html(None), searched, None
    except RagError as exc:
        yield render.notice_markdown(user_message(exc)), render.sources_html(None), "", None


def _pieces(rag, query, top_k, filters, generator):
    """The answer stream; on an empty store, ingest the corpus first (lazily, with a
    notice) and try once more."""
    try:
        yield from rag.stream(query, top_k, filters, generator)
    except NotReadyError:
        yield "(The store is empty: ingesting the corpus first…) "
        if rag.ingest_if_empty() is None and rag.is_empty():
            raise
        yield from rag.stream(query, top_k, filters, generator)


def chat(rag, message: str, history: list, turns: list, top_k, generator, doc_ids, since, until):
    """The Chat tab's submit handler: yields (history, turns, sources, searched-for,
    textbox). `turns` holds the earlier [question, answer text] pairs, unescaped."""
    question = (message or "").strip()
    if not question:
        yield history, turns, render.sources_html(None), "", ""
        return
    history = list(history or []) + [{"role": "user", "content": render.md_escape(question)}]
    shown_turns = list(turns or [])
    stream = ask_stream(rag, question, shown_turns, top_k, generator, doc_ids, since, until)
    for bubble, sources, searched, answer in stream:
        done = history + [{"role": "assistant", "content": bubble}]
        new_turns = shown_turns + [[question, answer.text]] if answer is not None else shown_turns
        yield done, new_turns, sources, searched, ""


# --- documents -------------------------------------------------------------------------
def documents_table(rag) -> list[list]:
    return render.documents_rows(rag.documents())


def doc_ids(rag) -> list[str]:
    return [d.doc_id for d in rag.documents()]


def upload(rag, file_path: str | None, progress=None, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Copy one uploaded file into the upload folder and ingest it; a status message.
    Gradio's temporary copy is removed whatever happens: uploads live only in the store."""
    if not file_path:
        return f"Choose a file first ({supported_types()})."
    source = Path(file_path)
    try:
        if source.stat().st_size > max_bytes:
            raise UploadTooLarge(f"{source.name} is larger than {max_bytes // (1024 * 1024)} MB")
        _step(progress, 0.1, "Saving the file…")
        with open(source, "rb") as f:
            job = rag.start_upload(source.name, iter(lambda: f.read(READ_CHUNK), b""), max_bytes)
        _step(progress, 0.3, "Embedding and indexing… (questions are still answered meanwhile)")
        job.done.wait()
        if job.error is not None:
            raise job.error
    except RagError as exc:
        return f"Error: {user_message(exc)}"
    finally:
        remove_temporary_copy(source)
    _step(progress, 1.0, "Done")
    return f"Added {job.filename}: {job.result.summary}"


def remove_temporary_copy(path: Path) -> None:
    """Delete Gradio's copy of an upload (and its per-upload folder) when it lies in
    Gradio's temporary folder; any other path is left alone."""
    from gradio.utils import get_upload_folder

    cache = Path(get_upload_folder()).resolve()
    path = path.resolve()
    if not path.is_relative_to(cache) or path == cache:
        return
    path.unlink(missing_ok=True)
    if path.parent != cache:  # Gradio keeps each upload in a folder named by its hash
        shutil.rmtree(path.parent, ignore_errors=True)


def delete(rag, doc_id: str | None) -> str:
    if not doc_id:
        return "Choose a document to delete."
    try:
        return f"Deleted {doc_id}." if rag.delete_document(doc_id) else f"No document {doc_id}."
    except RagError as exc:
        return f"Error: {user_message(exc)}"


def reindex(rag, progress=None) -> str:
    """Bring the store in line with the corpus folder and the upload folder."""
    lines = []
    try:
        for i, folder in enumerate((Path(rag.config.corpus), rag.upload_dir)):
            if folder.is_dir():
                _step(progress, 0.05 + 0.45 * i, f"Indexing {folder.name}/…")
                lines.append(f"{folder.name}/: {rag.ingest(folder, progress=progress is not None).summary()}")
    except RagError as exc:
        return f"Error: {user_message(exc)}"
    _step(progress, 1.0, "Done")
    return "Re-indexed. " + " · ".join(lines) if lines else "Nothing to index."


def _step(progress, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)
