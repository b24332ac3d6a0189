"""dlt's ``rest_api`` source for the endpoints funnelhouse's sync pages: the benchmark peer.

What an engineer would otherwise write for Vemetric with dlt 1.31 (stack.md §6), configured as
well as dlt's docs allow:

- two resources: ``users`` (``POST /v1/users``, the users active in the range) and
  ``user_events`` (``POST /v1/users/events?id={resources.users.id}``, each listed user's
  events), the second a dependent resource that keeps the user's id (``include_from_parent``);
- an explicit paginator on each, never auto-detection (stack.md §6.3), with the same page
  size as funnelhouse (1000, the API's largest), offset and limit in the JSON body. Vemetric
  sends no total, so dlt's ``OffsetPaginator`` alone could only stop on an empty page: one
  extra request per user. The docs' way out is a paginator subclass; :class:`ShortPageOffset`
  stops on a short page, exactly like funnelhouse, so both make the same requests;
- loaded into a DuckDB file, either with dlt's default loader (insert statements) or with
  ``loader_file_format="parquet"``, the fastest configuration dlt documents.

    events, requests = run_dlt(url, key, first, last, workdir, file_format="parquet")
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

# No internet here, and a benchmark must not phone home: dlt's telemetry off before import.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

from pipelines.connectors.vemetric import MAX_PAGE_SIZE, date_range  # noqa: E402

FILE_FORMATS = ("default", "parquet")
DATASET = "raw_vemetric"


class ShortPageOffset(OffsetPaginator):
    """dlt's offset paginator (offset and limit in the JSON body) that also stops on a page
    shorter than the limit; counts every response it sees into ``ShortPageOffset.responses``
    (dlt copies paginators per parent item, so the count lives on the class)."""

    responses = 0

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, total_path=None, offset_body_path="offset",
                         limit_body_path="limit", stop_after_empty_page=True)

    def update_state(self, response: Any, data: list[Any] | None = None) -> None:
        ShortPageOffset.responses += 1
        if data is not None and len(data) < self.limit:
            self._has_next_page = False
            return
        super().update_state(response, data)


def vemetric_source(url: str, key: str, first: date, last: date,
                    page_size: int = MAX_PAGE_SIZE) -> Any:
    """The ``rest_api`` source: users of the range, then each user's events in the range."""
    span = date_range(first, last)
    return rest_api_source({
        "client": {"base_url": url, "auth": {"type": "bearer", "token": key}},
        "resources": [
            {
                "name": "users",
                "endpoint": {"path": "/v1/users", "method": "POST", "json": {"dateRange": span},
                             "data_selector": "users", "paginator": ShortPageOffset(page_size)},
            },
            {
                "name": "user_events",
                "endpoint": {"path": "/v1/users/events", "method": "POST",
                             "params": {"id": "{resources.users.id}"},
                             "json": {"dateRange": span}, "data_selector": "events",
                             "paginator": ShortPageOffset(page_size)},
                "include_from_parent": ["id"],
            },
        ],
    })


def run_dlt(url: str, key: str, first: date, last: date, workdir: Path,
            file_format: str = "default") -> tuple[int, int]:
    """Run the pipeline into ``workdir/dlt.duckdb``; return (events loaded, requests made)."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name="vemetric_bench",
        destination=dlt.destinations.duckdb(str(workdir / "dlt.duckdb")),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "dlt-pipelines"),
    )
    ShortPageOffset.responses = 0
    loader = None if file_format == "default" else file_format
    pipeline.run(vemetric_source(url, key, first, last), loader_file_format=loader)
    with pipeline.sql_client() as client:
        events = client.execute_sql(f"select count(*) from {DATASET}.user_events")[0][0]
    return int(events), ShortPageOffset.responses
