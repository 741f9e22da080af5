"""Verify authgate tokens: size, structure, algorithm, ``typ``, signature, then claims.

The algorithm allow-list is a single entry per key (RFC 8725 s2.1, s3.1), the expected
``typ`` is checked before the claims (RFC 8725 s3.11), and ``crit`` is refused because
authgate understands no extensions (RFC 7515 s4.1.11).
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey

from authgate.clock import Clock, system_clock
from authgate.errors import (
    InvalidSignatureError,
    MalformedTokenError,
    WrongTokenTypeError,
)
from authgate.tokens._compact import CompactHS256, VerifiedCache, token_digest
from authgate.tokens.claims import (
    ACCESS_TYP,
    REFRESH_TYP,
    AccessClaims,
    ClaimsPolicy,
    RefreshClaims,
    string_claim,
    string_list_claim,
)
from authgate.tokens.issuer import ALGORITHM

__all__ = ["TokenVerifier"]

_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_TIME_CLAIMS = ("exp", "iat", "nbf")


class TokenVerifier:
    def __init__(
        self,
        *,
        access_secret: str,
        refresh_secret: str,
        issuer: str,
        audience: str,
        leeway: int = 10,
        max_token_bytes: int = 8192,
        clock: Clock = system_clock,
        fast_path: bool = True,
        cache_size: int = 4096,
    ) -> None:
        self._access_key = OctKey.import_key(access_secret)
        self._refresh_key = OctKey.import_key(refresh_secret)
        # Tokens in exactly the issuer's format skip joserfc; everything else takes it.
        self._access_fast = (
            CompactHS256(secret=access_secret, typ=ACCESS_TYP) if fast_path else None
        )
        self._refresh_fast = (
            CompactHS256(secret=refresh_secret, typ=REFRESH_TYP) if fast_path else None
        )
        # Verified access tokens, by digest: a hit still repeats the time checks, and the
        # caller checks revocation. Refresh tokens are single use, so never cached.
        self._cache: VerifiedCache[tuple[AccessClaims, dict[str, Any]]] = VerifiedCache(cache_size)
        self._access_policy = ClaimsPolicy(issuer, audience, "access", leeway)
        self._refresh_policy = ClaimsPolicy(issuer, audience, "refresh", leeway)
        self._max_bytes = max_token_bytes
        self._clock = clock

    def verify_access(self, token: str) -> AccessClaims:
        self._check_size(token)
        digest = token_digest(token) if self._cache.maxsize else b""
        cached = self._cache.get(digest) if digest else None
        if cached is not None:
            self._access_policy.validate_times(cached[1], self._clock())
            return cached[0]
        claims = self._decode(token, self._access_fast, self._access_key, ACCESS_TYP)
        self._access_policy.validate(claims, self._clock())
        result = AccessClaims(
            sub=string_claim(claims, "sub"),
            email=string_claim(claims, "email"),
            roles=string_list_claim(claims, "roles"),
            permissions=frozenset(string_list_claim(claims, "permissions")),
            session_id=string_claim(claims, "sessionId"),
            device_fingerprint=string_claim(claims, "deviceFingerprint"),
            jti=string_claim(claims, "jti"),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
        )
        if digest:
            self._cache.put(digest, (result, {n: claims[n] for n in _TIME_CLAIMS if n in claims}))
        return result

    def verify_refresh(self, token: str) -> RefreshClaims:
        self._check_size(token)
        claims = self._decode(token, self._refresh_fast, self._refresh_key, REFRESH_TYP)
        self._refresh_policy.validate(claims, self._clock())
        return RefreshClaims(
            sub=string_claim(claims, "sub"),
            session_id=string_claim(claims, "sessionId"),
            device_fingerprint=string_claim(claims, "deviceFingerprint"),
            jti=string_claim(claims, "jti"),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
        )

    def _check_size(self, token: str) -> None:
        # Bound the work an attacker can cause before any parsing happens.
        if not token or len(token) > self._max_bytes or not token.isascii():
            raise MalformedTokenError()

    def _decode(
        self, token: str, fast: CompactHS256 | None, key: OctKey, typ: str
    ) -> dict[str, Any]:
        if fast is not None:
            claims = fast.claims(token)
            if claims is not None:
                return claims
        if token.count(".") != 2:
            raise MalformedTokenError()
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError as exc:
            raise InvalidSignatureError() from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise MalformedTokenError() from exc
        header = decoded.header
        if header.get("typ") != typ:
            raise WrongTokenTypeError()
        if not _ALLOWED_HEADER.issuperset(header):
            # crit, jku, x5u, jwk, x5c...: nothing we understand or would ever follow.
            raise MalformedTokenError()
        claims = decoded.claims
        if not isinstance(claims, dict):
            raise MalformedTokenError()
        return claims
