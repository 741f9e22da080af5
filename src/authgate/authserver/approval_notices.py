"""Outgoing notices of approvals: CIBA ping callbacks and the signed webhook.

- Ping (OpenID CIBA Core 1.0 s10.2): when the user decides, authgate POSTs
  ``{"auth_req_id": ...}`` to the agent's registered notification endpoint with
  ``Authorization: Bearer <client_notification_token>``; the agent then fetches the
  result at the token endpoint.
- Webhook (``AUTHGATE_APPROVAL_WEBHOOK_URL``): each new request is pushed to the
  deployment, signed the Standard Webhooks way: headers ``webhook-id``,
  ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
  id.timestamp.body)>``. The body holds no secret of the agent (no ``auth_req_id``).

Both are sent in the background with a short timeout and never block the request that
caused them; a failure is logged (without URL paths, tokens or bodies) and counted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from authgate.clock import Clock, system_clock

__all__ = ["ApprovalNotices", "sign_webhook", "webhook_key"]

logger = logging.getLogger("authgate.approvals")

# The outcome of one notice: (kind "ping" | "webhook", outcome "sent" | "failed").
Outcome = Callable[[str, str], None]


def webhook_key(secret: str) -> bytes:
    """A Standard Webhooks ``whsec_<base64>`` secret is its decoded bytes; any other
    string is used as its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign_webhook(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _host(url: str) -> str:
    return urlsplit(url).netloc or "?"


class ApprovalNotices:
    def __init__(
        self,
        *,
        webhook_url: str | None,
        webhook_key: bytes | None,
        timeout: float,
        on_outcome: Outcome | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._webhook_url = webhook_url
        self._webhook_key = webhook_key
        self._timeout = timeout
        self._on_outcome = on_outcome
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def ping(self, endpoint: str, bearer: str, auth_req_id: str) -> None:
        """CIBA s10.2: tell the agent its result is ready, in the background."""
        body = json.dumps({"auth_req_id": auth_req_id}).encode()
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        self._spawn("ping", endpoint, body, headers)

    def webhook(self, payload: dict[str, Any]) -> None:
        """Push a new request to the deployment's webhook, when one is configured."""
        if self._webhook_url is None or self._webhook_key is None:
            return
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        message_id = f"msg_{secrets.token_urlsafe(16)}"
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign_webhook(self._webhook_key, message_id, timestamp, body),
        }
        self._spawn("webhook", self._webhook_url, body, headers)

    def _spawn(self, kind: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(kind, url, body, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, kind: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                response = await client.post(url, content=body, headers=headers)
            ok = 200 <= response.status_code < 300
            detail = str(response.status_code)
        except (httpx.HTTPError, OSError) as exc:
            ok, detail = False, type(exc).__name__
        if not ok:
            logger.warning("approval %s to %s failed: %s", kind, _host(url), detail)
        if self._on_outcome is not None:
            self._on_outcome(kind, "sent" if ok else "failed")

    async def drain(self, within: float) -> None:
        """Let notices in flight finish (at shutdown), cancelling what is left after."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=within)
        for task in late:
            task.cancel()
