"""Serving a reference app: the background thread and the ``funnelhouse serve`` process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipelines.reference.serving import ServerThread
from pipelines.reference.vemetric.app import create_app
from tests.reference.vemetric.surface import AUTH, TINY, tiny

FUNNELHOUSE = Path(sys.executable).parent / "funnelhouse"


def test_server_thread_serves_on_a_free_port_and_stops():
    with ServerThread(create_app(tiny())) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert not server.url.endswith(":0")
        response = httpx.get(f"{server.url}/v1/project", headers=AUTH)
        assert response.json()["project"]["id"] == "4232882524803099"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/v1/project", headers=AUTH)


def start_serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(FUNNELHOUSE), "serve", "vemetric", "--data", str(TINY), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_one_line_when_listening_and_stops_cleanly(stop):
    process = start_serve("--now", "2026-01-31T12:00:00Z")
    try:
        line = process.stdout.readline()
        url = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line).group(1)
        response = httpx.post(
            f"{url}/v1/analytics/query", headers=AUTH, json={"dateRange": "7days"}
        )
        assert response.json()["period"] == {
            "from": "2026-01-25T00:00:00Z",
            "to": "2026-01-31T12:00:00Z",
        }
        assert response.headers["x-ratelimit-limit"] == "100"
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out == ""  # nothing after the one line: no access log, no banner
    assert "Traceback" not in err


def test_serve_refuses_a_bad_dataset_before_listening(tmp_path):
    document = json.loads(TINY.read_text())
    document["projects"][0]["events"][3]["createdAt"] = "yesterday"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    run = subprocess.run(
        [str(FUNNELHOUSE), "serve", "vemetric", "--data", str(bad), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == (
        "Error: dataset bad.json: project 4232882524803099: events[3].createdAt: "
        "expected an ISO-8601 timestamp, got 'yesterday'"
    )
