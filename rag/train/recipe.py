"""`rag train-reader`: the whole recipe that makes the shipped answer model.

1. Examples from the gold set (rag.train.data), each tagged with its article.
2. Validation articles (every fourth one) are set aside: the shipped model never sees
   them, and every SQuAD figure we report (CI, README) is measured on them.
3. Cross-validation by article over the training articles: for each fold, train on
   the other articles and read the held-out questions' top BM25 windows.
4. Calibration: a logistic regression of "this window holds a gold answer" on the
   window's two raw signals (rag.reader), fitted on those out-of-fold windows. A
   question's probability is its best window's. The refusal threshold is then chosen
   by one rule on the same questions: the highest threshold whose false refusal rate
   is at most TARGET_FALSE_REFUSAL (so refusal recall is as high as that budget allows).
5. The final model trains on all training articles with the same settings and seed
   and is written with that calibration (reader.onnx, tokenizer.json, reader.json),
   then read on the validation questions (validation.jsonl) for the card's figures.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.embedding import resolve_model
from rag.reader import Reader, calibrated, load_tokenizer, signals
from rag.train.card import write_card
from rag.train.data import (
    ChunkSearch,
    GoldQuestion,
    article_folds,
    articles_of,
    build_examples,
    chunk_corpus,
    find_answer,
    normalise_answer,
    read_gold,
    validation_articles,
)
from rag.train.export import export
from rag.train.loop import TrainSettings, train
from rag.train.synthetic import generated

OOF_WINDOWS = 4  # windows read per question, as the pipeline reads its best few
TARGET_FALSE_REFUSAL = 0.05
CHUNK_TOKENS, CHUNK_OVERLAP = 200, 40  # as Config's defaults: windows are chunks
FIXED_SAMPLE = 60  # validation questions re-read by the test of the shipped weights
UNCALIBRATED = {"weights": [1.0], "bias": 0.0}


@dataclass(frozen=True)
class Prepared:
    """The recipe's inputs: questions split by article, windows, and examples."""

    gold: Path
    training: list[GoldQuestion]
    validation: list[GoldQuestion]
    search: ChunkSearch
    examples: list


def prepare(gold: Path, docs: Path, settings: TrainSettings, limit: int = 0) -> Prepared:
    """Questions, chunks and examples; `limit` keeps the first questions (smoke runs)."""
    every = read_gold(gold)
    questions = every[: limit or None]
    held_out = validation_articles(questions)
    tokenizer = load_tokenizer(resolve_model(PACKAGED_MODEL))
    chunks = chunk_corpus(docs, lambda s: len(tokenizer.encode(s, add_special_tokens=False).ids), CHUNK_TOKENS, CHUNK_OVERLAP)
    training = [q for q in questions if q.article not in held_out]
    examples = build_examples(training, chunks, settings.swap_negatives, settings.seed)
    if settings.generated:
        examples += generated(examples, chunks, {q.qid: q.answers for q in training},
                              set(articles_of(every)), settings.seed)
    return Prepared(gold, training, [q for q in questions if q.article in held_out], ChunkSearch(chunks), examples)


def train_reader(gold: Path, docs: Path, out: Path, folds: int, settings: TrainSettings,
                 limit: int = 0, progress: bool = True) -> dict:
    """Run the recipe; returns the card written to out/reader.json."""
    t0 = time.perf_counter()
    data = prepare(gold, docs, settings, limit)
    oof = cross_validate(data, out, folds, settings, progress)
    model, run = train(data.examples, settings, progress)
    export(model, out)
    return finish(data, out, oof, settings,
                  {"final_run": run, "folds": folds, "seconds_train": round(time.perf_counter() - t0, 1)})


def finish(data: Prepared, out: Path, oof: list[dict], settings: TrainSettings, facts: dict) -> dict:
    """Calibrate on the out-of-fold readings, read the validation questions with the
    exported final model, and write the card and validation.jsonl."""
    calibration = fit_calibration(oof)
    threshold, oof_at = choose_threshold(oof, calibration) if oof else (0.5, {})
    _write_card(out, {"calibration": calibration, "threshold": threshold})
    rows = read_questions(Reader(out), data.validation, data.search)
    card = {"calibration": calibration, "threshold": threshold, "settings": asdict(settings),
            "training_articles": sorted({q.article for q in data.training}),
            "validation_articles": sorted({q.article for q in data.validation}),
            "examples": dict(Counter(example_kind(e) for e in data.examples)),
            "out_of_fold": oof_at, "validation": figures_at(rows, calibration, threshold),
            "fixed_sample": figures_at(rows[:FIXED_SAMPLE], calibration, threshold), **facts}
    _write_card(out, card)
    write_card(out, card)
    _write_questions(out / "validation.jsonl", data.validation, data.gold)
    return card


def example_kind(e) -> str:
    """What made a training example, for the card."""
    if e.qid.startswith("cloze-"):
        return "cloze answerable" if e.answerable else "cloze answer removed"
    if e.qid.endswith("-swap"):
        return "entity swapped"
    if e.qid.endswith("-removed"):
        return "answer removed"
    return "gold answerable" if e.answerable else "gold no answer"


