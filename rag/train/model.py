"""The answer model in torch, for training and export: a BERT encoder with a span head
(start/end logit per token) and an answerability head on [CLS].

Labels come from the same tokenisation as inference (`rag.reader.encode_batch`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rag.reader import Encoded, encode_batch
from rag.train.data import Example


class ReaderModel(nn.Module):
    """Encoder + two small heads."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.span = nn.Linear(hidden, 2)
        self.answerable = nn.Linear(hidden, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        start, end = self.span(hidden).float().unbind(-1)
        # Padding and the question can never hold the answer: masked in the loss and
        # at decoding, not here, so the exported graph stays a plain encoder.
        return start, end, self.answerable(hidden[:, 0]).float().squeeze(-1)


@dataclass(frozen=True)
class Batch:
    """Tensors of one training batch."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    window_mask: torch.Tensor  # tokens of the window (where a span may lie)
    start: torch.Tensor  # answer token positions; 0 ([CLS]) for no answer
    end: torch.Tensor
    answerable: torch.Tensor


def token_span(enc: Encoded, k: int, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The first and last window token of a character span, or None if truncated away."""
    first = last = None
    for t, (s, e) in enumerate(enc.offsets[k]):
        if not enc.in_window[k][t] or e <= s:
            continue
        if first is None and e > char_start:
            first = t
        if s < char_end:
            last = t
    if first is None or last is None or last < first or enc.offsets[k][first][0] > char_start + 1:
        return None
    return first, last


def make_batch(tokenizer, examples: list[Example]) -> Batch | None:
    """Encode examples; answerable ones whose answer was truncated away are dropped."""
    enc = encode_batch(tokenizer, [e.question for e in examples], [e.window for e in examples])
    keep, starts, ends = [], [], []
    for k, ex in enumerate(examples):
        span = token_span(enc, k, ex.answer_start, ex.answer_end) if ex.answerable else (0, 0)
        if span is not None:
            keep.append(k)
            starts.append(span[0])
            ends.append(span[1])
    if not keep:
        return None
    rows = np.array(keep)
    window = np.stack([enc.in_window[k] for k in keep])
    return Batch(
        torch.from_numpy(enc.input_ids[rows]), torch.from_numpy(enc.attention_mask[rows]),
        torch.from_numpy(enc.token_type_ids[rows]), torch.from_numpy(window),
        torch.tensor(starts), torch.tensor(ends),
        torch.tensor([1.0 if examples[k].answerable else 0.0 for k in keep]),
    )


def loss_of(model: ReaderModel, batch: Batch) -> torch.Tensor:
    """Answerability BCE plus, on answerable windows, span cross-entropy."""
    start, end, answer = model(batch.input_ids, batch.attention_mask, batch.token_type_ids)
    bce = nn.functional.binary_cross_entropy_with_logits(answer, batch.answerable)
    positive = batch.answerable > 0
    if not positive.any():
        return bce
    masked = lambda logits: logits[positive].masked_fill(~batch.window_mask[positive], -1e4)  # noqa: E731
    ce = nn.functional.cross_entropy(masked(start), batch.start[positive])
    ce = ce + nn.functional.cross_entropy(masked(end), batch.end[positive])
    return bce + ce / 2
