"""Pick the refusal threshold from one or more finished runs, pooled.

    python -m eval.calibrate out/eval-gold out/eval-squad [--max-false-refusal 0.05]

Reads the `ours` rows of each run's results.jsonl (every question's confidence, whether
it is answerable, and whether the unrefused answer was right), sweeps the pooled
records and prints the threshold with the best refusal F1 whose false refusal rate stays
within the cap, with its sweep row and the configured threshold's row for comparison.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from eval import sweep as sw
from eval.runner import calibration_line
from rag.config import Config


def read_records(path: Path) -> list[sw.ConfidenceRecord]:
    """The sweep records of the product's rows in a run folder or results.jsonl file."""
    path = path / "results.jsonl" if path.is_dir() else path
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("system") == "ours" and row.get("confidence") is not None:
                records.append(sw.ConfidenceRecord(float(row["confidence"]), bool(row["gold_answers"]),
                                                   row["scores"].get("unrefused_contains") == 1.0))
    return records


def row_text(label: str, p: sw.SweepPoint) -> str:
    """One sweep row as a readable line."""
    def f(v):
        return "–" if v is None else f"{v:.3f}"

    return (f"{label:<11} threshold {p.threshold:.4f}  coverage {f(p.coverage)}  accuracy {f(p.accuracy)}  "
            f"refusal P {f(p.refusal_precision)} R {f(p.refusal_recall)} F1 {f(p.refusal_f1)}  "
            f"false refusal {f(p.false_refusal_rate)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the suggestion; exit 0, or 2 when the inputs are unusable."""
    ap = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (or results.jsonl files)")
    ap.add_argument("--max-false-refusal", type=float, default=sw.MAX_FALSE_REFUSAL)
    args = ap.parse_args(argv)
    try:
        records = [r for run in args.runs for r in read_records(run)]
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not records:
        print("error: no `ours` rows with a confidence in these runs", file=sys.stderr)
        return 2
    points = sw.sweep(records)
    chosen = sw.calibrate(points, args.max_false_refusal)
    configured = Config.from_env().refusal_threshold
    print(f"{len(records)} questions pooled from {', '.join(map(str, args.runs))}")
    print(row_text("configured", sw.point(records, configured)))
    if chosen is not None:
        print(row_text("suggested", chosen))
    print(calibration_line(sw.suggested_value(points, chosen) if chosen else None, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
