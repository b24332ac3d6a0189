"""``read_ahead``: order kept, memory bounded, a failure stops every fetch."""

from __future__ import annotations

import threading
import time

import pytest

from pipelines.connectors.prefetch import read_ahead


class Pages:
    """Three pages per key, later keys answering faster; tracks keys started and running."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0

    def __call__(self, key: int):
        with self.lock:
            self.started.append(key)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            for page in range(3):
                time.sleep(0.001 * (10 - key))
                if key == self.fail_at:
                    raise RuntimeError(f"key {key} failed")
                yield (key, page)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("ahead", [1, 2, 4])
def test_results_come_in_key_order_with_every_page(ahead):
    pages = Pages()
    got = list(read_ahead(range(10), pages, ahead=ahead))
    assert got == [(k, [(k, 0), (k, 1), (k, 2)]) for k in range(10)]
    assert pages.most_running <= ahead


def test_no_more_than_ahead_keys_are_fetched_or_buffered():
    pages = Pages()
    consumed = 0
    for key, _ in read_ahead(range(10), pages, ahead=3):
        time.sleep(0.02)  # a slow caller: the pool waits for it
        consumed += 1
        assert len(pages.started) <= consumed + 2


def test_a_failure_stops_every_fetch_and_is_raised():
    pages = Pages(fail_at=4)
    with pytest.raises(RuntimeError, match="key 4 failed"):
        for _ in read_ahead(range(10), pages, ahead=3):
            pass
    assert pages.running == 0  # nothing left running once the error is raised
    assert max(pages.started) <= 6


def test_a_caller_that_stops_early_stops_the_pool():
    pages = Pages()
    fetched = read_ahead(range(10), pages, ahead=3)
    next(fetched)
    fetched.close()
    assert pages.running == 0
    assert len(pages.started) <= 4
