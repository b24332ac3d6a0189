"""Delivery against a real SMTP server on 127.0.0.1, parsing what it received."""

from __future__ import annotations

import re
import socket
from email.message import EmailMessage

import pytest

from pipelines.reports.config import parse_address
from pipelines.reports.message import build_message
from pipelines.reports.render import RenderedReport, render
from pipelines.reports.smtp import DeliveryError, SmtpSettings, send
from tests.reports.handmade import weekly_report
from tests.reports.smtp_server import Recorder, self_signed, start

SENDER = parse_address("Fünnelhouse Berichte <reports@example.com>")
ALICE = parse_address("Jürgen Müller <alice@example.com>")
BOB = parse_address("bob@example.org")
TITLE = "Wöchentlicher Überblick ✓"


@pytest.fixture(scope="module")
def rendered() -> RenderedReport:
    return render(weekly_report(title=TITLE))


def message_for(rendered: RenderedReport, *recipients) -> EmailMessage:
    return build_message(rendered, sender=SENDER, recipients=list(recipients or [ALICE, BOB]))


def plain(port: int, **options) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", **options)


def test_the_server_receives_the_report_with_its_structure(smtp_server, rendered):
    recorder, port = smtp_server
    receipt = send(message_for(rendered), plain(port))

    assert receipt.accepted == ["alice@example.com", "bob@example.org"]
    assert receipt.attempts == 1
    [got] = recorder.received
    assert got.mail_from == "reports@example.com"
    assert got.rcpt_tos == ["alice@example.com", "bob@example.org"]
    message = got.message
    assert message["Subject"] == f"{TITLE} \u2014 9\u201315 Feb 2026"
    assert str(message["From"]) == "Fünnelhouse Berichte <reports@example.com>"
    assert message["To"].addresses[0].display_name == "Jürgen Müller"
    assert message["Message-ID"] == receipt.message_id
    assert _tree(message) == ("multipart/alternative", [
        "text/plain",
        ("multipart/related", ["text/html", "image/png", "image/png"]),
    ])


def test_the_html_references_every_image_it_carries_and_no_other(smtp_server, rendered):
    recorder, port = smtp_server
    send(message_for(rendered), plain(port))
    message = recorder.received[0].message
    text, related = message.get_payload()
    html, *images = related.get_payload()

    carried = {image["Content-ID"].strip("<>"): image for image in images}
    referenced = set(re.findall(r'src="cid:([^"]+)"', html.get_content()))
    assert referenced == set(carried) and len(carried) == 2
    for content_id, image in carried.items():
        assert image.get_content_disposition() == "inline"
        assert image.get_content() == rendered.images[content_id].png
    assert html.get_content_charset() == text.get_content_charset() == "utf-8"
    assert "Users per day" in text.get_content() and "2,650" in text.get_content()


def test_a_temporary_refusal_is_retried_until_accepted(smtp_server, rendered):
    recorder, port = smtp_server
    recorder.fail_data(["451 4.3.0 Mailbox busy, try again later"] * 2)

    receipt = send(message_for(rendered), plain(port))

    assert receipt.attempts == 3
    assert recorder.data_commands == 3
    assert len(recorder.received) == 1


def test_retries_give_up_with_the_servers_reply(smtp_server, rendered):
    recorder, port = smtp_server
    recorder.fail_data(["451 4.3.0 Mailbox busy, try again later"] * 10)

    with pytest.raises(DeliveryError) as failure:
        send(message_for(rendered), plain(port, attempts=4))

    assert str(failure.value) == (f"SMTP 127.0.0.1:{port} did not accept the email after 4 "
                                  "attempt(s): 451 4.3.0 Mailbox busy, try again later")
    assert recorder.data_commands == 4
    assert recorder.received == []


def test_a_permanent_refusal_is_not_retried(smtp_server, rendered):
    recorder, port = smtp_server
    recorder.fail_data(["554 5.6.0 Message rejected as spam"] * 10)

    with pytest.raises(DeliveryError, match=r"after 1 attempt\(s\): 554 5.6.0 Message rejected"):
        send(message_for(rendered), plain(port))
    assert recorder.data_commands == 1


