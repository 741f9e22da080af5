"""Issue signed access and refresh tokens (HS256, RFC 7519 / RFC 9068)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from authgate.clock import Clock, system_clock
from authgate.tokens.claims import ACCESS_TYP, REFRESH_TYP

__all__ = ["IssuedToken", "TokenIssuer"]

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


class TokenIssuer:
    def __init__(
        self,
        *,
        access_secret: str,
        refresh_secret: str,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Clock = system_clock,
    ) -> None:
        self._access_key = OctKey.import_key(access_secret)
        self._refresh_key = OctKey.import_key(refresh_secret)
        self._access_header = {"alg": ALGORITHM, "typ": ACCESS_TYP}
        self._refresh_header = {"alg": ALGORITHM, "typ": REFRESH_TYP}
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
        return self._sign(claims, self._access_header, self._access_key, self.access_ttl, None)

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
        return self._sign(
            claims, self._refresh_header, self._refresh_key, self.refresh_ttl, not_after
        )

    def _sign(
        self,
        claims: dict[str, Any],
        header: dict[str, str],
        key: OctKey,
        ttl: int,
        not_after: int | None,
    ) -> IssuedToken:
        now = int(self._clock())
        exp = now + ttl if not_after is None else min(now + ttl, not_after)
        jti = secrets.token_urlsafe(16)
        claims |= {"iss": self._issuer, "aud": self._audience, "iat": now, "exp": exp, "jti": jti}
        token = jwt.encode(header, claims, key, algorithms=[ALGORITHM])
        return IssuedToken(token=token, jti=jti, issued_at=now, expires_at=exp)
