"""ID token validation, OpenID Connect Core 1.0 s3.1.3.7, with joserfc.

Each numbered check of s3.1.3.7 has its own function and names the claim it refused:
the signature with the provider's key and the expected asymmetric algorithm (6, 7;
RFC 8725 s2.1: never ``none``, never HMAC with the client secret), ``iss`` exactly
(2), ``aud`` containing our client id (3), ``azp`` when several audiences (4, 5),
``exp`` (9), ``iat`` (10) and the ``nonce`` sent in the authorization request (11).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Collection, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from authgate import jsonlimits
from authgate.clock import Clock, system_clock
from authgate.errors import IdTokenError

__all__ = ["ASYMMETRIC_ALGS", "IdTokenValidator", "unverified_header"]

ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_BYTES = 16 * 1024
# An ID token is minted for this very login: one issued long ago is not ours.
MAX_IAT_AGE = 600


def unverified_header(token: str, *, provider: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key; nothing in it is trusted yet."""
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise IdTokenError(provider, "malformed")
    segment = token.split(".", 1)[0]
    try:
        # Header and payload bounded before joserfc parses them (it recurses per level).
        jsonlimits.check_compact_jws(token)
        header = jsonlimits.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError as exc:
        raise IdTokenError(provider, "malformed") from exc
    if not isinstance(header, dict):
        raise IdTokenError(provider, "malformed")
    return header


class IdTokenValidator:
    def __init__(
        self,
        *,
        provider: str,
        client_id: str,
        issuers: Collection[str],
        leeway: int = 10,
        clock: Clock = system_clock,
    ) -> None:
        self._provider = provider
        self._client_id = client_id
        self._issuers = frozenset(issuers)
        self._leeway = leeway
        self._clock = clock
        self._checks: tuple[Callable[[Mapping[str, Any], int], None], ...] = (
            self._check_iss,
            self._check_sub,
            self._check_aud,
            self._check_azp,
            self._check_exp,
            self._check_iat,
            self._check_nbf,
        )

    def validate(
        self, token: str, *, key: Key | None, algorithms: Collection[str], nonce: str
    ) -> dict[str, Any]:
        """The verified claims of ``token``; raises ``IdTokenError`` naming the failed check."""
        claims = self._verify_signature(token, key, algorithms)
        now = int(self._clock())
        for check in self._checks:
            check(claims, now)
        self._check_nonce(claims, nonce)
        return claims

    def _fail(self, claim: str) -> IdTokenError:
        return IdTokenError(self._provider, claim)

    def _verify_signature(
        self, token: str, key: Key | None, algorithms: Collection[str]
    ) -> dict[str, Any]:
        header = unverified_header(token, provider=self._provider)
        alg = header.get("alg")
        allowed = ASYMMETRIC_ALGS.intersection(algorithms)
        if alg not in allowed:
            raise self._fail("alg")
        if key is None:
            raise self._fail("kid")
        # RFC 8725 s3.1: a key published for one algorithm is used with that one only.
        if key.get("alg") not in (None, alg):
            raise self._fail("alg")
        try:
            decoded = jwt.decode(token, key, algorithms=[str(alg)])
        except (JoseError, ValueError, TypeError) as exc:
            raise self._fail("signature") from exc
        return dict(decoded.claims)

    def _check_iss(self, claims: Mapping[str, Any], _now: int) -> None:
        if claims.get("iss") not in self._issuers:  # s3.1.3.7 (2): exact match
            raise self._fail("iss")

    def _check_sub(self, claims: Mapping[str, Any], _now: int) -> None:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 255:
            raise self._fail("sub")

    def _check_aud(self, claims: Mapping[str, Any], _now: int) -> None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or self._client_id not in audiences:
            raise self._fail("aud")

    def _check_azp(self, claims: Mapping[str, Any], _now: int) -> None:
        azp = claims.get("azp")
        several = isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1
        if (several or azp is not None) and azp != self._client_id:
            raise self._fail("azp")

    def _check_exp(self, claims: Mapping[str, Any], now: int) -> None:
        exp = _number(claims.get("exp"))
        if exp is None or now >= exp + self._leeway:
            raise self._fail("exp")

    def _check_iat(self, claims: Mapping[str, Any], now: int) -> None:
        iat = _number(claims.get("iat"))
        if iat is None or iat > now + self._leeway or now - iat > MAX_IAT_AGE:
            raise self._fail("iat")

    def _check_nbf(self, claims: Mapping[str, Any], now: int) -> None:
        if "nbf" not in claims:
            return
        nbf = _number(claims["nbf"])
        if nbf is None or nbf > now + self._leeway:
            raise self._fail("nbf")

    def _check_nonce(self, claims: Mapping[str, Any], nonce: str) -> None:
        value = claims.get("nonce")
        if not isinstance(value, str) or not hmac.compare_digest(value.encode(), nonce.encode()):
            raise self._fail("nonce")


def _number(value: Any) -> float | None:
    """A NumericDate (RFC 7519 s2), or None for anything else (booleans included)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
