"""Loading EngageTrack datasets: defaults, derived visitors, and refusals naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.reference.engagetrack.dataset import DatasetError, hash_secret, load_dataset

from .conftest import KEYS, TINY


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(document))
    return path


def tiny_document() -> dict:
    return json.loads(TINY.read_text())


def test_tiny_loads_with_keys_hashed_and_visitors_derived(tiny):
    acme = tiny.organizations["org_acme"]
    assert [k.id for k in acme.api_keys] == ["key_sync", "key_report", "key_writer", "key_expired",
                                            "key_revoked"]
    assert acme.api_keys[0].key_hash == hash_secret(KEYS["sync"])
    assert acme.api_keys[0].last4 == "0001"
    shop = acme.sites["site_shop"]
    assert shop.events.height == 17
    anonymous = shop.visitors.filter(pl.col("id") == "v_7f3a").row(0, named=True)
    assert anonymous == {"id": "v_7f3a", "uid": "v_7f3a", "email": None, "name": None,
                         "avatar_url": None, "external_id": None}


def test_event_defaults(tiny):
    event = tiny.organizations["org_maker"].sites["site_hobby"].events.row(0, named=True)
    assert (event["id"], event["type"], event["referrer_source"], event["channel"]) == \
        ("evt_1", "pageview", "Direct", "Direct")
    assert (event["revenue"], event["properties"], event["country"]) == (0.0, "{}", "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(api="vemetric"), "dataset fixture.json: api: expected 'engagetrack'"),
        (lambda d: d["organizations"][0].update(plan="gold"),
         "organization org_acme: plan: expected one of maker, startup, agency, got 'gold'"),
        (lambda d: d["organizations"][0]["api_keys"][0].update(key="et_live_XYZ"),
         "organization org_acme: api_keys[0].key: expected 'et_live_' followed by 32 lowercase hex"),
        (lambda d: d["organizations"][0]["api_keys"][1].update(scopes=["analytics:write"]),
         "organization org_acme: api_keys[1].scopes: unknown scope 'analytics:write'"),
        (lambda d: d["organizations"][0]["sites"][0]["events"][3].update(timestamp="yesterday"),
         "organization org_acme: site site_shop: events[3].timestamp: expected an ISO-8601 "
         "timestamp, got 'yesterday'"),
        (lambda d: d["organizations"][0]["sites"][0]["events"][4].pop("name"),
         "site site_shop: events[4].name: a custom event needs a name"),
        (lambda d: d["organizations"][0]["sites"][0]["funnels"][0]["steps"][1].update(order=3),
         "site site_shop: funnels[0].steps[1].order: expected 2 (steps are listed in order), got 3"),
        (lambda d: d["organizations"][0]["sites"][0]["goals"][2].update(pattern="(("),
         "site site_shop: goals[2].pattern: not a valid regular expression"),
        (lambda d: d["organizations"][0].update(members=["usr_nobody"]),
         "organization org_acme: members: no user 'usr_nobody' in users"),
        (lambda d: d["organizations"][1]["api_keys"][0].update(key=KEYS["sync"]),
         "organization org_maker: api_keys: key 'key_maker' is also given to organization org_acme"),
    ],
)
def test_bad_fixtures_are_refused_naming_the_field(tmp_path, change, message):
    document = tiny_document()
    change(document)
    with pytest.raises(DatasetError) as caught:
        load_dataset(write(tmp_path, document))
    assert message in str(caught.value)


def test_directory_layout_reads_parquet_rows_and_names_bad_rows(tmp_path):
    document = tiny_document()
    shop = document["organizations"][0]["sites"][0]
    events = pl.DataFrame([{**e, "site_id": "site_shop", "properties": json.dumps(e.get("properties", {}))}
                           for e in shop.pop("events")], infer_schema_length=None)
    shop.pop("visitors")
    hobby = document["organizations"][1]["sites"][0]
    hobby.pop("events")
    write(tmp_path, document)
    events.write_parquet(tmp_path / "events.parquet")
    dataset = load_dataset(tmp_path)
    loaded = dataset.organizations["org_acme"].sites["site_shop"].events
    assert loaded.height == 17 and loaded["revenue"].sum() == 49.0
    assert loaded.filter(pl.col("id") == "evt_a4")["properties"][0] == '{"plan":"pro"}'
    events.with_columns(type=pl.when(pl.col("id") == "evt_b2").then(pl.lit("scroll"))
                        .otherwise(pl.col("type"))).write_parquet(tmp_path / "events.parquet")
    with pytest.raises(DatasetError, match=r"site site_shop: events.parquet\[7\].type: "
                                           r"unexpected value 'scroll'"):
        load_dataset(tmp_path)
