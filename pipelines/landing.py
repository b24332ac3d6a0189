"""Landing raw API answers in DuckDB: page dicts to typed frames, staging, window replacement.

The rules every raw table follows:

- A page that does not have the API's shape (a missing field, a value of the wrong type, a
  non-object row) raises :class:`MalformedAnswer` before anything is written: a malformed
  answer is a failed run, never a partial load that looks complete.
- Rows are staged as parquet batches in a temporary directory while pages stream in, so memory
  stays flat however large the range; the warehouse is only opened at the end.
- A table's rows for the run's window are replaced by a delete and an insert in ONE
  transaction (:func:`replace_window`): a crash at any point leaves the previous state.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl

from pipelines.progress import Silent
from pipelines.progress import SyncObserver as Observer  # rows staged, requests to come

TIMESTAMP = pl.Datetime("ms", "UTC")
SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MILLIS_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"


class MalformedAnswer(ValueError):
    """An API answer without the documented shape; nothing from it is landed."""


@dataclass(frozen=True)
class Field:
    """One API field of a row and the column it lands in.

    ``kind`` is one of: ``str``, ``bool``, ``int``, ``float``, ``ts`` (second precision, as
    user and event times), ``ts_ms`` (with milliseconds, as project and funnel times),
    ``json`` (an object, stored as canonical JSON text: sorted keys, no spaces),
    ``json_array`` (an array, stored the same way) and
    ``str_list``. ``nullable`` says whether the API may send ``null``.
    """

    api: str
    column: str
    kind: str
    nullable: bool = False


_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "bool": pl.Boolean(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "ts": pl.String(),
    "ts_ms": pl.String(),
    "json": pl.String(),
    "json_array": pl.String(),
    "str_list": pl.List(pl.String()),
}


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the same object always gives the same text (and hash)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


Where = str | Callable[[int], tuple[str, int]]
"""Where rows came from, for error messages: a page's name, or for a batch of several pages a
function from a row's index in the batch to (its page's name, its index in that page)."""


def frame_from_rows(rows: Sequence[Any], fields: Sequence[Field], where: Where) -> pl.DataFrame:
    """Typed columns from API row dicts; raise :class:`MalformedAnswer` on any shape error."""
    columns = {f.column: _column(rows, f, where) for f in fields}
    return pl.DataFrame(columns, schema={f.column: column_dtype(f) for f in fields})


def column_dtype(f: Field) -> pl.DataType:
    return TIMESTAMP if f.kind in ("ts", "ts_ms") else _DTYPES[f.kind]


def _at(where: Where, index: int) -> str:
    if callable(where):
        page, row = where(index)
        return f"{page}: row {row}"
    return f"{where}: row {index}"


def _column(rows: Sequence[Any], f: Field, where: Where) -> pl.Series:
    values = _values(rows, f, where)
    if f.kind in ("json", "json_array"):
        values = [_json_text(v, i, f, where) for i, v in enumerate(values)]
    try:
        series = pl.Series(f.column, values, dtype=_DTYPES[f.kind], strict=True)
    except (TypeError, pl.exceptions.PolarsError) as exc:
        index, value = _first_odd(values, f)
        raise MalformedAnswer(
            f"{_at(where, index)}: expected {f.kind} '{f.api}', got {value!r:.80}") from exc
    if not f.nullable and series.null_count():
        index = series.is_null().arg_true()[0]
        raise MalformedAnswer(f"{_at(where, index)}: expected {f.kind} '{f.api}', got null")
    if f.kind in ("ts", "ts_ms"):
        series = _parse_times(series, f, where)
    return series


def _values(rows: Sequence[Any], f: Field, where: Where) -> list[Any]:
    try:
        return [row[f.api] for row in rows]
    except (KeyError, TypeError):
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise MalformedAnswer(
                    f"{_at(where, i)} is {type(row).__name__}, not an object") from None
            if f.api not in row:
                raise MalformedAnswer(f"{_at(where, i)} has no field '{f.api}'") from None
        raise


def _json_text(value: Any, index: int, f: Field, where: Where) -> str | None:
    if value is None and f.nullable:
        return None
    expected = dict if f.kind == "json" else list
    if not isinstance(value, expected):
        noun = "object" if expected is dict else "array"
        raise MalformedAnswer(f"{_at(where, index)}: expected {noun} '{f.api}', got {value!r:.80}")
    return canonical_json(value)


def _first_odd(values: list[Any], f: Field) -> tuple[int, Any]:
    python_type = {"str": str, "bool": bool, "int": int, "float": (int, float), "ts": str,
                   "ts_ms": str, "json": str, "json_array": str, "str_list": list}[f.kind]
    for i, value in enumerate(values):
        wrong_bool = isinstance(value, bool) and f.kind in ("int", "float")
        if value is not None and (wrong_bool or not isinstance(value, python_type)):
            return i, value
    return 0, values[0] if values else None


def _parse_times(series: pl.Series, f: Field, where: Where) -> pl.Series:
    # The API sends second precision for user/event times and milliseconds for project/funnel
    # times (vemetric-api.md §1); anything else (an offset, a date) is a malformed answer.
    fmt = SECONDS_FORMAT if f.kind == "ts" else MILLIS_FORMAT
    parsed = series.str.to_datetime(fmt, time_zone="UTC", strict=False)
    bad = (parsed.is_null() & series.is_not_null()).arg_true()
    if bad.len():
        index = bad[0]
        raise MalformedAnswer(
            f"{_at(where, index)}: '{f.api}' is not a UTC timestamp like {fmt}, got {series[index]!r}")
    return parsed.cast(TIMESTAMP)


@dataclass
class Stage:
    """Parquet batches of one table's rows, written as pages arrive (flat memory)."""

    name: str
    directory: Path
    schema: dict[str, pl.DataType]
    rows: int = 0
    files: list[Path] = field(default_factory=list)

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        target = self.directory / f"{self.name}-{len(self.files):05d}.parquet"
        frame.select(list(self.schema)).write_parquet(target)
        self.files.append(target)
        self.rows += frame.height

    def source(self) -> str:
        """A SQL table expression over the staged rows (typed even when nothing was staged)."""
        if not self.files:
            target = self.directory / f"{self.name}-empty.parquet"
            pl.DataFrame(schema=self.schema).write_parquet(target)
            self.files.append(target)
        listed = ", ".join(f"'{_sql_text(p)}'" for p in self.files)
        return f"read_parquet([{listed}])"


