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


def test_report_latencies_are_interpolated_percentiles_of_the_200s():
    results = [(0.0, ms / 1000, 200) for ms in (10, 20, 30, 40)] + [(0.0, 9.0, "503 busy")]
    lines = loadtest.report(results, [], elapsed=1.0, clients=1, seconds=1).splitlines()
    latency = {line.split("  ")[0]: line.split()[-2] for line in lines if "latency" in line}
    # numpy's linear interpolation: p50 25 (the nearest rank would say 30), p95 38.5, p99 39.7
    assert latency == {"p50 latency (200)": "25", "p95 latency (200)": "38", "p99 latency (200)": "40"}


def test_cli_lists_the_server_commands():
    out = CliRunner().invoke(app, ["--help"]).output
    assert all(name in out for name in ("serve", "ui", "loadtest"))
