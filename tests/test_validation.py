"""Shape errors fail loudly; value errors go to the quarantine with the checks they failed."""

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import polars as pl
import pytest

from pipelines import raw_vemetric as raw
from pipelines.landing import Field, MalformedAnswer, canonical_json, frame_from_rows
from pipelines.validation import ValidationFailed, split_valid
from tests.vemetric_pages import event, user

WINDOW = raw.Window(date(2026, 1, 1), date(2026, 1, 2))
BOUNDS = (WINDOW.start, WINDOW.end)


def users_frame(*rows: dict) -> pl.DataFrame:
    return frame_from_rows(list(rows), raw.USER_FIELDS, "/v1/users page 1")


def test_rows_become_typed_columns():
    frame = users_frame(user("3", "2026-01-02T10:00:00Z", data={"b": 1, "a": "x"}))
    assert frame["last_seen_at"][0] == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert frame["last_seen_at"].dtype == pl.Datetime("ms", "UTC")
    assert frame["data"][0] == '{"a":"x","b":1}'  # canonical: sorted keys, no spaces
    assert frame["identifier"][0] == "user-3"


def test_a_missing_field_names_the_field_and_row():
    broken = user("4", "2026-01-02T10:00:00Z")
    del broken["lastSeenAt"]
    with pytest.raises(MalformedAnswer, match=r"^/v1/users page 1: row 1 has no field 'lastSeenAt'$"):
        users_frame(user("3", "2026-01-02T10:00:00Z"), broken)


def test_a_wrong_type_is_a_failure_not_a_quarantine():
    with pytest.raises(MalformedAnswer, match=r"^/v1/users page 1: row 0: expected bool 'anonymous', got 'no'$"):
        users_frame(user("3", "2026-01-02T10:00:00Z", anonymous="no"))


def test_null_where_the_api_always_sends_a_value_is_a_failure():
    with pytest.raises(MalformedAnswer, match=r"^events: row 0: expected str 'sessionId', got null$"):
        frame_from_rows([event("2026-01-01T00:00:00Z", session=None)], raw.EVENT_FIELDS, "events")


def test_a_row_that_is_not_an_object_is_a_failure():
    with pytest.raises(MalformedAnswer, match=r"row 0 is list, not an object"):
        users_frame([1, 2])


def test_timestamps_must_have_the_api_format():
    with pytest.raises(MalformedAnswer, match=r"^/v1/users page 1: row 0: 'lastSeenAt' is not a UTC timestamp like "
                       r"%Y-%m-%dT%H:%M:%SZ, got '2026-01-02T10:00:00\+01:00'$"):
        users_frame(user("3", "2026-01-02T10:00:00+01:00"))


def test_json_fields_must_be_objects():
    with pytest.raises(MalformedAnswer, match=r"^/v1/users page 1: row 0: expected object 'data', got 'plan=pro'$"):
        users_frame(user("3", "2026-01-02T10:00:00Z", data="plan=pro"))


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": [1, {"d": 1, "c": 2}], "a": None}) == \
        canonical_json({"a": None, "b": [1, {"c": 2, "d": 1}]}) == '{"a":null,"b":[1,{"c":2,"d":1}]}'


def test_bad_values_are_quarantined_with_their_checks_and_raw_json():
    frame = users_frame(
        user("3", "2026-01-02T10:00:00Z"),
        user("x7", "2026-01-01T00:00:00Z"),          # not a numeric user id
        user("5", "2026-01-03T00:00:00Z"),           # outside the synced window
    )
    good, bad = split_valid("users", frame, raw._api_names(raw.USER_FIELDS), BOUNDS)
    assert good["id"].to_list() == ["3"]
    assert bad["table_name"].to_list() == ["users", "users"]
    assert bad["checks"].to_list() == [
        r"id:str_matches('^\d+$')",
        "last_seen_at:less_than(2026-01-03 00:00:00+00:00)",
    ]
    assert bad["reason"][0] == "failed: id=x7"
    first = orjson.loads(bad["raw"][0])
    assert first["id"] == "x7" and first["lastSeenAt"] == "2026-01-01T00:00:00Z"
    assert first["data"] == '{"plan":"pro"}'


