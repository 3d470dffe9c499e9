"""`rag train-reader`: the whole recipe that makes the shipped answer model.

1. Examples from the gold set (rag.train.data), each tagged with its article.
2. Validation articles (every fourth one) are set aside: the shipped model never sees
   them, and every SQuAD figure we report (CI, README) is measured on them.
3. Cross-validation by article over the training articles: for each fold, train on
   the other articles and read the held-out questions' top BM25 windows.
4. Calibration: Platt scaling of a question's best answerability logit, fitted on
   those out-of-fold questions; the refusal threshold is then chosen by one rule on the
   same data: the highest threshold whose false refusal rate is at most
   TARGET_FALSE_REFUSAL (so refusal recall is as high as that budget allows).
5. The final model trains on all training articles with the same settings and seed
   and is written with that calibration (reader.onnx, tokenizer.json, reader.json),
   then read on the validation questions (validation.jsonl) for the card's figures.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.reader import Reader, load_tokenizer, sigmoid
from rag.train.data import (ChunkSearch, GoldQuestion, article_folds, articles_of, build_examples, chunk_corpus,
                            normalise_answer, read_gold, validation_articles)
from rag.train.export import export
from rag.train.loop import TrainSettings, train

OOF_WINDOWS = 4  # windows read per question, as the pipeline reads its best few
TARGET_FALSE_REFUSAL = 0.05
CHUNK_TOKENS, CHUNK_OVERLAP = 200, 40  # as Config's defaults: windows are chunks
FIXED_SAMPLE = 60  # validation questions re-read by the test of the shipped weights


def train_reader(gold: Path, docs: Path, out: Path, folds: int, settings: TrainSettings,
                 limit: int = 0, progress: bool = True) -> dict:
    """Run the recipe; returns the card written to out/reader.json. `limit` keeps the
    first questions only (smoke runs)."""
    t0 = time.perf_counter()
    questions = read_gold(gold)[: limit or None]
    held_out = validation_articles(questions)
    tokenizer = load_tokenizer(resolve_model(PACKAGED_MODEL))
    chunks = chunk_corpus(docs, lambda s: len(tokenizer.encode(s, add_special_tokens=False).ids), CHUNK_TOKENS, CHUNK_OVERLAP)
    search = ChunkSearch(chunks)
    training = [q for q in questions if q.article not in held_out]
    examples = build_examples(training, chunks)
    oof = cross_validate(training, examples, search, out, folds, settings, progress)
    model, run = train(examples, settings, progress)
    export(model, out)
    calibration = fit_calibration(oof)
    threshold, oof_at = choose_threshold(oof, calibration) if oof else (0.5, {})
    _write_card(out, {"calibration": calibration, "threshold": threshold})
    validation = [q for q in questions if q.article in held_out]
    rows = read_questions(Reader(out), validation, search)
    card = {"calibration": calibration, "threshold": threshold, "settings": asdict(settings), "folds": folds,
            "training_articles": sorted({q.article for q in training}), "validation_articles": sorted(held_out),
            "examples": dict(Counter("answerable" if e.answerable else "no answer" for e in examples)),
            "out_of_fold": oof_at, "validation": figures_at(rows, calibration, threshold),
            "fixed_sample": figures_at(rows[:FIXED_SAMPLE], calibration, threshold), "final_run": run,
            "seconds_total": round(time.perf_counter() - t0, 1)}
    _write_card(out, card)
    _write_questions(out / "validation.jsonl", validation, gold)
    return card


def cross_validate(training: list[GoldQuestion], examples: list, search: ChunkSearch, out: Path, folds: int,
                   settings: TrainSettings, progress: bool) -> list[dict]:
    """Out-of-fold readings of every training question (none when folds < 2)."""
    oof: list[dict] = []
    for k, fold in enumerate(article_folds(articles_of(training), folds) if folds > 1 else []):
        model, _ = train([e for e in examples if e.article not in fold], settings, progress)
        fold_dir = out / "folds" / str(k)
        export(model, fold_dir)
        _write_card(fold_dir, {"calibration": {"scale": 1.0, "bias": 0.0}, "threshold": 0.5, "held_out": sorted(fold)})
        oof += read_questions(Reader(fold_dir), [q for q in training if q.article in fold], search, calibrated=False)
    return oof


def _write_questions(path: Path, questions: list[GoldQuestion], gold: Path) -> None:
    """The gold rows of `questions`, tagged with their article (a gold-set file)."""
    article = {q.qid: q.article for q in questions}
    rows = [json.loads(line) for line in Path(gold).read_text(encoding="utf-8").splitlines()]
    rows = [r | {"tags": r["tags"] + [f"article:{article[r['id']]}"]} for r in rows if r["id"] in article]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _write_card(folder: Path, card: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reader.json").write_text(json.dumps(card, indent=2) + "\n")


def read_questions(reader: Reader, questions: list[GoldQuestion], search: ChunkSearch,
                   calibrated: bool = True) -> list[dict]:
    """Per question: the best window's raw logit, its answer text, and the gold."""
    scale, bias = (reader.card["calibration"]["scale"], reader.card["calibration"]["bias"]) if calibrated else (1.0, 0.0)
    rows = []
    for q in questions:
        windows = [c.text for c in search.top(q.question, OOF_WINDOWS)]
        best = max(reader.read(q.question, windows), key=lambda r: (r.probability, r.span_score))
        rows.append({"qid": q.qid, "article": q.article, "answerable": bool(q.answers), "answers": list(q.answers),
                     "logit": (best.logit - bias) / scale, "predicted": windows[best.window][best.start : best.end]})
    return rows


