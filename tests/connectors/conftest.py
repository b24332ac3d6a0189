"""Connector tests run in-process: no real waits between retries, no shared pacing state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from pipelines.connectors.pacing import clear_budgets


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    # cap=True keeps each client's own attempt limits; only the sleeping is switched off.
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


@pytest.fixture(autouse=True)
def fresh_budgets() -> Iterator[None]:
    clear_budgets()
    yield
    clear_budgets()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEMETRIC_API_KEY", raising=False)
