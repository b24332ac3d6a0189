"""``funnelhouse generate engagetrack`` and ``funnelhouse serve engagetrack``."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from typer.testing import CliRunner

from pipelines.cli import app

from .conftest import KEYS, TINY


def test_generate_writes_a_dataset_and_prints_a_summary(tmp_path):
    result = CliRunner().invoke(app, ["generate", "engagetrack", "--out", str(tmp_path / "d"),
                                      "--users", "50", "--days", "3", "--start", "2026-02-01"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote an engagetrack dataset to {tmp_path / 'd'}")
    assert {p.name for p in (tmp_path / "d").iterdir()} == \
        {"fixture.json", "events.parquet", "visitors.parquet"}


def test_serve_refuses_a_bad_dataset_naming_the_field(tmp_path):
    document = json.loads(TINY.read_text())
    document["organizations"][0]["plan"] = "free"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["serve", "engagetrack", "--data", str(bad)])
    assert result.exit_code == 1
    assert "organization org_acme: plan: expected one of maker, startup, agency" in result.output


def test_serve_listens_with_faults_and_the_seed_rate_limit():
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "engagetrack", "--data", str(TINY),
         "--port", "0", "--faults", "500=1"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        headers = {"Authorization": f"Bearer {KEYS['sync']}"}
        answer = httpx.get(f"{url}/api/v1/organizations/org_acme/sites", headers=headers)
        assert (answer.status_code, answer.json()) == (500, {"error": "Internal server error"})
        assert answer.headers["x-ratelimit-limit"] == "600"
    finally:
        process.terminate()
        process.wait(timeout=10)
