"""Paginators: turn one page's answer into the next request, or say "done".

A paginator does no I/O, so plain dicts test it. The loop that sends, extracts, advances,
yields and stops is written once, in :meth:`pipelines.connectors._http.ApiClient.paginate`.
Every paginator has a stop rule (building one without any raises ``ValueError``) and a hard
``max_pages`` stop that the loop enforces even if the API never says "done".

Each paginator has three methods:

``first(request)``               the first page's request, built from the caller's request
``items(request, body)``         the page's items; raises :class:`PageShapeError` when the page
                                 does not have the shape the paginator relies on, so a broken
                                 page is never mistaken for a short last page
``next(request, body, items)``   the next request, or ``None`` when this was the last page

Example, paging ``POST /v1/users`` (limit and offset in the JSON body)::

    paging = OffsetPaging("users", limit=1000, in_body=True, returned_path="pagination.returned")
    request = paging.first(PageRequest({}, {"dateRange": ["2026-01-01", "2026-01-31"]}))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = [
    "CursorPaging",
    "FieldOffsetPaging",
    "OffsetPaging",
    "PageNumberPaging",
    "PageRequest",
    "PageShapeError",
    "Paginator",
    "RepeatedCursorError",
    "lookup",
]

DEFAULT_MAX_PAGES = 10_000


class PageRequest(NamedTuple):
    """What varies between the pages of one listing: query parameters and JSON body."""

    params: dict[str, Any]
    json: dict[str, Any] | None = None


class PageShapeError(ValueError):
    """A page that lacks what the paginator needs (items, counts, cursor) or has wrong types."""


class RepeatedCursorError(PageShapeError):
    """The API handed back the cursor it was just given: following it would loop forever."""


class Paginator(Protocol):
    max_pages: int

    def first(self, request: PageRequest) -> PageRequest: ...

    def items(self, request: PageRequest, body: Any) -> Any: ...

    def next(self, request: PageRequest, body: Any, items: Any) -> PageRequest | None: ...


def lookup(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested dicts; ``PageShapeError`` if a part is missing."""
    value = body
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise PageShapeError(f"expected '{path}' in the page, it is missing")
        value = value[part]
    return value


def _optional(body: Any, path: str) -> Any:
    try:
        return lookup(body, path)
    except PageShapeError:
        return None


def _integer(body: Any, path: str) -> int:
    value = lookup(body, path)
    # bool is an int in Python, but `true` is not a count.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PageShapeError(f"expected a non-negative integer '{path}', got {value!r}")
    return value


def _item_list(body: Any, key: str) -> list[Any]:
    if not isinstance(body, dict):
        raise PageShapeError(f"expected a JSON object, got {type(body).__name__}")
    items = lookup(body, key)
    if not isinstance(items, list):
        raise PageShapeError(f"expected a list '{key}', got {type(items).__name__}")
    return items


def _check_count(body: Any, path: str | None, items: list[Any]) -> None:
    if path is not None and (returned := _integer(body, path)) != len(items):
        raise PageShapeError(f"'{path}' says {returned} items, the page holds {len(items)}")


def _read(request: PageRequest, in_body: bool, name: str) -> Any:
    source = request.json if in_body else request.params
    return (source or {})[name]


def _place(request: PageRequest, in_body: bool, values: dict[str, Any]) -> PageRequest:
    if in_body:
        return PageRequest(request.params, {**(request.json or {}), **values})
    return PageRequest({**request.params, **values}, request.json)


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class OffsetPaging:
    """``limit``/``offset`` paging, in the query string or the JSON body.

    Stops on a short page (fewer items than ``limit``), on an empty page, or when
    ``offset + items >= total`` if the API reports a total at ``total_path``.
    ``returned_path`` names a count the API echoes (Vemetric's ``pagination.returned``); it
    must be an integer equal to the number of items, or the page is malformed.
    """

    items_key: str
    limit: int = 100
    in_body: bool = False
    limit_param: str = "limit"
    offset_param: str = "offset"
    returned_path: str | None = None
    total_path: str | None = None
    stop_on_short_page: bool = True
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self) -> None:
        _positive("limit", self.limit)
        _positive("max_pages", self.max_pages)
        if not self.stop_on_short_page and self.total_path is None:
            raise ValueError("OffsetPaging needs a stop rule: stop_on_short_page or total_path")

    def first(self, request: PageRequest) -> PageRequest:
        return _place(request, self.in_body, {self.limit_param: self.limit, self.offset_param: 0})

    def items(self, request: PageRequest, body: Any) -> list[Any]:
        items = _item_list(body, self.items_key)
        _check_count(body, self.returned_path, items)
        if self.total_path is not None:
            _integer(body, self.total_path)
        return items

    def next(self, request: PageRequest, body: Any, items: list[Any]) -> PageRequest | None:
        offset = _read(request, self.in_body, self.offset_param)
        if not items or (self.stop_on_short_page and len(items) < self.limit):
            return None
        if self.total_path is not None and offset + len(items) >= _integer(body, self.total_path):
            return None
        return _place(request, self.in_body, {self.offset_param: offset + len(items)})


