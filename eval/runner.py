"""One evaluation run: build or reuse the stores, ask every question of every system,
score, write the outputs, and gate. Returns the exit code (0 ok, 1 gate failed)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eval import sweep as sw
from eval.gating import check_baseline, check_bounds, load_suite
from eval.gold import GoldItem, load_gold, sample
from eval.report import ReportData, write_reports
from eval.scoring import QuestionResult, evaluate
from eval.summary import combined, summarize
from eval.systems import NO_REFUSAL, Bm25System, OursSystem, System
from rag.config import Config

SYSTEMS = ("ours", "extractive-v1", "bm25", "naive")
V1 = "extractive"  # the generator that was the default before the answer model: a named baseline
LLM_GENERATORS = ("openai", "ollama", "llamacpp")


class UsageError(ValueError):
    """Bad arguments or missing inputs (exit code 2)."""


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    corpus: Path
    gold: Path
    out: Path
    limit: int | None = None
    seed: int = 0
    systems: tuple[str, ...] = ("ours",)
    baseline: Path | None = None
    thresholds: Path | None = None
    suite: str | None = None
    calibrate: bool = False
    judge: bool = False
    progress: bool = True
    generator: str | None = None  # None: RAG_GENERATOR or extractive
    llm_model_path: str | None = None


def validate(opts: Options) -> None:
    """Refuse unusable arguments before any slow work."""
    if not opts.corpus.is_dir():
        raise UsageError(f"corpus folder {opts.corpus} does not exist")
    if not opts.gold.is_file():
        raise UsageError(f"gold file {opts.gold} does not exist")
    if opts.baseline is not None and not opts.baseline.is_file():
        raise UsageError(f"baseline {opts.baseline} does not exist")
    if opts.thresholds is not None and not opts.suite:
        raise UsageError("--thresholds needs --suite (the table of the file to apply, e.g. gold)")
    if opts.limit is not None and opts.limit < 1:
        raise UsageError("--limit must be at least 1")
    unknown = set(opts.systems) - set(SYSTEMS)
    if unknown:
        raise UsageError(f"unknown system(s): {', '.join(sorted(unknown))}")


def _open_product(opts: Options, config: Config, folder: Path):
    """The product over the eval store, with the generators' refusal off (OursSystem
    re-applies their thresholds itself; probabilities are never below 0); with the answer
    model, its first gate (the sentence picker's threshold) stays on, as in the product.
    With an LLM the product runs as configured: its refusal gate decides whether the
    LLM is called at all."""
    from eval.stores import open_product

    if config.generator in LLM_GENERATORS:  # the refusal gate before the LLM stays on
        return open_product(folder, opts.corpus, config)
    if config.generator == "reader":  # the sentence gate stays on; the model's threshold is applied here
        return open_product(folder, opts.corpus, config.with_(answer_threshold=0.0))
    return open_product(folder, opts.corpus, config.with_(refusal_threshold=NO_REFUSAL, answer_threshold=0.0))


def _threshold(config: Config, generator: str) -> float:
    """The refusal threshold the product applies with this generator."""
    if generator == "extractive":
        return config.refusal_threshold
    if generator != "reader":
        return NO_REFUSAL  # an LLM refuses by itself
    if config.answer_threshold >= 0:
        return config.answer_threshold
    from rag.reader import Reader

    return float(Reader(config.reader_model or None).card["threshold"])


def _make(name: str, product, opts: Options, config: Config, folder: Path) -> System:
    if name == "ours" and config.generator in LLM_GENERATORS:
        from eval.llm_mode import GroundedSystem

        return GroundedSystem(product)
    if name == "ours":
        return OursSystem(product, _threshold(config, config.generator), config.generator, name)
    if name == "extractive-v1":
        return OursSystem(product, _threshold(config, V1), V1, name)
    if name == "bm25":
        return Bm25System(product)
    from eval.naive import NaiveSystem, build_or_load_index
    from eval.stores import naive_dir

    progress = opts.progress and sys.stderr.isatty()
    return NaiveSystem(build_or_load_index(naive_dir(opts.out, opts.corpus, config), opts.corpus,
                                           config.embed_model, progress))


def build_systems(opts: Options, config: Config, folder: Path) -> dict[str, tuple[System, float]]:
    """Each requested system with its setup time in seconds (ingest or index load)."""
    built, product = {}, None
    for name in opts.systems:
        t0 = time.perf_counter()
        if name in ("ours", "extractive-v1", "bm25") and product is None:
            product = _open_product(opts, config, folder)
        built[name] = (_make(name, product, opts, config, folder), time.perf_counter() - t0)
    if config.generator in LLM_GENERATORS and "ours" in built:  # LLM mode: raw and extractive beside it
        from eval.llm_mode import side_systems

        built.update(side_systems(built["ours"][0], config))  # type: ignore[arg-type]
    return built


def run_system(system: System, items: list[GoldItem], opts: Options, config: Config) -> list[QuestionResult]:
    """Ask every question, with a progress bar, and score the answers."""
    from tqdm.auto import tqdm

    judge = None
    if opts.judge:
        from eval.judge import make_judge

        judge = make_judge(config)
    results = []
    # Off a terminal (CI logs), update rarely so the log stays readable.
    interval = 0.1 if sys.stderr.isatty() else 15.0
    bar = tqdm(items, desc=f"eval {system.name}", unit="q", disable=not opts.progress, file=sys.stderr,
               mininterval=interval)
    for item in bar:
        result = evaluate(system.name, item, system.predict(item.question))
        if judge is not None and item.answerable and result.prediction.answerable:
            result = replace(result, judge=judge(item.question, result.prediction.text, item.answers))
        results.append(result)
    return results


def confidence_records(results: list[QuestionResult]) -> list[sw.ConfidenceRecord]:
    """What the sweep needs of each question the product answered or refused."""
    return [sw.ConfidenceRecord(r.prediction.confidence, r.item.answerable, bool(r.scores.unrefused_contains))
            for r in results if r.prediction.confidence is not None]


def sweep_outputs(results: list[QuestionResult], threshold: float) -> dict:
    """The sweep, the configured point and the calibrated suggestion."""
    records = confidence_records(results)
    points = sw.sweep(records)
    chosen = sw.calibrate(points)
    return {"points": points, "current": sw.point(records, threshold) if records else None, "chosen": chosen,
            "suggested": sw.suggested_value(points, chosen) if chosen else None}


def gate(opts: Options, summary: dict) -> list[str]:
    """Every threshold or baseline check the run fails."""
    failed, tolerance = [], None
    if opts.thresholds is not None:
        bounds, tolerance = load_suite(opts.thresholds, opts.suite)
        failed += check_bounds(summary, bounds)
    if opts.baseline is not None:
        baseline = json.loads(opts.baseline.read_text(encoding="utf-8"))
        failed += check_baseline(summary, baseline, tolerance if tolerance is not None else 0.02)
    return failed


def write_outputs(out: Path, results: dict[str, list[QuestionResult]], summary: dict, sweep: dict) -> None:
    """results.jsonl, summary.json and sweep.json."""
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for rows in results.values():
            for r in rows:
                f.write(json.dumps(r.to_row(), ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    sweep_json = {"max_false_refusal": sw.MAX_FALSE_REFUSAL, "suggested": sweep.get("suggested"),
                  **{k: sweep[k].to_dict() if sweep.get(k) else None for k in ("current", "chosen")},
                  "points": [p.to_dict() for p in sweep.get("points", [])]}
    (out / "sweep.json").write_text(json.dumps(sweep_json, indent=2), encoding="utf-8")


def source_hashes() -> dict[str, str]:
    """The hash of each module of the product package, by module name."""
    import hashlib

    import rag

    return {f"rag.{p.stem}": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(rag.__file__).parent.glob("*.py"))}


def product_version(hashes: dict[str, str]) -> str:
    """One short hash naming the product's code."""
    import hashlib

    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:12]


