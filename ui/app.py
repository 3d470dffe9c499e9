"""The Gradio UI: `rag ui` serves it alone, `rag serve` mounts it at /ui.

Chat tab: streamed answers with linked [n] markers, a sources panel with each cited
sentence highlighted in its passage, the query actually searched for, and search
settings. Documents tab: the table of documents, upload, delete and re-index.
Safe defaults: 127.0.0.1, optional password (RAG_UI_PASSWORD, user "rag"), a bounded
queue, escaped document text, uploads written only inside <store>/uploads/.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home

import gradio as gr  # noqa: E402

from rag.errors import RagError  # noqa: E402
from rag.uploads import supported_types  # noqa: E402
from ui import handlers, render  # noqa: E402

CSS = """
.gradio-container {max-width: 1400px !important; margin: auto;}
#title h1 {margin-bottom: 0;} #title p {margin-top: 2px; color: var(--body-text-color-subdued);}
.refusal {display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600;
  background: #fff4e5; color: #8a4b00; border: 1px solid #f5c27a;}
.notice {display: inline-block; padding: 2px 10px; border-radius: 6px; font-weight: 600;}
.notice.error {background: #fef3f2; color: #b42318; border: 1px solid #fda29b;}
a.cite {text-decoration: none; font-weight: 600; padding: 0 1px;}
#searched {min-height: 1.5em; font-size: 0.9em; color: var(--body-text-color-subdued);}
.src-panel {display: flex; flex-direction: column; gap: 10px; max-height: 640px; overflow-y: auto; padding-right: 4px;}
.src-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  background: var(--block-background-fill); scroll-margin-top: 12px;}
.src-card:target {outline: 2px solid var(--color-accent);}
.src-head {display: flex; gap: 8px; align-items: baseline; font-weight: 600; line-height: 1.3;}
.src-n {background: var(--color-accent); color: white; border-radius: 6px; padding: 0 7px;
  font-size: 0.85em; flex: none;}
.src-meta {color: var(--body-text-color-subdued); font-size: 0.82em; margin: 3px 0 6px;}
.src-passage {font-size: 0.92em; line-height: 1.55; margin: 0; white-space: pre-wrap;}
.src-passage mark {background: #fde68a; color: #1f2937; padding: 1px 2px; border-radius: 3px;}
.src-empty, .src-refusal {color: var(--body-text-color-subdued); padding: 12px;
  border: 1px dashed var(--border-color-primary); border-radius: 10px;}
.src-refusal b {color: #8a4b00;}
#documents, #documents * {font-family: var(--font) !important;}
"""
TITLE = "Ask the documents"
EXAMPLES = [
    "How much has Alibaba committed to AI and cloud infrastructure over three years?",
    "Which upcoming Meta AI model is reportedly being trained partly on Alibaba's Qwen?",
]


def theme():
    # System fonts: the default theme fetches Google Fonts, which offline hosts cannot reach.
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def _settings(rag):
    """The search settings: top-k, generator, document filter, date range."""
    with gr.Accordion("Search settings", open=False):
        top_k = gr.Slider(1, 20, value=rag.config.top_k, step=1, label="Passages retrieved (top-k)")
        names = handlers.available_generators(rag.config)
        generator = gr.Dropdown(names, value=rag.config.generator, label="Generator", interactive=len(names) > 1)
        doc_filter = gr.Dropdown(handlers.doc_ids(rag), value=[], multiselect=True,
                                 label="Only these documents (empty: all)")
        with gr.Row():
            since = gr.Textbox("", label="Published from", placeholder="YYYY-MM-DD")
            until = gr.Textbox("", label="Published to", placeholder="YYYY-MM-DD")
    return top_k, generator, doc_filter, since, until


def _chat_tab(rag):
    """Chat on the left, sources on the right; returns the document filter (refreshed elsewhere)."""
    turns = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            # No visible label: Gradio draws it over the messages once they scroll.
            chatbot = gr.Chatbot(label="Conversation", show_label=False, height=480, latex_delimiters=[], elem_id="chat",
                                 feedback_options=None, buttons=["copy_all"],
                                 placeholder="Ask a question about the documents.")
            searched = gr.Markdown(label="Searched for", elem_id="searched")
            question = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False,
                                  submit_btn="Ask", elem_id="question", max_length=2000, autofocus=True)
            gr.Examples(EXAMPLES, inputs=question, label="Try")
            clear = gr.Button("New conversation", size="sm", variant="secondary")
            settings = _settings(rag)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            sources = gr.HTML(render.sources_html(None), label="Sources", elem_id="sources", js_on_load=None)

    def ask(message, history, past, top_k, generator, docs, since, until):
        yield from handlers.chat(rag, message, history, past, top_k, generator, docs, since, until)

    question.submit(ask, [question, chatbot, turns, *settings], [chatbot, turns, sources, searched, question],
                    api_name="chat", show_progress="minimal")
    clear.click(lambda: ([], [], render.sources_html(None), ""), None, [chatbot, turns, sources, searched],
                api_name=False)
    return settings[2]


def _documents_tab(rag):
    """Table, upload, delete, re-index; returns the components that list documents."""
    table = gr.Dataframe(headers=["Title", "Published", "Chunks", "Document id"], interactive=False,
                         wrap=True, label="Ingested documents", elem_id="documents")
    with gr.Row():
        # No file_types: Gradio would drop another type silently ("Choose a file first");
        # the upload flow names the supported types instead.
        upload = gr.File(label=f"Upload a file: {supported_types()} (at most 20 MB)", scale=3, elem_id="upload")
        with gr.Column(scale=2):
            add = gr.Button("Add to the index", variant="primary")
            chosen = gr.Dropdown([], label="Document", scale=2, elem_id="doc-choice")
            with gr.Row():
                remove = gr.Button("Delete", variant="stop")
                rebuild = gr.Button("Re-index folders")
    status = gr.Markdown(elem_id="doc-status")

    def do_upload(path, progress=gr.Progress(track_tqdm=True)):
        return handlers.upload(rag, path, progress)

    def do_reindex(progress=gr.Progress(track_tqdm=True)):
        return handlers.reindex(rag, progress)

    add.click(do_upload, upload, status, api_name=False)
    remove.click(lambda doc_id: handlers.delete(rag, doc_id), chosen, status, api_name=False)
    rebuild.click(do_reindex, None, status, api_name=False)
    return table, chosen, status


def build_ui(rag) -> gr.Blocks:
    """The whole UI over one RAG instance (not yet queued or launched)."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nAnswers come only from the ingested documents, with numbered sources.",
                    elem_id="title")
        with gr.Tab("Chat"):
            doc_filter = _chat_tab(rag)
        with gr.Tab("Documents"):
            table, chosen, status = _documents_tab(rag)

        def refresh():
            ids = handlers.doc_ids(rag)
            return handlers.documents_table(rag), gr.update(choices=ids, value=None), gr.update(choices=ids)

        demo.load(refresh, None, [table, chosen, doc_filter], api_name=False)
        status.change(refresh, None, [table, chosen, doc_filter], api_name=False)

        def ask_json(question: str, top_k: int = 0) -> dict:
            """The Answer JSON (the REST shape) for one question; {"error": ...} on bad input."""
            return _ask_json(rag, question, top_k)

        gr.api(ask_json, api_name="ask_json")
    return demo


def _ask_json(rag, question: str, top_k: int = 0) -> dict:
    """API-only: the Answer JSON (same shape as REST), or {"error": message}."""
    try:
        answer = rag.ask(question, top_k=int(top_k) or None)
    except RagError as exc:
        return {"error": handlers.user_message(exc)}
    return answer.public_dict()


def _auth():
    password = os.environ.get("RAG_UI_PASSWORD", "")
    return ("rag", password) if password else None


def _queued(demo: gr.Blocks) -> gr.Blocks:
    size = int(os.environ.get("RAG_UI_QUEUE_SIZE", "64"))
    return demo.queue(max_size=size, default_concurrency_limit=int(os.environ.get("RAG_UI_CONCURRENCY", "2")))


def mount_ui(app, rag, path: str = "/ui"):
    """Mount the UI on a FastAPI app (used by `rag serve`)."""
    demo = _queued(build_ui(rag))
    return gr.mount_gradio_app(app, demo, path=path, auth=_auth(), css=CSS, theme=theme(),
                               max_file_size="20mb")


def launch(host: str = "127.0.0.1", port: int = 7860, store=None, rag=None, **launch_kwargs):
    """`rag ui`: ingest corpus/ first when the store is empty, then serve the UI."""
    if rag is None:
        from rag.pipeline import RAG

        rag = RAG.open(store=store)
    if rag.is_empty():
        print(f"The store is empty; ingesting {rag.config.corpus}/ first…", flush=True)
        report = rag.ingest_if_empty(progress=True)
        print(report.summary() if report else "already ingested", flush=True)
    rag.warm_up()
    demo = _queued(build_ui(rag))
    return demo.launch(server_name=host, server_port=port, auth=_auth(), css=CSS, theme=theme(),
                       max_file_size="20mb", share=False, **launch_kwargs)