def read_fold(data: Prepared, fold_dir: Path, fold: set[str]) -> list[dict]:
    """Out-of-fold readings by the model trained without the articles of `fold`."""
    _write_card(fold_dir, {"calibration": UNCALIBRATED, "threshold": 0.5, "held_out": sorted(fold)})
    return read_questions(Reader(fold_dir), [q for q in data.training if q.article in fold], data.search)


def cross_validate(data: Prepared, out: Path, folds: int, settings: TrainSettings, progress: bool) -> list[dict]:
    """Out-of-fold readings of every training question (none when folds < 2)."""
    oof: list[dict] = []
    for k, fold in enumerate(article_folds(articles_of(data.training), folds) if folds > 1 else []):
        model, _ = train([e for e in data.examples if e.article not in fold], settings, progress)
        export(model, out / "folds" / str(k))
        oof += read_fold(data, out / "folds" / str(k), fold)
    if oof:  # kept so that the calibration can be refitted without training again
        (out / "folds" / "oof.jsonl").write_text("".join(json.dumps(r) + "\n" for r in oof), encoding="utf-8")
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


def read_questions(reader: Reader, questions: list[GoldQuestion], search: ChunkSearch) -> list[dict]:
    """Per question: each of its top BM25 windows' raw signals, answer text, and
    whether the window holds a gold answer."""
    rows = []
    for q in questions:
        chunks = search.top(q.question, OOF_WINDOWS)
        windows = [c.text for c in chunks]
        readings = reader.read(q.question, windows, [c.sentence_starts() for c in chunks])
        rows.append({"qid": q.qid, "article": q.article, "answerable": bool(q.answers), "answers": list(q.answers),
                     "windows": [{"answer_logit": r.answer_logit, "span_margin": r.span_margin,
                                  "predicted": windows[r.window][r.start : r.end],
                                  "has_answer": bool(q.answers) and find_answer(windows[r.window], q.answers) is not None}
                                 for r in readings]})
    return rows


def window_signals(row: dict) -> np.ndarray:
    """`rag.reader.signals` of one question's windows (stored best first)."""
    return signals([w["answer_logit"] for w in row["windows"]], [w["span_margin"] for w in row["windows"]])


def fit_calibration(oof: list[dict]) -> dict:
    """Logistic regression of "the window holds an answer" on its signals
    (rag.reader.signals), over every out-of-fold window."""
    y = np.array([w["has_answer"] for r in oof for w in r["windows"]])
    if len(set(y.tolist())) < 2:
        return dict(UNCALIBRATED)
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([window_signals(r) for r in oof])
    fit = LogisticRegression(C=1e4).fit(x, y)
    return {"weights": [float(v) for v in fit.coef_[0]], "bias": float(fit.intercept_[0])}


def best_windows(rows: list[dict], calibration: dict) -> tuple[np.ndarray, list[str]]:
    """Per question: the probability of its most probable window, and that window's answer."""
    probs, answers = [], []
    for r in rows:
        p = calibrated(calibration, window_signals(r))
        k = int(np.argmax(p))
        probs.append(float(p[k]))
        answers.append(r["windows"][k]["predicted"])
    return np.array(probs), answers


def choose_threshold(oof: list[dict], calibration: dict) -> tuple[float, dict]:
    """The threshold rule (module docstring) and the out-of-fold figures at it."""
    p, _ = best_windows(oof, calibration)
    answerable = np.array([r["answerable"] for r in oof])
    ok = [t for t in np.unique(p[answerable]) if np.mean(p[answerable] < t) <= TARGET_FALSE_REFUSAL]
    threshold = float(max(ok)) if ok else 0.5
    return threshold, figures_at(oof, calibration, threshold)


def figures_at(rows: list[dict], calibration: dict, threshold: float) -> dict:
    """Refusal and answer quality of questions read by a model, at a threshold."""
    if not rows:
        return {}
    p, predicted = best_windows(rows, calibration)
    return oof_figures(rows, p, predicted, threshold)


def oof_figures(oof: list[dict], p: np.ndarray, predicted: list[str], threshold: float) -> dict:
    """Refusal and answer quality of questions at a threshold."""
    answerable = np.array([r["answerable"] for r in oof])
    answered = p >= threshold
    spans = [(r, text) for r, a, text in zip(oof, answered, predicted, strict=True) if r["answerable"] and a]
    f1 = [max(token_f1(text, g) for g in r["answers"]) for r, text in spans]
    return {"questions": len(oof), "refusal_recall": _rate(~answered[~answerable]),
            "false_refusal_rate": _rate(~answered[answerable]),
            "answer_f1_answered": round(float(np.mean(f1)), 4) if f1 else 0.0,
            "exact_match_answered": _rate(np.array([normalise_answer(text) in map(normalise_answer, r["answers"])
                                                    for r, text in spans]))}


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
