"""Schemathesis against the served /openapi.json: no 5xx, every answer as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.reference.serving import ServerThread
from pipelines.reference.vemetric.app import create_app
from tests.reference.vemetric.surface import KEY, client, tiny

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PATHS = [
    "/v1/project", "/v1/analytics/query", "/v1/filters/values", "/v1/funnels", "/v1/funnels/{id}",
    "/v1/users", "/v1/users/single", "/v1/users/events",
]  # fmt: skip


def test_document_is_openapi_3_0_with_every_route():
    document = client().get("/openapi.json").json()
    assert document["openapi"] == "3.0.0"
    assert document["info"] == {
        "title": "Vemetric API",
        "version": "1.0.0",
        "description": "Privacy-first analytics API",
    }
    assert list(document["paths"]) == PATHS
    text = str(document)
    assert (
        "'type': 'null'" not in text and "prefixItems" not in text and "'const'" not in text
    )  # 3.1-only


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_or_undocumented_answers(tmp_path: Path):
    app = create_app(tiny(), rate_limit=10_000_000)
    schemathesis = Path(sys.executable).parent / "schemathesis"
    with ServerThread(app) as server:
        run = subprocess.run(
            [str(schemathesis), "run", f"{server.url}/openapi.json",
             "--header", f"Authorization: Bearer {KEY}",
             "--checks", CHECKS, "--max-examples", "15", "--generation-deterministic",
             "--workers", "1", "--no-color", "--max-failures", "5"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "8 selected / 8 total" in run.stdout
