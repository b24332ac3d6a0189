"""Dagster resources: the Vemetric API and the DuckDB warehouse, configured from the environment.

Variables (``.env.example`` lists them):

``VEMETRIC_API_KEY``      read-only API key; enters only through ``dg.EnvVar``, never logged
``VEMETRIC_BASE_URL``     API root (``https://api.vemetric.com``, or a reference server)
``ENGAGETRACK_API_KEY``   EngageTrack key with the six read scopes; only through ``dg.EnvVar``
``ENGAGETRACK_BASE_URL``  API root (``https://api.engagetrack.net/api/v1``, or a reference server)
``ENGAGETRACK_ORG_ID``    the organization the key belongs to
``ENGAGETRACK_SITE_ID``   the site to sync (may be left empty when the organization has one)
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
ENGAGETRACK_BASE_URL = "https://api.engagetrack.net/api/v1"
POOL = "duckdb_warehouse"  # every asset that writes the warehouse; dagster.yaml limits it to 1


class VemetricApi(dg.ConfigurableResource):
    """The Vemetric read API. One connector per process, so pacing and stats span the run.

    >>> VemetricApi(base_url="http://127.0.0.1:8000", api_key=dg.EnvVar("VEMETRIC_API_KEY"))
    """

    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, or a reference server")
    api_key: str = Field(description="Read-only key; set with dg.EnvVar('VEMETRIC_API_KEY')")
    page_size: int = Field(default=1000, description="Rows per page (the API allows 1 to 1000)")
    timeout: float = Field(default=30.0, description="Seconds per HTTP request")
    concurrency: int = Field(
        default=3, ge=1, description="Users whose events are fetched at once (one rate budget)")

    _connector: Any = PrivateAttr(default=None)

    def connector(self) -> Any:
        """The process's ``VemetricConnector`` (opened on first use)."""
        if self._connector is None:
            from pipelines.connectors.vemetric import VemetricConnector

            self._connector = VemetricConnector.connect(
                self.base_url, self.api_key, page_size=self.page_size, timeout=self.timeout,
                concurrency=self.concurrency,
            )
        return self._connector

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        close = getattr(self._connector, "close", None)
        if close is not None:
            close()
        self._connector = None


class EngageTrackApi(dg.ConfigurableResource):
    """The EngageTrack read API for one organization and site; one connector per process.

    >>> EngageTrackApi(base_url="http://127.0.0.1:8001/api/v1", org_id="org_1", site_id="site_1",
    ...                api_key=dg.EnvVar("ENGAGETRACK_API_KEY"))
    """

    base_url: str = Field(default=ENGAGETRACK_BASE_URL,
                          description="API root ending in /api/v1, or a reference server")
    api_key: str = Field(description="Read key; set with dg.EnvVar('ENGAGETRACK_API_KEY')")
    org_id: str = Field(description="Organization id (ENGAGETRACK_ORG_ID)")
    site_id: str = Field(default="", description="Site id; empty: the organization's only site")
    page_size: int = Field(default=100, description="Rows per page (the API allows 1 to 100)")
    timeout: float = Field(default=30.0, description="Seconds per HTTP request")

    _connector: Any = PrivateAttr(default=None)
    _site: str | None = PrivateAttr(default=None)

    def connector(self) -> Any:
        """The process's ``EngageTrackConnector`` (opened on first use)."""
        if self._connector is None:
            from pipelines.connectors.engagetrack import EngageTrackConnector

            self._connector = EngageTrackConnector.connect(
                self.base_url, self.api_key, self.org_id, page_size=self.page_size,
                timeout=self.timeout)
        return self._connector

    def site(self, sites: list[dict[str, Any]] | None = None) -> str:
        """The site to sync: ``site_id``, which must be one of ``sites`` (the organization's,
        listed when not given), or when empty the organization's only site."""
        if self._site is not None:
            return self._site
        listed = sites if sites is not None else self.connector().sites()
        self._site = self._chosen([str(s.get("id")) for s in listed])
        return self._site

    def _chosen(self, ids: list[str]) -> str:
        if self.site_id:
            if self.site_id not in ids:
                raise ValueError(f"site {self.site_id!r} is not in organization {self.org_id!r} "
                                 f"(its sites: {', '.join(ids) or 'none'})")
            return self.site_id
        if len(ids) != 1:
            raise ValueError(f"organization {self.org_id!r} has {len(ids)} sites "
                             f"({', '.join(ids) or 'none'}): set ENGAGETRACK_SITE_ID or --site")
        return ids[0]

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        close = getattr(self._connector, "close", None)
        if close is not None:
            close()
        self._connector, self._site = None, None


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
            "engagetrack": EngageTrackApi(
                base_url=dg.EnvVar("ENGAGETRACK_BASE_URL"),
                api_key=dg.EnvVar("ENGAGETRACK_API_KEY"),
                org_id=dg.EnvVar("ENGAGETRACK_ORG_ID"),
                site_id=dg.EnvVar("ENGAGETRACK_SITE_ID"),
            ),
            "warehouse": Warehouse(),
        }
    )
