"""Make one report now: gather from the latest snapshot, render, write the file, send it.

The CLI (``funnelhouse report``) and the Dagster assets both call :func:`make_report`::

    result = make_report(load_reports()["weekly"], out_dir=Path("out"))
    result.path        # out/weekly-2026-02-09_2026-02-15.html
    make_report(config, deliver=True)                  # to the configured recipients
    make_report(config, send_to=["ana@example.com"])   # to someone else instead
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines import warehouse
from pipelines.reports.config import ConfigError, ReportConfig, parse_address
from pipelines.reports.data import ReportDataError, gather
from pipelines.reports.message import build_message
from pipelines.reports.periods import Period
from pipelines.reports.render import RenderedReport, render
from pipelines.reports.smtp import DeliveryError, Receipt, SmtpSettings, send

__all__ = ["OUT_DIR_ENV", "REPORT_ERRORS", "ReportResult", "default_out_dir", "make_report",
           "write_html"]

OUT_DIR_ENV = "FUNNELHOUSE_REPORTS_DIR"
DEFAULT_OUT_DIR = Path(".funnelhouse") / "reports"
# What making a report raises for bad input or a failed step (each message says which);
# ValueError covers a malformed address or SMTP setting. Anything else is a bug.
REPORT_ERRORS = (ConfigError, ReportDataError, DeliveryError, warehouse.WarehouseError,
                 ValueError)


@dataclass(frozen=True)
class ReportResult:
    """What making a report did: the period, the file written, the email accepted."""

    name: str
    subject: str
    period: Period
    notices: list[str]
    path: Path | None
    receipt: Receipt | None


def default_out_dir() -> Path:
    """``$FUNNELHOUSE_REPORTS_DIR`` if set, else ``.funnelhouse/reports`` (read at call)."""
    return Path(os.environ.get(OUT_DIR_ENV) or DEFAULT_OUT_DIR)


def make_report(config: ReportConfig, *, as_of: datetime | None = None,
                warehouse_path: str | os.PathLike | None = None,
                out_dir: str | os.PathLike | None = None, deliver: bool = False,
                send_to: Sequence[str] = (), smtp: SmtpSettings | None = None) -> ReportResult:
    """Render ``config``'s report for the period before ``as_of`` (default now).

    Writes the standalone HTML into ``out_dir`` when given; emails it to ``send_to`` when
    given, else to the configured recipients when ``deliver``. SMTP settings default to the
    environment. Raises the layer's own errors: ``WarehouseError``, ``ReportDataError``,
    ``DeliveryError``, ``ValueError`` (a bad address or setting).
    """
    recipients = [parse_address(a) for a in send_to] if send_to else \
        (config.addresses if deliver else [])
    conn = warehouse.connect(warehouse_path)
    try:
        report = gather(conn, config, as_of or datetime.now(UTC))
    finally:
        conn.close()
    rendered = render(report)
    period = report.header.period
    path = write_html(rendered, period, Path(out_dir)) if out_dir is not None else None
    receipt = _deliver(rendered, recipients, smtp) if recipients else None
    return ReportResult(config.name, rendered.subject, period, report.header.notices, path,
                        receipt)


def write_html(rendered: RenderedReport, period: Period, out_dir: Path) -> Path:
    """Write the standalone HTML as ``<name>-<first>_<last>.html``; replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{rendered.name}-{period.first}_{period.last}.html"
    partial = target.with_name("." + target.name + ".partial")
    partial.write_text(rendered.html_file, encoding="utf-8")
    os.replace(partial, target)
    return target


def _deliver(rendered: RenderedReport, recipients: list, smtp: SmtpSettings | None) -> Receipt:
    settings = smtp or SmtpSettings.from_env()
    if not settings.sender:
        raise ValueError("no sender address: set FUNNELHOUSE_SMTP_SENDER")
    message = build_message(rendered, sender=parse_address(settings.sender),
                            recipients=recipients)
    return send(message, settings)
