"""UTC time helpers shared by the reference servers: parsing, formatting, truncation."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or an offset, with or without milliseconds) to UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, truncated (not rounded) to the second, as Vemetric answers."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_millis(moment: datetime) -> str:
    """A JavaScript ``toISOString()``: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
