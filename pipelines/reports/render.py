"""Reports as HTML and text: Jinja templates in ``reports/``, CSS inlined for mail clients.

One report renders three ways from the same content:

- ``html_email``: images referenced as ``cid:`` (attached inline by ``message.py``);
- ``html_file``: the same page with each PNG embedded as a ``data:`` URI, one standalone file;
- ``text``: the plain-text alternative, every number and every chart's text alternative.

Templates autoescape (event names, paths and properties come from website visitors) and fail
on an undefined variable; they hold no SQL and no arithmetic. Numbers are formatted here, by
unit::

    rendered = render(report)
    Path("weekly.html").write_text(rendered.html_file)
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import css_inline
import jinja2

from pipelines.reports.config import REPORTS_DIR
from pipelines.reports.content import Chart, Column, FunnelReport, Table, WeeklyReport

__all__ = ["RenderedReport", "content_id", "environment", "format_change", "format_value", "render",
           "text_table"]

NO_DATA = "no data"
NOT_APPLICABLE = "\u2013"
# css-inline must not fetch anything: the templates carry all their CSS in <style>.
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True,
                                 keep_style_tags=False)


@dataclass(frozen=True)
class RenderedReport:
    """A rendered report: subject, the two HTML forms, the text form and the inline images."""

    name: str
    subject: str
    html_email: str
    html_file: str
    text: str
    images: dict[str, Chart]      # Content-ID (without <>) -> chart, in page order


def format_value(value: float | None, unit: str) -> str:
    """``1,234`` / ``41.2%`` / ``2m 05s`` / text; ``no data`` for an unknown number."""
    if value is None:
        return "\u2013" if unit == "change" else NO_DATA
    if isinstance(value, str):  # a cell written out already, e.g. "–" for "not applicable"
        return value
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "seconds":
        return _duration(float(value))
    if unit == "change":
        return format_change(value)
    return str(value)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def format_change(change: float | None) -> str:
    """``+12.3%``, ``−4.0%`` (a real minus sign), or ``–`` when there is nothing to compare."""
    if change is None:
        return "\u2013"
    sign = "+" if change >= 0 else "\u2212"
    return f"{sign}{abs(change):.1f}%"


def text_table(table: Table) -> str:
    """A table as aligned plain-text columns (numbers right-aligned)."""
    header = [c.title for c in table.columns]
    body = [[format_value(v, c.unit) for v, c in zip(row, table.columns)] for row in table.rows]
    if not body:
        return table.empty_text
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(w) if col.unit != "text" else cell.ljust(w)
                         for cell, w, col in zip(cells, widths, table.columns)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def metrics_table(report: WeeklyReport | FunnelReport) -> Table:
    """The headline metrics as a table of formatted cells (each row has its own unit)."""
    compared = report.header.previous is not None
    columns = [Column("Metric"), Column("This period", "formatted")]
    if compared:
        columns += [Column("Previous", "formatted"), Column("Change", "formatted")]
    rows = []
    for metric in report.metrics:
        row = [metric.label, format_value(metric.value, metric.unit)]
        if compared:
            row += [format_value(metric.previous, metric.unit), format_change(metric.change)]
        rows.append(tuple(row))
    return Table(tuple(columns), tuple(rows))


def steps_table(report: FunnelReport) -> Table:
    """A funnel's steps, with the previous period's users and the change when compared."""
    columns = [Column("Step"), Column("Users", "count"), Column("From previous", "percent"),
               Column("From first", "percent"), Column("Drop-off", "count")]
    compared = report.header.previous is not None
    if compared:
        columns += [Column("Previous", "count"), Column("Change", "change")]
    rows = []
    for step in report.steps:
        # Nobody drops off before the first step: not applicable there, rather than unknown.
        drop_off = step.drop_off if step.position > 1 else NOT_APPLICABLE
        row = [f"{step.position}. {step.name}", step.users, step.conversion_from_previous,
               step.conversion_from_first, drop_off]
        if compared:
            row += [step.previous_users, step.change]
        rows.append(tuple(row))
    return Table(tuple(columns), tuple(rows), empty_text="This funnel has no steps.")


def _autoescape(name: str | None) -> bool:
    # Plain-text templates are not HTML: escaping would put "&lt;" into the text part.
    return name is None or not name.endswith(".txt.j2")


def environment() -> jinja2.Environment:
    """The templates' environment: autoescape, undefined variables are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORTS_DIR), autoescape=_autoescape,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(value=format_value, change=format_change, text_table=text_table,
                       metrics_table=metrics_table, steps_table=steps_table)
    env.globals.update(NO_DATA=NO_DATA)
    return env


_ENV = environment()


def render(report: WeeklyReport | FunnelReport) -> RenderedReport:
    """Render ``report`` as email HTML, standalone HTML and plain text."""
    images = {content_id(chart): chart for chart in report.charts}
    by_cid = {chart.name: f"cid:{cid}" for cid, chart in images.items()}
    embedded = {chart.name: _data_uri(chart) for chart in report.charts}
    template = report.kind   # reports/<kind>.html.j2 and reports/<kind>.txt.j2
    html = _ENV.get_template(f"{template}.html.j2")
    subject = f"{report.header.title} \u2014 {report.header.period.label()}"
    return RenderedReport(
        name=report.header.name,
        subject=subject,
        html_email=_INLINER.inline(html.render(report=report, image_src=by_cid, subject=subject)),
        html_file=_INLINER.inline(html.render(report=report, image_src=embedded,
                                              subject=subject)),
        text=_ENV.get_template(f"{template}.txt.j2").render(report=report, subject=subject),
        images=images,
    )


def content_id(chart: Chart) -> str:
    """A Content-ID that is the same for the same image, and differs between images."""
    digest = hashlib.sha256(chart.png).hexdigest()[:16]
    return f"{chart.name}.{digest}@funnelhouse"


def _data_uri(chart: Chart) -> str:
    return "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii")
