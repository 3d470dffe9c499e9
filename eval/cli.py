"""The evaluation command line, shared by `rag eval ...` and `python -m eval ...`.

Exit codes: 0 every threshold holds and nothing regressed; 1 the gate failed (the
failures are listed); 2 bad arguments, missing files or a run error.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.gating import GateConfigError
from eval.gold import GoldError
from eval.runner import SYSTEMS, Options, UsageError, run
from rag.errors import RagError


def parser() -> argparse.ArgumentParser:
    """The argument parser (argparse exits with 2 on bad arguments)."""
    p = argparse.ArgumentParser(prog="rag eval", description="Evaluate the RAG against a gold set.")
    p.add_argument("--corpus", type=Path, required=True, help="folder of documents to ingest")
    p.add_argument("--gold", type=Path, required=True, help="gold questions (JSON lines, eval/GOLD.md schema)")
    p.add_argument("--out", type=Path, required=True, help="output folder (also holds the eval's stores)")
    p.add_argument("--limit", type=int, help="a seeded sample of N questions, about half answerable")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--system", choices=(*SYSTEMS, "all"), default="ours", help="system(s) to evaluate")
    p.add_argument("--baseline", type=Path, help="a previous summary.json: fail on regressions")
    p.add_argument("--thresholds", type=Path, help="TOML file of metric bounds (eval/thresholds.toml)")
    p.add_argument("--suite", help="the table of the thresholds file to apply (gold, squad)")
    p.add_argument("--calibrate", action="store_true", help="print the suggested refusal threshold")
    p.add_argument("--judge", action="store_true", help="add an LLM-judge column (needs a configured LLM)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--generator", choices=("reader", "extractive", "openai", "ollama", "llamacpp"),
                   help="answer with this generator (default RAG_GENERATOR); an LLM adds llm_raw and extractive views")
    p.add_argument("--llm-model-path", "--llm-model", dest="llm_model_path",
                   help="GGUF file for --generator llamacpp (default RAG_LLM_MODEL_PATH)")
    return p


def options(args: argparse.Namespace) -> Options:
    """The parsed arguments as run Options."""
    return Options(
        corpus=args.corpus, gold=args.gold, out=args.out, limit=args.limit, seed=args.seed,
        systems=SYSTEMS if args.system == "all" else (args.system,), baseline=args.baseline,
        thresholds=args.thresholds, suite=args.suite, calibrate=args.calibrate, judge=args.judge,
        progress=not args.quiet, generator=args.generator, llm_model_path=args.llm_model_path,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        return run(options(args))
    except (UsageError, GoldError, GateConfigError, RagError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
