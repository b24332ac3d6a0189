"""What a report says, as typed values: every number is computed before a template sees it.

``data.py`` fills these from the warehouse; tests build them by hand. Templates only choose
how to show them (``render.py`` formats numbers by ``unit``), they do no arithmetic.

Units: ``count`` (integers), ``percent`` (0–100), ``seconds`` (durations), ``change`` (a
relative change in percent), ``text``, and ``formatted`` (a number already written out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pipelines.reports.periods import Period

__all__ = ["Chart", "Column", "DataStatus", "FunnelReport", "FunnelStep", "Metric", "ReportHeader",
           "Section", "Table", "WeeklyReport", "relative_change"]

Unit = Literal["count", "percent", "seconds", "change", "text", "formatted"]


def relative_change(value: float | str | None, previous: float | str | None) -> float | None:
    """Percent change from ``previous`` to ``value``; None when either is unknown, was 0 or is
    not a number (a text saying why there is none)."""
    if not _number(value) or not _number(previous) or previous == 0:
        return None
    return (value - previous) / previous * 100


def _number(value: object) -> bool:
    return isinstance(value, (int, float))


@dataclass(frozen=True)
class Metric:
    """A headline number and, when compared, the previous period's and the change.

    ``value`` is None when the period has no synced data: the report says "no data" rather
    than showing a zero that was never measured. A text instead of a number says why the
    source cannot give one at all (shown as it is, never compared).
    """

    label: str
    unit: Unit
    value: float | str | None
    previous: float | str | None = None
    lower_is_better: bool = False   # bounce rate: a fall is good news

    @property
    def change(self) -> float | None:
        return relative_change(self.value, self.previous)

    @property
    def trend(self) -> Literal["good", "bad", "flat", "none"]:
        """How the change reads for the business (drives the colour, not the sign)."""
        change = self.change
        if change is None:
            return "none"
        if abs(change) < 0.5:
            return "flat"
        return "good" if (change > 0) != self.lower_is_better else "bad"


@dataclass(frozen=True)
class Column:
    title: str
    unit: Unit = "text"


@dataclass(frozen=True)
class Table:
    """Rows of values, one per row tuple, in the order of ``columns``."""

    columns: tuple[Column, ...]
    rows: tuple[tuple, ...]
    empty_text: str = "No rows for this period."


@dataclass(frozen=True)
class Chart:
    """A rendered chart: PNG bytes, its size in CSS pixels and a text alternative."""

    name: str          # unique within a report; becomes the image's file name and cid
    title: str
    alt: str           # says what the chart shows, with its main numbers
    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Section:
    """One named query shown as a table, with its chart when there is one."""

    title: str
    table: Table
    chart: Chart | None = None
    note: str | None = None        # where the numbers come from, when it is not obvious


@dataclass(frozen=True)
class DataStatus:
    """How complete the warehouse is for a period: what the numbers can be trusted for."""

    period: Period
    synced_days: tuple[date, ...]
    missing_days: tuple[date, ...]
    quarantined_rows: int = 0
    last_synced_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.synced_days

    @property
    def complete(self) -> bool:
        return not self.missing_days and self.quarantined_rows == 0

    def notices(self, what: str = "this period", numbers: str = "the numbers below") -> list[str]:
        """Sentences for the report's warning box; none when the data is complete."""
        notes = []
        if self.empty:
            notes.append(f"No data has been synced for {what} ({self.period.label()}): "
                         f"{numbers} are unknown, not zero.")
        elif self.missing_days:
            days = ", ".join(d.strftime("%a %d %b") for d in self.missing_days)
            notes.append(f"Not synced: {len(self.missing_days)} of {self.period.days} days of "
                         f"{what} ({days}); {numbers} cover the other days only.")
        if self.quarantined_rows:
            rows = "1 row" if self.quarantined_rows == 1 else f"{self.quarantined_rows:,} rows"
            verb = "is" if self.quarantined_rows == 1 else "are"
            notes.append(f"{rows} of {what} failed validation and {verb} left out of {numbers}.")
        if self.last_synced_at is not None and notes:
            notes.append(f"Last sync: {self.last_synced_at:%Y-%m-%d %H:%M} UTC.")
        return notes


@dataclass(frozen=True)
class ReportHeader:
    """What every report shows at the top."""

    name: str
    title: str
    project: str
    period: Period
    previous: Period | None
    generated_at: datetime
    status: DataStatus
    previous_status: DataStatus | None = None

    @property
    def notices(self) -> list[str]:
        notes = self.status.notices()
        if self.previous_status is not None and not self.status.empty:
            notes += self.previous_status.notices("the previous period", "the comparison numbers")
        return notes


@dataclass(frozen=True)
class WeeklyReport:
    """The overview: headline metrics against the previous period, then breakdowns."""

    header: ReportHeader
    metrics: tuple[Metric, ...]
    sections: tuple[Section, ...]
    kind: str = field(default="weekly", init=False)

    @property
    def charts(self) -> list[Chart]:
        return [s.chart for s in self.sections if s.chart is not None]


@dataclass(frozen=True)
class FunnelStep:
    """One step of a funnel over the period (rates in percent, None when undefined)."""

    position: int
    name: str
    users: int | None
    conversion_from_previous: float | None
    conversion_from_first: float | None
    drop_off: int | None
    previous_users: int | None = None

    @property
    def change(self) -> float | None:
        return relative_change(self.users, self.previous_users)


@dataclass(frozen=True)
class FunnelReport:
    """One funnel: its steps, conversion, drop-off and time to convert, against the previous
    period."""

    header: ReportHeader
    funnel: str
    metrics: tuple[Metric, ...]        # overall conversion, converted users, time to convert
    steps: tuple[FunnelStep, ...]
    chart: Chart | None                # users per step, this period and the previous
    rule: str                          # how the source counts a step (its window, its order)
    kind: str = field(default="funnel", init=False)

    @property
    def charts(self) -> list[Chart]:
        return [self.chart] if self.chart is not None else []
