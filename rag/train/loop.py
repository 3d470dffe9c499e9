"""Fine-tuning the answer model: AdamW with linear warm-up and decay, length-bucketed
batches, bf16 autocast where the hardware runs it natively (GPU, or a CPU with
AVX-512 BF16 / AMX), fp32 otherwise. The word-embedding matrix stays frozen: half the
parameters, little to learn from 2k questions, and the optimiser step is cheaper.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from rag.config import PACKAGED_MODEL
from rag.embedding import cpu_has_bf16, resolve_model
from rag.reader import load_tokenizer
from rag.train.data import Example
from rag.train.model import ReaderModel, loss_of, make_batch

BUCKET = 50  # batches sorted by length together: little padding, still shuffled


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters; the defaults made the shipped model."""

    epochs: int = 3
    lr: float = 2e-4
    head_lr_factor: float = 5.0
    batch_size: int = 16
    warmup: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    max_steps: int = 0  # >0: stop early (smoke runs)
    swap_negatives: bool = True  # add the generated negatives of rag.train.data
    generated: bool = True  # add rag.train.synthetic's answer-removed and cloze examples


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """One epoch's batches: shuffled, then sorted by length within buckets."""
    order = examples[:]
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), size * BUCKET):
        bucket = sorted(order[i : i + size * BUCKET], key=lambda e: len(e.question) + len(e.window))
        out += [bucket[j : j + size] for j in range(0, len(bucket), size)]
    rng.shuffle(out)
    return out


def new_model() -> ReaderModel:
    """The packaged encoder with fresh heads, word embeddings frozen."""
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(resolve_model(PACKAGED_MODEL))
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return ReaderModel(encoder)


def device_and_dtype() -> tuple[str, torch.dtype | None]:
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", (torch.bfloat16 if cpu_has_bf16() else None)


def train(examples: list[Example], settings: TrainSettings, progress: bool = True) -> tuple[ReaderModel, dict]:
    """A fine-tuned model and what the run did (steps, seconds, losses)."""
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    seed_everything(settings.seed)
    rng = random.Random(settings.seed)
    tokenizer = load_tokenizer(resolve_model(PACKAGED_MODEL))
    model = new_model()
    device, dtype = device_and_dtype()
    model.to(device).train()
    plan = [b for _ in range(settings.epochs) for b in batches(examples, settings.batch_size, rng)]
    if settings.max_steps:
        plan = plan[: settings.max_steps]
    params = [p for p in model.parameters() if p.requires_grad]
    heads = list(model.span.parameters()) + list(model.answerable.parameters())
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    # The heads start from random weights: they get a larger step than the encoder.
    opt = torch.optim.AdamW([{"params": encoder, "lr": settings.lr},
                             {"params": heads, "lr": settings.lr * settings.head_lr_factor}],
                            weight_decay=settings.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(settings.warmup * len(plan)), len(plan))
    t0, losses = time.perf_counter(), []
    for group in tqdm(plan, desc="training the answer model", unit="batch", disable=not progress):
        batch = make_batch(tokenizer, group)
        if batch is None:
            continue
        batch = type(batch)(*(t.to(device) for t in batch.__dict__.values()))
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_of(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    run = {"steps": len(plan), "seconds": round(time.perf_counter() - t0, 1), "device": device,
           "autocast": str(dtype).replace("torch.", "") if dtype else "fp32",
           "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None}
    return model.cpu().eval(), run
