"""Vemetric's per-project fixed-window rate limit (spec §3), on an injectable clock.

Redis ``INCR`` + ``EXPIRE 60`` on the first hit: the window starts at a project's first
request and every request inside it counts, the rejected ones included.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RateState:
    limit: int
    count: int
    reset: int  # absolute unix seconds when the window ends

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.count)),
            "X-RateLimit-Reset": str(self.reset),
        }


class FixedWindowLimiter:
    """Counts requests per key in fixed windows; thread-safe.

    >>> limiter = FixedWindowLimiter(limit=100, window=60, clock=lambda: now)
    >>> limiter.hit("4232882524803099").headers()["X-RateLimit-Remaining"]
    '99'
    """

    def __init__(self, limit: int, window: int, clock: Callable[[], datetime]):
        self.limit, self.window, self.clock = limit, window, clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (expires at, count)
        self._lock = threading.Lock()

    def hit(self, key: str) -> RateState:
        now = self.clock().timestamp()
        with self._lock:
            expires, count = self._windows.get(key, (now, 0))
            if now >= expires:
                expires, count = now + self.window, 0
            count += 1
            self._windows[key] = (expires, count)
        # Redis TTL answers whole seconds (rounded); <= 0 means "use the full window".
        ttl = int(expires - now + 0.5)
        ttl = ttl if ttl > 0 else self.window
        return RateState(self.limit, count, math.ceil(now) + ttl)
