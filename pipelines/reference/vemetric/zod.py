"""A small re-creation of zod 3's parsing rules, so validation answers word for word as Vemetric.

Vemetric validates requests with zod 3.24 and returns every issue as ``{field, message}``
(``field`` = the issue path joined with ``.``). Which issues appear depends on zod's control
flow, not only on the schema: a type error *aborts* its branch, while a failed check (regex,
min/max, refinement) only makes it *dirty*, so sibling fields and object-level refinements
still run; a union returns the first valid option, else the first dirty option's issues, else
one ``Invalid input``. These combinators follow those rules; ``schemas.py`` builds the
Vemetric request schemas from them.

    >>> limit = Default(Num(integer=True, minimum=1, maximum=1000), 100)
    >>> parse(Obj({"limit": limit}), {"limit": "10"}).issues
    [Issue(path=('limit',), message='Expected number, received string')]
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

VALID, DIRTY, ABORTED = 0, 1, 2


class _Missing:
    """JavaScript's ``undefined``: a key that was not sent at all (distinct from ``null``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    path: Path
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path)


@dataclass
class ParseResult:
    value: Any
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def parse(schema: Schema, value: Any) -> ParseResult:
    """Parse ``value``; on success ``value`` is the cleaned copy (unknown keys dropped)."""
    issues: list[Issue] = []
    status, parsed = schema.parse(value, (), issues)
    if status == VALID and not issues:
        return ParseResult(parsed)
    return ParseResult(None, issues)


