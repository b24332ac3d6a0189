"""Proactive pacing: spend an API's rate-limit window without ever hitting its 429.

Vemetric allows 100 requests per fixed 60 s window per project, shared by every key of the
project, and says where the window stands on every answer (``X-RateLimit-Limit``,
``-Remaining``, ``-Reset``). Retrying after a 429 works, but a long backfill that runs into
the wall every minute wastes a request per window and floods the logs. A :class:`RateBudget`
counts what is left of the window locally (requests in flight included), waits for the reset
once it is spent, and re-tunes itself from every answer's headers. One budget serves every
asset and thread of a run: get it from :func:`budget_for`.

Example::

    budget = budget_for("https://api.vemetric.com", api_key)
    waited = budget.acquire()            # blocks while the window is spent
    try:
        response = http.get(url)
    finally:
        budget.release(response.headers)  # or None when no answer came
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "RateBudget",
    "RateLimitHeaders",
    "budget_for",
    "clear_budgets",
    "reset_at",
]

# Above these, a reset value cannot be a delay in seconds: 10**9 s is 31 years, 10**12 ms
# is 2001 as an epoch time. Peer APIs use all three forms (specs/peer-apis.md §7.2).
EPOCH_SECONDS_FLOOR = 1_000_000_000
EPOCH_MILLIS_FLOOR = 1_000_000_000_000


def reset_at(value: str, now: float) -> float:
    """The absolute epoch time (seconds) a rate-limit ``Reset`` header value points at.

    Accepts epoch milliseconds, epoch seconds and delta seconds; raises ``ValueError`` for
    anything that is not a non-negative number.
    """
    number = float(value.strip())
    if number != number or number < 0:  # NaN or negative
        raise ValueError(f"not a rate-limit reset value: {value!r}")
    if number >= EPOCH_MILLIS_FLOOR:
        return number / 1000.0
    if number >= EPOCH_SECONDS_FLOOR:
        return number
    return now + number


@dataclass(frozen=True)
class RateLimitHeaders:
    """One answer's ``X-RateLimit-*`` headers, with the reset made absolute (epoch seconds)."""

    limit: int
    remaining: int
    reset_at: float

    @classmethod
    def parse(cls, headers: Mapping[str, str], now: float) -> RateLimitHeaders | None:
        """The headers, or ``None`` if any of the three is absent or not a number."""
        try:
            return cls(
                limit=int(headers["x-ratelimit-limit"]),
                remaining=int(headers["x-ratelimit-remaining"]),
                reset_at=reset_at(headers["x-ratelimit-reset"], now),
            )
        except (KeyError, ValueError):
            return None


class RateBudget:
    """What is left of the API's current rate-limit window, shared by threads.

    Before the first answer nothing is known, so only one request is in flight at a time.
    Afterwards each :meth:`acquire` spends one request of the window; when none is left it
    waits until the window's reset plus ``margin`` seconds (one thread sleeps, the others
    wait for it). When a new window starts and its reset is not known yet, at most
    ``limit`` requests go out before an answer tells where the new window ends.
    """

    def __init__(
        self,
        *,
        margin: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Condition()
        self._limit: int | None = None
        self._remaining = 0
        self._reset_at: float | None = None
        self._heard = False  # any answer at all, with or without headers
        self._in_flight = 0
        self._sleeping = False

    def __repr__(self) -> str:
        return (
            f"RateBudget(limit={self._limit}, remaining={self._remaining}, "
            f"reset_at={self._reset_at}, in_flight={self._in_flight})"
        )

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds this call slept."""
        slept = 0.0
        with self._lock:
            while (wait := self._wait_needed()) is not None:
                if wait > 0 and not self._sleeping:
                    slept += self._sleep_unlocked(wait)
                else:
                    self._lock.wait()
            self._in_flight += 1
        return slept

    def release(self, headers: Mapping[str, str] | None) -> None:
        """Mark one request as answered (``headers``) or failed without an answer (``None``)."""
        parsed = RateLimitHeaders.parse(headers, self._clock()) if headers is not None else None
        with self._lock:
            if headers is not None:
                self._heard = True
            if parsed is not None:
                self._tune(parsed)
            self._in_flight -= 1
            self._lock.notify_all()

    def _wait_needed(self) -> float | None:
        """None: go ahead (and the request is counted). 0: wait for an answer. >0: sleep."""
        now = self._clock()
        if self._reset_at is not None and now >= self._reset_at + self.margin:
            self._remaining, self._reset_at = self._limit or 0, None  # a fresh window
        if self._limit is None:
            # Nothing known yet (or the API sends no headers): one at a time until it answers.
            if self._heard or self._in_flight == 0:
                return None
            return 0.0
        if self._remaining > 0:
            self._remaining -= 1
            return None
        if self._reset_at is None:
            # Spent a new window before hearing where it ends: wait for an answer, unless
            # none can come (every request failed without one); then one request may probe.
            return 0.0 if self._in_flight else None
        return self._reset_at + self.margin - now

    def _sleep_unlocked(self, seconds: float) -> float:
        self._sleeping = True
        self._lock.release()
        try:
            self._sleep(seconds)
        finally:
            self._lock.acquire()
            self._sleeping = False
            self._lock.notify_all()
        return seconds

    def _tune(self, seen: RateLimitHeaders) -> None:
        # Other requests still in flight may be counted in this window after this answer.
        others = self._in_flight - 1
        self._limit = seen.limit
        if self._reset_at is None or seen.reset_at > self._reset_at + self.margin:
            self._reset_at = seen.reset_at  # a window we had not seen yet
            self._remaining = max(0, seen.remaining - others)
        else:
            # Same window: our own count already includes requests the server has not seen;
            # a lower server count means someone else spends this project's budget too.
            self._remaining = max(0, min(self._remaining, seen.remaining))


_REGISTRY: dict[tuple[str, str], RateBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_for(base_url: str, api_key: str) -> RateBudget:
    """The process-wide budget for one API root and key (keyed by the key's SHA-256)."""
    key = (base_url.rstrip("/"), hashlib.sha256(api_key.encode()).hexdigest())
    with _REGISTRY_LOCK:
        if key not in _REGISTRY:
            _REGISTRY[key] = RateBudget()
        return _REGISTRY[key]


def clear_budgets() -> None:
    """Forget every shared budget (tests start from a clean process state)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
