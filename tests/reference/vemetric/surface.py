"""Shared setup for the Vemetric reference server's HTTP-surface tests."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import Dataset, load_dataset

with warnings.catch_warnings():
    # Starlette nudges towards httpx2; the TestClient still works with httpx 0.28.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TINY = Path(__file__).parents[2] / "fixtures" / "vemetric" / "tiny.json"
NOW = datetime(2026, 2, 17, 23, 59, 59, tzinfo=UTC)
PAID_PROJECT = "4232882524803099"
FREE_PROJECT = "9000000000000001"
KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
FREE_KEY = "vem_" + "freeplan" * 4
REVOKED_KEY = "vem_" + "revoked0" * 4
AUTH = {"Authorization": f"Bearer {KEY}"}
FREE_AUTH = {"Authorization": f"Bearer {FREE_KEY}"}
SIGNUP_FUNNEL = "550e8400-e29b-41d4-a716-446655440000"
PURCHASE_FUNNEL = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
FREE_FUNNEL = "0b7e2f7c-1d2e-4c3b-9a8f-7e6d5c4b3a21"


@functools.cache
def tiny() -> Dataset:
    """tiny.json, loaded once: apps only read it (query indexes are cached per project)."""
    return load_dataset(TINY)


def client(
    *,
    rate_limit: int = 100_000,
    clock: Callable[[], datetime] | None = None,
    now: datetime | None = None,
) -> TestClient:
    app = create_app(tiny(), now=now, rate_limit=rate_limit, clock=clock)
    return TestClient(app, base_url="http://vemetric.test", raise_server_exceptions=False)


def details(response) -> list[tuple[str, str]]:
    """A 400's validation details as (field, message) pairs."""
    assert response.status_code == 400, response.text
    body = response.json()["error"]
    assert (body["code"], body["message"]) == ("VALIDATION_ERROR", "Invalid request parameters")
    return [(d["field"], d["message"]) for d in body["details"]]


def error(response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]
