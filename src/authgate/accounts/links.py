"""Single-use link tokens mailed to people: email verification, email change, reset.

A token is 256 random bits; only its SHA-256 is stored (a fast hash suffices for a
value with that much entropy). Links carry it in the ``key`` query parameter: the access
log drops query strings, and the log redaction never sees it in a path.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal
from urllib.parse import urlencode

from authgate.clock import Clock, system_clock
from authgate.storage.accounts import AccountStore
from authgate.storage.models import AccountToken

__all__ = ["LinkTokens", "Purpose", "link_hash"]

Purpose = Literal["verify_email", "change_email", "reset_password"]
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def link_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class LinkTokens:
    def __init__(self, *, store: AccountStore, public_url: str, clock: Clock = system_clock):
        self._store = store
        self._base = public_url.rstrip("/")
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def issue(self, *, user_id: str, purpose: Purpose, email: str, ttl: int) -> str:
        token = secrets.token_urlsafe(32)
        now = self._now()
        await self._store.add_token(
            AccountToken(
                token_hash=link_hash(token),
                user_id=user_id,
                purpose=purpose,
                email=email,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return token

    def url(self, path: str, token: str) -> str:
        return f"{self._base}{path}?{urlencode({'key': token})}"

    async def peek(self, token: str, purpose: Purpose) -> AccountToken | None:
        """The live token, without spending it (a form checks before it acts)."""
        if not _SHAPE.match(token):
            return None
        return await self._store.live_token(link_hash(token), purpose, self._now())

    async def spend(self, token: str, purpose: Purpose) -> AccountToken | None:
        """Spend the token: its row for exactly one caller, None if unknown, used or expired."""
        if not _SHAPE.match(token):
            return None
        return await self._store.spend_token(link_hash(token), purpose, self._now())