def create_view(conn: duckdb.DuckDBPyConnection, name: str, stage: Stage) -> None:
    """``name`` as a temporary view over a stage's rows, for the statements of one landing.

    ``conn.register`` of a polars frame would do the same, but it loads pyarrow (tens of MB
    of RSS and a second of import) where DuckDB reads the parquet files on its own."""
    conn.execute(f"create or replace temp view {name} as select * from {stage.source()}")


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def staging_dir(prefix: str = "funnelhouse-stage-") -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix)


def replace_window(
    conn: duckdb.DuckDBPyConnection,
    steps: Iterable[tuple[str, dict[str, Any]]],
) -> None:
    """Run ``(statement, params)`` steps (deletes then inserts) in one transaction."""
    conn.execute("begin transaction")
    try:
        for statement, params in steps:
            conn.execute(statement, params or None)
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")



# --- what every source's landing shares: the window, the result, progress, quarantine ----------

@dataclass(frozen=True)
class Window:
    """The days a run syncs, ``first`` to ``last`` inclusive (a Dagster partition key range)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    @property
    def days(self) -> list[Window]:
        count = (self.last - self.first).days + 1
        return [type(self)(self.first + timedelta(days=i), self.first + timedelta(days=i))
                for i in range(count)]

    def params(self) -> dict[str, date]:
        return {"first": self.first, "last": self.last}


@dataclass
class Landed:
    """What one landing call wrote: rows per table and quarantined rows per table."""

    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)


QUARANTINE_TABLE = """table_name varchar, checks varchar, reason varchar, raw varchar,
        date_from date, date_to date, quarantined_at timestamptz"""


def quarantine_steps(schema: str, tables: list[str], window: Window, *, synced_at: datetime,
                     snapshot: bool = False, scope: str = "",
                     scope_params: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Replace ``schema._quarantine``'s records of ``tables`` for the window with the registered
    ``bad`` frame (snapshot tables keep only the latest run's). ``scope`` narrows the delete
    further (a source's site, say) with its own ``scope_params``; ``bad`` must then carry the
    scope's columns."""
    names = ", ".join(f"'{t}'" for t in tables)
    dated = "" if snapshot else " and date_from >= $first and date_to <= $last"
    params = ({} if snapshot else window.params()) | (scope_params or {})
    return [
        (f"delete from {schema}._quarantine where table_name in ({names}){dated}{scope}", params),
        (f"""insert into {schema}._quarantine by name
             select *, $first as date_from, $last as date_to, $at as quarantined_at from bad""",
         {**window.params(), "at": synced_at}),
    ]


def quarantined_rows(conn: duckdb.DuckDBPyConnection, schema: str, table: str, window: Window,
                     *, snapshot: bool, scope: str = "",
                     scope_params: dict[str, Any] | None = None):
    """The quarantine records of ``table`` for exactly this window's ranges (a polars frame)."""
    dated = "" if snapshot else " and date_from >= $first and date_to <= $last"
    params = {"t": table} | ({} if snapshot else window.params()) | (scope_params or {})
    return conn.execute(
        f"select checks, reason, raw from {schema}._quarantine where table_name = $t{dated}{scope}"
        " order by checks, raw", params).pl()
