"""Loading and validating Vemetric datasets: both layouts, defaults, derived sessions, refusals."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.reference.vemetric.dataset import (
    EVENT_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
    DatasetError,
    load_dataset,
)
from tests.reference.vemetric.surface import (
    FREE_PROJECT,
    KEY,
    PAID_PROJECT,
    REVOKED_KEY,
    TINY,
    tiny,
)

RAW = json.loads(TINY.read_text())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(tmp_path: Path, document: dict, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# --- the JSON layout ---------------------------------------------------------------------------


def test_tiny_loads_both_projects_with_their_settings():
    dataset = tiny()
    assert dataset.now == at("2026-02-17T23:59:59")
    assert sorted(dataset.projects) == [PAID_PROJECT, FREE_PROJECT]
    paid, free = dataset.projects[PAID_PROJECT], dataset.projects[FREE_PROJECT]
    assert (paid.subscription_active, free.subscription_active) == (True, False)
    # "127.0.0.1, 10.0.0.1," -> split, trimmed, empties dropped; null and "" -> [].
    assert paid.excluded_ips == ["127.0.0.1", "10.0.0.1"]
    assert paid.excluded_countries == ["AT"]
    assert (free.excluded_ips, free.excluded_countries) == ([], [])
    assert free.first_event_at is None and free.public_dashboard is True


def test_keys_are_kept_only_as_sha256_digests():
    paid = tiny().projects[PAID_PROJECT]
    assert [k.key_hash for k in paid.api_keys] == [
        hashlib.sha256(KEY.encode()).hexdigest(),
        hashlib.sha256(REVOKED_KEY.encode()).hexdigest(),
    ]
    assert paid.api_keys[1].revoked_at == at("2026-01-15T08:00:00")
    assert KEY not in repr(tiny())


def test_events_are_sorted_typed_and_carry_canonical_custom_data():
    events = tiny().projects[PAID_PROJECT].events
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert events.height == 20
    assert events["createdAt"].is_sorted()
    purchase = events.filter(pl.col("name") == "purchase").row(0, named=True)
    assert purchase["customData"] == '{"amount":49,"plan":"pro"}'
    assert purchase["createdAt"] == datetime(2026, 1, 19, 9, 10, 0, 250000, tzinfo=UTC)


def test_omitted_event_fields_default_to_empty_strings_and_empty_object():
    events = tiny().projects[FREE_PROJECT].events
    last = events.row(events.height - 1, named=True)
    assert last["userId"] == "8000000000000002"
    assert {k: last[k] for k in ("origin", "city", "clientName", "utmTerm", "customData")} == {
        "origin": "",
        "city": "",
        "clientName": "",
        "utmTerm": "",
        "customData": "{}",
    }


def test_users_left_out_means_every_visitor_is_anonymous():
    users = tiny().projects[FREE_PROJECT].users
    assert users.height == 0 and users.schema == pl.Schema(USER_SCHEMA)


def test_sessions_given_in_the_file_are_used_as_given():
    sessions = tiny().projects[PAID_PROJECT].sessions
    assert sessions.schema == pl.Schema(SESSION_SCHEMA)
    assert sessions["duration"].to_list() == [60, 600, 240, 135, 0, 70, 1200]


def test_sessions_left_out_are_derived_from_events_by_session_id():
    sessions = tiny().projects[FREE_PROJECT].sessions
    rows = sessions.select(
        "id", "userId", "startedAt", "endedAt", "duration", "pathname", "referrer"
    )
    assert rows.rows() == [
        ("fb1Dec2025aaaaaaaaaaa", "8000000000000001", at("2025-12-20T10:00:00"), at("2025-12-20T10:00:00"), 0, "/", "Google"),
        ("fb2Feb2026aaaaaaaaaaa", "8000000000000001", at("2026-02-12T10:00:00"), at("2026-02-12T10:06:00"), 360, "/", "Google"),
        ("fb3Feb2026aaaaaaaaaaa", "8000000000000002", at("2026-02-15T16:45:00"), at("2026-02-15T16:45:00"), 0, "/", ""),
    ]  # fmt: skip
    assert sessions["deleted"].to_list() == [False, False, False]


def test_derived_session_takes_landing_fields_from_its_first_event_and_whole_seconds(tmp_path):
    document = copy.deepcopy(RAW)
    project = document["projects"][1]
    project["events"] = [
        {"userId": "9", "sessionId": "s", "name": "$$pageView", "isPageView": True,
         "createdAt": "2026-02-01T10:00:01.999Z", "pathname": "/later", "utmSource": "b"},
        {"userId": "9", "sessionId": "s", "name": "$$pageView", "isPageView": True,
         "createdAt": "2026-02-01T10:00:00.000Z", "pathname": "/landing", "utmSource": "a", "countryCode": "DE"},
    ]  # fmt: skip
    session = (
        load_dataset(write(tmp_path, document, "derive.json"))
        .projects[FREE_PROJECT]
        .sessions.row(0, named=True)
    )
    assert (session["pathname"], session["utmSource"], session["countryCode"]) == (
        "/landing",
        "a",
        "DE",
    )
    assert session["duration"] == 1  # 1.999 s, truncated to whole seconds


def test_funnels_are_ordered_by_creation_with_validated_steps():
    funnels = tiny().projects[PAID_PROJECT].funnels
    assert [f["name"] for f in funnels] == ["Pro purchase", "Signup Funnel"]
    assert funnels[0]["steps"][1]["filter"] == {
        "type": "event",
        "name": {"value": "purchase", "operator": "eq"},
        "properties": [{"property": "plan", "value": "pro", "operator": "eq"}],
    }
    assert funnels[1]["createdAt"] == at("2026-02-07T12:00:00")


# --- the directory layout ----------------------------------------------------------------------


def write_directory(tmp_path: Path, *, with_sessions: bool = True) -> Path:
    """tiny.json re-written in the directory layout: fixture.json + parquet rows."""
    directory = tmp_path / "gen"
    directory.mkdir()
    document = copy.deepcopy(RAW)
    tables: dict[str, list[dict]] = {"events": [], "sessions": [], "users": []}
    for project in document["projects"]:
        for name in tables:
            for row in project.pop(name, []):
                tables[name].append({"projectId": project["id"], **row})
    (directory / "fixture.json").write_text(json.dumps(document))
    for event in tables["events"]:
        event["customData"] = json.dumps(event.get("customData", {}))  # JSON text in parquet
    pl.DataFrame(tables["events"]).write_parquet(directory / "events.parquet")
    if with_sessions:
        pl.DataFrame(tables["sessions"]).write_parquet(directory / "sessions.parquet")
    users = [{**u, "data": json.dumps(u["data"])} for u in tables["users"]]
    pl.DataFrame(users).write_parquet(directory / "users.parquet")
    return directory


def test_directory_layout_loads_the_same_frames_as_the_json_file(tmp_path):
    loaded = load_dataset(write_directory(tmp_path))
    for project_id in (PAID_PROJECT, FREE_PROJECT):
        ours, reference = loaded.projects[project_id], tiny().projects[project_id]
        assert ours.events.equals(reference.events)
        assert ours.sessions.equals(reference.sessions)
        assert ours.users.equals(reference.users)
        assert ours.funnels == reference.funnels
    assert loaded.projects[PAID_PROJECT].api_keys == tiny().projects[PAID_PROJECT].api_keys


def test_directory_without_sessions_parquet_derives_them(tmp_path):
    loaded = load_dataset(write_directory(tmp_path, with_sessions=False))
    derived = loaded.projects[PAID_PROJECT].sessions
    assert derived["id"].to_list() == tiny().projects[PAID_PROJECT].sessions["id"].to_list()
    # s1 runs 09:00:00.000 -> 09:10:00.250: 600 whole seconds.
    assert derived.filter(pl.col("id") == "s1AliceJan19aaaaaaaaa")["duration"].to_list() == [600]


def test_parquet_accepts_native_timestamps_and_clickhouse_style_flags(tmp_path):
    directory = write_directory(tmp_path)  # writes timestamps as ISO strings
    events = pl.read_parquet(directory / "events.parquet")
    events = events.with_columns(
        pl.col("createdAt").str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.fZ"),  # naive = UTC
        pl.col("isPageView").cast(pl.UInt8),
        pl.col("customData").str.replace_all(", ", ","),
    )
    events.write_parquet(directory / "events.parquet")
    assert events.schema["createdAt"] == pl.Datetime("us")
    loaded = load_dataset(directory).projects[PAID_PROJECT].events
    assert loaded.equals(tiny().projects[PAID_PROJECT].events)


# --- refusals ----------------------------------------------------------------------------------


def paid_event(document: dict, index: int) -> dict:
    return document["projects"][0]["events"][index]


BAD_JSON = [
    (
        lambda d: paid_event(d, 12).update(createdAt="yesterday"),
        "project 4232882524803099: events[12].createdAt: expected an ISO-8601 timestamp, got 'yesterday'",
    ),
    (
        lambda d: paid_event(d, 0).pop("userId"),
        "project 4232882524803099: events[0].userId: required field is missing",
    ),
    (
        lambda d: paid_event(d, 1).update(sessionId=""),
        "project 4232882524803099: events[1].sessionId: expected a non-empty string, got ''",
    ),
    (
        lambda d: paid_event(d, 2).update(isPageView="yes"),
        "project 4232882524803099: events[2].isPageView: expected true or false, got 'yes'",
    ),
    (
        lambda d: paid_event(d, 3).update(customData=["plan"]),
        "project 4232882524803099: events[3].customData: expected a JSON object, got ['plan']",
    ),
    (
        lambda d: paid_event(d, 4).update(origin=5),
        "project 4232882524803099: events[4].origin: expected a string, got 5",
    ),
    (
        lambda d: d["projects"][0]["users"][1].update(data="pro"),
        "project 4232882524803099: users[1].data: expected a JSON object, got 'pro'",
    ),
    (
        lambda d: d["projects"][0]["users"].append(d["projects"][0]["users"][0]),
        "project 4232882524803099: users.id: duplicate id '1'",
    ),
    (
        lambda d: d["projects"][0]["sessions"][2].update(duration=-1),
        "project 4232882524803099: sessions[2].duration: expected a whole number of seconds >= 0, got -1",
    ),
    (
        lambda d: d["projects"][0].pop("subscriptionActive"),
        "project 4232882524803099: subscriptionActive: required field is missing",
    ),
    (
        lambda d: d["projects"][1].update(excludedIps=["1.2.3.4"]),
        "project 9000000000000001: excludedIps: expected a string, got ['1.2.3.4']",
    ),
    (
        lambda d: d["projects"][0]["apiKeys"][0].update(key="vem_short"),
        "project 4232882524803099: apiKeys[0].key: expected a 36-character key starting with 'vem_'",
    ),
    (
        lambda d: d["projects"][1]["apiKeys"][0].update(key=KEY),
        "project 9000000000000001: apiKeys: key 'key_free' is also given to project 4232882524803099",
    ),
    (
        lambda d: d["projects"][0]["funnels"][0]["steps"][0]["filter"]["path"].update(
            operator="is"
        ),
        "project 4232882524803099: funnels[0].steps[0].filter.path.operator: Invalid enum value. "
        "Expected 'any' | 'eq' | 'notEq' | 'contains' | 'notContains' | 'startsWith' | 'endsWith', received 'is'",
    ),
    (
        lambda d: d["projects"][0]["funnels"][1]["steps"][0].update(
            filter={"type": "user", "anonymous": True}
        ),
        "project 4232882524803099: funnels[1].steps[0].filter.type: Invalid discriminator value. Expected 'page' | 'event'",
    ),
    (
        lambda d: d["projects"][0]["funnels"][1].pop("steps"),
        "project 4232882524803099: funnels[1].steps: required field is missing",
    ),
    (
        lambda d: d["projects"][0]["funnels"][1].update(id=d["projects"][0]["funnels"][0]["id"]),
        "project 4232882524803099: funnels[1].id: duplicate funnel id '550e8400-e29b-41d4-a716-446655440000'",
    ),
    (
        lambda d: d["projects"][1].update(id=d["projects"][0]["id"]),
        "project 4232882524803099: id: duplicate project id",
    ),
    (lambda d: d["projects"][1].update(id=7), "projects[1].id: expected a non-empty string, got 7"),
    (lambda d: d.update(now="soon"), "now: expected an ISO-8601 timestamp, got 'soon'"),
    (lambda d: d.update(projects={}), "projects: expected a list of projects"),
    (lambda d: d.update(api="plausible"), "api: expected 'vemetric', got 'plausible'"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_JSON, ids=[m for _, m in BAD_JSON])
def test_bad_json_file_is_refused_naming_project_and_field(tmp_path, mutate, message):
    document = copy.deepcopy(RAW)
    mutate(document)
    with pytest.raises(DatasetError) as refused:
        load_dataset(write(tmp_path, document))
    assert str(refused.value) == f"dataset bad.json: {message}"


def test_unreadable_inputs_are_refused(tmp_path):
    (tmp_path / "broken.json").write_text('{"projects": [')
    with pytest.raises(DatasetError, match=r"^dataset broken.json: not valid JSON: "):
        load_dataset(tmp_path / "broken.json")
    with pytest.raises(DatasetError, match=r"^dataset .*nowhere.json: no such file or directory$"):
        load_dataset(tmp_path / "nowhere.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(
        DatasetError, match=r"^dataset list.json: expected a JSON object at the top level$"
    ):
        load_dataset(tmp_path / "list.json")


def rewrite_events(directory: Path, change) -> None:
    events = pl.read_parquet(directory / "events.parquet")
    change(events).write_parquet(directory / "events.parquet")


BAD_PARQUET = [
    (
        lambda e: e.with_columns(
            pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("yesterday")).otherwise(
                pl.col("createdAt")).alias("createdAt")),
        "project 4232882524803099: events.parquet[5].createdAt: expected an ISO-8601 timestamp, got 'yesterday'",
    ),
    (
        lambda e: e.with_columns(
            pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("")).otherwise(pl.col("userId")).alias("userId")),
        "project 4232882524803099: events.parquet[7].userId: expected a non-empty string, got ''",
    ),
    (
        lambda e: e.with_columns(
            pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("{oops")).otherwise(
                pl.col("customData")).alias("customData")),
        "project 4232882524803099: events.parquet[2].customData: expected a JSON object, got '{oops'",
    ),
    (
        lambda e: e.with_columns(
            pl.when(pl.int_range(pl.len()) == 20).then(pl.lit("123")).otherwise(
                pl.col("projectId")).alias("projectId")),
        "project 123: events.parquet[20].projectId: no project '123' in fixture.json",
    ),
    (lambda e: e.drop("isPageView"), "events.parquet: missing column 'isPageView'"),
    (
        lambda e: e.with_columns(pl.col("isPageView").cast(pl.Float64)),
        "events.parquet: column 'isPageView': expected booleans, got Float64",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_PARQUET, ids=[m for _, m in BAD_PARQUET])
def test_bad_parquet_rows_are_refused_naming_project_row_and_field(tmp_path, change, message):
    directory = write_directory(tmp_path)
    # String timestamps let one row hold garbage, as a careless generator might write.
    rewrite_events(directory, lambda e: change(e.with_columns(pl.col("createdAt").cast(pl.String))))
    with pytest.raises(DatasetError) as refused:
        load_dataset(directory)
    assert str(refused.value) == f"dataset gen: {message}"


def test_directory_refuses_rows_left_in_fixture_json(tmp_path):
    directory = write_directory(tmp_path)
    document = json.loads((directory / "fixture.json").read_text())
    document["projects"][0]["users"] = []
    (directory / "fixture.json").write_text(json.dumps(document))
    with pytest.raises(DatasetError) as refused:
        load_dataset(directory)
    assert str(refused.value) == (
        "dataset gen: project 4232882524803099: users: leave it out of fixture.json: rows go in users.parquet"
    )


def test_directory_needs_fixture_json_and_events(tmp_path):
    directory = write_directory(tmp_path)
    (directory / "events.parquet").unlink()
    with pytest.raises(DatasetError, match=r"^dataset gen: missing events.parquet$"):
        load_dataset(directory)
    (directory / "fixture.json").unlink()
    with pytest.raises(DatasetError, match=r"^dataset gen: missing fixture.json$"):
        load_dataset(directory)
