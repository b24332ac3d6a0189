"""The dataset an EngageTrack reference server serves, and its on-disk format.

EngageTrack names everything in snake_case (``first_seen_at``, ``expires_at``), so the
fixture does too. A dataset is a JSON file (small, hand-written) or a directory (generated)::

    {
      "api": "engagetrack",
      "now": "2026-02-17T23:59:59Z",                      # optional: freezes the clock
      "users": [                                           # dashboard users (for login)
        {"id": "usr_1", "email": "ana@example.com", "name": "Ana", "password": "correct horse"}
      ],
      "organizations": [
        {"id": "org_1", "name": "Acme", "plan": "startup",   # maker | startup | agency
         "members": ["usr_1"],
         "api_keys": [
           {"id": "key_1", "name": "Warehouse", "key": "et_live_<32 hex>",
            "scopes": ["analytics:read", "sites:read"], "created_at": "...",
            "expires_at": null, "revoked_at": null}
         ],
         "sites": [
           {"id": "site_1", "name": "Acme", "domain": "acme.test", "timezone": "UTC",
            "public_id": "pk_live_...", "created_at": "...",
            "goals": [{"id": "goal_1", "name": "Signed up", "type": "custom_event",
                       "pattern": "signup", "match_type": "exact", "archived": false,
                       "created_at": "..."}],
            "funnels": [{"id": "fun_1", "name": "Signup", "description": "",
                         "steps": [{"id": "st_1", "name": "Home", "order": 1,
                                    "type": "pageview", "pattern": "/", "match_type": "exact"}],
                         "created_at": "...", "updated_at": "..."}],
            "annotations": [{"id": "ann_1", "date": "2026-02-01", "text": "Launch",
                             "created_at": "..."}],
            "visitors": [{"id": "v_1", "uid": "c0ffee", "email": null, "name": null,
                          "avatar_url": null, "external_id": null}],
            "events": [{"id": "evt_1", "visitor_id": "v_1", "session_id": "s_1",
                        "type": "pageview", "name": "", "timestamp": "...", "path": "/",
                        "title": "", "referrer": "", "referrer_source": "Direct",
                        "channel": "Direct", "utm_source": "", "utm_medium": "",
                        "utm_campaign": "", "country": "US", "city": "", "browser": "Chrome",
                        "os": "macOS", "device": "desktop", "revenue": 0, "currency": "",
                        "properties": {}}]}
         ]}
      ]
    }

Rules:

- Event fields other than ``visitor_id``, ``session_id`` and ``timestamp`` may be left out:
  ``type`` defaults to ``pageview``, ``referrer_source`` and ``channel`` to ``Direct``, other
  strings to ``""``, ``revenue`` to 0, ``properties`` to ``{}``; ``id`` defaults to
  ``evt_<n>`` (its 1-based position in the site's list). A ``custom`` event needs a ``name``.
- ``visitors`` may be left out or partial: a visitor with events but no row gets one with
  ``uid`` = its id and no email, name, avatar or external id.
- Keys are given raw (``et_live_`` + 32 lowercase hex) and kept only as SHA-256; passwords
  likewise. Scopes come from the seed's table; write scopes do not imply read.
- Directory layout: ``PATH/fixture.json`` (the document above with ``visitors`` and
  ``events`` left out), ``PATH/events.parquet`` and optionally ``PATH/visitors.parquet``
  (the same fields plus ``site_id``). ``funnelhouse generate engagetrack`` writes it.
- An invalid file is refused with a message naming the organization, the site and the field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.reference.fixture_fields import ABSENT as _ABSENT
from pipelines.reference.fixture_fields import Bad as _Bad
from pipelines.reference.fixture_fields import FieldError as _Where
from pipelines.reference.fixture_fields import as_list as _list
from pipelines.reference.fixture_fields import as_object as _object
from pipelines.reference.fixture_fields import canonical_json as canonical_json
from pipelines.reference.fixture_fields import distinct_json_objects, distinct_timestamps
from pipelines.reference.fixture_fields import flag_default_false as _flag
from pipelines.reference.fixture_fields import get as _get
from pipelines.reference.fixture_fields import identifier as _id
from pipelines.reference.fixture_fields import json_object as _json_object
from pipelines.reference.fixture_fields import json_rows, read_json
from pipelines.reference.fixture_fields import nullable_string as _nullable
from pipelines.reference.fixture_fields import nullable_timestamp as _nullable_timestamp
from pipelines.reference.fixture_fields import shown as _shown
from pipelines.reference.fixture_fields import string as _string
from pipelines.reference.fixture_fields import timestamp as _timestamp

__all__ = [
    "ApiKey", "Dataset", "DatasetError", "EVENT_SCHEMA", "EVENT_TYPES", "KEY_PATTERN",
    "MATCH_TYPES", "Organization", "PLANS", "SCOPES", "Site", "User", "VISITOR_SCHEMA",
    "hash_secret", "load_dataset",
]  # fmt: skip

TIMESTAMP = pl.Datetime("ms", "UTC")
PLANS = ("maker", "startup", "agency")
SCOPES = (
    "analytics:read", "sites:read", "goals:read", "goals:write", "funnels:read",
    "funnels:write", "annotations:read", "annotations:write", "visitors:read",
)  # fmt: skip
EVENT_TYPES = ("pageview", "click", "form_submit", "download", "outbound", "purchase", "custom")
MATCH_TYPES = ("exact", "contains", "regex")
STEP_TYPES = ("pageview", "custom_event")
KEY_PATTERN = re.compile(r"et_live_[0-9a-f]{32}")

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "visitor_id": pl.String(), "session_id": pl.String(),
    "type": pl.String(), "name": pl.String(), "timestamp": TIMESTAMP, "path": pl.String(),
    "title": pl.String(), "referrer": pl.String(), "referrer_source": pl.String(),
    "channel": pl.String(), "utm_source": pl.String(), "utm_medium": pl.String(),
    "utm_campaign": pl.String(), "country": pl.String(), "city": pl.String(),
    "browser": pl.String(), "os": pl.String(), "device": pl.String(),
    "revenue": pl.Float64(), "currency": pl.String(),
    "properties": pl.String(),  # canonical JSON text (sorted keys, no spaces), "{}" if none
}  # fmt: skip
VISITOR_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "uid": pl.String(), "email": pl.String(), "name": pl.String(),
    "avatar_url": pl.String(), "external_id": pl.String(),
}  # fmt: skip
DEFAULTS = {"type": "pageview", "referrer_source": "Direct", "channel": "Direct"}


class DatasetError(ValueError):
    """A dataset that cannot be served; the message names the organization, site and field."""


def hash_secret(secret: str) -> str:
    """SHA-256 hex: how keys, passwords and session tokens are held."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str


