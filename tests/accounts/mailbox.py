"""A real SMTP server on loopback (aiosmtpd) that requires TLS, and its received mail."""

from __future__ import annotations

import email
import email.policy
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope

from tests.processes import free_port
from tests.tls import self_signed

_LINK = re.compile(r"https?://\S+\?key=[A-Za-z0-9_-]+")


@dataclass
class Mailbox:
    url: str
    ca_file: Path
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def last_link(self, address: str) -> str:
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        body = mails[-1].get_body(preferencelist=("plain",))
        assert body is not None
        match = _LINK.search(body.get_content())
        assert match, "no link in the mail"
        return match.group(0)


def key_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["key"][0]


@contextmanager
def smtp_server(directory: Path, *, implicit_tls: bool = False) -> Iterator[Mailbox]:
    """smtp:// with STARTTLS required, or smtps:// (TLS from the first byte)."""
    cert, key = self_signed(directory, "smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    scheme = "smtps" if implicit_tls else "smtp"
    mailbox = Mailbox(url=f"{scheme}://127.0.0.1:{port}", ca_file=cert)
    options: dict[str, Any] = (
        {"ssl_context": context}
        if implicit_tls
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