def fit_calibration(oof: list[dict]) -> dict:
    """Platt scaling: p = sigmoid(scale * logit + bias), fitted on out-of-fold questions."""
    if len({r["answerable"] for r in oof}) < 2:
        return {"scale": 1.0, "bias": 0.0}
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r["logit"]] for r in oof])
    y = np.array([r["answerable"] for r in oof])
    fit = LogisticRegression(C=1e6).fit(x, y)
    return {"scale": float(fit.coef_[0][0]), "bias": float(fit.intercept_[0])}


def probabilities(rows: list[dict], calibration: dict) -> np.ndarray:
    return sigmoid(calibration["scale"] * np.array([r["logit"] for r in rows]) + calibration["bias"])


def choose_threshold(oof: list[dict], calibration: dict) -> tuple[float, dict]:
    """The threshold rule (module docstring) and the out-of-fold figures at it."""
    p = probabilities(oof, calibration)
    answerable = np.array([r["answerable"] for r in oof])
    ok = [t for t in np.unique(p[answerable]) if np.mean(p[answerable] < t) <= TARGET_FALSE_REFUSAL]
    threshold = float(max(ok)) if ok else 0.5
    return threshold, oof_figures(oof, p, threshold)


def figures_at(rows: list[dict], calibration: dict, threshold: float) -> dict:
    """`oof_figures` of rows read by a calibrated model."""
    return oof_figures(rows, probabilities(rows, calibration), threshold) if rows else {}


def oof_figures(oof: list[dict], p: np.ndarray, threshold: float) -> dict:
    """Refusal and answer quality of the out-of-fold questions at a threshold."""
    answerable = np.array([r["answerable"] for r in oof])
    answered = p >= threshold
    spans = [r for r, a in zip(oof, answered) if r["answerable"] and a]
    f1 = [max(token_f1(r["predicted"], g) for g in r["answers"]) for r in spans]
    return {"questions": len(oof), "refusal_recall": _rate(~answered[~answerable]),
            "false_refusal_rate": _rate(~answered[answerable]),
            "answer_f1_answered": round(float(np.mean(f1)), 4) if f1 else 0.0,
            "exact_match_answered": _rate(np.array([normalise_answer(r["predicted"]) in map(normalise_answer, r["answers"])
                                                    for r in spans]))}


def _rate(flags: np.ndarray) -> float:
    return round(float(np.mean(flags)), 4) if len(flags) else 0.0


def token_f1(predicted: str, gold: str) -> float:
    """SQuAD's token F1 between two answers."""
    p, g = normalise_answer(predicted).split(), normalise_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)
