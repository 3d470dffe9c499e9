"""The request bodies the HTTP edges share (`POST /v1/ask`, and the `filters` and
`top_k` extensions of `POST /v1/chat/completions`). Strict: a wrong type or an unknown
field is a 422 naming the field, never a guess (`top_k: true` is not 1, a string is
not a list of doc ids). Values are checked by `Filters.parse` inside `RAG`."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.types import MAX_FILTER_DOCS, Filters

TopK = Field(None, ge=1, le=50, description="passages to retrieve (default from the server's config)")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FiltersIn(Strict):
    """Restrict the search to some documents and/or a publication date range."""

    doc_ids: list[str] = Field(default_factory=list, max_length=MAX_FILTER_DOCS)
    published_from: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    published_to: str | None = Field(None, description="YYYY-MM-DD, inclusive")

    def parse(self) -> Filters | None:
        """The validated core `Filters` (InputError on a bad date or range)."""
        return Filters.parse(self.doc_ids, self.published_from, self.published_to)


class AskIn(Strict):
    question: str = Field(max_length=100_000)
    top_k: int | None = TopK
    filters: FiltersIn | None = None


class ContentPart(BaseModel):
    """One part of an OpenAI message's content; only text parts are read."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None

    @model_validator(mode="after")
    def _text_parts_have_text(self):
        if self.type == "text" and self.text is None:
            raise ValueError("a text part needs its text as a string")
        return self


class Message(BaseModel):
    # OpenAI clients send fields we do not use (name, tool_calls): allowed, ignored.
    model_config = ConfigDict(strict=True)
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None


class ChatIn(BaseModel):
    # OpenAI clients send sampling settings (temperature, ...) that do not apply here.
    model_config = ConfigDict(strict=True)
    model: str | None = "rag"
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    # Extensions (pass with the OpenAI client's `extra_body`).
    top_k: int | None = TopK
    filters: FiltersIn | None = None


def message_text(message: Message) -> str:
    """The text of a message whose content is a string or a list of typed parts."""
    if isinstance(message.content, str):
        return message.content
    return " ".join(p.text or "" for p in message.content or [] if p.type == "text")


__all__ = ["AskIn", "ChatIn", "ContentPart", "FiltersIn", "Message", "message_text"]
