"""Report tests: no waits between delivery retries, no SMTP settings from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina

from tests.reports.smtp_server import Recorder, start
from tests.reports.warehouse_fixture import build_warehouse


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    # cap=True keeps each caller's own attempt limit; only the sleeping is switched off.
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "SENDER", "CA_FILE"):
        monkeypatch.delenv(f"FUNNELHOUSE_SMTP_{name}", raising=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    """A real SMTP server on 127.0.0.1 (plain, no login): the recorder and its port."""
    recorder = Recorder()
    controller = start(recorder)
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def report_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synced, modelled warehouse with a published snapshot (see warehouse_fixture)."""
    return build_warehouse(tmp_path_factory.mktemp("report_warehouse"))


@pytest.fixture(scope="session")
def report_dataset(report_warehouse: Path):
    """The dataset the warehouse was synced from, as the reference server serves it."""
    from pipelines.reference.vemetric.dataset import load_dataset

    return load_dataset(report_warehouse.parent / "dataset")
