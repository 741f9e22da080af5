"""Issue signed access and refresh tokens (RFC 7519 / RFC 9068).

Access tokens are signed by the key ring's current signer (HS256 with
``JWT_ACCESS_SECRET``, or the key store's active asymmetric key); refresh tokens by the
refresh secret. Every header names its ``kid``.

HS256 tokens are signed by the compact fast path (``CompactHS256.sign``), which writes
exactly what joserfc writes; asymmetric keys go through joserfc.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from authgate.clock import Clock, system_clock
from authgate.keys.keyring import KeySource, RingKey, resolve_keys
from authgate.tokens._compact import CompactHS256
from authgate.tokens.claims import ACCESS_TYP, REFRESH_TYP

__all__ = ["SECOND_FACTORS", "IssuedToken", "TokenIssuer", "acr_for", "token_header"]

ALGORITHM = "HS256"


#: RFC 8176 methods that are a second factor (one-time code, key-bound passkey).
SECOND_FACTORS = frozenset({"otp", "hwk", "swk", "mfa"})


def acr_for(amr: list[str]) -> str:
    """``aal2`` when a second factor (or a user-verifying passkey) was shown, else ``aal1``."""
    return "aal2" if SECOND_FACTORS.intersection(amr) else "aal1"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int


def token_header(key: RingKey, typ: str) -> dict[str, str]:
    """The protected header authgate writes; the verifier's fast path matches it exactly."""
    return {"alg": key.alg, "typ": typ, "kid": key.kid}


def _compact_signer(key: RingKey, header: dict[str, str]) -> CompactHS256 | None:
    """The fast signer for an HS256 key, or None: joserfc signs with this key."""
    if key.alg != "HS256" or not isinstance(key.key, OctKey):
        return None
    # Once per key, joserfc signs with the key object itself: whatever it refuses about
    # the key (its use, alg or key_ops, an empty secret) raises here as it would on every
    # call, and a signer that would not write joserfc's exact bytes is not used.
    expected = jwt.encode(header, {}, key.key, algorithms=[key.alg])
    signer = CompactHS256(secret=key.key.raw_value, typ=header["typ"], kid=key.kid)
    return signer if signer.sign({}) == expected else None


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
        keys = resolve_keys(keys, access_secret, refresh_secret)
        self._keys = keys
        self._refresh_header = token_header(keys.refresh_key, REFRESH_TYP)
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock
        # typ -> (the key last signed with, its fast signer or None). The ring's signer can
        # change at runtime (a reload after rotation), so each call checks the key's
        # identity; one entry per typ, so old keys are not kept.
        self._signers: dict[str, tuple[RingKey, CompactHS256 | None]] = {}

    def issue_access(
        self,
        *,
        user_id: str,
        email: str | None,
        roles: list[str],
        permissions: list[str],
        session_id: str,
        device_fingerprint: str,
        actor: str | None = None,
        client_id: str | None = None,
        jkt: str | None = None,
        not_after: int | None = None,
        email_verified: bool | None = None,
        amr: list[str] | None = None,
        auth_time: int | None = None,
        resource: tuple[str, str] | None = None,
    ) -> IssuedToken:
        """An access token; the optional parts mark agent, delegated and DPoP-bound tokens.

        ``resource`` is ``(issuer, audience)`` for a token meant for a resource server
        elsewhere (RFC 8707): ``iss`` the RFC 8414 metadata issuer, ``aud`` its URL.
        """
        claims: dict[str, Any] = {
            "sub": user_id,
            "roles": roles,
            "permissions": permissions,
            "sessionId": session_id,
            "deviceFingerprint": device_fingerprint,
            "tokenType": "access",
        }
        if email is not None:
            claims["email"] = email
        if email_verified is not None:
            claims["email_verified"] = email_verified  # OIDC Core s5.1
        if amr is not None:
            # RFC 8176 methods; acr per NIST SP 800-63B levels; auth_time OIDC Core s2.
            claims["amr"] = amr
            claims["acr"] = acr_for(amr)
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if client_id is not None:
            claims["client_id"] = client_id
            claims["scope"] = " ".join(permissions)  # RFC 9068 s2.2.3
        if actor is not None:
            claims["act"] = {"sub": actor}  # RFC 8693 s4.1
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}  # RFC 9449 s6.1
        signer = self._keys.ring.signer
        header = token_header(signer, ACCESS_TYP)
        if resource is not None:
            claims |= {"iss": resource[0], "aud": resource[1]}
        return self._sign(claims, header, signer, self.access_ttl, not_after)

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
        claims = {"iss": self._issuer, "aud": self._audience} | claims
        claims |= {"iat": now, "exp": exp, "jti": jti}
        signer = self._signer(key, header)
        if signer is not None:
            token = signer.sign(claims)
        else:
            token = jwt.encode(header, claims, key.key, algorithms=[key.alg])
        return IssuedToken(token=token, jti=jti, issued_at=now, expires_at=exp)

    def _signer(self, key: RingKey, header: dict[str, str]) -> CompactHS256 | None:
        entry = self._signers.get(header["typ"])
        if entry is not None and entry[0] is key:
            return entry[1]
        signer = _compact_signer(key, header)
        self._signers[header["typ"]] = (key, signer)
        return signer
