"""`POST /v1/chat/completions`, close enough to OpenAI's for its clients to use.

The last user message is the question; earlier user messages are the history that
turns a follow-up ("and when was that?") into a standalone question. The answer is
`choices[0].message.content` with its [n] markers; the citations travel in an extra
top-level `citations` field (on the last chunk when streaming), with `query`, the
question actually searched for. Streaming is server-sent events in OpenAI's chunk
format, ending with `data: [DONE]`.
"""
from __future__ import annotations

import json
import secrets
import time
import weakref

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from rag.errors import InputError, RagError
from rag.schema import ChatIn, Message, message_text
from rag.types import Answer

MODEL = "rag"
router = APIRouter(prefix="/v1")


def split_messages(messages: list[Message]) -> tuple[list[tuple[str, str]], str]:
    """(earlier (question, reply) turns, the question): the conversation must end
    with a user turn. Replies help an LLM condense a follow-up; rules use questions."""
    if messages[-1].role != "user":
        raise InputError("the last message must come from the user")
    turns: list[tuple[str, str]] = []
    for m in messages[:-1]:
        if m.role == "user" and message_text(m).strip():
            turns.append((message_text(m), ""))
        elif m.role == "assistant" and turns and not turns[-1][1]:
            turns[-1] = (turns[-1][0], message_text(m))
    return turns, message_text(messages[-1])


def _next(iterator):
    return next(iterator, None)  # StopIteration must not cross the thread boundary


def _once(fn):
    """`fn`, callable many times but run once (a slot must be released exactly once)."""
    done = []

    def call():
        if not done:
            done.append(True)
            fn()
    return call


def _envelope(kind: str, cid: str, model: str, choice: dict, **extra) -> dict:
    return {"id": cid, "object": kind, "created": int(time.time()), "model": model, "choices": [choice], **extra}


def _extras(answer: Answer) -> dict:
    public = answer.public_dict()
    return {"citations": public["citations"], "answerable": answer.answerable, "query": answer.query}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion over the documents")
async def chat_completions(body: ChatIn, request: Request):
    from rag.api import release_slot

    cid, model = f"chatcmpl-{secrets.token_hex(12)}", body.model or MODEL
    pieces, first = await _start(body, request)  # holds an ask slot from here on
    release = _once(lambda: release_slot(request.app))
    if body.stream:
        events = _sse(pieces, first, cid, model, release)
        # A client gone before the first byte leaves `events` unstarted (its finally
        # never runs): releasing when it is collected keeps the slot from leaking.
        weakref.finalize(events, release)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        answer = first
        while not isinstance(answer, Answer):
            answer = await run_in_threadpool(_next, pieces)
            if answer is None:
                raise RagError("the answer stream ended early")
    finally:
        pieces.close()
        release()
    choice = {"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return _envelope("chat.completion", cid, model, choice, usage=usage, **_extras(answer))


async def _start(body: ChatIn, request: Request):
    """(answer stream, its first item) holding an ask slot. Bad input, an empty store
    or a busy server fail here, while a proper status can still be sent."""
    from rag.api import acquire_slot, release_slot

    rag = request.app.state.rag
    history, question = split_messages(body.messages)
    filters = body.filters.parse() if body.filters else None
    await acquire_slot(request.app)
    try:
        query = await run_in_threadpool(rag.standalone_question, history, question)
        pieces = rag.stream(query, body.top_k, filters)
        return pieces, await run_in_threadpool(_next, pieces)
    except BaseException:
        release_slot(request.app)
        raise


async def _sse(pieces, first, cid: str, model: str, release):
    """The answer as OpenAI `chat.completion.chunk` events; citations on the last one."""

    def event(delta: dict, finish: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        chunk = _envelope("chat.completion.chunk", cid, model, choice, **extra)
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    try:
        yield event({"role": "assistant", "content": ""})
        item = first
        while not isinstance(item, Answer):
            if item:
                yield event({"content": item})
            item = await run_in_threadpool(_next, pieces)
            if item is None:
                raise RagError("the answer stream ended early")
        yield event({}, "stop", **_extras(item))
    except RagError as exc:  # the status line is gone: report in-band, as OpenAI does
        from rag.api import status_of

        _, kind, message = status_of(exc)
        yield f"data: {json.dumps({'error': {'message': message, 'type': kind}})}\n\n"
    finally:
        pieces.close()
        release()
    yield "data: [DONE]\n\n"
