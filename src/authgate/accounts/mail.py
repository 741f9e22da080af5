"""Outgoing mail: SMTP (aiosmtplib), the development log, and the per-address outbox.

``smtp://`` submits with STARTTLS (RFC 3207), refused if the server does not offer it;
``smtps://`` speaks TLS from the first byte (RFC 8314 s3.3). Without ``AUTHGATE_SMTP_URL``
development writes each mail's link to the ``authgate.mail.devlinks`` logger with a line
saying no mail was sent; every other environment logs only that a mail was not sent.

Sending never blocks the request that caused it: ``MailOutbox.send`` schedules the work
and returns. Mails to one address are limited per hour across instances (the hot
single-use store), so a form cannot be used to flood someone's inbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.errors import ConfigurationError
from authgate.storage.protocols import SingleUseStore

__all__ = [
    "DEVLINKS_LOGGER",
    "DevLogMailer",
    "Mail",
    "MailOutbox",
    "Mailer",
    "SmtpMailer",
    "UnsentMailer",
    "build_mailer",
]

logger = logging.getLogger("authgate.mail")
DEVLINKS_LOGGER = "authgate.mail.devlinks"
_WINDOW = 3600


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    link: str | None = None  # the secret-bearing URL, for the development log only


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    host: str
    port: int
    implicit_tls: bool
    sender: str
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_url(
        cls, url: str, *, sender: str, timeout: float, ca_file: Path | None = None
    ) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("AUTHGATE_SMTP_URL must be smtp://host[:port] or smtps://")
        implicit = parts.scheme == "smtps"
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
            sender=sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
            tls_context=context,
        )

    async def send(self, mail: Mail) -> None:
        await aiosmtplib.send(
            _message(mail, self.sender),
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            # Required, not opportunistic: a server without STARTTLS is refused.
            start_tls=not self.implicit_tls,
            tls_context=self.tls_context,
            timeout=self.timeout,
        )


class DevLogMailer:
    """Development without SMTP: the link goes to its own logger, clearly labelled."""

    def __init__(self) -> None:
        self._log = logging.getLogger(DEVLINKS_LOGGER)

    async def send(self, mail: Mail) -> None:
        self._log.warning(
            "development: AUTHGATE_SMTP_URL is not set, so no mail was sent to %s (%s); "
            "open this link instead: %s",
            mail.to,
            mail.subject,
            mail.link or "(none)",
        )


class UnsentMailer:
    """No SMTP outside development: say a mail was not sent, never what it held."""

    async def send(self, mail: Mail) -> None:
        logger.warning("AUTHGATE_SMTP_URL is not set: a mail (%s) was not sent", mail.subject)


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer.from_url(
            settings.smtp_url.get_secret_value(),
            sender=settings.mail_from,
            timeout=settings.mail_timeout,
            ca_file=settings.smtp_ca_file,
        )
    if settings.env == "development":
        return DevLogMailer()
    return UnsentMailer()


def _message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="authgate.invalid")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class MailOutbox:
    """Sends in the background, at most ``per_hour`` mails to one address."""

    def __init__(
        self,
        mailer: Mailer,
        *,
        limits: SingleUseStore,
        per_hour: int,
        clock: Clock = system_clock,
    ) -> None:
        self.mailer = mailer
        self._limits = limits
        self._per_hour = per_hour
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, mail: Mail) -> None:
        """Queue ``mail``; the caller's request goes on at once."""
        task = asyncio.get_running_loop().create_task(self._deliver(mail))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the request (forgot-password's lookup and mail)."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self, within: float = 10.0) -> None:
        """Wait for queued mails (shutdown, and tests that read the mailbox)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # A queued job may queue a mail in turn: wait until nothing is left.
        while self._pending and loop.time() < deadline:
            await asyncio.wait(set(self._pending), timeout=deadline - loop.time())

    async def _deliver(self, mail: Mail) -> None:
        try:
            if not await self._within_limit(mail.to):
                logger.warning("mail not sent: the per-address hourly limit is reached")
                return
            await self.mailer.send(mail)
        except Exception as exc:  # a failed send must not surface in someone's request
            logger.error("mail could not be sent: %s", type(exc).__name__)

    async def _within_limit(self, address: str) -> bool:
        # N slots per address per hour window; claiming is atomic across instances.
        digest = hashlib.sha256(address.lower().encode()).hexdigest()[:32]
        window = int(self._clock()) // _WINDOW
        for slot in range(self._per_hour):
            if await self._limits.claim(f"mail:{digest}:{window}:{slot}", _WINDOW):
                return True
        return False
