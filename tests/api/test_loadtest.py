"""`rag loadtest` in miniature: the report and the exit status (the benchmark itself
is run by hand; see the README)."""
from __future__ import annotations

from typer.testing import CliRunner

from bench import loadtest
from rag.cli import app


def test_a_short_run_against_a_live_server(api_url, capsys):
    assert loadtest.run(clients=2, seconds=2, url=api_url) == 0
    out = capsys.readouterr().out
    assert "requests/s (all)" in out and "status 200" in out and "p95 latency" in out


def test_only_real_server_errors_fail_the_run():
    ok = [(0.0, 0.1, 200), (0.0, 0.1, "503 busy")]
    assert not loadtest.failed(ok)
    assert loadtest.failed(ok + [(0.0, 0.1, 500)])
    assert loadtest.failed(ok + [(0.0, 0.1, "error ConnectError")])


def test_percentiles():
    values = list(range(1, 101))
    assert loadtest.percentile(values, 50) in (50, 51) and loadtest.percentile(values, 99) >= 99


def test_cli_lists_the_server_commands():
    out = CliRunner().invoke(app, ["--help"]).output
    assert all(name in out for name in ("serve", "ui", "loadtest"))
