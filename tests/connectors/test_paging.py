"""Paginators on plain dicts: first request, items, next request, stop rules, bad pages."""

from __future__ import annotations

import pytest

from pipelines.connectors.paging import (
    CursorPaging,
    FieldOffsetPaging,
    OffsetPaging,
    PageNumberPaging,
    PageRequest,
    PageShapeError,
    RepeatedCursorError,
)

BASE = PageRequest({"q": "x"}, {"dateRange": ["2026-01-01", "2026-01-31"]})


def vemetric_page(key: str, count: int, *, returned: object = None) -> dict:
    items = [{"n": i} for i in range(count)]
    pagination = {"limit": 3, "offset": 0, "returned": count if returned is None else returned}
    return {key: items, "pagination": pagination}


# --- OffsetPaging -------------------------------------------------------------------------


def test_offset_first_request_goes_in_the_body_when_asked():
    paging = OffsetPaging("users", limit=3, in_body=True)
    first = paging.first(BASE)
    assert first.json == {"dateRange": ["2026-01-01", "2026-01-31"], "limit": 3, "offset": 0}
    assert first.params == {"q": "x"}


def test_offset_first_request_goes_in_the_query_by_default():
    first = OffsetPaging("data", limit=50).first(PageRequest({"q": "x"}))
    assert first.params == {"q": "x", "limit": 50, "offset": 0}
    assert first.json is None


def test_offset_full_page_advances_by_the_items_returned():
    paging = OffsetPaging("users", limit=3, in_body=True, returned_path="pagination.returned")
    first = paging.first(BASE)
    body = vemetric_page("users", 3)
    items = paging.items(first, body)
    following = paging.next(first, body, items)
    assert following is not None and following.json["offset"] == 3
    assert following.json["limit"] == 3


def test_offset_short_page_ends_it():
    paging = OffsetPaging("users", limit=3, in_body=True, returned_path="pagination.returned")
    first = paging.first(BASE)
    body = vemetric_page("users", 2)
    assert paging.next(first, body, paging.items(first, body)) is None


def test_offset_empty_page_ends_it():
    paging = OffsetPaging("data", limit=3)
    first = paging.first(PageRequest({}))
    assert paging.next(first, {"data": []}, []) is None


def test_offset_total_ends_it_even_on_full_pages():
    paging = OffsetPaging("data", limit=2, total_path="meta.total", stop_on_short_page=False)
    request = paging.first(PageRequest({}))
    body = {"data": [1, 2], "meta": {"total": 4}}
    request = paging.next(request, body, paging.items(request, body))
    assert request.params["offset"] == 2
    assert paging.next(request, body, paging.items(request, body)) is None


def test_offset_without_any_stop_rule_is_refused():
    with pytest.raises(ValueError, match="needs a stop rule"):
        OffsetPaging("data", stop_on_short_page=False)


