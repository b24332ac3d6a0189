"""The tiny EngageTrack fixture served in-process (no socket), with its keys by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import Dataset, load_dataset

TINY = Path(__file__).parents[2] / "fixtures" / "engagetrack" / "tiny.json"
KEYS = {
    "sync": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0001",  # the six read scopes
    "report": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0002",  # analytics:read, sites:read
    "writer": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0003",  # reads + funnels/goals/annotations:write
    "expired": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0004",
    "revoked": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0005",
    "maker": "et_live_6b2f6b2f6b2f6b2f6b2f6b2f6b2f0001",
}
ORG = "/api/v1/organizations/org_acme"
SHOP = ORG + "/sites/site_shop"


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS.get(name, name)}"}


@pytest.fixture(scope="session")
def tiny() -> Dataset:
    return load_dataset(TINY)


@pytest.fixture
def http(tiny: Dataset) -> Iterator[TestClient]:
    with TestClient(create_app(tiny), base_url="http://engagetrack.test") as client:
        yield client
