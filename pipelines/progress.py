"""Where a running sync reports progress, so a display can follow a Dagster run in-process.

Assets run inside Dagster and cannot be handed a callback; they call :func:`current` instead.
``funnelhouse sync`` installs its rich display with :func:`observing` around the run; anywhere
else (``dagster dev``, tests) the silent default is used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class SyncObserver(Protocol):
    """Told what a running sync is doing."""

    def connected(self, connector: Any) -> None:
        """A connector was opened; its ``stats`` (requests, rate-limit headers) can be polled."""

    def expect(self, requests: int) -> None:
        """About ``requests`` more requests are to come (for the ETA): said once a listing
        tells how many users' pages the rest of the run asks for."""

    def rows(self, table: str, count: int) -> None:
        """``count`` more rows of ``table`` were received and staged."""


class Silent:
    def connected(self, connector: Any) -> None:
        pass

    def expect(self, requests: int) -> None:
        pass

    def rows(self, table: str, count: int) -> None:
        pass


_lock = threading.Lock()
_observer: SyncObserver = Silent()


def current() -> SyncObserver:
    return _observer


@contextmanager
def observing(observer: SyncObserver) -> Iterator[SyncObserver]:
    """Send progress to ``observer`` for the duration of the block (one sync at a time)."""
    global _observer
    with _lock:
        previous, _observer = _observer, observer
    try:
        yield observer
    finally:
        with _lock:
            _observer = previous