@dataclass
class ApiKey:
    id: str
    name: str
    key_hash: str
    last4: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    organization_id: str = ""


@dataclass
class Site:
    id: str
    name: str
    domain: str
    timezone: str
    public_id: str
    created_at: datetime
    goals: list[dict[str, Any]]
    funnels: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    visitors: pl.DataFrame  # VISITOR_SCHEMA, one row per visitor id
    events: pl.DataFrame  # EVENT_SCHEMA, sorted by timestamp
    cache: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Organization:
    id: str
    name: str
    plan: str
    members: list[str]
    api_keys: list[ApiKey]
    sites: dict[str, Site]


@dataclass
class Dataset:
    api: str
    now: datetime | None
    users: dict[str, User]
    organizations: dict[str, Organization]


# --- field converters (the shared ones are in pipelines/reference/fixture_fields.py) ---------


def _day(value: Any) -> str:
    try:
        return date.fromisoformat(_id(value)).isoformat()
    except ValueError:
        raise _Bad(f"expected a date YYYY-MM-DD, got {_shown(value)}") from None


def _one_of(choices: tuple[str, ...], default: str | None = None) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value is _ABSENT and default is not None:
            return default
        if value not in choices:
            raise _Bad(f"expected one of {', '.join(choices)}, got {_shown(value)}")
        return value

    return convert


def _money(value: Any) -> float:
    if value is _ABSENT or value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _Bad(f"expected a number >= 0, got {_shown(value)}")
    return float(value)


