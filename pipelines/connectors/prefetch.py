"""Ordered read-ahead: fetch the next keys' pages while the caller works on the current one.

A listing that costs a chain of requests per key (Vemetric's events, one user at a time)
otherwise leaves the server idle while the client parses, validates and lands, and the
client idle while the server answers. :func:`read_ahead` pages up to ``ahead`` keys at once
in a small thread pool (sharing the caller's connector: its ``httpx.Client``, retries, rate
budget and stats are thread-safe) and yields ``(key, pages)`` strictly in the keys' order,
so whatever the caller builds is the same as with one key at a time.

Bounded: at most ``ahead`` keys are being paged or waiting to be consumed at any moment.

Failures stop everything: the first error (a 401, a page that stays malformed…) is raised
to the caller as it was raised in the worker; no further key is started, keys being paged
stop before their next request, and the pool is shut down before the error propagates, so
no request is sent after :func:`read_ahead` has raised or been closed. The same holds when
the caller itself fails between pages (use it in a ``with contextlib.closing(...)`` or a
plain ``for`` loop in a function whose frame goes away).

Example::

    pages_of = lambda uid: connector.user_event_pages(uid, span)
    for user_id, pages in read_ahead(user_ids, pages_of, ahead=4):
        ...
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["read_ahead"]

K = TypeVar("K")
P = TypeVar("P")


class _Stopped(Exception):
    """A fetch gave up because another one (or the caller) failed."""


def read_ahead(
    keys: Iterable[K], pages_of: Callable[[K], Iterable[P]], *, ahead: int
) -> Iterator[tuple[K, list[P]]]:
    """``(key, list(pages_of(key)))`` for every key, in order, up to ``ahead`` keys at once.

    ``ahead <= 1`` pages one key at a time in the caller's thread, with no pool at all.
    """
    if ahead <= 1:
        for key in keys:
            yield key, list(pages_of(key))
        return

    stop = threading.Event()
    errors: list[BaseException] = []  # the first failure of any worker, in time

    def fetch(key: K) -> list[P]:
        pages: list[P] = []
        try:
            for page in pages_of(key):
                pages.append(page)
                if stop.is_set():
                    raise _Stopped
        except _Stopped:
            raise
        except BaseException as exc:
            errors.append(exc)
            stop.set()
            raise
        return pages

    pending: deque[tuple[K, Future[list[P]]]] = deque()
    todo = iter(keys)
    with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="read-ahead") as pool:
        try:
            while True:
                while len(pending) < ahead and not stop.is_set():
                    key = next(todo, _END)
                    if key is _END:
                        break
                    pending.append((key, pool.submit(fetch, key)))
                if not pending:
                    return
                key, future = pending.popleft()
                try:
                    pages = future.result()
                except _Stopped:
                    pages = None
                if errors:  # this key's own failure, or an earlier one of a key further on
                    raise errors[0]
                yield key, pages
        finally:
            stop.set()
            for _, future in pending:
                future.cancel()


_END = object()
