"""Dagster resources: the Vemetric API and the DuckDB warehouse, configured from the environment.

Variables (``.env.example`` lists them):

``VEMETRIC_API_KEY``      read-only API key; enters only through ``dg.EnvVar``, never logged
``VEMETRIC_BASE_URL``     API root (``https://api.vemetric.com``, or a reference server)
``FUNNELHOUSE_WAREHOUSE`` warehouse file (default ``.funnelhouse/warehouse.duckdb``)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from pipelines import warehouse

DEFAULT_BASE_URL = "https://api.vemetric.com"
POOL = "duckdb_warehouse"  # every asset that writes the warehouse; dagster.yaml limits it to 1


class VemetricApi(dg.ConfigurableResource):
    """The Vemetric read API. One connector per process, so pacing and stats span the run.

    >>> VemetricApi(base_url="http://127.0.0.1:8000", api_key=dg.EnvVar("VEMETRIC_API_KEY"))
    """

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, or a reference server")
    api_key: str = Field(description="Read-only key; set with dg.EnvVar('VEMETRIC_API_KEY')")
    page_size: int = Field(default=1000, description="Rows per page (the API allows 1 to 1000)")
    timeout: float = Field(default=30.0, description="Seconds per HTTP request")

    _connector: Any = PrivateAttr(default=None)

    def connector(self) -> Any:
        """The process's ``VemetricConnector`` (opened on first use)."""
        if self._connector is None:
            from pipelines.connectors.vemetric import VemetricConnector

            self._connector = VemetricConnector.connect(
                self.base_url, self.api_key, page_size=self.page_size, timeout=self.timeout
            )
        return self._connector

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        close = getattr(self._connector, "close", None)
        if close is not None:
            close()
        self._connector = None


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file. Writers open short ``with`` connections inside the pool."""

    path: str = Field(
        default="",
        description="DuckDB file; empty means $FUNNELHOUSE_WAREHOUSE or .funnelhouse/warehouse.duckdb",
    )

    def resolved(self) -> Path:
        """The file, with the environment read at run time (not at import)."""
        return Path(self.path) if self.path else warehouse.default_path()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with warehouse.writer(self.resolved()) as conn:
            yield conn

    def publish(self) -> Path:
        return warehouse.publish_snapshot(self.resolved())


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "vemetric": VemetricApi(
                base_url=dg.EnvVar("VEMETRIC_BASE_URL"), api_key=dg.EnvVar("VEMETRIC_API_KEY")
            ),
            "warehouse": Warehouse(),
        }
    )