@dataclass(frozen=True)
class PageNumberPaging:
    """Page-number paging (1-based unless ``first_page`` says otherwise) with a total.

    Stops when ``pages * page_size >= total`` (``total_path``: an item count), when the page
    number reaches ``total_pages_path``, on an empty page, or on a short page.
    """

    items_key: str
    page_size: int = 100
    in_body: bool = False
    page_param: str = "page"
    size_param: str = "limit"
    first_page: int = 1
    total_path: str | None = "total"
    total_pages_path: str | None = None
    stop_on_short_page: bool = True
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self) -> None:
        _positive("page_size", self.page_size)
        _positive("max_pages", self.max_pages)
        if not (self.total_path or self.total_pages_path or self.stop_on_short_page):
            raise ValueError(
                "PageNumberPaging needs a stop rule: total_path, total_pages_path "
                "or stop_on_short_page"
            )

    def first(self, request: PageRequest) -> PageRequest:
        values = {self.page_param: self.first_page, self.size_param: self.page_size}
        return _place(request, self.in_body, values)

    def items(self, request: PageRequest, body: Any) -> list[Any]:
        items = _item_list(body, self.items_key)
        for path in (self.total_path, self.total_pages_path):
            if path is not None:
                _integer(body, path)
        return items

    def next(self, request: PageRequest, body: Any, items: list[Any]) -> PageRequest | None:
        page = _read(request, self.in_body, self.page_param)
        pages_done = page - self.first_page + 1
        if not items or (self.stop_on_short_page and len(items) < self.page_size):
            return None
        if self.total_path and pages_done * self.page_size >= _integer(body, self.total_path):
            return None
        if self.total_pages_path and pages_done >= _integer(body, self.total_pages_path):
            return None
        return _place(request, self.in_body, {self.page_param: page + 1})


@dataclass(frozen=True)
class CursorPaging:
    """Opaque-token paging: pass back the token found at ``cursor_path`` as ``cursor_param``.

    Stops when the token is absent, null or empty. A token equal to the one just sent raises
    :class:`RepeatedCursorError` rather than looping.
    """

    items_key: str
    cursor_path: str
    cursor_param: str = "cursor"
    in_body: bool = False
    page_size: int | None = None
    size_param: str = "limit"
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self) -> None:
        if not self.cursor_path or not self.cursor_param:
            raise ValueError("CursorPaging needs a stop rule: the cursor_path of the next token")
        if self.page_size is not None:
            _positive("page_size", self.page_size)
        _positive("max_pages", self.max_pages)

    def first(self, request: PageRequest) -> PageRequest:
        size = {} if self.page_size is None else {self.size_param: self.page_size}
        return _place(request, self.in_body, size)

    def items(self, request: PageRequest, body: Any) -> list[Any]:
        items = _item_list(body, self.items_key)
        token = _optional(body, self.cursor_path)
        if token is not None and not isinstance(token, str):
            raise PageShapeError(f"expected a string or null '{self.cursor_path}', got {token!r}")
        return items

    def next(self, request: PageRequest, body: Any, items: list[Any]) -> PageRequest | None:
        token = _optional(body, self.cursor_path)
        if not token:
            return None
        sent = (request.json or {}) if self.in_body else request.params
        if sent.get(self.cursor_param) == token:
            raise RepeatedCursorError(f"the API returned the cursor it was sent again: {token!r}")
        return _place(request, self.in_body, {self.cursor_param: token})


@dataclass(frozen=True)
class FieldOffsetPaging:
    """Offset paging applied to each field separately (Vemetric ``POST /v1/filters/values``).

    The body lists ``{"field", "pagination": {"returned"}, "values"}`` per requested field;
    the next request asks again, at the next offset, only for the fields that filled a page.
    Items are a ``{field: values}`` dict in request order.
    """

    items_key: str = "data"
    fields_param: str = "fields"
    limit: int = 100
    in_body: bool = True
    limit_param: str = "limit"
    offset_param: str = "offset"
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self) -> None:
        _positive("limit", self.limit)
        _positive("max_pages", self.max_pages)

    def first(self, request: PageRequest) -> PageRequest:
        if not _read(request, self.in_body, self.fields_param):
            raise ValueError(f"FieldOffsetPaging needs a non-empty '{self.fields_param}' list")
        return _place(request, self.in_body, {self.limit_param: self.limit, self.offset_param: 0})

    def items(self, request: PageRequest, body: Any) -> dict[str, list[Any]]:
        asked = list(_read(request, self.in_body, self.fields_param))
        entries = _item_list(body, self.items_key)
        found = {self._field(entry): self._values(entry) for entry in entries}
        if list(found) != asked:
            raise PageShapeError(
                f"expected fields {asked} in '{self.items_key}', got {list(found)}"
            )
        return found

    def next(
        self, request: PageRequest, body: Any, items: dict[str, list[Any]]
    ) -> PageRequest | None:
        still_open = [field for field, values in items.items() if len(values) >= self.limit]
        if not still_open:
            return None
        offset = _read(request, self.in_body, self.offset_param)
        values = {self.fields_param: still_open, self.offset_param: offset + self.limit}
        return _place(request, self.in_body, values)

    def _field(self, entry: Any) -> str:
        field = entry.get("field") if isinstance(entry, dict) else None
        if not isinstance(field, str):
            raise PageShapeError(f"expected a string 'field' in each '{self.items_key}' entry")
        return field

    def _values(self, entry: dict[str, Any]) -> list[Any]:
        values = entry.get("values")
        if not isinstance(values, list):
            raise PageShapeError(f"expected a list 'values' for field {entry['field']!r}")
        _check_count(entry, "pagination.returned", values)
        return values
