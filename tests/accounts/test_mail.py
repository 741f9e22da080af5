"""Mail over a real SMTP server on loopback: STARTTLS and TLS, the development log, the
per-address limit, and production refusing mail features without SMTP."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError

from authgate.accounts.mail import (
    DEVLINKS_LOGGER,
    DevLogMailer,
    Mail,
    MailOutbox,
    SmtpMailer,
    UnsentMailer,
    build_mailer,
)
from authgate.storage.memory import MemorySingleUseStore
from authgate.testing import FrozenClock, make_settings
from tests.accounts.mailbox import Mailbox, smtp_server
from tests.processes import free_port

MAIL = Mail(
    to="ada@example.com",
    subject="Confirm your email address",
    text="Open https://auth.example.com/verify-email?key=abc",
    html="<p><a href='https://auth.example.com/verify-email?key=abc'>Open</a></p>",
    link="https://auth.example.com/verify-email?key=abc",
)


def _mailer(box: Mailbox) -> SmtpMailer:
    return SmtpMailer.from_url(
        box.url, sender="authgate <no@x.test>", timeout=5, ca_file=box.ca_file
    )


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
async def test_smtp_delivers_plain_and_html(tmp_path: Path, implicit_tls: bool) -> None:
    with smtp_server(tmp_path, implicit_tls=implicit_tls) as box:
        await _mailer(box).send(MAIL)
    [message] = box.to("ada@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert message["From"] == "authgate <no@x.test>"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert "verify-email?key=abc" in plain.get_content()
    assert html is not None
    assert "<a href=" in html.get_content()


async def test_server_without_starttls_is_refused(tmp_path: Path) -> None:
    """No downgrade: smtp:// never sends a mail in the clear."""
    box = Mailbox(url=f"smtp://127.0.0.1:{free_port()}", ca_file=tmp_path / "none.pem")
    port = int(box.url.rsplit(":", 1)[1])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer.from_url(box.url, sender="a@x.test", timeout=5)
        with pytest.raises(Exception):  # noqa: B017, PT011 - aiosmtplib's refusal
            await mailer.send(MAIL)
    finally:
        controller.stop()
    assert box.messages == []


async def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as box:
        mailer = SmtpMailer.from_url(box.url, sender="a@x.test", timeout=5)  # system CAs only
        with pytest.raises(Exception):  # noqa: B017, PT011
            await mailer.send(MAIL)
    assert box.messages == []


async def test_development_without_smtp_logs_the_link_on_its_own_logger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = build_mailer(make_settings(tmp_path, env="development"))
    assert isinstance(mailer, DevLogMailer)
    with caplog.at_level(logging.DEBUG):
        await mailer.send(MAIL)
    [record] = [r for r in caplog.records if r.name == DEVLINKS_LOGGER]
    assert "no mail was sent" in record.getMessage()
    assert MAIL.link is not None
    assert MAIL.link in record.getMessage()


async def test_outside_development_an_unsent_mail_never_logs_its_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = build_mailer(make_settings(tmp_path))
    assert isinstance(mailer, UnsentMailer)
    with caplog.at_level(logging.DEBUG):
        await mailer.send(MAIL)
    assert "key=abc" not in caplog.text
    assert "not sent" in caplog.text


async def test_mails_to_one_address_are_limited_per_hour(tmp_path: Path) -> None:
    clock = FrozenClock()
    with smtp_server(tmp_path) as box:
        outbox = MailOutbox(
            _mailer(box), limits=MemorySingleUseStore(clock=clock), per_hour=3, clock=clock
        )
        for _ in range(5):
            outbox.send(MAIL)
        outbox.send(_to("bob"))
        await outbox.drain()
        assert len(box.to("ada@example.com")) == 3
        assert len(box.to("bob@example.com")) == 1
        clock.advance(3600)
        outbox.send(MAIL)
        await outbox.drain()
    assert len(box.to("ada@example.com")) == 4


def _to(name: str) -> Mail:
    return Mail(to=f"{name}@example.com", subject="s", text="t", html="<p>h</p>")


@pytest.mark.parametrize(
    "feature",
    [
        pytest.param({"require_verified_email": True}, id="require-verified-email"),
        pytest.param({"password_recovery": True}, id="password-recovery"),
        pytest.param({"email_verification": True}, id="email-verification"),
    ],
)
def test_production_refuses_mail_features_without_smtp(tmp_path: Path, feature: dict) -> None:
    with pytest.raises(ValidationError, match="AUTHGATE_SMTP_URL"):
        make_settings(tmp_path, env="production", **feature)


def test_production_without_smtp_turns_mail_features_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env="production")
    assert not settings.recovery_enabled
    assert not settings.verification_enabled
    with_smtp = make_settings(tmp_path, env="production", smtp_url="smtps://mail.example.com")
    assert with_smtp.recovery_enabled
    assert with_smtp.verification_enabled
