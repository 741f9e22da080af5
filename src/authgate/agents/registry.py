"""Registered machine clients (agents, resource servers) and their authentication.

Client secrets are 256-bit random strings shown once; only their SHA-256 is stored,
which suffices for secrets of that entropy, and comparison is constant time.
RFC 6749 s2.3.1: ``client_secret_basic`` (HTTP Basic) and ``client_secret_post``.

A client that registered public keys authenticates with ``private_key_jwt`` only
(RFC 7523 s2.2): it has no secret, and a secret presented for it is refused, so one
client has one authentication method (RFC 7591 s2 ``token_endpoint_auth_method``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.clock import Clock, system_clock
from authgate.errors import AuthgateError, InvalidRequestError, NotFoundError
from authgate.storage.database import session_factory
from authgate.storage.models import OAuthClient
from authgate.storage.store import guarded_session

__all__ = [
    "PING",
    "CibaRegistration",
    "ClientRegistry",
    "InvalidClientError",
    "NewClient",
    "parse_basic_auth",
]


class InvalidClientError(AuthgateError):
    """RFC 6749 s5.2 ``invalid_client``: unknown client, bad secret, or disabled."""

    error = "invalid_client"
    message = "Client authentication failed"
    status_code = 401


# OpenID CIBA Core 1.0 s4 backchannel_token_delivery_mode values authgate offers.
POLL, PING = "poll", "ping"


@dataclass(frozen=True, slots=True)
class CibaRegistration:
    """An agent's OpenID CIBA s4 registration: ``poll``, or ``ping`` and its endpoint
    (``backchannel_client_notification_endpoint``), checked by the caller."""

    mode: str
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class NewClient:
    client: OAuthClient
    secret: str  # shown once, never stored


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 s2.3.1: id and secret are form-urlencoded before Basic encoding."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id), unquote(secret)


class ClientRegistry:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = system_clock) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._clock = clock
        # Compared against when the client id is unknown, so timing does not tell.
        self._dummy_hash = _hash_secret(secrets.token_urlsafe(32))

    async def create(
        self,
        *,
        name: str,
        kind: str,
        scopes: Sequence[str],
        owner_user_id: str | None = None,
        dpop_required: bool = False,
        backchannel: CibaRegistration | None = None,
    ) -> NewClient:
        """A client that authenticates with a secret, shown once in the answer."""
        secret = secrets.token_urlsafe(32)
        client = self._new(name, kind, scopes, owner_user_id, dpop_required, backchannel)
        client.secret_hash = _hash_secret(secret)
        await self._add(client)
        return NewClient(client, secret)

    async def create_with_keys(
        self,
        *,
        name: str,
        kind: str,
        scopes: Sequence[str],
        jwks: dict[str, Any],
        owner_user_id: str | None = None,
        dpop_required: bool = False,
        backchannel: CibaRegistration | None = None,
    ) -> OAuthClient:
        """A ``private_key_jwt`` client: its public keys, and no secret at all."""
        client = self._new(name, kind, scopes, owner_user_id, dpop_required, backchannel)
        client.jwks = jwks
        await self._add(client)
        return client

    def _new(
        self,
        name: str,
        kind: str,
        scopes: Sequence[str],
        owner_user_id: str | None,
        dpop_required: bool,
        backchannel: CibaRegistration | None = None,
    ) -> OAuthClient:
        return OAuthClient(
            client_id=f"{kind[:5]}_{secrets.token_urlsafe(12)}",
            name=name,
            kind=kind,
            secret_hash=None,
            scopes=sorted(set(scopes)),
            owner_user_id=owner_user_id,
            dpop_required=dpop_required,
            disabled=False,
            created_at=int(self._clock()),
            backchannel_token_delivery_mode=backchannel.mode if backchannel else None,
            backchannel_notification_endpoint=backchannel.endpoint if backchannel else None,
        )

    async def _add(self, client: OAuthClient) -> None:
        async with guarded_session(self._sessions) as db:
            db.add(client)
            await db.commit()

    async def get(self, client_id: str) -> OAuthClient | None:
        async with guarded_session(self._sessions) as db:
            return await db.get(OAuthClient, client_id)

    async def all(self, kind: str | None = None) -> list[OAuthClient]:
        async with guarded_session(self._sessions) as db:
            query = select(OAuthClient).order_by(OAuthClient.created_at)
            if kind is not None:
                query = query.where(OAuthClient.kind == kind)
            return list((await db.execute(query)).scalars().all())

    async def authenticate(self, client_id: str, secret: str) -> OAuthClient:
        client = await self.get(client_id) if len(client_id) <= 64 else None
        stored = client.secret_hash if client and client.secret_hash else self._dummy_hash
        matches = hmac.compare_digest(stored, _hash_secret(secret))
        if client is None or not matches or client.disabled or client.secret_hash is None:
            raise InvalidClientError()
        if client.jwks:
            # A keyed client never authenticates by secret, even one left from before.
            raise InvalidClientError()
        return client

    async def rotate_secret(self, client_id: str) -> str:
        client = await self.get(client_id)
        if client is None:
            raise NotFoundError("No such client")
        if client.jwks:
            raise InvalidRequestError(
                "This client authenticates with private_key_jwt and has no secret to rotate"
            )
        secret = secrets.token_urlsafe(32)
        await self._update(client_id, secret_hash=_hash_secret(secret))
        return secret

    async def set_jwks(self, client_id: str, jwks: dict[str, Any]) -> None:
        """Register the public keys the client signs ``private_key_jwt`` assertions with.

        Its secret, if it had one, is dropped: from now on it authenticates with keys only.
        """
        await self._update(client_id, jwks=jwks, secret_hash=None)

    async def disable(self, client_id: str) -> None:
        await self._update(client_id, disabled=True)

    async def _update(self, client_id: str, **values: object) -> None:
        async with guarded_session(self._sessions) as db:
            result = await db.execute(
                update(OAuthClient).where(OAuthClient.client_id == client_id).values(**values)
            )
            await db.commit()
        if getattr(result, "rowcount", 0) != 1:
            raise NotFoundError("No such client")
