"""The report as an email: MIME structure that real mail clients render.

    multipart/alternative
    ├── text/plain; charset=utf-8           the plain-text report
    └── multipart/related
        ├── text/html; charset=utf-8        CSS inlined, images as cid:
        └── image/png (inline, Content-ID)  one per chart

Clients that show HTML pick the last alternative and resolve ``cid:`` references inside its
``related`` group; the others show the text. Subject and display names may be any Unicode:
the ``email`` package's default policy encodes them (RFC 2047) as needed.

    message = build_message(rendered, sender=parse_address("Reports <r@example.com>"),
                            recipients=[parse_address("Ana Müller <ana@example.com>")])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from pipelines.reports.render import RenderedReport

__all__ = ["build_message"]


def build_message(rendered: RenderedReport, *, sender: Address, recipients: Sequence[Address],
                  date: datetime | None = None) -> EmailMessage:
    """The email for ``rendered``, from ``sender`` to ``recipients``."""
    if not recipients:
        raise ValueError(f"report {rendered.name!r}: no recipients to send to")
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = list(recipients)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=rendered.name, domain=sender.domain)
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html_email, subtype="html", charset="utf-8")
    html_part = message.get_payload()[1]
    for content_id, chart in rendered.images.items():
        html_part.add_related(chart.png, maintype="image", subtype="png", cid=f"<{content_id}>",
                              filename=f"{chart.name}.png", disposition="inline")
    return message
