"""Requests per second of the Vemetric reference server on the sync's request pattern.

The sync asks ``POST /v1/users/events?id=...`` once per user, so the server's per-request
cost (not the query) bounds it. Two measurements on a generated 100,000-event dataset:

- over HTTP: ``funnelhouse serve vemetric`` in its own process (rate limit lifted) and a plain
  ``httpx.Client`` loop over every active user's events pages (``bare.fetch_loop``);
  ``--repeat`` runs, median reported, with the server's CPU time per request (the loop's
  wall time also holds the client's); ``--baseline DIR`` serves another checkout too, round
  by round in the same run, for old vs new;
- in-process under cProfile: the same requests through ``TestClient`` (no socket), top
  functions by cumulative time, to see where a request's time goes (``--profile N`` requests,
  0 to skip).

Run: ``.venv/bin/python benchmarks/bench_reference_requests.py [--events 100000]
[--baseline /tmp/old-ref]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import DEFAULT_DATA, ROOT, Server, api_key, dataset, spread, window_days  # noqa: E402
from bare import fetch_loop  # noqa: E402

from pipelines.connectors.vemetric import date_range  # noqa: E402


def over_http(path: Path, repeat: int, roots: dict[str, Path]) -> None:
    """Each checkout's server in turn, ``repeat`` rounds; requests/s and CPU per request.

    The loop's wall time is the client's work plus the server's, one request at a time, so
    beside requests/s the server's own CPU time per request (its process's user + system time
    over the loop) is the figure that says what a request costs the server.
    """
    first, last = window_days()
    key = api_key(path)
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in roots}
    servers = {name: Server(path, root) for name, root in roots.items()}
    try:
        for server in servers.values():
            fetch_loop(server.url, key, first, first)  # warm-up: one day's users
        for _ in range(repeat):
            for name, server in servers.items():
                figures[name].append(_timed_loop(server, key, first, last))
                rate, server_ms, client_ms = figures[name][-1]
                print(f"  {name}: {rate:,.0f} requests/s, server CPU {server_ms:.3f} ms and "
                      f"client CPU {client_ms:.3f} ms a request (load {os.getloadavg()[0]:.1f})")
    finally:
        for server in servers.values():
            server.__exit__()
    for name, rows in figures.items():
        rate, server_ms = spread([r[0] for r in rows]), spread([r[1] for r in rows])
        print(f"{name}: median {rate.median:,.0f} requests/s (min {rate.low:,.0f}, max "
              f"{rate.high:,.0f}); server CPU median {server_ms.median:.3f} ms a request")


def _timed_loop(server: Server, key: str, first, last) -> tuple[float, float, float]:
    """(requests/s, server CPU ms a request, client CPU ms a request) of one bare loop."""
    served, client = psutil.Process(server.process.pid), psutil.Process()
    before = (_cpu(served), _cpu(client), time.perf_counter())
    _, requests = fetch_loop(server.url, key, first, last)
    after = (_cpu(served), _cpu(client), time.perf_counter())
    return (requests / (after[2] - before[2]), (after[0] - before[0]) / requests * 1000,
            (after[1] - before[1]) / requests * 1000)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def profiled(path: Path, requests: int, top: int) -> None:
    """Drive the ASGI app directly on one event loop (no client, no socket), under cProfile.

    The app's ``run_in_threadpool`` is swapped for a direct call while profiling, so the
    query work lands on the profiled thread instead of an unseen worker thread.
    """
    import asyncio

    from pipelines.reference.vemetric import app as app_module
    from pipelines.reference.vemetric.dataset import load_dataset

    async def inline(func, *args, **kwargs):
        return func(*args, **kwargs)

    first, last = window_days()
    span = date_range(first, last)
    app = app_module.create_app(load_dataset(path), rate_limit=10**9)
    auth = f"Bearer {api_key(path)}".encode()

    async def call(target: str, query: bytes, body: bytes) -> bytes:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": target, "raw_path": target.encode(),
            "query_string": query, "root_path": "", "server": ("bench", 80),
            "client": ("127.0.0.1", 1), "headers": [
                (b"host", b"bench"), (b"authorization", auth),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())],
        }
        chunks: list[bytes] = []
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(chunks)

    async def run() -> tuple[int, float, cProfile.Profile]:
        users = orjson.loads(await call("/v1/users", b"", orjson.dumps(
            {"dateRange": span, "limit": 1000})))["users"]
        ids = [u["id"].encode() for u in users][:requests]
        body = orjson.dumps({"dateRange": span, "limit": 1000, "offset": 0})
        for user_id in ids:  # warm-up
            await call("/v1/users/events", b"id=" + user_id, body)
        profile = cProfile.Profile()
        began = time.perf_counter()
        profile.enable()
        for user_id in ids:
            await call("/v1/users/events", b"id=" + user_id, body)
        profile.disable()
        return len(ids), time.perf_counter() - began, profile

    original = app_module.run_in_threadpool
    app_module.run_in_threadpool = inline
    try:
        count, seconds, profile = asyncio.run(run())
    finally:
        app_module.run_in_threadpool = original
    print(f"in-process ASGI under cProfile: {count} requests in {seconds:.2f} s "
          f"({seconds / count * 1000:.2f} ms each, profiler overhead included)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=500, help="requests to profile; 0: none")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="serve from this checkout (a dir holding pipelines/) for HTTP runs")
    parser.add_argument("--baseline", type=Path,
                        help="also serve this checkout (e.g. `git worktree add /tmp/old-ref "
                             "HEAD~1`), alternating with --root round by round")
    args = parser.parse_args()
    path = dataset(args.data, args.events)
    if args.repeat:
        roots = {"served": args.root.resolve()}
        if args.baseline:
            roots = {"baseline": args.baseline.resolve(), "served": args.root.resolve()}
        over_http(path, args.repeat, roots)
    if args.profile:
        profiled(path, args.profile, args.top)


if __name__ == "__main__":
    main()
