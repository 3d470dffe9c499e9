"""The answer model in torch, for training and export: a BERT encoder with a span head
(start/end logit per token) and an answerability head on [CLS] and the mean of the
token vectors. The mean matters: all-MiniLM-L6-v2 was trained with mean pooling, and
a head on [CLS] alone learned only the class prior in 2 epochs (raw logits of
answering and non-answering windows -0.67 vs -0.71).

Labels come from the same tokenisation as inference (`rag.reader.encode_batch`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rag.reader import Encoded, encode_batch
from rag.train.data import Example

NULL_SPAN_WEIGHT = 0.3

class ReaderModel(nn.Module):
    """Encoder + two small heads."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)  # type: ignore[union-attr,arg-type]
        self.span = nn.Linear(hidden, 2)
        self.answerable = nn.Linear(2 * hidden, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        start, end = self.span(hidden).float().unbind(-1)
        # Padding and the question can never hold the answer: masked in the loss and
        # at decoding, not here, so the exported graph stays a plain encoder.
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        features = torch.cat([hidden[:, 0], pooled], dim=-1)
        return start, end, self.answerable(features).float().squeeze(-1)


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
    """Span cross-entropy over [CLS] and the window's tokens, [CLS] being the target of
    a window without the answer (SQuAD 2.0's null answer, as in the BERT baseline),
    plus the answerability head's BCE. Windows without the answer are most of the
    data: at full weight their [CLS] target swamped the spans (a run collapsed to "no
    answer" everywhere), so they count NULL_SPAN_WEIGHT, about SQuAD 2.0's one in three."""
    start, end, answer = model(batch.input_ids, batch.attention_mask, batch.token_type_ids)
    allowed = batch.window_mask.clone()
    allowed[:, 0] = True
    ce = nn.functional.cross_entropy(start.masked_fill(~allowed, -1e4), batch.start, reduction="none")
    ce = ce + nn.functional.cross_entropy(end.masked_fill(~allowed, -1e4), batch.end, reduction="none")
    weight = torch.where(batch.answerable > 0.5, 1.0, NULL_SPAN_WEIGHT)
    span = (ce / 2 * weight).sum() / weight.sum()
    return nn.functional.binary_cross_entropy_with_logits(answer, batch.answerable) + span
