"""The Vemetric data generator: determinism, the file format, and the shape of the traffic."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.reference.vemetric.dataset import (
    EVENT_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
    load_dataset,
)
from pipelines.reference.vemetric.generate import (
    GenerateError,
    GenerateSummary,
    generate,
    power_user_count,
    users_for_events,
)
from pipelines.reference.vemetric.queries import Period, user_events

START = date(2026, 2, 2)  # a Monday
WEEK = {"users": 300, "days": 7, "seed": 11, "start": START}
MONTH = {"users": 1000, "days": 30, "seed": 5, "start": START}
FILES = ("fixture.json", "events.parquet", "sessions.parquet", "users.parquet")
NANOID = re.compile(r"[0-9A-Za-z]{21}")
MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
THIRTY_MINUTES = timedelta(minutes=30)
PAGE = 1000  # the API's largest page of /v1/users/events
CHANNEL_COLUMNS = ["referrer", "referrerUrl", "referrerType", "utmSource", "utmMedium",
                   "utmCampaign", "utmContent", "utmTerm"]


class Generated:
    """One generated directory, its summary and its files read back with polars."""

    def __init__(self, out: Path, summary: GenerateSummary, visitors: int):
        self.out = out
        self.summary = summary
        self.visitors = visitors
        self.fixture = json.loads((out / "fixture.json").read_text(encoding="utf-8"))
        self.project = self.fixture["projects"][0]
        self.events = pl.read_parquet(out / "events.parquet")
        self.sessions = pl.read_parquet(out / "sessions.parquet")
        self.users = pl.read_parquet(out / "users.parquet")


def _generate(tmp_path_factory: pytest.TempPathFactory, **arguments) -> Generated:
    out = tmp_path_factory.mktemp("vemetric")
    return Generated(out, generate(out, **arguments), arguments["users"])


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return _generate(tmp_path_factory, **WEEK)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return _generate(tmp_path_factory, **MONTH)


@pytest.fixture(params=["week", "month"])
def data(request: pytest.FixtureRequest) -> Generated:
    return request.getfixturevalue(request.param)


# ------------------------------------------------------------------------------------------
# Determinism


def test_the_same_arguments_write_byte_identical_files(week, tmp_path):
    again = generate(tmp_path, **WEEK)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (week.out / name).read_bytes(), name
    assert again.events == week.summary.events


def test_another_seed_writes_other_data(week, tmp_path):
    generate(tmp_path, **{**WEEK, "seed": WEEK["seed"] + 1})
    for name in FILES:
        assert (tmp_path / name).read_bytes() != (week.out / name).read_bytes(), name


def test_the_project_and_key_depend_on_the_seed_alone(week, tmp_path):
    generate(tmp_path, users=3, days=2, seed=WEEK["seed"], start=date(2025, 6, 1))
    other = json.loads((tmp_path / "fixture.json").read_text())["projects"][0]
    assert other["apiKeys"][0]["key"] == week.project["apiKeys"][0]["key"]
    assert other["id"] == week.project["id"]


# ------------------------------------------------------------------------------------------
# The files: layout, schemas, fixture.json


def test_parquet_files_have_the_dataset_schemas_plus_project_id(week):
    assert dict(week.events.schema) == {"projectId": pl.String(), **EVENT_SCHEMA}
    assert dict(week.sessions.schema) == {"projectId": pl.String(), **SESSION_SCHEMA}
    assert dict(week.users.schema) == {"projectId": pl.String(), **USER_SCHEMA}
    for frame in (week.events, week.sessions, week.users):
        assert frame["projectId"].unique().to_list() == [week.project["id"]]


def test_the_directory_loads_through_load_dataset(week):
    dataset = load_dataset(week.out)
    project = dataset.projects[week.project["id"]]
    assert dataset.now == datetime(2026, 2, 8, 23, 59, 59, tzinfo=UTC)
    assert project.events.height == week.summary.events
    assert project.sessions.height == week.summary.sessions
    assert project.users.height == week.summary.users
    assert [f["name"] for f in project.funnels] == ["Signup", "Purchase", "Blog to signup"]


def test_fixture_json_holds_the_project_key_and_funnels_but_no_rows(week):
    assert week.fixture["api"] == "vemetric"
    assert week.fixture["now"] == "2026-02-08T23:59:59Z"  # the end of the seventh day
    project = week.project
    assert not {"events", "sessions", "users"} & set(project)
    assert re.fullmatch(r"\d{16,20}", project["id"]) and int(project["id"]) < 2**64
    assert re.fullmatch(r"[0-9A-Za-z]{16}", project["token"])
    assert MILLIS.fullmatch(project["createdAt"]) and MILLIS.fullmatch(project["firstEventAt"])
    assert project["createdAt"] < f"{START}"
    assert (project["publicDashboard"], project["subscriptionActive"]) == (False, True)
    assert isinstance(project["excludedIps"], str)
    assert isinstance(project["excludedCountries"], str)


def test_first_event_at_is_the_first_event(week):
    first = week.events["createdAt"].min()
    assert week.project["firstEventAt"] == first.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{first.microsecond // 1000:03d}Z")


def test_the_api_key_is_a_vemetric_key(week):
    [key] = week.project["apiKeys"]
    assert re.fullmatch(r"vem_[a-z0-9]{32}", key["key"])
    assert key["id"].startswith("key_") and NANOID.fullmatch(key["id"][4:])
    assert key["name"] == week.summary.api_key_name == "funnelhouse sync"
    assert key["revokedAt"] is None and MILLIS.fullmatch(key["createdAt"])


def test_funnels_have_uuid_ids_nanoid_steps_and_eq_conditions(week):
    funnels = week.project["funnels"]
    assert len(funnels) >= 2
    assert [f["createdAt"] for f in funnels] == sorted(f["createdAt"] for f in funnels)
    steps = [step for funnel in funnels for step in funnel["steps"]]
    assert all(UUID.fullmatch(f["id"]) for f in funnels)
    assert all(NANOID.fullmatch(step["id"]) for step in steps)
    assert len({step["id"] for step in steps}) == len(steps)
    for step in steps:
        condition = step["filter"]["path" if step["filter"]["type"] == "page" else "name"]
        assert condition["operator"] == "eq"
    signup = next(f for f in funnels if f["name"] == "Signup")
    assert [_step_match(s) for s in signup["steps"]] == [
        ("page", "/"), ("page", "/pricing"), ("event", "signup")]
    purchase = next(f for f in funnels if f["name"] == "Purchase")
    assert [_step_match(s) for s in purchase["steps"]] == [
        ("event", "signup"), ("event", "purchase")]


def test_the_summary_counts_what_was_written(week):
    summary = week.summary
    assert summary.events == week.events.height
    assert summary.pageviews == week.events["isPageView"].sum()
    assert summary.custom_events == week.events.height - summary.pageviews
    assert summary.sessions == week.sessions.height
    assert summary.users == week.users.height
    assert summary.users + summary.anonymous_visitors == WEEK["users"]
    assert (summary.projects, summary.funnels) == (1, 3)
    text = summary.describe()
    assert f"{WEEK['users']} visitors" in text and f"{summary.events:,} events" in text
    assert week.project["apiKeys"][0]["key"] not in text


# ------------------------------------------------------------------------------------------
# Ids and structure


def test_ids_have_vemetric_formats(data):
    assert data.events["userId"].str.contains(r"^\d{16,20}$").all()
    assert data.events["sessionId"].str.contains(r"^[0-9A-Za-z]{21}$").all()
    assert data.sessions["id"].is_unique().all()
    assert data.users["id"].is_unique().all() and data.users["identifier"].is_unique().all()


def test_every_visitor_has_events(data):
    assert data.events["userId"].n_unique() == data.visitors


def test_every_event_belongs_to_a_session_of_the_same_user(data):
    joined = data.events.join(data.sessions.select("id", sessionUser="userId"),
                              left_on="sessionId", right_on="id", how="left")
    assert joined["sessionUser"].null_count() == 0
    assert (joined["sessionUser"] == joined["userId"]).all()


def test_no_30_minute_gap_inside_a_session(data):
    gaps = _ordered_events(data).select(
        gap=pl.col("createdAt").diff().over("sessionId")).drop_nulls()
    assert gaps["gap"].max() < THIRTY_MINUTES
    assert gaps["gap"].min() >= timedelta(0)


def test_sessions_of_a_visitor_are_over_30_minutes_apart(data):
    spaced = data.sessions.sort("userId", "startedAt").select(
        "userId", "startedAt", previousEnd=pl.col("endedAt").shift().over("userId"),
    ).drop_nulls()
    assert spaced.height > 0
    assert ((spaced["startedAt"] - spaced["previousEnd"]) > THIRTY_MINUTES).all()


def test_session_landing_fields_are_its_first_events(data):
    first = _ordered_events(data).group_by("sessionId", maintain_order=True).first()
    columns = ["userId", "countryCode", "city", *CHANNEL_COLUMNS, "origin", "pathname", "urlHash"]
    joined = data.sessions.join(first, left_on="id", right_on="sessionId", suffix="_event")
    assert joined.height == data.sessions.height
    assert joined["isPageView"].all()
    for column in columns:
        assert (joined[column] == joined[f"{column}_event"]).all(), column
    assert (joined["startedAt"] == joined["createdAt"]).all()
    assert not joined["deleted"].any()


def test_session_end_and_duration_follow_its_events(data):
    spans = data.events.group_by("sessionId").agg(
        first=pl.col("createdAt").min(), last=pl.col("createdAt").max(), n=pl.len())
    joined = data.sessions.join(spans, left_on="id", right_on="sessionId")
    assert (joined["endedAt"] == joined["last"]).all()
    whole_seconds = (joined["last"].dt.truncate("1s") - joined["first"].dt.truncate("1s"))
    assert (joined["duration"] == whole_seconds.dt.total_seconds()).all()
    assert (joined.filter(pl.col("n") == 1)["duration"] == 0).all()
    assert (joined.filter(pl.col("n") > 1)["duration"] > 0).any()


def test_events_and_sessions_stay_inside_the_window(data):
    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    now = datetime.fromisoformat(data.fixture["now"].replace("Z", "+00:00"))
    assert data.events["createdAt"].min() >= start
    assert data.events["createdAt"].max() < now
    assert data.events["createdAt"].is_sorted()


def test_a_visitor_keeps_location_and_device_and_a_session_its_referrer(data):
    per_user = data.events.group_by("userId").agg(
        pl.col("countryCode", "city", "osName", "clientName", "deviceType").n_unique())
    assert (per_user.drop("userId").max_horizontal() == 1).all()
    per_session = data.events.group_by("sessionId").agg(pl.col(CHANNEL_COLUMNS).n_unique())
    assert (per_session.drop("sessionId").max_horizontal() == 1).all()


# ------------------------------------------------------------------------------------------
# Users and identity


def test_anonymous_visitors_have_no_user_row_and_no_identifier(data):
    anonymous = data.events.join(data.users, left_on="userId", right_on="id", how="anti")
    assert anonymous["userId"].n_unique() == data.summary.anonymous_visitors > 0
    assert (anonymous["userIdentifier"] == "").all()
    assert (anonymous["userDisplayName"] == "").all()


def test_identified_events_carry_the_user_rows_identity_from_the_signup_on(data):
    joined = data.events.join(data.users, left_on="userId", right_on="id", suffix="_user")
    signup = joined.filter(pl.col("name") == "signup").select("userId", signedUp="createdAt")
    joined = joined.join(signup, on="userId")
    assert signup.height == data.users.height  # every user signed up, once
    after = joined.filter(pl.col("createdAt") >= pl.col("signedUp"))
    before = joined.filter(pl.col("createdAt") < pl.col("signedUp"))
    assert (after["userIdentifier"] == after["identifier"]).all()
    assert (after["userDisplayName"] == after["displayName"]).all()
    assert (before["userIdentifier"] == "").all() and (before["userDisplayName"] == "").all()


def test_user_rows_match_their_events(data):
    seen = data.events.group_by("userId").agg(
        firstSeen=pl.col("createdAt").min(),
        signedUp=pl.col("createdAt").filter(pl.col("name") == "signup").first(),
        country=pl.col("countryCode").first(), town=pl.col("city").first())
    joined = data.users.join(seen, left_on="id", right_on="userId")
    assert joined.height == data.users.height
    assert (joined["firstSeenAt"] == joined["firstSeen"]).all()
    assert (joined["createdAt"] == joined["signedUp"]).all()
    assert (joined["countryCode"] == joined["country"]).all()
    assert (joined["city"] == joined["town"]).all()
    email = r"^[a-z]+\.[a-z]+\d+@example\.(com|org|net)$"
    assert data.users["identifier"].str.contains(email).all()


def test_user_data_is_canonical_json_with_plan_and_company_size(data):
    for text in data.users["data"]:
        value = json.loads(text)
        assert set(value) == {"plan", "company_size"}
        assert value["plan"] in {"starter", "pro", "team"}
        assert json.dumps(value, sort_keys=True, separators=(",", ":")) == text


def test_the_user_plan_is_the_plan_signed_up_for(data):
    signup = data.events.filter(pl.col("name") == "signup").select(
        "userId", signupPlan=pl.col("customData").str.json_path_match("$.plan"))
    joined = data.users.join(signup, left_on="id", right_on="userId")
    assert (joined["data"].str.json_path_match("$.plan") == joined["signupPlan"]).all()


# ------------------------------------------------------------------------------------------
# Pages, events and their properties


def test_pageviews_walk_the_small_site(data):
    pageviews = data.events.filter("isPageView")
    assert (pageviews["name"] == "$$pageView").all()
    assert (data.events["origin"] == f"https://{data.project['domain']}").all()
    paths = set(pageviews["pathname"])
    assert {"/", "/features", "/pricing", "/docs", "/signup"} <= paths
    assert all(p in {"/", "/features", "/pricing", "/blog", "/docs", "/signup", "/checkout"}
               or re.fullmatch(r"/blog/[a-z0-9-]+", p) for p in paths)
    assert any(p.startswith("/blog/") for p in paths)
    hashes = set(data.events["urlHash"])
    assert "" in hashes and any(h.startswith("#") for h in hashes)
    assert all(h == "" or re.fullmatch(r"#[a-z-]+", h) for h in hashes)
    assert (pageviews["customData"] == "{}").all()


def test_custom_events_have_string_properties_in_canonical_json(data):
    custom = data.events.filter(~pl.col("isPageView"))
    expected_keys = {"signup": {"plan"}, "purchase": {"plan", "amount", "currency"},
                     "click": {"target"}, "$$outboundLink": {"href"}}
    assert set(custom["name"]) == set(expected_keys)
    for name, text in custom.select("name", "customData").unique().iter_rows():
        value = json.loads(text)
        assert set(value) == expected_keys[name]
        assert all(isinstance(v, str) for v in value.values())
        assert json.dumps(value, sort_keys=True, separators=(",", ":")) == text
        if name == "purchase":
            assert re.fullmatch(r"\d+\.\d\d", value["amount"])
        if name == "$$outboundLink":
            assert value["href"].startswith("https://")


def test_signups_and_purchases_happen_on_their_pages(data):
    custom = data.events.filter(pl.col("name").is_in(["signup", "purchase"]))
    assert set(custom.filter(pl.col("name") == "signup")["pathname"]) == {"/signup"}
    assert set(custom.filter(pl.col("name") == "purchase")["pathname"]) == {"/checkout"}
    per_user = custom.group_by("userId", "name").len()
    assert (per_user["len"] == 1).all()  # one signup and at most one purchase each


def test_devices_have_matching_os_and_browser(data):
    combos = set(data.events.select("deviceType", "osName", "clientName").unique().iter_rows())
    for device, os_name, client in combos:
        if device == "desktop":
            assert os_name in {"Windows", "macOS", "Linux"}
        else:
            assert device in {"mobile", "tablet"} and os_name in {"iOS", "Android"}
        if client == "Safari":
            assert os_name in {"macOS", "iOS"}
        if client in {"Samsung Internet"}:
            assert os_name == "Android"
        if client == "Edge":
            assert os_name == "Windows"


def test_referrer_channels_carry_their_utm_tags(month):
    sessions = month.sessions
    assert set(sessions["referrerType"]) == {"direct", "search", "social", "email", "paid", "llm"}
    direct = sessions.filter(pl.col("referrerType") == "direct")
    assert (direct.select(CHANNEL_COLUMNS[:2] + CHANNEL_COLUMNS[3:]).max_horizontal() == "").all()
    email = sessions.filter(pl.col("referrerType") == "email")
    assert (email["utmMedium"] == "email").all() and (email["referrer"] == "Newsletter").all()
    paid = sessions.filter(pl.col("referrerType") == "paid")
    assert (paid["utmMedium"] == "cpc").all() and (paid["utmCampaign"] != "").all()
    search = sessions.filter(pl.col("referrerType") == "search")
    assert set(search["referrer"]) == {"Google", "Bing", "DuckDuckGo"}
    assert (search["utmSource"] == "").all()


def test_countries_are_weighted_and_some_cities_are_empty(month):
    countries = month.events.group_by("userId").agg(pl.col("countryCode", "city").first())
    counts = countries["countryCode"].value_counts(sort=True)
    assert counts["countryCode"][0] == "US"
    assert {"US", "DE", "GB", "FR", "IN", "BR"} <= set(countries["countryCode"])
    assert (countries["city"] == "").any() and (countries["city"] != "").any()


def test_weekends_have_less_traffic(month):
    per_weekday = month.sessions.group_by(weekday=pl.col("startedAt").dt.weekday()).len()
    by_day = dict(per_weekday.iter_rows())
    assert max(by_day[6], by_day[7]) < min(by_day[d] for d in range(1, 6))


def test_some_visitors_return_on_other_days(month):
    days = month.sessions.group_by("userId").agg(pl.col("startedAt").dt.date().n_unique())
    returning = (days["startedAt"] > 1).mean()
    assert 0.2 < returning < 0.8


# ------------------------------------------------------------------------------------------
# Power users


def test_power_users_scale_gently_with_the_visitors():
    assert power_user_count(199, 30) == power_user_count(10_000, 6) == 0
    assert power_user_count(200, 7) == power_user_count(1000, 30) == 1
    assert power_user_count(19_999, 30) == 1
    assert power_user_count(100_000, 30) == 5
    for visitors in (1000, 5000, 50_000, 1_000_000):
        assert power_user_count(visitors, 30) <= visitors / 1000


def test_a_power_user_needs_more_than_two_pages_of_events(month):
    counts = _events_per_user(month)
    heavy = counts.filter(pl.col("len") > PAGE)
    assert heavy.height == power_user_count(MONTH["users"], MONTH["days"]) == 1
    assert 2 * PAGE < heavy["len"][0] < 4 * PAGE
    assert counts["len"][1] < PAGE / 4  # everyone else browses far less
    assert heavy["userId"][0] in set(month.users["id"])  # identified, with a user row


def test_a_power_user_is_there_from_a_week_and_200_visitors_on(week):
    counts = _events_per_user(week)
    assert counts["len"][0] > 10 * counts["len"][1]
    assert counts["userId"][0] in set(week.users["id"])


def test_the_power_users_sessions_keep_the_invariants(month):
    user_id = _events_per_user(month)["userId"][0]
    sessions = month.sessions.filter(pl.col("userId") == user_id).sort("startedAt")
    events = month.events.filter(pl.col("userId") == user_id)
    assert sessions.height > 100
    assert sessions["startedAt"].dt.date().n_unique() > 20  # back on most days
    apart = sessions["startedAt"][1:] - sessions["endedAt"][:-1]
    assert (apart > THIRTY_MINUTES).all()
    gaps = events.sort("createdAt").select(gap=pl.col("createdAt").diff().over("sessionId"))
    assert gaps["gap"].drop_nulls().max() < THIRTY_MINUTES
    assert set(events["sessionId"]) == set(sessions["id"])
    # Signed up in the first session: identified from then on, and a customer.
    signup = events.filter(pl.col("name") == "signup")["createdAt"][0]
    assert signup < sessions["endedAt"][0] + timedelta(seconds=1)
    assert (events.filter(pl.col("createdAt") >= signup)["userIdentifier"] != "").all()
    assert events.filter(pl.col("name") == "purchase").height <= 1


def test_the_power_users_events_fill_full_pages(month):
    user_id = _events_per_user(month)["userId"][0]
    total = month.events.filter(pl.col("userId") == user_id).height
    project = load_dataset(month.out).projects[month.project["id"]]
    period = Period(start=datetime(START.year, START.month, START.day, tzinfo=UTC), end=None,
                    interval="daily")
    pages = [user_events(project, period, user_id, filters=[], filters_operator="and",
                         limit=PAGE, offset=offset) for offset in range(0, 3 * PAGE, PAGE)]
    assert [len(page) for page in pages] == [PAGE, PAGE, total - 2 * PAGE]
    times = [row["createdAt"] for page in pages for row in page]
    assert times == sorted(times, reverse=True)  # latest first, no overlap between pages


# ------------------------------------------------------------------------------------------
# Funnels


def test_funnel_steps_refer_to_pages_and_events_that_occur(data):
    pages = set(data.events.filter("isPageView")["pathname"])
    names = set(data.events.filter(~pl.col("isPageView"))["name"])
    for funnel in data.project["funnels"]:
        for step in funnel["steps"]:
            kind, value = _step_match(step)
            assert value in (pages if kind == "page" else names), (funnel["name"], value)


def test_funnels_drop_off_from_step_to_step(data):
    for funnel in data.project["funnels"]:
        counts = _funnel_counts(data.events, funnel["steps"])
        drops = zip(counts, counts[1:], strict=False)
        assert all(a > b for a, b in drops), (funnel["name"], counts)
        assert counts[-1] > 0, funnel["name"]


def test_fewer_visitors_reach_each_stage_of_the_journey(data):
    pageviews = data.events.filter("isPageView")

    def visitors(frame: pl.DataFrame) -> int:
        return frame["userId"].n_unique()

    home = visitors(pageviews.filter(pl.col("pathname") == "/"))
    pricing = visitors(pageviews.filter(pl.col("pathname") == "/pricing"))
    signup = visitors(data.events.filter(pl.col("name") == "signup"))
    purchase = visitors(data.events.filter(pl.col("name") == "purchase"))
    assert data.events["userId"].n_unique() > home > pricing > signup > purchase > 0
    assert home > data.events["userId"].n_unique() / 2  # most visit the home page


def test_some_conversions_span_several_sessions_and_more_than_a_week(month):
    milestones = month.events.filter(pl.col("name").is_in(["signup", "purchase"])).pivot(
        on="name", index="userId", values="createdAt", aggregate_function="first").drop_nulls()
    lag = milestones["purchase"] - milestones["signup"]
    assert (lag > timedelta(days=7)).any()  # so the funnel's 7-day window matters
    assert (lag < timedelta(hours=1)).any()  # and some buy right away
    sessions = month.events.filter(pl.col("name").is_in(["signup", "purchase"])).group_by(
        "userId").agg(pl.col("sessionId").n_unique())
    assert (sessions["sessionId"] > 1).any()
    assert _funnel_counts(month.events, _funnel(month, "Purchase")["steps"])[1] < (
        milestones.height)


# ------------------------------------------------------------------------------------------
# Sizing and arguments


def test_users_for_events_inverts_the_average(tmp_path):
    users = users_for_events(20_000, 14)
    summary = generate(tmp_path, users=users, days=14, seed=3, start=START)
    assert 0.85 * 20_000 < summary.events < 1.15 * 20_000


def test_users_for_events_grows_with_events_and_shrinks_with_days():
    assert users_for_events(1_000_000, 30) > users_for_events(100_000, 30)
    assert users_for_events(100_000, 7) > users_for_events(100_000, 30)
    assert users_for_events(1, 30) == 1
    with pytest.raises(GenerateError, match="at least 1"):
        users_for_events(0, 30)


def test_without_start_the_dataset_ends_yesterday(tmp_path):
    generate(tmp_path, users=5, days=3, seed=1)
    fixture = json.loads((tmp_path / "fixture.json").read_text())
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert fixture["now"] == f"{yesterday}T23:59:59Z"
    events = pl.read_parquet(tmp_path / "events.parquet")
    assert events["createdAt"].min().date() >= yesterday - timedelta(days=2)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"users": 0}, "users must be a whole number of at least 1, got 0"),
    ({"days": 0}, "days must be a whole number of at least 1, got 0"),
    ({"seed": -1}, "seed must be a whole number of at least 0, got -1"),
])
def test_bad_arguments_are_refused_with_a_clear_message(tmp_path, arguments, message):
    with pytest.raises(GenerateError, match=re.escape(message)):
        generate(tmp_path / "out", **{**WEEK, **arguments})
    assert not (tmp_path / "out").exists()


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(GenerateError, match="is a file, expected a directory"):
        generate(tmp_path / "taken", **WEEK)


# ------------------------------------------------------------------------------------------
# Helpers


def _events_per_user(data: Generated) -> pl.DataFrame:
    """userId and len (events), most events first."""
    return data.events.group_by("userId").len().sort("len", "userId", descending=True)


def _ordered_events(data: Generated) -> pl.DataFrame:
    return data.events.with_row_index("row").sort("sessionId", "createdAt", "row")


def _step_match(step: dict) -> tuple[str, str]:
    condition = step["filter"]["path" if step["filter"]["type"] == "page" else "name"]
    return step["filter"]["type"], condition["value"]


def _funnel(data: Generated, name: str) -> dict:
    return next(f for f in data.project["funnels"] if f["name"] == name)


def _funnel_counts(events: pl.DataFrame, steps: list[dict]) -> list[int]:
    """Users reaching each step in order within 7 days of the first (Vemetric's windowFunnel)."""
    matches = []
    for index, step in enumerate(steps):
        kind, value = _step_match(step)
        column, is_page = ("pathname", True) if kind == "page" else ("name", False)
        hits = events.filter((pl.col("isPageView") == is_page) & (pl.col(column) == value))
        matches.append(hits.select("userId", pl.col("createdAt").dt.truncate("1s"),
                                   step=pl.lit(index)))
    hits = pl.concat(matches).sort("userId", "createdAt", "step")
    reached: dict[str, int] = {}
    for user, group in hits.group_by("userId"):
        rows = list(group.sort("createdAt", "step").iter_rows(named=True))
        reached[user[0]] = _max_stage(rows, len(steps))
    return [sum(stage > i for stage in reached.values()) for i in range(len(steps))]


def _max_stage(rows: list[dict], n_steps: int) -> int:
    """Rows sorted by time and step; from each first-step row, the steps reached in 7 days."""
    best = 0
    for index, start in enumerate(rows):
        if start["step"] != 0:
            continue
        stage, deadline = 1, start["createdAt"] + timedelta(days=7)
        for row in rows[index:]:  # earlier rows at the same time are first-step rows too
            if row["createdAt"] > deadline:
                break
            if stage < n_steps and row["step"] == stage:
                stage += 1
        best = max(best, stage)
        if best == n_steps:  # a power user has hundreds of first-step rows
            break
    return best


# ------------------------------------------------------------------------------------------
# The command


def test_the_cli_writes_the_dataset_and_prints_the_summary(tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    arguments = ["generate", "vemetric", "--out", str(tmp_path), "--users", "20", "--days", "3",
                 "--seed", "4", "--start", "2026-02-02"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "20 visitors" in result.stdout
    key = json.loads((tmp_path / "fixture.json").read_text())["projects"][0]["apiKeys"][0]["key"]
    assert key not in result.stdout and "'funnelhouse sync'" in result.stdout
    assert all((tmp_path / name).is_file() for name in FILES)


def test_the_cli_turns_a_bad_seed_into_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    result = CliRunner().invoke(app, ["generate", "vemetric", "--out", str(tmp_path / "x"),
                                      "--seed", "-3"])
    assert result.exit_code == 1
    assert result.stderr == "Error: seed must be a whole number of at least 0, got -3\n"