def type_name(value: Any) -> str:
    """zod's ``getParsedType`` for values decoded from JSON or a query string."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def join_values(values: Sequence[Any]) -> str:
    return " | ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def _invalid_type(value: Any, expected: str, path: Path, issues: list[Issue]) -> tuple[int, Any]:
    received = type_name(value)
    message = "Required" if received == "undefined" else f"Expected {expected}, received {received}"
    issues.append(Issue(path, message))
    return ABORTED, None


class Schema:
    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Str(Schema):
    """``z.string()`` with optional ``.regex(pattern, message)`` and ``.min(n)``.

    Patterns are matched with ``re.fullmatch`` and ASCII semantics, as JavaScript's ``^…$``
    without flags (Python's ``$`` would also accept a trailing newline, ``\\d`` any digit).
    """

    pattern: str | None = None
    pattern_message: str = "Invalid"
    min_length: int | None = None

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, str):
            return _invalid_type(value, "string", path, issues)
        status = VALID
        if self.min_length is not None and len(value) < self.min_length:
            issues.append(
                Issue(path, f"String must contain at least {self.min_length} character(s)")
            )
            status = DIRTY
        if self.pattern is not None and not re.fullmatch(self.pattern, value, re.ASCII):
            issues.append(Issue(path, self.pattern_message))
            status = DIRTY
        return status, value


@dataclass(frozen=True)
class Num(Schema):
    """``z.number()`` with ``.int()``, ``.min()``, ``.max()``; JSON only, so no string coercion."""

    integer: bool = False
    minimum: int | None = None
    maximum: int | None = None

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if type_name(value) != "number":
            return _invalid_type(value, "number", path, issues)
        status = VALID
        if self.integer and not (isinstance(value, int) or value.is_integer()):
            issues.append(Issue(path, "Expected integer, received float"))
            status = DIRTY
        if self.minimum is not None and value < self.minimum:
            issues.append(Issue(path, f"Number must be greater than or equal to {self.minimum}"))
            status = DIRTY
        if self.maximum is not None and value > self.maximum:
            issues.append(Issue(path, f"Number must be less than or equal to {self.maximum}"))
            status = DIRTY
        if status == VALID and self.integer:
            # JSON 10.0 is the integer 10; integers stay exact however large, so an echo
            # of 1e23 is the integer the schema documents (JavaScript would print 1e+23).
            value = int(value)
        return status, value


@dataclass(frozen=True)
class Bool(Schema):
    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, bool):
            return _invalid_type(value, "boolean", path, issues)
        return VALID, value


@dataclass(frozen=True)
class Enum(Schema):
    options: tuple[str, ...]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, str):
            return _invalid_type(value, join_values(self.options), path, issues)
        if value not in self.options:
            issues.append(
                Issue(
                    path,
                    f"Invalid enum value. Expected {join_values(self.options)}, received '{value}'",
                )
            )
            return ABORTED, None
        return VALID, value


@dataclass(frozen=True)
class Literal(Schema):
    expected: str

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if value != self.expected or not isinstance(value, str):
            issues.append(Issue(path, f'Invalid literal value, expected "{self.expected}"'))
            return ABORTED, None
        return VALID, value


@dataclass(frozen=True)
class Arr(Schema):
    """``z.array(item)`` with ``.min(n, message)`` / ``.max(n, message)``."""

    item: Schema
    min_items: tuple[int, str] | None = None
    max_items: tuple[int, str] | None = None

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, list):
            return _invalid_type(value, "array", path, issues)
        status = VALID
        if self.min_items is not None and len(value) < self.min_items[0]:
            issues.append(Issue(path, self.min_items[1]))
            status = DIRTY
        if self.max_items is not None and len(value) > self.max_items[0]:
            issues.append(Issue(path, self.max_items[1]))
            status = DIRTY
        return _merge_items(status, [(self.item, v) for v in value], path, issues)


@dataclass(frozen=True)
class Tuple(Schema):
    items: tuple[Schema, ...]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, list):
            return _invalid_type(value, "array", path, issues)
        count = len(self.items)
        if len(value) < count:
            issues.append(Issue(path, f"Array must contain at least {count} element(s)"))
            return ABORTED, None
        status = VALID
        if len(value) > count:
            issues.append(Issue(path, f"Array must contain at most {count} element(s)"))
            status = DIRTY
        return _merge_items(status, list(zip(self.items, value)), path, issues)


def _merge_items(
    status: int, pairs: list[tuple[Schema, Any]], path: Path, issues: list[Issue]
) -> tuple[int, Any]:
    values = []
    for index, (schema, item) in enumerate(pairs):
        item_status, parsed = schema.parse(item, (*path, index), issues)
        status = max(status, item_status)
        values.append(parsed)
    return (ABORTED, None) if status == ABORTED else (status, values)


@dataclass(frozen=True)
class Obj(Schema):
    """``z.object(shape)``: keys parsed in shape order; unknown keys are dropped (non-strict)."""

    shape: dict[str, Schema]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, dict):
            return _invalid_type(value, "object", path, issues)
        status, out = VALID, {}
        for key, schema in self.shape.items():
            key_status, parsed = schema.parse(value.get(key, MISSING), (*path, key), issues)
            status = max(status, key_status)
            if parsed is not MISSING:
                out[key] = parsed
        return (ABORTED, None) if status == ABORTED else (status, out)

    def omit(self, *keys: str) -> Obj:
        return Obj({k: v for k, v in self.shape.items() if k not in keys})


@dataclass(frozen=True)
class Optional(Schema):
    inner: Schema

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if value is MISSING:
            return VALID, MISSING
        return self.inner.parse(value, path, issues)


@dataclass(frozen=True)
class Default(Schema):
    inner: Schema
    default: Any

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if value is MISSING:
            return VALID, copy.deepcopy(self.default)
        return self.inner.parse(value, path, issues)


@dataclass(frozen=True)
class Union(Schema):
    """First valid option wins; else the first *dirty* option's issues; else ``Invalid input``."""

    options: tuple[Schema, ...]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        dirty: tuple[int, Any, list[Issue]] | None = None
        for option in self.options:
            own: list[Issue] = []
            status, parsed = option.parse(value, path, own)
            if status == VALID and not own:
                return VALID, parsed
            if status == DIRTY and dirty is None:
                dirty = (status, parsed, own)
        if dirty is not None:
            issues.extend(dirty[2])
            return dirty[0], dirty[1]
        issues.append(Issue(path, "Invalid input"))
        return ABORTED, None


@dataclass(frozen=True)
class Tagged(Schema):
    """``z.discriminatedUnion(key, options)``: the tag picks the one option to parse with."""

    key: str
    options: dict[str, Schema]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        if not isinstance(value, dict):
            return _invalid_type(value, "object", path, issues)
        tag = value.get(self.key, MISSING)
        if not isinstance(tag, str) or tag not in self.options:
            expected = join_values(list(self.options))
            issues.append(
                Issue((*path, self.key), f"Invalid discriminator value. Expected {expected}")
            )
            return ABORTED, None
        return self.options[tag].parse(value, path, issues)


AddIssue = Callable[[Path, str], None]


@dataclass(frozen=True)
class Refine(Schema):
    """``.superRefine(check)``: runs unless the inner parse aborted, even when it is dirty.

    ``check(value, add_issue)`` reports with paths relative to this schema's own path.
    """

    inner: Schema
    check: Callable[[Any, AddIssue], None]

    def parse(self, value: Any, path: Path, issues: list[Issue]) -> tuple[int, Any]:
        status, parsed = self.inner.parse(value, path, issues)
        if status == ABORTED:
            return ABORTED, None
        added: list[Issue] = []
        self.check(parsed, lambda rel, message: added.append(Issue((*path, *rel), message)))
        issues.extend(added)
        return (DIRTY if added else status), parsed
