"""Fault injection for reference servers: the failures a real API has on a bad day.

``with_faults(app, Faults.parse("429=0.1,500=0.05,timeout=0.02,truncate=0.01", seed=7))``
wraps any ASGI app without changing it. For each authenticated ``/v1/*`` request (one the
app did not answer 401) a seeded RNG picks at most one fault:

``429``       the request reaches the app (so it counts in the limiter, as rejected requests
              do), then the answer is replaced by Vemetric's 429 body, keeping the app's honest
              ``X-RateLimit-*`` headers
``500``       the answer is replaced by the ``INTERNAL_ERROR`` body
``timeout``   the answer is held back ``hang_seconds`` (default 30) before it is sent
``truncate``  the real body is cut short: valid HTTP (the length header matches), invalid JSON

The same seed and the same request sequence give the same faults. Other APIs pass their own
path prefix and error bodies (``paths=``, ``error_body=``; EngageTrack's 429 names the reset).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "NO_FAULTS",
    "FaultPicker",
    "FaultSpecError",
    "Faults",
    "with_faults",
]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

KINDS = ("429", "500", "timeout", "truncate")
BODIES = {
    "429": {
        "error": {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Rate limit exceeded. Try again shortly.",
        }
    },
    "500": {"error": {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred"}},
}


ErrorBody = Callable[[str, list[tuple[bytes, bytes]]], Any]


def vemetric_error_body(kind: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """Vemetric's body for an injected ``429`` or ``500`` (the app's headers are not needed)."""
    return BODIES[kind]


class FaultSpecError(ValueError):
    """A ``--faults`` specification that cannot be parsed; the message says which part."""


@dataclass(frozen=True)
class Faults:
    """Per-request probabilities of each fault, the RNG seed and how long a hang lasts."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    hang_seconds: float = 30.0

    @classmethod
    def parse(cls, spec: str, *, seed: int = 0, hang_seconds: float = 30.0) -> Faults:
        """Parse ``"429=0.1,500=0.05,timeout=0.02,truncate=0.01"`` (an empty spec: no faults)."""
        rates: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part and spec.strip():
                raise FaultSpecError(f"empty item in fault spec {spec!r}")
            if part:
                kind, rate = _parse_item(part)
                if kind in rates:
                    raise FaultSpecError(f"fault {kind!r} is given twice in {spec!r}")
                rates[kind] = rate
        if sum(rates.values()) > 1.0:
            raise FaultSpecError(f"fault rates in {spec!r} add up to more than 1")
        if hang_seconds < 0:
            raise FaultSpecError(f"hang time must be >= 0 seconds, got {hang_seconds}")
        return cls(rates=rates, seed=seed, hang_seconds=hang_seconds)

    def __str__(self) -> str:
        return ",".join(f"{kind}={self.rates[kind]:g}" for kind in KINDS if kind in self.rates)

    def __bool__(self) -> bool:
        return any(self.rates.values())


NO_FAULTS = Faults()


def _parse_item(part: str) -> tuple[str, float]:
    kind, sep, value = (s.strip() for s in part.partition("="))
    if not sep:
        raise FaultSpecError(f"expected KIND=RATE, got {part!r}")
    if kind not in KINDS:
        raise FaultSpecError(
            f"unknown fault {kind!r} in {part!r}; expected one of {', '.join(KINDS)}"
        )
    try:
        rate = float(value)
    except ValueError:
        raise FaultSpecError(f"rate of {kind!r} is not a number: {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"rate of {kind!r} must be between 0 and 1, got {value}")
    return kind, rate


class FaultPicker:
    """Draws one fault (or none) per request from the seeded RNG; safe across threads."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()

    def pick(self) -> tuple[str | None, float]:
        """The fault for the next request, and a second draw (where a truncation cuts)."""
        with self._lock:
            draw, cut = self._rng.random(), self._rng.random()
        edge = 0.0
        for kind in KINDS:
            edge += self._faults.rates.get(kind, 0.0)
            if draw < edge:
                return kind, cut
        return None, cut


def with_faults(
    app: App,
    faults: Faults,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    paths: tuple[str, ...] = ("/v1/",),
    error_body: ErrorBody = vemetric_error_body,
) -> App:
    """``app`` with ``faults`` injected into its authenticated answers under ``paths``.

    ``error_body(kind, headers)`` gives the JSON body of an injected ``429``/``500`` from the
    app's own answer headers (so a 429 can name the honest ``X-RateLimit-Reset``).
    """
    if not faults:
        return app
    picker = FaultPicker(faults)

    async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(paths):
            await app(scope, receive, send)
            return
        kind, cut = picker.pick()
        if kind is None:
            await app(scope, receive, send)
            return
        start, body = await _answer_of(app, scope, receive)
        if start["status"] != 401:  # only requests the app authenticated
            if kind == "timeout":
                await sleep(faults.hang_seconds)
            else:
                start, body = _replace(kind, start, body, cut, error_body)
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return faulty


async def _answer_of(app: App, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run the app and collect its whole answer instead of sending it."""
    start: Message = {}
    chunks: list[bytes] = []

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    return start, b"".join(chunks)


def _replace(
    kind: str, start: Message, body: bytes, cut: float, error_body: ErrorBody
) -> tuple[Message, bytes]:
    if kind == "truncate":
        # Keep at least one byte and lose at least one: never valid JSON, never empty.
        new_body = body[: max(1, int(len(body) * cut))] if len(body) > 1 else b"{"
        return _with_body(start, start["status"], new_body, keep_type=True), new_body
    new_body = orjson.dumps(error_body(kind, start.get("headers", [])))
    return _with_body(start, int(kind), new_body, keep_type=False), new_body


def _with_body(start: Message, status: int, body: bytes, *, keep_type: bool) -> Message:
    dropped = {b"content-length"} if keep_type else {b"content-length", b"content-type"}
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in dropped]
    headers.append((b"content-length", str(len(body)).encode()))
    if not keep_type:
        headers.append((b"content-type", b"application/json"))
    return {"type": "http.response.start", "status": status, "headers": headers}