def _defaulted(name: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        return DEFAULTS[name] if value is _ABSENT or value is None else _string(value)

    return convert


EVENT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _nullable, "visitor_id": _id, "session_id": _id,
    "type": _one_of(EVENT_TYPES, default="pageview"), "name": _string, "timestamp": _timestamp,
    "path": _string, "title": _string, "referrer": _string,
    "referrer_source": _defaulted("referrer_source"), "channel": _defaulted("channel"),
    **{c: _string for c in ("utm_source", "utm_medium", "utm_campaign", "country", "city",
                            "browser", "os", "device")},
    "revenue": _money, "currency": _string, "properties": _json_object,
}  # fmt: skip
VISITOR_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _id, "uid": _nullable, "email": _nullable, "name": _nullable,
    "avatar_url": _nullable, "external_id": _nullable,
}  # fmt: skip
assert list(EVENT_FIELDS) == list(EVENT_SCHEMA) and list(VISITOR_FIELDS) == list(VISITOR_SCHEMA)


def _objects(raw: Any, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of the list ``name`` (left out: none), each with its prefix ``name[i].``."""
    for index, item in enumerate(_list(raw, name)):
        yield f"{name}[{index}].", _object(item, f"{name}[{index}]")


def _unique(items: list[dict[str, Any]], where: str) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item["id"] in seen:
            raise _Where(f"{where}[{index}].id", f"duplicate id {item['id']!r}")
        seen.add(item["id"])


# --- loading ---------------------------------------------------------------------------------


def load_dataset(path: Path) -> Dataset:
    """Load and validate a dataset file or directory; :class:`DatasetError` names the field.

    >>> sorted(load_dataset(Path("tests/fixtures/engagetrack/tiny.json")).organizations)
    ['org_acme', 'org_maker']
    """
    path = Path(path)
    if path.is_dir():
        fixture = path / "fixture.json"
        if not fixture.is_file():
            raise DatasetError(f"dataset {path.name}: missing fixture.json")
        rows = _parquet_rows(path)
        return _build(read_json(fixture, path.name, DatasetError), path.name, rows)
    if not path.is_file():
        raise DatasetError(f"dataset {path}: no such file or directory")
    return _build(read_json(path, path.name, DatasetError), path.name, None)


Rows = dict[str, dict[str, pl.DataFrame]]  # site id -> {"events": ..., "visitors": ...}


def _build(document: dict[str, Any], label: str, rows: Rows | None) -> Dataset:
    def top(where: str, exc: Exception) -> DatasetError:
        return DatasetError(f"dataset {label}: {where}{exc}")

    if document.get("api") != "engagetrack":
        raise top("api: ", _Bad(f"expected 'engagetrack', got {_shown(document.get('api'))}"))
    try:
        now = _get(document, "now", _nullable_timestamp)
        users = _users(document.get("users", _ABSENT))
        raw_orgs = _list(document.get("organizations", _ABSENT), "organizations", False)
    except _Where as exc:
        raise top("", exc) from None
    organizations: dict[str, Organization] = {}
    for index, raw in enumerate(raw_orgs):
        org = _organization(raw, index, label, rows, users)
        if org.id in organizations:
            raise top(f"organization {org.id}: ", _Bad("id: duplicate organization id"))
        organizations[org.id] = org
    _check_keys_unique(organizations, label)
    if rows is not None:
        known = {s for org in organizations.values() for s in org.sites}
        unknown = sorted(set(rows) - known)
        if unknown:
            raise top("events.parquet: site_id: ", _Bad(f"no site {unknown[0]!r} in fixture.json"))
    return Dataset("engagetrack", now, users, organizations)


def _users(raw: Any) -> dict[str, User]:
    users: dict[str, User] = {}
    for index, (where, item) in enumerate(_objects(raw, "users")):
        user = User(
            id=_get(item, "id", _id, where),
            email=_get(item, "email", _id, where).lower(),
            name=_get(item, "name", _string, where),
            password_hash=hash_secret(_get(item, "password", _id, where)),
        )
        if user.id in users or any(u.email == user.email for u in users.values()):
            raise _Where(f"users[{index}]", f"duplicate user id or email {user.email!r}")
        users[user.id] = user
    return users


def _organization(raw: Any, index: int, label: str, rows: Rows | None,
                  users: dict[str, User]) -> Organization:
    if not isinstance(raw, dict):
        raise DatasetError(f"dataset {label}: organizations[{index}]: expected an object")
    try:
        org_id = _get(raw, "id", _id)
    except _Where as exc:
        raise DatasetError(f"dataset {label}: organizations[{index}].{exc}") from None
    try:
        members = [m if isinstance(m, str) and m in users else _fail_member(m)
                   for m in _list(raw.get("members", _ABSENT), "members")]
        sites = {}
        for site_index, item in enumerate(_list(raw.get("sites", _ABSENT), "sites")):
            site = _site(item, site_index, rows)
            if site.id in sites:
                raise _Where(f"sites[{site_index}].id", f"duplicate site id {site.id!r}")
            sites[site.id] = site
        return Organization(
            id=org_id,
            name=_get(raw, "name", _id),
            plan=_get(raw, "plan", _one_of(PLANS)),
            members=members,
            api_keys=_api_keys(raw.get("api_keys", _ABSENT), org_id),
            sites=sites,
        )
    except _Where as exc:
        raise DatasetError(f"dataset {label}: organization {org_id}: {exc}") from None
    except _Bad as exc:
        raise DatasetError(f"dataset {label}: organization {org_id}: members: {exc}") from None


def _fail_member(value: Any) -> str:
    raise _Bad(f"no user {_shown(value)} in users")


def _scopes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad(f"expected a list of scopes, got {_shown(value)}")
    unknown = [s for s in value if s not in SCOPES]
    if unknown:
        raise _Bad(f"unknown scope {_shown(unknown[0])}; expected some of {', '.join(SCOPES)}")
    return tuple(dict.fromkeys(value))


def _raw_key(value: Any) -> str:
    key = _id(value)
    if not KEY_PATTERN.fullmatch(key):
        raise _Bad("expected 'et_live_' followed by 32 lowercase hex characters")
    return key


def _api_keys(raw: Any, org_id: str) -> list[ApiKey]:
    keys = []
    for where, item in _objects(raw, "api_keys"):
        key = _get(item, "key", _raw_key, where)
        keys.append(ApiKey(
            id=_get(item, "id", _id, where), name=_get(item, "name", _string, where),
            key_hash=hash_secret(key), last4=key[-4:], scopes=_get(item, "scopes", _scopes, where),
            created_at=_get(item, "created_at", _timestamp, where),
            expires_at=_get(item, "expires_at", _nullable_timestamp, where),
            revoked_at=_get(item, "revoked_at", _nullable_timestamp, where),
            organization_id=org_id,
        ))  # fmt: skip
    _unique([{"id": k.id} for k in keys], "api_keys")
    return keys


def _site(raw: Any, index: int, rows: Rows | None) -> Site:
    at = f"sites[{index}]"
    raw = _object(raw, at)
    site_id = _get(raw, "id", _id, f"{at}.")
    where = f"site {site_id}: "
    try:
        if rows is None:
            events = json_rows(raw.get("events", _ABSENT), "events", EVENT_FIELDS, EVENT_SCHEMA,
                               _check_custom_name)
            visitors = json_rows(raw.get("visitors", _ABSENT), "visitors", VISITOR_FIELDS,
                                 VISITOR_SCHEMA)
        else:
            for name in ("events", "visitors"):
                if name in raw:
                    raise _Where(name, f"leave it out of fixture.json: rows go in {name}.parquet")
            events = rows.get(site_id, {}).get("events", pl.DataFrame(schema=EVENT_SCHEMA))
            visitors = rows.get(site_id, {}).get("visitors", pl.DataFrame(schema=VISITOR_SCHEMA))
        events, visitors = _finish_rows(events, visitors)
        return Site(
            id=site_id, name=_get(raw, "name", _id), domain=_get(raw, "domain", _id),
            timezone=_get(raw, "timezone", _defaulted_utc),
            public_id=_get(raw, "public_id", _string), created_at=_get(raw, "created_at", _timestamp),
            goals=_goals(raw.get("goals", _ABSENT)), funnels=_funnels(raw.get("funnels", _ABSENT)),
            annotations=_annotations(raw.get("annotations", _ABSENT)),
            visitors=visitors, events=events,
        )  # fmt: skip
    except _Where as exc:
        raise _Where(f"{where}{exc.where}", exc.message) from None


def _defaulted_utc(value: Any) -> str:
    return "UTC" if value is _ABSENT or value is None else _id(value)


def _pattern(item: dict[str, Any], where: str) -> tuple[str, str]:
    pattern = _get(item, "pattern", _id, where)
    match_type = _get(item, "match_type", _one_of(MATCH_TYPES, default="contains"), where)
    if match_type == "regex":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _Where(f"{where}pattern", f"not a valid regular expression: {exc}") from None
    return pattern, match_type


def _goals(raw: Any) -> list[dict[str, Any]]:
    goals = []
    for where, item in _objects(raw, "goals"):
        pattern, match_type = _pattern(item, where)
        goals.append({
            "id": _get(item, "id", _id, where), "name": _get(item, "name", _id, where),
            "type": _get(item, "type", _one_of(STEP_TYPES, default="pageview"), where),
            "pattern": pattern, "match_type": match_type,
            "archived": _get(item, "archived", _flag, where),
            "created_at": _get(item, "created_at", _timestamp, where),
        })  # fmt: skip
    _unique(goals, "goals")
    return goals


def _funnels(raw: Any) -> list[dict[str, Any]]:
    funnels = []
    for where, item in _objects(raw, "funnels"):
        funnels.append({
            "id": _get(item, "id", _id, where), "name": _get(item, "name", _id, where),
            "description": _get(item, "description", _string, where),
            "steps": _steps(item.get("steps", _ABSENT), f"{where}steps"),
            "created_at": _get(item, "created_at", _timestamp, where),
            "updated_at": _get(item, "updated_at", _timestamp, where),
        })  # fmt: skip
    _unique(funnels, "funnels")
    return funnels


def _steps(raw: Any, where: str) -> list[dict[str, Any]]:
    steps = []
    for index, item in enumerate(_list(raw, where, False)):
        at = f"{where}[{index}]."
        item = _object(item, f"{where}[{index}]")
        pattern, match_type = _pattern(item, at)
        order = item.get("order", index + 1)
        if order != index + 1:
            raise _Where(f"{at}order", f"expected {index + 1} (steps are listed in order), "
                                       f"got {_shown(order)}")
        steps.append({"id": _get(item, "id", _id, at), "name": _get(item, "name", _string, at),
                      "order": order,
                      "type": _get(item, "type", _one_of(STEP_TYPES, default="pageview"), at),
                      "pattern": pattern, "match_type": match_type})
    if len(steps) < 2:
        raise _Where(where, "a funnel needs at least 2 steps")
    return steps


def _annotations(raw: Any) -> list[dict[str, Any]]:
    notes = []
    for where, item in _objects(raw, "annotations"):
        notes.append({"id": _get(item, "id", _id, where), "date": _get(item, "date", _day, where),
                      "text": _get(item, "text", _id, where),
                      "created_at": _get(item, "created_at", _timestamp, where)})
    _unique(notes, "annotations")
    return notes


def _check_custom_name(index: int, columns: dict[str, list[Any]]) -> None:
    if columns["type"][-1] == "custom" and not columns["name"][-1]:
        raise _Where(f"events[{index}].name", "a custom event needs a name")


def _finish_rows(events: pl.DataFrame, visitors: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Default event ids, check ids are unique, add visitor rows for unlisted visitors."""
    events = events.with_columns(
        pl.col("id").fill_null(pl.format("evt_{}", pl.int_range(1, pl.len() + 1)))
    )
    for frame, name in ((events, "events"), (visitors, "visitors")):
        duplicated = frame.filter(pl.col("id").is_duplicated())
        if duplicated.height:
            raise _Where(f"{name}.id", f"duplicate id {duplicated['id'][0]!r}")
    missing = events.select(pl.col("visitor_id").unique(maintain_order=True).alias("id")).join(
        visitors.select("id"), on="id", how="anti"
    )
    extra = missing.with_columns(uid=pl.col("id")).with_columns(
        [pl.lit(None, pl.String).alias(c) for c in ("email", "name", "avatar_url", "external_id")]
    )
    visitors = pl.concat([visitors, extra.select(list(VISITOR_SCHEMA))])
    visitors = visitors.with_columns(pl.col("uid").fill_null(pl.col("id")))
    return events.sort("timestamp", maintain_order=True), visitors


def _check_keys_unique(organizations: dict[str, Organization], label: str) -> None:
    owners: dict[str, str] = {}
    for org in organizations.values():
        for key in org.api_keys:
            if key.key_hash in owners:
                raise DatasetError(f"dataset {label}: organization {org.id}: api_keys: key "
                                   f"{key.id!r} is also given to organization {owners[key.key_hash]}")
            owners[key.key_hash] = org.id


# --- the directory layout --------------------------------------------------------------------


def _parquet_rows(path: Path) -> Rows:
    rows: Rows = {}
    for name, fields in (("events", EVENT_FIELDS), ("visitors", VISITOR_FIELDS)):
        file = path / f"{name}.parquet"
        if not file.is_file():
            if name == "events":
                raise DatasetError(f"dataset {path.name}: missing events.parquet")
            continue
        frame = _checked_parquet(file, path.name, name)
        for (site_id,), part in frame.partition_by("site_id", as_dict=True).items():
            rows.setdefault(site_id, {})[name] = part.drop("site_id")
    return rows


def _checked_parquet(file: Path, label: str, name: str) -> pl.DataFrame:
    """Bring a parquet file to the schema; the first bad row is named with its site."""
    try:
        frame = pl.read_parquet(file)
    except Exception as exc:  # polars raises several types for a corrupt or foreign file
        raise DatasetError(f"dataset {label}: {file.name}: cannot read parquet: {exc}") from None
    schema = EVENT_SCHEMA if name == "events" else VISITOR_SCHEMA
    required = ("site_id", "visitor_id", "session_id", "timestamp") if name == "events" \
        else ("site_id", "id")
    for column in required:
        if column not in frame.columns:
            raise DatasetError(f"dataset {label}: {file.name}: missing column {column!r}")
    frame = frame.with_row_index("_row")
    checked = []
    for column, dtype in {"site_id": pl.String(), **schema}.items():
        checked.append(_checked_column(frame, column, dtype, name, label, file.name))
    return pl.concat([frame.select("_row"), *[c.to_frame() for c in checked]], how="horizontal") \
        .drop("_row")


def _checked_column(frame: pl.DataFrame, column: str, dtype: pl.DataType, table: str,
                    label: str, file: str) -> pl.Series:
    if column not in frame.columns:
        default = DEFAULTS.get(column, 0.0 if dtype == pl.Float64 else
                               "{}" if column == "properties" else "")
        nullable = table == "visitors" or column == "id"
        return pl.Series(column, [None if nullable else default] * frame.height, dtype=dtype)
    source = frame[column]
    if dtype == TIMESTAMP:
        converted = _timestamps(source)
    elif column == "properties":
        converted = _json_texts(source)
    else:
        converted = source.cast(dtype, strict=False)
    bad = converted.is_null() & source.is_not_null()
    if column in ("site_id", "visitor_id", "session_id", "timestamp") or (
            table == "visitors" and column == "id"):
        bad = bad | converted.is_null() | (converted.cast(pl.String) == "")
    if column == "type":
        bad = bad | ~converted.is_in(list(EVENT_TYPES))
    if column == "revenue":
        bad = bad | (converted < 0)
    if bad.any():
        row = int(bad.arg_true()[0])
        site = frame["site_id"][row]
        raise DatasetError(f"dataset {label}: site {site}: {file}[{row}].{column}: "
                           f"unexpected value {_shown(source[row])}")
    if table == "events" and column in DEFAULTS:
        converted = converted.fill_null(DEFAULTS[column])
    elif table == "events" and dtype == pl.String() and column != "id":
        converted = converted.fill_null("")
    return converted.alias(column)


def _timestamps(source: pl.Series) -> pl.Series:
    if isinstance(source.dtype, pl.Datetime):
        zoned = source.dt.replace_time_zone("UTC") if source.dtype.time_zone is None \
            else source.dt.convert_time_zone("UTC")
        return zoned.cast(TIMESTAMP)
    if source.dtype != pl.String:
        return pl.Series(source.name, [None] * len(source), dtype=TIMESTAMP)
    parsed = distinct_timestamps(source)
    return pl.Series(source.name, [parsed.get(t) for t in source], dtype=pl.Datetime("us", "UTC")) \
        .cast(TIMESTAMP)


def _json_texts(source: pl.Series) -> pl.Series:
    texts = source.cast(pl.String, strict=False)
    canonical = distinct_json_objects(texts)
    return pl.Series(source.name, [canonical.get(t) if t is not None else "{}" for t in texts],
                     dtype=pl.String)
