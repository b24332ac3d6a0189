"""The EngageTrack generator: deterministic, loadable, and the same traffic as Vemetric's."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.reference.engagetrack.dataset import load_dataset
from pipelines.reference.engagetrack.generate import READ_SCOPES, generate
from pipelines.reference.vemetric.generate import generate as generate_vemetric


def test_same_arguments_write_identical_files_that_load(tmp_path):
    first = generate(tmp_path / "a", users=120, days=7, seed=3, start=date(2026, 2, 1))
    generate(tmp_path / "b", users=120, days=7, seed=3, start=date(2026, 2, 1))
    for name in ("fixture.json", "events.parquet", "visitors.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    dataset = load_dataset(tmp_path / "a")
    org = dataset.organizations["org_generated"]
    assert org.plan == "startup" and list(org.api_keys[0].scopes) == READ_SCOPES
    site = org.sites["site_generated"]
    assert site.events.height == first.events
    assert site.visitors.height == first.visitors == 120
    assert site.visitors["email"].drop_nulls().len() == first.identified


def test_traffic_is_the_vemetric_generators_in_engagetrack_terms(tmp_path):
    summary = generate(tmp_path / "et", users=200, days=10, seed=5, start=date(2026, 1, 10))
    vemetric = generate_vemetric(tmp_path / "vm", users=200, days=10, seed=5, start=date(2026, 1, 10))
    assert (summary.events, summary.pageviews, summary.sessions) == \
        (vemetric.events, vemetric.pageviews, vemetric.sessions)
    events = pl.read_parquet(tmp_path / "et" / "events.parquet")
    purchases = events.filter(pl.col("type") == "purchase")
    assert purchases["revenue"].min() > 0 and set(purchases["currency"]) == {"USD"}
    assert set(events.filter(pl.col("type") == "custom")["name"]) <= {"signup"}
    assert set(events["channel"]) <= {"Organic Search", "Social", "Email", "Paid Search",
                                      "AI Assistants", "Direct"}
