"""The answer model at inference: reads a question with a few retrieved windows and
says, per window, how likely it answers the question and where the answer is.

The model is a cross-encoder (all-MiniLM-L6-v2 fine-tuned by `rag train-reader`,
see models/reader/MODEL_CARD.md) with two heads: start/end logits over [CLS] and the
window's tokens, and an answerability logit. Three signals say whether a window
answers: that logit, the span margin (the best span's start+end logit minus [CLS]'s,
SQuAD 2.0's null-answer score as in the BERT baseline), and the window's retrieval
rank (windows come best first; log(1 + rank)). A logistic regression fitted on
out-of-fold windows turns them into a calibrated probability. The rank is there
because the model, trained on 2k questions, tells answering windows from their
neighbours far less well than retrieval ranks them (out-of-fold AUC ~0.55).
It runs through ONNX Runtime with the `tokenizers` library: answering never imports torch.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

MAX_LEN = 256  # question + window in word pieces; chunks are at most 200 of them
MAX_ANSWER_TOKENS = 30  # longest span considered, as in the SQuAD baselines
SHIPPED = Path(__file__).resolve().parent / "models" / "reader"


@dataclass(frozen=True)
class Encoded:
    """Model inputs for a batch of (question, window) pairs, padded to one length."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    offsets: list[list[tuple[int, int]]]  # per pair and token: char span in the window
    in_window: list[np.ndarray]  # per pair: which tokens belong to the window


@dataclass(frozen=True)
class Reading:
    """What the model read in one window."""

    window: int
    probability: float  # calibrated: that this window answers the question
    start: int  # answer span, character offsets into the window text
    end: int
    span_score: float  # start + end logit of the span
    answer_logit: float = 0.0  # the raw signals the probability is made of
    span_margin: float = 0.0


def signals(answer_logit, span_margin) -> np.ndarray:
    """Per window (given best first): the calibration's inputs, one row each."""
    answer_logit = np.atleast_1d(np.asarray(answer_logit, dtype=np.float64))
    rank = np.log1p(np.arange(len(answer_logit), dtype=np.float64))
    return np.stack([answer_logit, np.asarray(span_margin, dtype=np.float64).reshape(-1), rank], axis=1)


def calibrated(calibration: dict, rows: np.ndarray) -> np.ndarray:
    """The probability that each window answers, from its `signals` row (a card of
    fewer weights uses the first signals only)."""
    weights = np.asarray(calibration["weights"], dtype=np.float64)
    return sigmoid(rows[:, : len(weights)] @ weights + calibration["bias"])


def load_tokenizer(model_dir: Path | str):
    """The word-piece tokenizer of the model, set for question/window pairs."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_LEN, strategy="only_second")
    return tokenizer


def encode_pairs(tokenizer, question: str, windows: Sequence[str]) -> Encoded:
    """Tokenise (question, window) pairs; training and inference share this."""
    return encode_batch(tokenizer, [question] * len(windows), windows)


def encode_batch(tokenizer, questions: Sequence[str], windows: Sequence[str]) -> Encoded:
    """`encode_pairs` for pairs with different questions."""
    encs = tokenizer.encode_batch(list(zip(questions, windows, strict=True)))
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    for i, e in enumerate(encs):
        n = len(e.ids)
        ids[i, :n], mask[i, :n], types[i, :n] = e.ids, 1, e.type_ids
    in_window = [np.array([s == 1 for s in e.sequence_ids] + [False] * (width - len(e.ids))) for e in encs]
    return Encoded(ids, mask, types, [list(e.offsets) for e in encs], in_window)


def best_span(start: np.ndarray, end: np.ndarray, allowed: np.ndarray,
              sentence: np.ndarray | None = None) -> tuple[int, int, float]:
    """(first token, last token, score) maximising start + end logits over allowed
    tokens; with `sentence` (each token's sentence number), within one sentence."""
    s = np.where(allowed, start, -np.inf)
    e = np.where(allowed, end, -np.inf)
    scores = s[:, None] + e[None, :]
    n = len(start)
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_ANSWER_TOKENS)
    if sentence is not None:
        band &= sentence[:, None] == sentence[None, :]
    scores = np.where(band, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(i), int(j), float(scores[i, j])


def token_sentences(offsets: Sequence[tuple[int, int]], starts: Sequence[int], width: int = 0) -> np.ndarray:
    """The sentence number of each token, from where the window's sentences start;
    padded to `width` tokens with -1."""
    numbers = np.searchsorted(np.asarray(starts), np.array([s for s, _ in offsets]), side="right")
    return np.pad(numbers, (0, max(0, width - len(numbers))), constant_values=-1)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class Reader:
    """The shipped (or a given) answer model, loaded on first use."""

    def __init__(self, model_dir: Path | str | None = None, threads: int = 0):
        self.model_dir = Path(model_dir) if model_dir else SHIPPED
        self.threads = threads
        if not (self.model_dir / "reader.onnx").is_file():
            raise ConfigError(f"no answer model at {self.model_dir}: run `rag train-reader --out {self.model_dir}`")

    @cached_property
    def card(self) -> dict:
        """Calibration and provenance, written by training (reader.json)."""
        return json.loads((self.model_dir / "reader.json").read_text())

    @cached_property
    def tokenizer(self):
        return load_tokenizer(self.model_dir)

    @cached_property
    def session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        try:
            return ort.InferenceSession(str(self.model_dir / "reader.onnx"), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file
            raise ConfigError(f"cannot load the answer model {self.model_dir / 'reader.onnx'}: {exc}") from exc

    def logits(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, end, answerability) logits for an encoded batch."""
        start, end, answer = self.session.run(None, {
            "input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "token_type_ids": enc.token_type_ids})
        return start, end, answer.reshape(-1)

    def read(self, question: str, windows: Sequence[str],
             sentence_starts: Sequence[Sequence[int]] | None = None) -> list[Reading]:
        """One reading per window, in the windows' order (best retrieved first). With
        `sentence_starts` (per window, where its sentences start) an answer never
        crosses a sentence boundary: a short answer lies inside one sentence, and the
        sentence is what gets cited."""
        if not windows:
            return []
        enc = encode_pairs(self.tokenizer, question, windows)
        start, end, answer = self.logits(enc)
        spans = [best_span(start[k], end[k], enc.in_window[k],
                           token_sentences(enc.offsets[k], sentence_starts[k], start.shape[1])
                           if sentence_starts else None)
                 for k in range(len(windows))]
        margins = [score - float(start[k][0] + end[k][0]) for k, (_, _, score) in enumerate(spans)]
        probability = calibrated(self.card["calibration"], signals(answer, margins))
        return [Reading(k, float(probability[k]), enc.offsets[k][i][0], enc.offsets[k][j][1], score,
                        float(answer[k]), margins[k]) for k, (i, j, score) in enumerate(spans)]
