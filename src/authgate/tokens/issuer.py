"""Issue signed access and refresh tokens (RFC 7519 / RFC 9068).

Access tokens are signed by the key ring's current signer (HS256 with
``JWT_ACCESS_SECRET``, or the key store's active asymmetric key); refresh tokens by the
refresh secret. Every header names its ``kid``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt

from authgate.clock import Clock, system_clock
from authgate.keys.keyring import KeySource, RingKey, StaticKeys
from authgate.tokens.claims import ACCESS_TYP, REFRESH_TYP

__all__ = ["IssuedToken", "TokenIssuer", "token_header"]

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


def token_header(key: RingKey, typ: str) -> dict[str, str]:
    """The protected header authgate writes; the verifier's fast path matches it exactly."""
    return {"alg": key.alg, "typ": typ, "kid": key.kid}


class TokenIssuer:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        keys: KeySource | None = None,
        access_secret: str | None = None,
        refresh_secret: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        if keys is None:
            if access_secret is None or refresh_secret is None:
                raise ValueError("pass keys, or both access_secret and refresh_secret")
            keys = StaticKeys(access_secret=access_secret, refresh_secret=refresh_secret)
        self._keys = keys
        self._refresh_header = token_header(keys.refresh_key, REFRESH_TYP)
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock

    def issue_access(
        self,
        *,
        user_id: str,
        email: str,
        roles: list[str],
        permissions: list[str],
        session_id: str,
        device_fingerprint: str,
    ) -> IssuedToken:
        claims = {
            "sub": user_id,
            "email": email,
            "roles": roles,
            "permissions": permissions,
            "sessionId": session_id,
            "deviceFingerprint": device_fingerprint,
            "tokenType": "access",
        }
        signer = self._keys.ring.signer
        return self._sign(claims, token_header(signer, ACCESS_TYP), signer, self.access_ttl, None)

    def issue_refresh(
        self, *, user_id: str, session_id: str, device_fingerprint: str, not_after: int
    ) -> IssuedToken:
        """A refresh token that never outlives its session's absolute expiry ``not_after``."""
        claims = {
            "sub": user_id,
            "sessionId": session_id,
            "deviceFingerprint": device_fingerprint,
            "tokenType": "refresh",
        }
        key = self._keys.refresh_key
        return self._sign(claims, self._refresh_header, key, self.refresh_ttl, not_after)

    def _sign(
        self,
        claims: dict[str, Any],
        header: dict[str, str],
        key: RingKey,
        ttl: int,
        not_after: int | None,
    ) -> IssuedToken:
        now = int(self._clock())
        exp = now + ttl if not_after is None else min(now + ttl, not_after)
        jti = secrets.token_urlsafe(16)
        claims |= {"iss": self._issuer, "aud": self._audience, "iat": now, "exp": exp, "jti": jti}
        token = jwt.encode(header, claims, key.key, algorithms=[key.alg])
        return IssuedToken(token=token, jti=jti, issued_at=now, expires_at=exp)
