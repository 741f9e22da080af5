"""Access tokens for a registered resource (RFC 9068 JWT access tokens, RFC 8707).

The contract every verifier relies on (docs/authorization-server.md): JOSE header
``typ: at+jwt`` and ``kid``, signed by authgate's current signing key; claims ``iss``
(the RFC 8414 metadata issuer), ``aud`` (the resource URL, exactly, a string), ``sub``,
``client_id``, ``scope`` (space separated), ``exp``, ``iat``, ``jti``, ``sessionId`` (the
grant) and optional ``cnf.jkt`` (RFC 9449 s6.1). An approval token (docs/ciba.md) also
carries the approved ``authorization_details`` (RFC 9396 s9.1), exactly as approved.

These tokens never carry authgate's own ``tokenType``/``permissions`` claims nor its
audience, so authgate's ``/api`` refuses them (RFC 8725 s3.9, s3.11), and ``verify``
refuses authgate's own tokens in return.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from authgate.clock import Clock, system_clock
from authgate.errors import InvalidClaimError, InvalidSignatureError, MalformedTokenError
from authgate.keys.keyring import KeySource
from authgate.tokens.claims import ACCESS_TYP, ClaimsPolicy, jkt_claim, string_claim
from authgate.tokens.issuer import IssuedToken, token_header

__all__ = ["ResourceClaims", "ResourceTokens"]

_HEADER = frozenset({"alg", "typ", "kid"})


@dataclass(frozen=True, slots=True)
class ResourceClaims:
    sub: str
    aud: str
    client_id: str
    scope: str
    session_id: str
    jti: str
    iat: int
    exp: int
    jkt: str | None
    # RFC 9396 s9.1: present only on approval tokens (the CIBA grant).
    authorization_details: list[dict[str, Any]] | None = None


class ResourceTokens:
    def __init__(
        self,
        *,
        keys: KeySource,
        issuer: str,
        ttl: int,
        leeway: int,
        max_token_bytes: int = 8192,
        clock: Clock = system_clock,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._ttl = ttl
        self._times = ClaimsPolicy(issuer, "", "", leeway)
        self._max_bytes = max_token_bytes
        self._clock = clock

    def issue(
        self,
        *,
        user_id: str,
        client_id: str,
        resource: str,
        scopes: list[str],
        session_id: str,
        jkt: str | None,
        not_after: int,
        authorization_details: list[dict[str, Any]] | None = None,
    ) -> IssuedToken:
        now = int(self._clock())
        exp = min(now + self._ttl, not_after)
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": resource,
            "sub": user_id,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": exp,
            "jti": jti,
            "sessionId": session_id,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        if authorization_details is not None:
            claims["authorization_details"] = authorization_details
        signer = self._keys.ring.signer
        token = jwt.encode(token_header(signer, ACCESS_TYP), claims, signer.key, [signer.alg])
        return IssuedToken(token=token, jti=jti, issued_at=now, expires_at=exp)

    def verify(self, token: str) -> ResourceClaims:
        """The claims of a resource token signed by a current key; raises InvalidTokenError."""
        if not token or len(token) > self._max_bytes or not token.isascii():
            raise MalformedTokenError()
        claims = self._decode(token)
        self._times.validate_times(claims, self._clock())
        if claims.get("iss") != self._issuer:
            raise InvalidClaimError("iss")
        if "tokenType" in claims or not isinstance(claims.get("aud"), str):
            raise InvalidClaimError("aud")  # authgate's own token, or several audiences
        return ResourceClaims(
            sub=string_claim(claims, "sub"),
            aud=string_claim(claims, "aud"),
            client_id=string_claim(claims, "client_id"),
            scope=_scope(claims),
            session_id=string_claim(claims, "sessionId"),
            jti=string_claim(claims, "jti"),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
            jkt=jkt_claim(claims),
            authorization_details=_details(claims),
        )

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, TypeError) as exc:
            raise MalformedTokenError() from exc
        # RFC 8725 s2.1, s3.1: the kid picks the key, the key fixes the algorithm.
        key = self._keys.ring.get(header.get("kid"))
        if key is None or header.get("alg") != key.alg:
            raise InvalidSignatureError()
        if header.get("typ") != ACCESS_TYP or not _HEADER.issuperset(header):
            raise MalformedTokenError()
        try:
            decoded = jwt.decode(token, key.key, algorithms=[key.alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignatureError() from exc
        if not isinstance(decoded.claims, dict):
            raise MalformedTokenError()
        return decoded.claims


def _scope(claims: dict[str, Any]) -> str:
    scope = claims.get("scope")
    if not isinstance(scope, str):
        raise InvalidClaimError("scope")
    return scope


def _details(claims: dict[str, Any]) -> list[dict[str, Any]] | None:
    details = claims.get("authorization_details")
    if details is None:
        return None
    if not isinstance(details, list) or not all(isinstance(d, dict) for d in details):
        raise InvalidClaimError("authorization_details")
    return details
