"""``private_key_jwt`` client authentication (RFC 7523 s2.2, s3; OIDC Core s9).

The client signs a short JWT with a key whose public half it registered. We accept
only asymmetric algorithms, the key named by ``kid`` with its own ``alg``, ``iss`` and
``sub`` equal to the client id, our token endpoint or issuer as ``aud``, a bounded
lifetime, and each ``jti`` once.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.util import urlsafe_b64decode

from authgate import jsonlimits
from authgate.agents.okp import weak_okp_key
from authgate.agents.registry import ClientRegistry, InvalidClientError
from authgate.clock import Clock, system_clock
from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS
from authgate.storage.models import OAuthClient
from authgate.storage.protocols import SingleUseStore

__all__ = ["ASSERTION_TYPE", "ClientAssertionVerifier"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_LIFETIME = 300


class ClientAssertionVerifier:
    def __init__(
        self,
        *,
        registry: ClientRegistry,
        replay: SingleUseStore,
        audiences: frozenset[str],
        leeway: int = 10,
        clock: Clock = system_clock,
    ) -> None:
        self._registry = registry
        self._replay = replay
        self._audiences = audiences
        self._leeway = leeway
        self._clock = clock

    async def authenticate(self, assertion: str, client_id: str | None) -> OAuthClient:
        header, unverified = _peek(assertion)
        claimed = unverified.get("sub")
        if not isinstance(claimed, str) or (client_id is not None and client_id != claimed):
            raise InvalidClientError()
        client = await self._registry.get(claimed) if len(claimed) <= 64 else None
        if client is None or client.disabled or not client.jwks:
            raise InvalidClientError()
        claims = _verify_signature(assertion, header, client.jwks)
        self._check_claims(claims, client.client_id)
        ttl = int(claims["exp"] - self._clock()) + self._leeway + 1
        if not await self._replay.claim(
            f"client-assertion:{client.client_id}:{claims['jti']}", ttl
        ):
            raise InvalidClientError("The client assertion was already used")
        return client

    def _check_claims(self, claims: dict[str, Any], client_id: str) -> None:
        now = self._clock()
        exp, iat = claims.get("exp"), claims.get("iat", now)
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        checks = (
            claims.get("iss") == client_id and claims.get("sub") == client_id,
            bool(audiences & self._audiences),
            isinstance(exp, int | float) and not isinstance(exp, bool) and exp > now - self._leeway,
            isinstance(exp, int | float) and exp - now <= _MAX_LIFETIME + self._leeway,
            isinstance(iat, int | float) and iat <= now + self._leeway,
            isinstance(claims.get("jti"), str) and 0 < len(claims["jti"]) <= 256,
        )
        if not all(checks):
            raise InvalidClientError()


def _peek(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(assertion) > 8192 or assertion.count(".") != 2:
        raise InvalidClientError()
    try:
        # Bounded before joserfc parses the header: its JSON parser recurses per level.
        jsonlimits.check_compact_jws(assertion)
        header = dict(extract_compact(assertion.encode()).protected)
        payload = jsonlimits.loads(urlsafe_b64decode(assertion.split(".")[1].encode()))
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidClientError() from exc
    if not isinstance(payload, dict):
        raise InvalidClientError()
    return header, payload


def _verify_signature(
    assertion: str, header: dict[str, Any], jwks: dict[str, Any]
) -> dict[str, Any]:
    alg, kid = header.get("alg"), header.get("kid")
    candidates = [
        jwk
        for jwk in jwks.get("keys", [])
        if (kid is None or jwk.get("kid") == kid) and jwk.get("alg", alg) == alg
    ]
    if alg not in ASYMMETRIC_ALGORITHMS or len(candidates) != 1 or "d" in candidates[0]:
        raise InvalidClientError()
    if candidates[0].get("kty") == "OKP" and weak_okp_key(candidates[0]):
        raise InvalidClientError()  # small order: a keyless signature would verify
    try:
        key = KeySet.import_key_set({"keys": candidates}).keys[0]
        return dict(jwt.decode(assertion, key, algorithms=[alg]).claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidClientError() from exc
