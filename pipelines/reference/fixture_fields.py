"""Field readers shared by the reference servers' dataset loaders (Vemetric and EngageTrack).

A reader turns one JSON value of a fixture (or :data:`ABSENT` when the key is left out)
into the value the server keeps, or raises :class:`Bad` with a message; the caller adds
where the value was (:class:`FieldError`), and the loader adds the file and the project or
organization. The messages are part of the loaders' contract: tests assert them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipelines.reference.clock import parse_utc

ABSENT: Any = object()  # the key is not in the object (unlike an explicit null)


class Bad(Exception):
    """One value failed; the caller says where."""


class FieldError(Exception):
    """A field failed at ``where`` (a path inside the project or organization)."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: equal objects give equal text."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def identifier(value: Any) -> str:
    """A required non-empty string."""
    if isinstance(value, str) and value:
        return value
    if value is ABSENT:
        raise Bad("required field is missing")
    raise Bad(f"expected a non-empty string, got {shown(value)}")


def string(value: Any) -> str:
    """A string; left out or null reads as ``""``."""
    if value is ABSENT or value is None:
        return ""
    if not isinstance(value, str):
        raise Bad(f"expected a string, got {shown(value)}")
    return value


def nullable_string(value: Any) -> str | None:
    return None if value is ABSENT or value is None else string(value)


def flag(value: Any) -> bool:
    """A required boolean."""
    if isinstance(value, bool):
        return value
    if value is ABSENT:
        raise Bad("required field is missing")
    raise Bad(f"expected true or false, got {shown(value)}")


def flag_default_false(value: Any) -> bool:
    return False if value is ABSENT else flag(value)


def timestamp(value: Any) -> datetime:
    if value is ABSENT:
        raise Bad("required field is missing")
    if isinstance(value, str):
        try:
            return parse_utc(value)
        except ValueError:
            pass
    raise Bad(f"expected an ISO-8601 timestamp, got {shown(value)}")


def nullable_timestamp(value: Any) -> datetime | None:
    return None if value is ABSENT or value is None else timestamp(value)


def json_object(value: Any) -> str:
    """A JSON object, kept as canonical JSON text; left out or null reads as ``"{}"``."""
    if value is ABSENT or value is None:
        return "{}"
    if not isinstance(value, dict):
        raise Bad(f"expected a JSON object, got {shown(value)}")
    return canonical_json(value)


# --- reading objects and lists ----------------------------------------------------------------


def get(raw: dict[str, Any], name: str, convert: Callable[[Any], Any], where: str = "") -> Any:
    """``convert`` applied to ``raw[name]``; a failure is a FieldError at ``where + name``."""
    try:
        return convert(raw.get(name, ABSENT))
    except Bad as exc:
        raise FieldError(f"{where}{name}", str(exc)) from None


def as_list(value: Any, where: str, default_empty: bool = True) -> list[Any]:
    if value is ABSENT and default_empty:
        return []
    if not isinstance(value, list):
        raise FieldError(where, f"expected a list, got {shown(None if value is ABSENT else value)}")
    return value


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(where, f"expected an object, got {shown(value)}")
    return value


def json_rows(
    rows: Any,
    where: str,
    fields: dict[str, Callable[[Any], Any]],
    schema: dict[str, pl.DataType],
    check_row: Callable[[int, dict[str, list[Any]]], None] | None = None,
) -> pl.DataFrame:
    """A frame of ``schema`` from a JSON list of row objects, read field by field.

    ``check_row(index, columns)`` runs after each row is read (its values are last in
    ``columns``) for checks across fields.
    """
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    for index, row in enumerate(as_list(rows, where)):
        row = as_object(row, f"{where}[{index}]")
        for name, convert in fields.items():
            try:
                columns[name].append(convert(row.get(name, ABSENT)))
            except Bad as exc:
                raise FieldError(f"{where}[{index}].{name}", str(exc)) from None
        if check_row is not None:
            check_row(index, columns)
    return pl.DataFrame(columns, schema=schema)


def read_json(path: Path, label: str, error: type[Exception]) -> dict[str, Any]:
    """The fixture document at ``path``; ``error`` (the loader's DatasetError) if unusable."""
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise error(f"dataset {label}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise error(f"dataset {label}: expected a JSON object at the top level")
    return document


# --- parquet columns: each distinct value read once (generated data repeats a lot) ------------


def distinct_timestamps(texts: pl.Series) -> dict[str, datetime | None]:
    """Each distinct non-null text -> its UTC moment, or None if it is no ISO-8601 timestamp."""
    parsed: dict[str, datetime | None] = {}
    for text in texts.drop_nulls().unique():
        try:
            parsed[text] = parse_utc(text)
        except ValueError:
            parsed[text] = None
    return parsed


def distinct_json_objects(texts: pl.Series) -> dict[str, str | None]:
    """Each distinct non-null text -> canonical JSON, or None if it is no JSON object."""
    canonical: dict[str, str | None] = {}
    for text in texts.drop_nulls().unique():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        canonical[text] = canonical_json(value) if isinstance(value, dict) else None
    return canonical
