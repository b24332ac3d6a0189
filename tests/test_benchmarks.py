"""The benchmark (issue 7) runs end to end, so it never rots; its helpers do what they say.

Nothing here checks a speed: the quick run is asserted on its structure, on every step having
handled the dataset's events, and on the three HTTP clients making exactly the requests the
Vemetric paging rules imply.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bare  # noqa: E402
import run as bench  # noqa: E402
from _measure import Sample, spread  # noqa: E402

HEADER = ("| events | step | wall s | events/s | peak RSS MB | requests | funnelhouse ÷ step, "
          "events/s | funnelhouse ÷ step, peak RSS | wall ÷ smallest size |")
HTTP_STEPS = ("funnelhouse", "dlt-parquet", "dlt-default", "bare-loop")


def expected_requests(dataset: Path) -> tuple[int, int]:
    """(events, requests) of the Vemetric pattern over the whole dataset: pages of 1000 users,
    then each user's events in pages of 1000, every listing ending on its first short page."""
    events = pl.read_parquet(dataset / "events.parquet")
    per_user = events.group_by("userId").len()["len"]
    users = per_user.len()
    return events.height, users // 1000 + 1 + sum(n // 1000 + 1 for n in per_user)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[str, list[dict], Path]:
    tmp = tmp_path_factory.mktemp("bench")
    finished = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--data", str(tmp / "data"),
         "--json", str(tmp / "samples.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout, json.loads((tmp / "samples.json").read_text()), tmp / "data"


@pytest.mark.slow
def test_quick_run_prints_one_row_per_size_and_step(quick_run):
    out, _, _ = quick_run
    lines = out.splitlines()
    at = lines.index(HEADER)
    rows = [line for line in lines[at + 2:] if line.startswith("| ")]
    assert len(rows) == len(bench.QUICK_SIZES) * len(bench.STEPS)
    labels = [row.split(" | ")[1] for row in rows]
    assert labels == list(bench.STEPS.values()) * len(bench.QUICK_SIZES)
    goals = [line for line in lines if line.startswith("goal: ")]
    assert len(goals) == 3 and all(g.endswith(("met", "MISSED")) for g in goals)
    assert any(line.startswith("machine: ") for line in lines)


@pytest.mark.slow
def test_every_step_handled_every_event_and_clients_made_the_same_requests(quick_run):
    _, measured, data = quick_run
    assert [(m["size"], m["step"]) for m in measured] == [
        (size, step) for size in bench.QUICK_SIZES for step in bench.STEPS]
    for m in measured:
        events, requests = expected_requests(data / f"vemetric-{m['size']}-30d")
        (sample,) = m["samples"]
        assert sample["rows"] == events, m["step"]
        assert sample["seconds"] > 0 and sample["peak_rss_mb"] > 0
        if m["step"] in HTTP_STEPS:
            assert sample["requests"] == requests, m["step"]
        else:
            assert sample["requests"] is None, m["step"]


def test_spread_is_median_min_max():
    s = spread([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.low, s.high) == (2.5, 1.0, 10.0)
    with pytest.raises(ValueError, match="no measurements"):
        spread([])


def test_ratios_pair_runs_and_format_median_min_max():
    assert bench.paired([10.0, 20.0, 30.0], [5.0, 5.0, 10.0]) == [2.0, 4.0, 3.0]
    assert bench.fmt([2.0, 4.0, 3.0]) == "3.00 [2.00–4.00]"
    assert bench.fmt([]) == "—"


def test_sizes_are_parsed_sorted_and_checked():
    assert bench.parse_sizes("1000000,100_000") == [100_000, 1_000_000]
    for bad in ("ten", "50", ","):
        with pytest.raises(Exception, match="expected comma-separated|at least 100"):
            bench.parse_sizes(bad)


def test_bare_loop_reads_the_count_from_the_head_or_parses_the_body():
    assert bare._returned(b'{"period":{},"pagination":{"limit":1000,"offset":0,"returned":17},'
                          b'"events":[]}') == 17
    late = b'{"events":[' + b'{"name":"x"},' * 100 + b'{}],"pagination":{"returned":101}}'
    assert bare._returned(late) == 101


def test_dlt_paginator_stops_on_a_short_page_and_counts_responses():
    from dlt_peer import ShortPageOffset

    paginator = ShortPageOffset(limit=3)
    ShortPageOffset.responses = 0
    paginator.update_state(None, [1, 2, 3])
    assert paginator.has_next_page and paginator.current_value == 3
    paginator.update_state(None, [4])
    assert not paginator.has_next_page
    assert ShortPageOffset.responses == 2


def measured(size: int, step: str, seconds: list[float], rows: int, rss: list[float],
             requests: int | None = None) -> bench.Measured:
    return bench.Measured(size, step, [Sample(t, rows, requests, m) for t, m in zip(seconds, rss)])


def synthetic_results() -> list[bench.Measured]:
    """Two sizes, two runs: funnelhouse twice as fast as the other steps at the small size."""
    results = []
    for size, scale in ((100, 1.0), (1000, 8.0)):
        rows = size * 10
        for step in bench.STEPS:
            fast = step == "funnelhouse"
            seconds = [scale * (1.0 if fast else 2.0), scale * (1.0 if fast else 4.0)]
            rss = [100.0, 100.0] if fast else [200.0, 400.0]
            results.append(measured(size, step, seconds, rows, rss,
                                    7 if step in ("funnelhouse", "bare-loop") else None))
    return results


def test_table_holds_medians_ratios_per_run_and_growth_against_the_smallest_size():
    lines = bench.table(synthetic_results())
    assert lines[0] == HEADER
    cells = {(row.split(" | ")[0][2:], row.split(" | ")[1]): row.strip("| ").split(" | ")
             for row in lines[2:]}
    fh = cells[("10,000", "funnelhouse sync (users + events)")]
    assert fh[2:6] == ["8.00 [8.00–8.00]", "1,250 [1,250–1,250]", "100 [100–100]", "7"]
    assert fh[6:8] == ["—", "—"] and fh[8] == "8.00 [8.00–8.00]"
    dlt = cells[("10,000", "dlt rest_api, parquet loader")]
    # per run: funnelhouse 1250 events/s against 625 then 312.5; RSS 100 against 200 then 400
    assert dlt[5:] == ["—", "3.00 [2.00–4.00]", "0.38 [0.25–0.50]", "8.00 [8.00–8.00]"]
    assert cells[("1,000", "render weekly report")][6:] == ["—", "—", "—"]


def test_goals_compare_the_largest_size_with_the_issue_thresholds():
    goals = bench.goal_lines(synthetic_results())
    assert goals == [
        "goal: funnelhouse >= 6x dlt (parquet) in events/s at 1,000: 3.00x -> MISSED",
        "goal: funnelhouse peak RSS below dlt (parquet): ratio 0.38 -> met",
        "goal: funnelhouse >= 0.8 of the bare loop: 3.00 -> met",
        "goal: funnelhouse wall time from 100 to 1,000 events (x10.0 events) within 12x: "
        "8.00x -> met",
    ]


def test_steps_keep_their_order_and_bring_what_they_build_on():
    assert bench.parse_steps("report") == ["funnelhouse", "models", "report"]
    assert bench.parse_steps("bare-loop,dlt-default") == ["dlt-default", "bare-loop"]
    with pytest.raises(Exception, match=r"unknown steps \['curl'\]"):
        bench.parse_steps("bare-loop,curl")


def test_saved_runs_merge_later_files_over_earlier_ones(tmp_path):
    results = synthetic_results()
    first = tmp_path / "first.json"
    first.write_text(json.dumps([bench.asdict(m) for m in results]))
    again = measured(100, "report", [9.0], 1000, [50.0])
    second = tmp_path / "second.json"
    second.write_text(json.dumps([bench.asdict(again)]))
    merged = bench.load_samples([first, second])
    assert [(m.size, m.step) for m in merged] == [(m.size, m.step) for m in results]
    assert merged[[(m.size, m.step) for m in merged].index((100, "report"))] == again


def test_goals_of_steps_not_run_are_left_out():
    only = [m for m in synthetic_results() if m.step in ("funnelhouse", "bare-loop")
            and m.size == 1000]
    assert bench.goal_lines(only) == ["goal: funnelhouse >= 0.8 of the bare loop: 3.00 -> met"]
    assert bench.goal_lines([m for m in synthetic_results() if m.step == "report"]) == []


def test_default_plan_runs_dlt_default_once_and_larger_sizes_once_without_dlt():
    steps = list(bench.STEPS)
    plan = bench.run_plan([100_000, 1_000_000], steps, 3, full=False)
    assert {step: plan[100_000, step] for step in steps} == {
        "funnelhouse": 3, "dlt-parquet": 3, "dlt-default": 1, "bare-loop": 3, "duckdb-load": 3,
        "models": 3, "report": 3}
    assert {step: n for (size, step), n in plan.items() if size == 1_000_000} == {
        "funnelhouse": 1, "bare-loop": 1, "duckdb-load": 1, "models": 1, "report": 1}
    full = bench.run_plan([100_000, 1_000_000], steps, 3, full=True)
    assert set(full.values()) == {3} and len(full) == 2 * len(steps)
    assert bench.run_plan([1_000], steps, 1, full=False) == {(1_000, s): 1 for s in steps}


def test_figures_with_fewer_runs_are_marked_and_steps_left_out_are_named():
    results = [m for m in synthetic_results()
               if m.size == 100 or m.step in bench.AT_LARGER_SIZES]
    for m in results:
        if m.size == 1000:
            m.samples[1:] = []
    lines = bench.table(results)
    labels = [(row.split(" | ")[0][2:], row.split(" | ")[1]) for row in lines[2:]]
    # the events column holds the events handled: 10 per dataset size unit here
    assert ("1,000", "dlt rest_api, default loader") in labels
    assert ("10,000", "funnelhouse sync (users + events) (1 run)") in labels
    assert ("10,000", "dlt rest_api, parquet loader") not in labels
    assert bench.not_run(results) == [
        "not run at 1,000 events (the default plan; --full runs them): "
        "dlt rest_api, parquet loader; dlt rest_api, default loader"]
    # dlt's goals are read at the largest size dlt ran at
    assert bench.goal_lines(results)[0] == (
        "goal: funnelhouse >= 6x dlt (parquet) in events/s at 100: 3.00x -> MISSED")
