"""The two ceilings funnelhouse's sync is measured against.

- :func:`fetch_loop`, what the server allows: the Vemetric request pattern (the users active
  in the range, page by page, then each user's events, page by page, 1000 rows a page) with a
  plain ``httpx.Client``, each body thrown away after reading the one count that says whether
  another page follows. No typing, no validation, no warehouse.
- :func:`duckdb_load`, what DuckDB allows: the same event rows, already in memory as one
  polars frame, written to a DuckDB file by a single ``CREATE TABLE AS``.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import httpx
import orjson

from pipelines.connectors.vemetric import MAX_PAGE_SIZE, date_range

# The reference server answers {"period": ..., "pagination": {...,"returned":N}, "events": ...}:
# the count sits in the first bytes, so the loop need not parse the rows to page on.
RETURNED = re.compile(rb'"returned"\s*:\s*(\d+)')
HEAD_BYTES = 400


def fetch_loop(url: str, key: str, first: date, last: date,
               page_size: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """Fetch every page the sync of ``first``..``last`` reads; return (events, requests)."""
    span = date_range(first, last)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60.0) as http:
        users, requests = _user_ids(http, span, page_size)
        events = 0
        for user_id in users:
            rows, made = _page_through(http, "/v1/users/events", {"id": user_id}, span, page_size)
            events += rows
            requests += made
    return events, requests


def _user_ids(http: httpx.Client, span: list[str], page_size: int) -> tuple[list[str], int]:
    """The ids of the users active in the range (the only bodies the loop must read)."""
    ids: list[str] = []
    requests = 0
    while True:
        body = {"dateRange": span, "limit": page_size, "offset": len(ids)}
        page = orjson.loads(_post(http, "/v1/users", {}, body))["users"]
        requests += 1
        ids.extend(user["id"] for user in page)
        if len(page) < page_size:
            return ids, requests


def _page_through(http: httpx.Client, path: str, params: dict, span: list[str],
                  page_size: int) -> tuple[int, int]:
    """Page one listing to its short page; return (rows, requests)."""
    rows = requests = 0
    while True:
        body = {"dateRange": span, "limit": page_size, "offset": rows}
        returned = _returned(_post(http, path, params, body))
        rows += returned
        requests += 1
        if returned < page_size:
            return rows, requests


def _post(http: httpx.Client, path: str, params: dict, body: dict) -> bytes:
    response = http.post(path, params=params, content=orjson.dumps(body),
                         headers={"Content-Type": "application/json"})
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params}: HTTP {response.status_code}: {response.text[:300]}")
    return response.content


def _returned(content: bytes) -> int:
    """``pagination.returned`` from the head of the body; a full parse if it is not there."""
    found = RETURNED.search(content, 0, HEAD_BYTES)
    if found is not None:
        return int(found.group(1))
    return int(orjson.loads(content)["pagination"]["returned"])


def events_frame(data: Path, first: date, last: date):
    """The dataset's events in ``first``..``last`` as the API sends them (camelCase, one
    polars frame): the rows the syncs land, already in memory."""
    import polars as pl

    from pipelines.connectors.vemetric import date_range as span_of
    from pipelines.reference.clock import parse_utc

    start, end = (parse_utc(moment) for moment in span_of(first, last))
    return (
        pl.scan_parquet(data / "events.parquet")
        .filter(pl.col("createdAt").is_between(start, end, closed="left"))
        .select("userId", "sessionId", "name", "isPageView", "createdAt", "origin",
                pl.col("pathname").alias("path"), pl.col("urlHash").alias("hash"),
                pl.col("customData").alias("data"))
        .collect()
    )


def duckdb_load(frame, out: Path) -> tuple[float, int]:
    """Write ``frame`` to a new DuckDB file at ``out`` in one statement; (seconds, rows)."""
    import duckdb

    began = time.perf_counter()
    conn = duckdb.connect(str(out))
    try:
        conn.register("incoming", frame)
        conn.execute("create table user_events as select * from incoming")
        rows = conn.execute("select count(*) from user_events").fetchone()[0]
    finally:
        conn.close()  # the close checkpoints the table to disk: part of the load
    return time.perf_counter() - began, rows