def changed_during_run(before: dict[str, str]) -> list[str]:
    """Product modules this run imported whose source changed since it started."""
    now = source_hashes()
    return sorted(m for m in before if m in sys.modules and now.get(m) != before[m])


def evaluate_all(opts: Options, config: Config, folder: Path, items: list[GoldItem]):
    """Every system's results and summary, by system name."""
    results, summaries = {}, {}
    for name, (system, setup_s) in build_systems(opts, config, folder).items():
        results[name] = run_system(system, items, opts, config)
        extra = {"setup_s": round(setup_s, 2)}
        if hasattr(system, "grounding"):
            extra["grounding"] = system.grounding(items)
        summaries[name] = summarize(name, results[name], extra)
    return results, summaries


def run_info(opts: Options, n: int, folder: Path, config: Config, sources: dict[str, str]) -> dict:
    """What was run, for the summary and the report."""
    info: dict[str, Any] = {
        "corpus": str(opts.corpus), "gold": str(opts.gold), "limit": opts.limit, "seed": opts.seed, "n": n,
        "store": str(folder), "refusal_threshold": _threshold(config, config.generator),
        "generator": config.generator, "reader_model": config.reader_model or "shipped",
        "product": product_version(sources), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    changed = changed_during_run(sources)
    if changed:  # someone edited the product mid-run: the numbers may mix two versions
        info["product_changed_during_run"] = changed
        print(f"warning: {', '.join(changed)} changed during the run; re-run before trusting these numbers",
              file=sys.stderr)
    return info


def run(opts: Options) -> int:
    """The whole evaluation; the exit code (0 pass, 1 gate failed)."""
    from eval.stores import store_dir

    validate(opts)
    sources = source_hashes()  # before the run imports the product's modules
    if opts.thresholds is not None:
        load_suite(opts.thresholds, opts.suite)  # a bad thresholds file fails before the slow part
    items = sample(load_gold(opts.gold), opts.limit, opts.seed)
    config = Config.from_env(generator=opts.generator, llm_model_path=opts.llm_model_path)
    folder = store_dir(opts.out, opts.corpus, config)
    folder.mkdir(parents=True, exist_ok=True)
    results, summaries = evaluate_all(opts, config, folder, items)
    sweep = sweep_outputs(results["ours"], _threshold(config, config.generator)) if "ours" in results else {}
    info = run_info(opts, len(items), folder, config, sources)
    summary = combined(summaries, info)
    failed = gate(opts, summary)
    write_outputs(opts.out, results, summary, sweep)
    latencies = {n: [r.prediction.timings_ms.get("total") for r in rs] for n, rs in results.items()}
    write_reports(opts.out, ReportData(info, summaries, sweep.get("points", []), sweep.get("current"),
                                       sweep.get("chosen"), sweep.get("suggested"), latencies, failed))
    print_console(opts, summaries, sweep, failed)
    return 1 if failed else 0


def calibration_line(suggested: float | None, chosen: sw.SweepPoint | None) -> str:
    """The --calibrate verdict in one line."""
    if chosen is None:
        return f"no threshold keeps the false refusal rate within {sw.MAX_FALSE_REFUSAL} while refusing anything"
    return (f"suggested refusal_threshold = {suggested}: refusal F1 {chosen.refusal_f1:.3f}, precision "
            f"{chosen.refusal_precision:.3f}, recall {chosen.refusal_recall:.3f}, false refusal rate "
            f"{chosen.false_refusal_rate:.3f}, coverage {chosen.coverage:.3f}, accuracy on answered "
            f"{chosen.accuracy if chosen.accuracy is None else round(chosen.accuracy, 3)} (n={chosen.n})")


def print_console(opts: Options, summaries: dict[str, dict], sweep: dict, failed: list[str]) -> None:
    """The headline table, the suggestion when asked, and the gate's verdict."""
    from eval.llm_mode import grounding_table
    from eval.tables import metrics_table

    print(metrics_table(summaries).markdown())
    print(grounding_table(summaries))
    if opts.calibrate:
        chosen = sweep.get("chosen")
        print(calibration_line(sweep.get("suggested"), chosen))
    print(f"outputs in {opts.out}/ (summary.json, results.jsonl, sweep.json, report.md, report.html)")
    for message in failed:
        print(f"FAILED: {message}")
    print("gate: FAILED" if failed else "gate: passed")
