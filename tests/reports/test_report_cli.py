"""``funnelhouse report NAME [--to ADDRESS] [--out DIR]``."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.cli import app

AS_OF = "2026-02-16T07:00:00Z"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, ["report", *args], env=env)


def test_report_writes_the_html_file_and_prints_its_path(report_warehouse, tmp_path):
    result = run("weekly", "--warehouse", str(report_warehouse), "--as-of", AS_OF,
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    path = tmp_path / "weekly-2026-02-09_2026-02-15.html"
    assert result.stdout == f"{path}\n"
    assert "<h1" in path.read_text() and "Weekly overview" in path.read_text()


def test_report_to_an_address_sends_it_and_writes_no_file(report_warehouse, smtp_server,
                                                          tmp_path, monkeypatch):
    recorder, port = smtp_server
    monkeypatch.chdir(tmp_path)
    env = {"FUNNELHOUSE_SMTP_HOST": "127.0.0.1", "FUNNELHOUSE_SMTP_PORT": str(port),
           "FUNNELHOUSE_SMTP_SECURITY": "none", "FUNNELHOUSE_SMTP_SENDER": "r@example.com"}
    result = run("signup_funnel", "--warehouse", str(report_warehouse), "--as-of",
                 "2026-02-15T09:00:00Z", "--to", "Ana <ana@example.com>", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert [r.rcpt_tos for r in recorder.received] == [["ana@example.com"]]
    assert recorder.received[0].message["Subject"] == "Signup funnel \u2014 8\u201314 Feb 2026"
    assert not list(tmp_path.iterdir())


def test_report_errors_are_one_line(report_warehouse, tmp_path):
    unknown = run("monthly", "--warehouse", str(report_warehouse))
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("Error: no report named 'monthly' in ")
    assert unknown.stderr.endswith("reports.yaml; declared: weekly, signup_funnel\n")

    no_snapshot = run("weekly", "--warehouse", str(tmp_path / "none.duckdb"))
    assert no_snapshot.exit_code == 1
    assert no_snapshot.stderr == (f"Error: no snapshot published for {tmp_path / 'none.duckdb'}: "
                                  "run `funnelhouse sync` first\n")

    bad_time = run("weekly", "--as-of", "monday")
    assert bad_time.exit_code == 2 and "not an ISO-8601 timestamp: 'monday'" in bad_time.output
