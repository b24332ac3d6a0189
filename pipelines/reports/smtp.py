"""Delivery over SMTP, retried with backoff; an email counts as sent only once accepted.

Settings come from the environment (``.env.example`` lists them); the password is read when
sending and appears in no message, log or repr::

    FUNNELHOUSE_SMTP_HOST      mail server (required to send)
    FUNNELHOUSE_SMTP_PORT      default 587 (starttls), 465 (ssl) or 25 (none)
    FUNNELHOUSE_SMTP_SECURITY  starttls (default) | ssl | none
    FUNNELHOUSE_SMTP_USER      login, if the server wants one
    FUNNELHOUSE_SMTP_PASSWORD  its password
    FUNNELHOUSE_SMTP_SENDER    the From address, e.g. "funnelhouse <reports@example.com>"
    FUNNELHOUSE_SMTP_CA_FILE   optional CA bundle, for a relay with a private certificate

A temporary failure (connection refused or dropped, a timeout, any 4xx reply) is retried with
exponential backoff; recipients the server already accepted are not sent the email again. A
permanent failure (5xx, a failed login, no STARTTLS) stops at once. Either way, when the email
was not accepted for every recipient, :class:`DeliveryError` carries the server's reply::

    receipt = send(message, SmtpSettings.from_env())
    receipt.accepted      # ["ana@example.com"]
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

import stamina

__all__ = ["DeliveryError", "Receipt", "RecipientsRefused", "SmtpSettings", "send"]

ENV_PREFIX = "FUNNELHOUSE_SMTP_"
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
Security = Literal["starttls", "ssl", "none"]


class DeliveryError(RuntimeError):
    """The server did not accept the email for every recipient; the message quotes its reply."""


class RecipientsRefused(smtplib.SMTPException):
    """Some recipients were refused: ``refused`` maps each to the server's (code, reply)."""

    def __init__(self, refused: Mapping[str, tuple[int, bytes]]) -> None:
        self.refused = dict(refused)
        super().__init__("; ".join(f"{rcpt}: {_reply(code, text)}"
                                   for rcpt, (code, text) in self.refused.items()))


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``password`` is never shown (``repr=False``)."""

    host: str
    port: int | None = None
    security: Security = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str | None = None
    timeout: float = 30.0           # seconds per connection and per command
    attempts: int = 5               # tries in all, the first included
    give_up_after: float = 300.0    # seconds, across attempts
    ca_file: str | None = None      # extra CA bundle, for a server with a private certificate

    def __post_init__(self) -> None:
        if self.security not in DEFAULT_PORTS:
            raise ValueError(f"SMTP security must be one of {', '.join(DEFAULT_PORTS)}, "
                             f"not {self.security!r}")
        if not self.host:
            raise ValueError("no SMTP host: set FUNNELHOUSE_SMTP_HOST")

    @property
    def resolved_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """Settings from ``FUNNELHOUSE_SMTP_*`` (read now, not at import)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return (env.get(ENV_PREFIX + name) or "").strip() or None

        port = get("PORT")
        if port is not None and not port.isdigit():
            raise ValueError(f"{ENV_PREFIX}PORT must be a port number, not {port!r}")
        return cls(host=get("HOST") or "", port=int(port) if port else None,
                   security=(get("SECURITY") or "starttls").lower(),  # type: ignore[arg-type]
                   user=get("USER"), password=env.get(ENV_PREFIX + "PASSWORD") or None,
                   sender=get("SENDER"), ca_file=get("CA_FILE"))


@dataclass(frozen=True)
class Receipt:
    """What the server accepted: every recipient, after ``attempts`` tries."""

    accepted: list[str]
    attempts: int
    message_id: str | None


def send(message: EmailMessage, settings: SmtpSettings) -> Receipt:
    """Send ``message`` to every address in its To/Cc headers, retrying temporary failures."""
    pending = _recipients(message)
    accepted: list[str] = []
    tries = 0
    try:
        for attempt in stamina.retry_context(on=_temporary, attempts=settings.attempts,
                                             timeout=settings.give_up_after, wait_initial=1.0,
                                             wait_max=60.0):
            with attempt:
                tries = attempt.num
                refused = _send_once(message, settings, pending)
                accepted += [r for r in pending if r not in refused]
                pending = [r for r in pending if r in refused]
                if refused:
                    raise RecipientsRefused(refused)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(_describe(exc, settings, tries, accepted)) from None
    return Receipt(accepted, tries, message.get("Message-ID"))


def _recipients(message: EmailMessage) -> list[str]:
    fields = [str(v) for key in ("To", "Cc") for v in message.get_all(key, [])]
    addresses = [addr for _, addr in getaddresses(fields) if addr]
    if not addresses:
        raise ValueError("the message has no recipients (To/Cc)")
    return list(dict.fromkeys(addresses))


def _send_once(message: EmailMessage, settings: SmtpSettings,
               recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """One connection: connect, secure, log in, send. Returns the refused recipients."""
    with _connect(settings) as server:
        if settings.user:
            server.login(settings.user, settings.password or "")
        try:
            return server.send_message(message, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            raise RecipientsRefused(exc.recipients) from None


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    host, port, timeout = settings.host, settings.resolved_port, settings.timeout
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls(settings))
    server = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings.security == "starttls":
            server.ehlo()
            server.starttls(context=_tls(settings))
            server.ehlo()
    except BaseException:
        server.close()
        raise
    return server


def _tls(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file)


def _temporary(exc: Exception) -> bool:
    """Worth another try: transport trouble or a 4xx reply; never 5xx, login or TLS failures."""
    if isinstance(exc, RecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.refused.values())
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                        ssl.SSLError)):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, OSError))


def _describe(exc: BaseException, settings: SmtpSettings, tries: int,
              accepted: list[str]) -> str:
    where = f"SMTP {settings.host}:{settings.resolved_port}"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
    elif isinstance(exc, RecipientsRefused):
        reply = f"refused {exc}"
    else:
        reply = f"{type(exc).__name__}: {exc}"
    kept = f" (accepted for {', '.join(accepted)})" if accepted else ""
    return f"{where} did not accept the email after {tries} attempt(s): {reply}{kept}"


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()