def test_duplicate_users_are_both_quarantined():
    frame = users_frame(user("3", "2026-01-02T10:00:00Z"), user("3", "2026-01-02T11:00:00Z"))
    good, bad = split_valid("users", frame, {}, BOUNDS)
    assert good.height == 0
    assert bad["checks"].to_list() == ["id:field_uniqueness", "id:field_uniqueness"]



def test_a_table_validated_in_parts_quarantines_what_the_whole_table_would():
    frame = users_frame(
        user("3", "2026-01-02T10:00:00Z"),
        user("x7", "2026-01-01T00:00:00Z"),
        user("4", "2026-01-01T00:00:00Z"),
        user("3", "2026-01-01T00:00:00Z"),      # 3 again, in another part
        user("x7", "2026-01-01T01:00:00Z"),     # x7 again: fails two checks
    )
    names = raw._api_names(raw.USER_FIELDS)
    whole_good, whole_bad = split_valid("users", frame, names, BOUNDS)
    duplicates = {"id": pl.Series(["3", "x7"])}
    parts = [split_valid("users", frame.slice(start, 2), names, BOUNDS, duplicates=duplicates)
             for start in (0, 2, 4)]
    assert pl.concat([good for good, _ in parts]).equals(whole_good)
    assert pl.concat([bad for _, bad in parts]).equals(whole_bad)
    assert whole_good["id"].to_list() == ["4"]
    assert whole_bad["checks"].to_list()[:2] == ["id:field_uniqueness",
                                                 r"id:field_uniqueness,id:str_matches('^\d+$')"]


def test_duplicates_can_only_be_given_for_a_unique_column():
    with pytest.raises(ValueError, match=r"^users.city is not unique: no duplicates to check for$"):
        split_valid("users", users_frame(user("3", "2026-01-02T10:00:00Z")), {}, BOUNDS,
                    duplicates={"city": pl.Series(["Berlin"])})

def test_analytics_values_are_range_checked():
    rows = [{"group": "DE", "users": -1, "pageviews": 2, "events": 0, "bounceRate": 100.5,
             "visitDuration": None}]
    frame = frame_from_rows(rows, (Field("group", "group_value", "str"), *raw.METRIC_FIELDS), "q")
    frame = frame.with_columns(group_by=pl.lit("country"), period_from=WINDOW.start,
                               period_to=WINDOW.end).with_columns(
        pl.col("period_from", "period_to").cast(pl.Datetime("ms", "UTC")))
    good, bad = split_valid("analytics", frame, raw._api_names(raw.METRIC_FIELDS))
    assert good.height == 0
    assert bad["checks"][0] == "bounce_rate:in_range(0, 100),users:greater_than_or_equal_to(0)"


def test_an_unknown_grouping_token_is_quarantined():
    frame = pl.DataFrame({"field": ["continent"], "position": [0], "value": ["EU"]})
    good, bad = split_valid("filter_values", frame, {})
    assert good.height == 0 and bad["checks"][0].startswith("field:isin(")


def test_a_frame_without_the_models_columns_is_a_code_error():
    with pytest.raises(ValidationFailed, match=r"filter_values: frame has no column\(s\) \['position'\]"):
        split_valid("filter_values", pl.DataFrame({"field": ["city"], "value": ["Berlin"]}), {})


def test_validating_in_a_sync_process_does_not_import_hypothesis():
    # pandera would import hypothesis (a test dependency) for its data-synthesis strategies.
    script = (
        "import sys\n"
        "from tests.test_validation import users_frame, user\n"
        "from pipelines.validation import split_valid\n"
        "good, _ = split_valid('users', users_frame(user('3', '2026-01-02T10:00:00Z')), {})\n"
        "print(good.height, 'hypothesis' in sys.modules)\n"
        "import hypothesis\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], check=True)
    assert done.stdout.split() == ["1", "False"]
