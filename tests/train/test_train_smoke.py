"""A few steps of `rag train-reader`, end to end, so the training code stays tested:
examples, cross-validation by article, calibration, export, and the exported model
answering through the product's Reader."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.reader import Reader


@pytest.mark.slow
def test_train_reader_smoke_run_writes_a_loadable_calibrated_model(tmp_path, squad_dir):
    out = tmp_path / "reader"
    result = CliRunner().invoke(app, ["train-reader", "--out", str(out), "--gold", str(squad_dir / "gold.jsonl"),
                                      "--docs", str(squad_dir / "docs"), "--folds", "2", "--max-steps", "2", "--epochs", "1",
                                      "--limit", "1200"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "reader.json").read_text())
    assert set(card["training_articles"]).isdisjoint(card["validation_articles"])
    assert card["validation_articles"] and card["validation"]["questions"] > 0
    assert card["out_of_fold"]["questions"] > 0 and 0.0 <= card["threshold"] <= 1.0
    assert card["final_run"]["steps"] == 2
    [reading] = Reader(out).read("Who was the Norse leader?", ["Their leader Rollo swore fealty to the king."])
    assert 0.0 <= reading.probability <= 1.0 and 0 <= reading.start < reading.end


def test_train_reader_names_a_missing_input(tmp_path):
    result = CliRunner().invoke(app, ["train-reader", "--gold", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "does not exist" in result.output
