"""Verify authgate tokens: size, structure, key, algorithm, ``typ``, signature, claims.

The header's ``kid`` selects one key and that key fixes the one algorithm accepted
(RFC 8725 s2.1, s3.1), so a token cannot choose how it is checked; ``kid`` is only a
dictionary key (s3.10). A token without ``kid`` is accepted only where a single HMAC
key could have signed it. The expected ``typ`` is checked before the claims
(RFC 8725 s3.11), and ``crit`` and every other header are refused: authgate
understands no extensions and fetches nothing (RFC 7515 s4.1.11, RFC 8725 s3.10).
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey, OctKey, OKPKey

from authgate.clock import Clock, system_clock
from authgate.errors import (
    InvalidSignatureError,
    MalformedTokenError,
)
from authgate.keys.keyring import KeyRing, KeySource, RingKey, resolve_keys
from authgate.tokens._compact import (
    CompactHS256,
    VerifiedCache,
    token_digest,
)
from authgate.tokens._compact_asym import CompactAsymmetric
from authgate.tokens.claims import (
    ACCESS_TYP,
    REFRESH_TYP,
    AccessClaims,
    ClaimsPolicy,
    RefreshClaims,
    actor_claim,
    jkt_claim,
    optional_bool_claim,
    optional_list_claim,
    optional_string_claim,
    optional_time_claim,
    string_claim,
    string_list_claim,
)
from authgate.tokens.strict import read_header, verified_claims

__all__ = ["TokenVerifier"]

_TIME_CLAIMS = ("exp", "iat", "nbf")


FastPath = CompactHS256 | CompactAsymmetric


def _fast_path(key: RingKey, typ: str) -> FastPath | None:
    if isinstance(key.key, OctKey):
        return CompactHS256(secret=key.key.raw_value, typ=typ, kid=key.kid)
    if key.alg in ("EdDSA", "ES256") and isinstance(key.key, OKPKey | ECKey):
        try:
            return CompactAsymmetric(key=key.key, algorithm=key.alg, typ=typ, kid=key.kid)
        except ValueError:  # another curve: the joserfc path handles it
            return None
    return None


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySource | None = None,
        access_secret: str | None = None,
        refresh_secret: str | None = None,
        leeway: int = 10,
        max_token_bytes: int = 8192,
        clock: Clock = system_clock,
        fast_path: bool = True,
        cache_size: int = 4096,
    ) -> None:
        keys = resolve_keys(keys, access_secret, refresh_secret)
        self._keys = keys
        self._use_fast_path = fast_path
        refresh_key = keys.refresh_key
        self._refresh_ring = KeyRing.of(refresh_key)
        self._refresh_fast = _fast_path(refresh_key, REFRESH_TYP) if fast_path else None
        # Verified access tokens, by digest: a hit still repeats the time checks, and the
        # caller checks revocation. Refresh tokens are single use, so never cached.
        self._cache: VerifiedCache[tuple[AccessClaims, dict[str, Any], float, float]] = (
            VerifiedCache(cache_size)
        )
        self._ring: KeyRing | None = None
        self._access_fast: tuple[FastPath, ...] = ()
        self._access_policy = ClaimsPolicy(issuer, audience, "access", leeway)
        self._refresh_policy = ClaimsPolicy(issuer, audience, "refresh", leeway)
        self._max_bytes = max_token_bytes
        self._clock = clock

    def _access_ring(self) -> KeyRing:
        ring = self._keys.ring
        if ring is not self._ring:
            # New keys (rotation, retirement): rebuild the fast paths and forget every
            # cached verification, since a retired key's tokens must now be refused.
            self._cache.clear()
            self._access_fast = tuple(
                fast
                for key in ring.verifiers.values()
                if self._use_fast_path and (fast := _fast_path(key, ACCESS_TYP)) is not None
            )
            self._ring = ring
        return ring

    def verify_access(self, token: str) -> AccessClaims:
        self._check_size(token)
        ring = self._access_ring()
        digest = token_digest(token) if self._cache.maxsize else b""
        cached = self._cache.get(digest) if digest else None
        if cached is not None:
            now = self._clock()
            # Inside the window the claims were found valid for: nothing to re-check.
            if cached[2] <= now < cached[3]:
                return cached[0]
            self._access_policy.validate_times(cached[1], now)  # raises the exact error
            return cached[0]
        claims = self._decode(token, self._access_fast, ring, ACCESS_TYP)
        self._access_policy.validate(claims, self._clock())
        result = AccessClaims(
            sub=string_claim(claims, "sub"),
            email=optional_string_claim(claims, "email"),
            roles=string_list_claim(claims, "roles"),
            permissions=frozenset(string_list_claim(claims, "permissions")),
            session_id=string_claim(claims, "sessionId"),
            device_fingerprint=string_claim(claims, "deviceFingerprint"),
            jti=string_claim(claims, "jti"),
            iat=int(claims["iat"]),
            exp=int(claims["exp"]),
            actor=actor_claim(claims),
            client_id=optional_string_claim(claims, "client_id"),
            jkt=jkt_claim(claims),
            email_verified=optional_bool_claim(claims, "email_verified"),
            amr=optional_list_claim(claims, "amr"),
            acr=optional_string_claim(claims, "acr"),
            auth_time=optional_time_claim(claims, "auth_time"),
        )
        if digest:
            times = {n: claims[n] for n in _TIME_CLAIMS if n in claims}
            self._cache.put(digest, (result, times, *self._valid_window(times)))
        return result

    def _valid_window(self, times: dict[str, Any]) -> tuple[float, float]:
        """[earliest, latest): the clock readings at which validate_times passes.

        exp > now - leeway, iat <= now + leeway, nbf <= now + leeway (claims.py); the
        times were just validated as finite NumericDates.
        """
        leeway = self._access_policy.leeway
        start = max(float(times["iat"]), float(times.get("nbf", times["iat"])))
        return start - leeway, float(times["exp"]) + leeway

    def verify_refresh(self, token: str) -> RefreshClaims:
        self._check_size(token)
        fast = (self._refresh_fast,) if self._refresh_fast is not None else ()
        claims = self._decode(token, fast, self._refresh_ring, REFRESH_TYP)
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
        self, token: str, fast: tuple[FastPath, ...], ring: KeyRing, typ: str
    ) -> dict[str, Any]:
        for path in fast:
            claims = path.claims(token)
            if claims is not None:
                # Parsed without duplicate members and within MAX_DEPTH; the header was
                # byte for byte our own.
                return claims
        # The strict parser resource servers share (authgate.tokens.strict).
        header = read_header(token, typ=typ)
        return verified_claims(token, self._select_key(header, ring), header)

    def _select_key(self, header: dict[str, Any], ring: KeyRing) -> RingKey:
        if "kid" in header:
            key = ring.get(header["kid"])
        else:
            only = tuple(ring.verifiers.values())
            key = only[0] if len(only) == 1 and only[0].alg == "HS256" else None
        if key is None or header.get("alg") != key.alg:
            # Unknown kid, or a header naming another algorithm than its key's own.
            raise InvalidSignatureError()
        return key
