"""Dynamic client registration (RFC 7591), with the brakes open registration needs.

s2: ``client_name``, ``redirect_uris``, ``grant_types``, ``response_types``,
``token_endpoint_auth_method`` (``none``, ``client_secret_basic``, ``client_secret_post``,
or ``private_key_jwt`` with ``jwks``). s3.2.1: the answer repeats the registered
metadata with ``client_id`` (and ``client_secret`` for a confidential client, shown once).
s3.2.2: ``invalid_redirect_uri`` and ``invalid_client_metadata``.

Against abuse: AUTHGATE_CLIENT_REGISTRATION (``open``, ``token`` = an RFC 7591 s3
initial access token made by ``authgate clients registration-token``, ``off``), a cap on
the number of registered clients, a per-IP rate limit (in the HTTP layer), and clients
never used are deleted after AUTHGATE_CLIENT_UNUSED_TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authgate.authserver.apps import AUTH_METHODS, AppRegistry, NewApp
from authgate.authserver.errors import ClientMetadataError, OAuthError
from authgate.authserver.redirects import MAX_REDIRECT_URIS, check_redirect_uri
from authgate.clock import Clock, system_clock
from authgate.storage.database import session_factory
from authgate.storage.models import RegistrationToken
from authgate.storage.store import guarded_session

__all__ = ["ClientRegistration", "RegistrationDeniedError", "registration_response"]

_GRANTS = frozenset({"authorization_code", "refresh_token"})
_MAX_NAME = 200


class RegistrationDeniedError(OAuthError):
    """Registration is off, or needs an initial access token that was not valid."""

    error = "access_denied"
    message = "Client registration is not open"
    status_code = 403


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class ClientRegistration:
    def __init__(
        self,
        engine: AsyncEngine,
        apps: AppRegistry,
        *,
        mode: str,
        max_clients: int,
        unused_ttl: int,
        clock: Clock = system_clock,
    ) -> None:
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._apps = apps
        self.mode = mode
        self._max = max_clients
        self._unused_ttl = unused_ttl
        self._clock = clock

    async def register(self, metadata: Any, initial_token: str | None) -> NewApp:
        if self.mode == "off":
            raise RegistrationDeniedError()
        if self.mode == "token" and not await self._spend(initial_token):
            raise RegistrationDeniedError("A valid initial access token is required")
        values = _check_metadata(metadata)
        # Clients that registered but never sent a user anywhere make room first.
        await self._apps.purge_unused(int(self._clock()) - self._unused_ttl)
        if await self._apps.count_dynamic() >= self._max:
            raise RegistrationDeniedError("Too many clients are registered; try again later")
        return await self._apps.create(registered_via="dynamic", **values)

    async def make_token(self, *, label: str | None, ttl: int, uses: int) -> str:
        token = secrets.token_urlsafe(32)
        now = int(self._clock())
        async with guarded_session(self._sessions) as db:
            db.add(
                RegistrationToken(
                    token_hash=_hash(token),
                    label=label,
                    created_at=now,
                    expires_at=now + ttl,
                    uses_left=uses,
                )
            )
            await db.commit()
        return token

    async def _spend(self, token: str | None) -> bool:
        if not token or len(token) > 256:
            return False
        digest = _hash(token)
        now = int(self._clock())
        async with guarded_session(self._sessions) as db:
            row = (
                await db.execute(
                    select(RegistrationToken).where(RegistrationToken.token_hash == digest)
                )
            ).scalar_one_or_none()
            # The lookup is by hash of a 256-bit token; compare again in constant time.
            if row is None or not hmac.compare_digest(row.token_hash, digest):
                return False
            result = await db.execute(
                update(RegistrationToken)
                .where(
                    RegistrationToken.token_hash == digest,
                    RegistrationToken.uses_left > 0,
                    RegistrationToken.expires_at > now,
                )
                .values(uses_left=RegistrationToken.uses_left - 1)
            )
            await db.commit()
        return getattr(result, "rowcount", 0) == 1


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ClientMetadataError("The body must be a JSON object")
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise ClientMetadataError(
            f"redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs", error="invalid_redirect_uri"
        )
    redirect_uris = [check_redirect_uri(uri) for uri in uris]
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientMetadataError("Unsupported token_endpoint_auth_method")
    grants = metadata.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not grants or not set(grants) <= _GRANTS:
        raise ClientMetadataError("grant_types may be authorization_code and refresh_token")
    if "authorization_code" not in grants:
        raise ClientMetadataError("grant_types must include authorization_code")
    responses = metadata.get("response_types", ["code"])
    if responses != ["code"]:
        raise ClientMetadataError('response_types must be ["code"]')
    jwks = _check_jwks(metadata.get("jwks")) if method == "private_key_jwt" else None
    name = metadata.get("client_name") or "Unnamed application"
    if not isinstance(name, str) or len(name) > _MAX_NAME or not name.isprintable():
        raise ClientMetadataError("client_name must be a short printable string")
    return {
        "name": name.strip() or "Unnamed application",
        "redirect_uris": redirect_uris,
        "auth_method": method,
        "grant_types": sorted(set(grants)),
        "jwks": jwks,
    }


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _check_jwks(jwks: Any) -> dict[str, Any]:
    """RFC 7591 s2 ``jwks``: public asymmetric keys only, each one importable."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= 10:
        raise ClientMetadataError("private_key_jwt needs the client's public keys in jwks")
    if not all(isinstance(k, dict) and not _PRIVATE_MEMBERS & k.keys() for k in keys):
        raise ClientMetadataError("jwks must hold public keys only")
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientMetadataError("jwks holds a key that cannot be read") from exc
    return {"keys": keys}


def registration_response(new: NewApp) -> dict[str, Any]:
    """RFC 7591 s3.2.1: the client information response."""
    app = new.app
    body: dict[str, Any] = {
        "client_id": app.public_id,
        "client_id_issued_at": new.created_at,
        "client_name": app.name,
        "redirect_uris": list(app.redirect_uris),
        "grant_types": list(app.grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": app.auth_method,
    }
    if new.secret is not None:
        body |= {"client_secret": new.secret, "client_secret_expires_at": 0}
    return body
