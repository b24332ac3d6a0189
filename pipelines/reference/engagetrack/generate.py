"""Generate a realistic, deterministic EngageTrack dataset in the directory layout.

The traffic is the Vemetric generator's (same visitors, sessions, walks, signups and
purchases for the same arguments; see ``pipelines.reference.vemetric.generate``), told in
EngageTrack's terms: pageviews stay pageviews, clicks become ``click``, outbound links
``outbound``, purchases ``purchase`` with their amount as revenue, signups ``custom``
events named ``signup``; the referrer type becomes a channel. Visitors who signed up get a
visitor row with an email and external id; the others are anonymous. One organization on
the Startup plan, one dashboard user, one API key holding the six read scopes, one site
with goals, three funnels and an annotation.

    summary = generate(Path("data/engagetrack"), users=1000, days=30, seed=7)
    print(summary.describe())
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.reference.clock import format_seconds, parse_utc
from pipelines.reference.engagetrack.dataset import EVENT_SCHEMA, VISITOR_SCHEMA
from pipelines.reference.vemetric.generate import GenerateError
from pipelines.reference.vemetric.generate import generate as generate_traffic

__all__ = ["GenerateError", "GenerateSummary", "READ_SCOPES", "generate"]

READ_SCOPES = ["analytics:read", "sites:read", "funnels:read", "goals:read", "visitors:read",
               "annotations:read"]
ORG_ID, SITE_ID = "org_generated", "site_generated"
CHANNELS = {"search": "Organic Search", "social": "Social", "email": "Email",
            "paid": "Paid Search", "llm": "AI Assistants", "direct": "Direct"}
TYPES = {"click": "click", "$$outboundLink": "outbound", "purchase": "purchase",
         "signup": "custom"}


@dataclass(frozen=True)
class GenerateSummary:
    out: Path
    visitors: int
    identified: int
    sessions: int
    events: int
    pageviews: int
    revenue: float
    seconds: float

    def describe(self) -> str:
        return "\n".join([
            f"Wrote an engagetrack dataset to {self.out} in {self.seconds:.1f} s",
            f"  1 organization (startup), 1 site, API key 'Warehouse sync' with the read scopes"
            f" (raw key in {self.out / 'fixture.json'})",
            f"  {self.visitors:,} visitors ({self.identified:,} identified), "
            f"{self.sessions:,} sessions, {self.events:,} events ({self.pageviews:,} pageviews), "
            f"revenue {self.revenue:,.2f}",
        ])


def generate(out: Path, *, users: int, days: int, seed: int,
             start: date | None = None) -> GenerateSummary:
    """Write ``fixture.json``, ``events.parquet`` and ``visitors.parquet`` into ``out``."""
    began = time.perf_counter()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="engagetrack-traffic-") as tmp:
        generate_traffic(Path(tmp), users=users, days=days, seed=seed, start=start)
        source = json.loads((Path(tmp) / "fixture.json").read_text())
        events = _events(pl.read_parquet(Path(tmp) / "events.parquet"))
        visitors = _visitors(pl.read_parquet(Path(tmp) / "users.parquet"))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "fixture.json").write_text(json.dumps(_fixture(source, seed), indent=2) + "\n")
    events.write_parquet(out / "events.parquet")
    visitors.write_parquet(out / "visitors.parquet")
    return GenerateSummary(
        out=out, visitors=events["visitor_id"].n_unique(), identified=visitors.height,
        sessions=events["session_id"].n_unique(), events=events.height,
        pageviews=int((events["type"] == "pageview").sum()),
        revenue=float(events["revenue"].sum()), seconds=time.perf_counter() - began,
    )


def _events(source: pl.DataFrame) -> pl.DataFrame:
    data = pl.col("customData").str.json_path_match
    kind = pl.when(pl.col("isPageView")).then(pl.lit("pageview")) \
        .otherwise(pl.col("name").replace_strict(TYPES, default="custom"))
    frame = source.sort("createdAt", "sessionId", maintain_order=True).select(
        pl.format("evt_{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9)).alias("id"),
        ("v_" + pl.col("userId")).alias("visitor_id"),
        pl.col("sessionId").alias("session_id"),
        kind.alias("type"),
        pl.when(pl.col("isPageView")).then(pl.lit(""))
        .when(pl.col("name") == "$$outboundLink").then(data("$.href"))
        .when(pl.col("name") == "click").then(data("$.target"))
        .otherwise(pl.col("name")).alias("name"),
        pl.col("createdAt").alias("timestamp"),
        pl.col("pathname").alias("path"),
        pl.lit("").alias("title"),
        pl.col("referrerUrl").alias("referrer"),
        pl.when(pl.col("referrer") == "").then(pl.lit("Direct")).otherwise(pl.col("referrer"))
        .alias("referrer_source"),
        pl.col("referrerType").replace_strict(CHANNELS, default="Referral").alias("channel"),
        pl.col("utmSource").alias("utm_source"), pl.col("utmMedium").alias("utm_medium"),
        pl.col("utmCampaign").alias("utm_campaign"), pl.col("countryCode").alias("country"),
        pl.col("city"), pl.col("clientName").alias("browser"), pl.col("osName").alias("os"),
        pl.col("deviceType").alias("device"),
        pl.when(pl.col("name") == "purchase").then(data("$.amount").cast(pl.Float64))
        .otherwise(0.0).alias("revenue"),
        pl.when(pl.col("name") == "purchase").then(data("$.currency")).otherwise(pl.lit(""))
        .alias("currency"),
        pl.col("customData").alias("properties"),
    )
    frame = frame.with_columns(pl.col("name").fill_null(""), pl.col("currency").fill_null(""))
    return frame.with_columns(site_id=pl.lit(SITE_ID)).select("site_id", *EVENT_SCHEMA)


def _visitors(users: pl.DataFrame) -> pl.DataFrame:
    """Identified visitors (the Vemetric users); anonymous ones get rows when loaded."""
    frame = users.select(
        ("v_" + pl.col("id")).alias("id"),
        pl.col("id").alias("uid"),
        (pl.col("identifier") + "@example.test").alias("email"),
        pl.col("displayName").alias("name"),
        pl.col("avatarUrl").alias("avatar_url"),
        pl.col("identifier").alias("external_id"),
    )
    return frame.with_columns(site_id=pl.lit(SITE_ID)).select("site_id", *VISITOR_SCHEMA)


def _fixture(source: dict, seed: int) -> dict:
    project = source["projects"][0]
    created = project["createdAt"]
    key = "et_live_" + hashlib.sha256(f"engagetrack key {seed}".encode()).hexdigest()[:32]
    return {
        "api": "engagetrack",
        "now": source.get("now"),
        "users": [{"id": "usr_owner", "email": "owner@example.test", "name": "Owner",
                   "password": f"generated-{seed}"}],
        "organizations": [{
            "id": ORG_ID, "name": project["name"], "plan": "startup", "members": ["usr_owner"],
            "api_keys": [{"id": "key_sync", "name": "Warehouse sync", "key": key,
                          "scopes": READ_SCOPES, "created_at": created, "expires_at": None,
                          "revoked_at": None}],
            "sites": [{
                "id": SITE_ID, "name": project["name"], "domain": project["domain"],
                "timezone": "UTC", "public_id": "pk_live_" + key[-16:], "created_at": created,
                "goals": [
                    {"id": "goal_signup", "name": "Signed up", "type": "custom_event",
                     "pattern": "signup", "match_type": "exact", "archived": False,
                     "created_at": created},
                    {"id": "goal_purchase", "name": "Purchased", "type": "custom_event",
                     "pattern": "purchase", "match_type": "exact", "archived": False,
                     "created_at": created},
                    {"id": "goal_pricing", "name": "Saw pricing", "type": "pageview",
                     "pattern": "/pricing", "match_type": "exact", "archived": False,
                     "created_at": created}],
                "funnels": [
                    {"id": "fun_signup", "name": "Signup", "description": "Pricing to signup",
                     "steps": [step("a1", "Pricing", "pageview", "/pricing", "exact"),
                               step("a2", "Signup page", "pageview", "/signup", "exact"),
                               step("a3", "Signed up", "custom_event", "signup", "exact")],
                     "created_at": created, "updated_at": created},
                    {"id": "fun_purchase", "name": "Purchase", "description": "",
                     "steps": [step("b1", "Signed up", "custom_event", "signup", "exact"),
                               step("b2", "Checkout", "pageview", "/checkout", "exact"),
                               step("b3", "Purchased", "custom_event", "purchase", "exact")],
                     "created_at": created, "updated_at": created},
                    {"id": "fun_blog", "name": "Blog readers", "description": "",
                     "steps": [step("c1", "Blog", "pageview", "/blog", "contains"),
                               step("c2", "Pricing", "pageview", "/pricing", "exact")],
                     "created_at": created, "updated_at": created}],
                "annotations": [{"id": "ann_launch", "date": created[:10], "text": "Site launch",
                                 "created_at": format_seconds(parse_utc(created))}],
            }],
        }],
    }


def step(step_id: str, name: str, kind: str, pattern: str, match_type: str) -> dict:
    """A funnel step; ids end in their 1-based order (``st_a2`` is step 2)."""
    return {"id": f"st_{step_id}", "name": name, "order": int(step_id[-1]), "type": kind,
            "pattern": pattern, "match_type": match_type}