@pytest.mark.parametrize("bad", [0, -1])
def test_offset_limit_and_max_pages_must_be_positive(bad):
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        OffsetPaging("data", limit=bad)
    with pytest.raises(ValueError, match="max_pages must be a positive integer"):
        OffsetPaging("data", max_pages=bad)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"users": [], "pagination": {"limit": 3, "offset": 0}}, "'pagination.returned'"),
        ({"users": [{"n": 0}]}, "'pagination.returned' in the page, it is missing"),
        (vemetric_page("users", 2, returned="2"), "non-negative integer 'pagination.returned'"),
        (vemetric_page("users", 2, returned=True), "non-negative integer"),
        (vemetric_page("users", 2, returned=3), "says 3 items, the page holds 2"),
        ({"users": None, "pagination": {"returned": 0}}, "expected a list 'users', got NoneType"),
        ({"pagination": {"returned": 0}}, "expected 'users' in the page"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_offset_page_of_the_wrong_shape_is_never_a_short_page(body, message):
    paging = OffsetPaging("users", limit=3, in_body=True, returned_path="pagination.returned")
    with pytest.raises(PageShapeError, match=message):
        paging.items(paging.first(BASE), body)


# --- PageNumberPaging ---------------------------------------------------------------------


def test_page_number_pages_until_the_total_is_covered():
    paging = PageNumberPaging("visitors", page_size=2, total_path="total")
    request = paging.first(PageRequest({}))
    assert request.params == {"page": 1, "limit": 2}
    body = {"visitors": [1, 2], "total": 4}
    request = paging.next(request, body, paging.items(request, body))
    assert request.params == {"page": 2, "limit": 2}
    assert paging.next(request, body, paging.items(request, body)) is None


def test_page_number_stops_at_total_pages_and_honours_first_page():
    paging = PageNumberPaging(
        "rows", page_size=2, first_page=0, total_path=None, total_pages_path="pages",
        stop_on_short_page=False, size_param="pageSize",
    )  # fmt: skip
    request = paging.first(PageRequest({}))
    assert request.params == {"page": 0, "pageSize": 2}
    body = {"rows": [1, 2], "pages": 2}
    request = paging.next(request, body, body["rows"])
    assert request.params["page"] == 1
    assert paging.next(request, body, body["rows"]) is None


def test_page_number_short_page_ends_it_before_the_total():
    paging = PageNumberPaging("rows", page_size=3)
    request = paging.first(PageRequest({}))
    body = {"rows": [1], "total": 100}
    assert paging.next(request, body, paging.items(request, body)) is None


def test_page_number_missing_total_is_a_shape_error():
    paging = PageNumberPaging("rows", page_size=3)
    with pytest.raises(PageShapeError, match="'total'"):
        paging.items(paging.first(PageRequest({})), {"rows": [1, 2, 3]})


def test_page_number_without_any_stop_rule_is_refused():
    with pytest.raises(ValueError, match="needs a stop rule"):
        PageNumberPaging("rows", total_path=None, stop_on_short_page=False)


# --- CursorPaging -------------------------------------------------------------------------


def test_cursor_passes_the_token_back_and_stops_when_it_is_gone():
    paging = CursorPaging("results", cursor_path="next_cursor", cursor_param="cursor", page_size=2)
    request = paging.first(PageRequest({}))
    assert request.params == {"limit": 2}
    body = {"results": [1, 2], "next_cursor": "abc"}
    request = paging.next(request, body, paging.items(request, body))
    assert request.params == {"limit": 2, "cursor": "abc"}
    for last in (
        {"results": [3]},
        {"results": [3], "next_cursor": None},
        {"results": [], "next_cursor": ""},
    ):
        assert paging.next(request, last, paging.items(request, last)) is None


def test_cursor_in_the_body():
    paging = CursorPaging("items", cursor_path="meta.after", cursor_param="after", in_body=True)
    request = paging.first(PageRequest({}, {"q": 1}))
    body = {"items": [1], "meta": {"after": "t2"}}
    assert paging.next(request, body, body["items"]).json == {"q": 1, "after": "t2"}


def test_repeated_cursor_raises_instead_of_looping():
    paging = CursorPaging("results", cursor_path="next")
    request = PageRequest({"cursor": "same"})
    with pytest.raises(RepeatedCursorError, match="'same'"):
        paging.next(request, {"results": [1], "next": "same"}, [1])


def test_cursor_of_the_wrong_type_is_a_shape_error():
    paging = CursorPaging("results", cursor_path="next")
    with pytest.raises(PageShapeError, match="string or null 'next', got 5"):
        paging.items(PageRequest({}), {"results": [], "next": 5})


def test_cursor_without_a_cursor_path_is_refused():
    with pytest.raises(ValueError, match="needs a stop rule"):
        CursorPaging("results", cursor_path="")


# --- FieldOffsetPaging (Vemetric filter values) -------------------------------------------


def field_entry(field: str, values: list[str], returned: object = None) -> dict:
    count = len(values) if returned is None else returned
    return {
        "field": field,
        "pagination": {"limit": 2, "offset": 0, "returned": count},
        "values": values,
    }


def test_fields_keep_paging_only_the_fields_that_filled_a_page():
    paging = FieldOffsetPaging(limit=2)
    request = paging.first(
        PageRequest({}, {"dateRange": "7days", "fields": ["country", "os", "city"]})
    )
    assert request.json == {
        "dateRange": "7days",
        "fields": ["country", "os", "city"],
        "limit": 2,
        "offset": 0,
    }
    body = {"data": [field_entry("country", ["DE", "US"]), field_entry("os", ["iOS"]),
                     field_entry("city", ["Berlin", "Paris"])]}  # fmt: skip
    items = paging.items(request, body)
    assert items == {"country": ["DE", "US"], "os": ["iOS"], "city": ["Berlin", "Paris"]}
    request = paging.next(request, body, items)
    assert request.json["fields"] == ["country", "city"] and request.json["offset"] == 2
    body = {"data": [field_entry("country", ["FR"]), field_entry("city", [])]}
    assert paging.next(request, body, paging.items(request, body)) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([field_entry("os", ["a"])], r"expected fields \['country'\] in 'data', got \['os'\]"),
        ([{"field": "country", "values": ["a"]}], "'pagination.returned'"),
        ([field_entry("country", ["a"], returned=2)], "says 2 items, the page holds 1"),
        ([{"field": "country", "values": "DE", "pagination": {"returned": 1}}], "list 'values'"),
        ([{"values": []}], "string 'field'"),
    ],
)
def test_fields_page_of_the_wrong_shape_is_refused(data, message):
    paging = FieldOffsetPaging(limit=2)
    request = paging.first(PageRequest({}, {"fields": ["country"]}))
    with pytest.raises(PageShapeError, match=message):
        paging.items(request, {"data": data})


def test_fields_need_fields():
    with pytest.raises(ValueError, match="non-empty 'fields'"):
        FieldOffsetPaging().first(PageRequest({}, {"fields": []}))