def test_a_refused_recipient_fails_the_send_and_names_the_accepted_ones(smtp_server, rendered):
    recorder, port = smtp_server
    recorder.refuse["bob@example.org"] = "550 5.1.1 No such user"

    with pytest.raises(DeliveryError) as failure:
        send(message_for(rendered), plain(port))

    assert str(failure.value) == (
        f"SMTP 127.0.0.1:{port} did not accept the email after 1 attempt(s): refused "
        "bob@example.org: 550 5.1.1 No such user (accepted for alice@example.com)")
    assert [r.rcpt_tos for r in recorder.received] == [["alice@example.com"]]


def test_a_temporarily_refused_recipient_alone_is_sent_again(smtp_server, rendered):
    recorder, port = smtp_server
    recorder.refuse["bob@example.org"] = "450 4.2.1 Try bob later"

    with pytest.raises(DeliveryError, match=r"after 3 attempt\(s\): refused bob@example.org: 450"):
        send(message_for(rendered), plain(port, attempts=3))

    # Alice got the email once; only Bob was retried (and never accepted).
    assert [r.rcpt_tos for r in recorder.received] == [["alice@example.com"]]


def test_no_server_listening_is_retried_then_reported(rendered):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError, match=rf"127.0.0.1:{port} did not accept the email after "
                                            r"3 attempt\(s\): ConnectionRefusedError"):
        send(message_for(rendered), plain(port, attempts=3))


def test_starttls_and_login_with_the_password_from_the_environment(tmp_path, monkeypatch,
                                                                   rendered):
    tls, cert_file = self_signed(tmp_path)
    recorder = Recorder()
    controller = start(recorder, tls=tls)
    try:
        monkeypatch.setenv("FUNNELHOUSE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("FUNNELHOUSE_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("FUNNELHOUSE_SMTP_USER", "reports")
        monkeypatch.setenv("FUNNELHOUSE_SMTP_PASSWORD", "s3cret-pa55")
        monkeypatch.setenv("FUNNELHOUSE_SMTP_CA_FILE", str(cert_file))
        settings = SmtpSettings.from_env()
        send(message_for(rendered, ALICE), settings)

        assert settings.security == "starttls"
        assert recorder.logins == [("reports", "s3cret-pa55")]
        assert len(recorder.received) == 1
        assert "s3cret" not in repr(settings)

        monkeypatch.setenv("FUNNELHOUSE_SMTP_PASSWORD", "wrong-pa55")
        with pytest.raises(DeliveryError) as failure:
            send(message_for(rendered, ALICE), SmtpSettings.from_env())
        assert str(failure.value) == (f"SMTP 127.0.0.1:{controller.port} did not accept the "
                                      "email after 1 attempt(s): 535 5.7.8 Authentication "
                                      "credentials invalid")
        assert "pa55" not in str(failure.value)
    finally:
        controller.stop()


def test_settings_refuse_an_unknown_security_mode():
    with pytest.raises(ValueError, match="SMTP security must be one of starttls, ssl, none, "
                                         "not 'tls'"):
        SmtpSettings.from_env({"FUNNELHOUSE_SMTP_HOST": "mail", "FUNNELHOUSE_SMTP_SECURITY": "tls"})
    with pytest.raises(ValueError, match="no SMTP host: set FUNNELHOUSE_SMTP_HOST"):
        SmtpSettings.from_env({})
    with pytest.raises(ValueError, match="FUNNELHOUSE_SMTP_PORT must be a port number, not 'x'"):
        SmtpSettings.from_env({"FUNNELHOUSE_SMTP_HOST": "mail", "FUNNELHOUSE_SMTP_PORT": "x"})


def _tree(part):
    if part.is_multipart():
        return (part.get_content_type(), [_tree(p) for p in part.get_payload()])
    return part.get_content_type()
