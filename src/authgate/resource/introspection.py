"""RFC 7662 introspection, for resource servers that want opaque-token behaviour.

Every token is sent to the issuer's ``introspection_endpoint`` as the resource server's
client (s2.1), and the answer is cached by the token's SHA-256 for at most ``ttl``
seconds (never past the token's ``exp``) in a bounded LRU: a revocation is seen within
``ttl``. ``active`` must be true (s2.2), ``iss`` the issuer and ``aud`` this resource,
exactly. An unreachable endpoint fails closed (503).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from authgate.errors import InvalidClaimError, RevokedTokenError, StorageUnavailableError
from authgate.tokens._compact import VerifiedCache, token_digest

__all__ = ["Introspector"]


class Introspector:
    def __init__(
        self,
        *,
        url: str,
        issuer: str,
        resource: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        ttl: float = 5.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._issuer = issuer
        self._resource = resource
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._http = http
        self._ttl = ttl
        self._clock = clock
        self._cache: VerifiedCache[tuple[float, dict[str, Any]]] = VerifiedCache(cache_size)

    async def claims(self, token: str) -> dict[str, Any]:
        """The introspected claims of an active token for this resource; raises otherwise."""
        digest = token_digest(token)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        body = await self._ask(token)
        if body.get("active") is not True:
            raise RevokedTokenError()
        if body.get("iss") != self._issuer:
            raise InvalidClaimError("iss")
        if body.get("aud") != self._resource:
            raise InvalidClaimError("aud")
        exp = body.get("exp")
        until = min(now + self._ttl, float(exp)) if isinstance(exp, int | float) else now
        self._cache.put(digest, (until, body))
        return body

    async def _ask(self, token: str) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise StorageUnavailableError(
                "introspection", "Cannot reach the authorization server; retry shortly"
            ) from exc
        if not isinstance(body, dict):
            raise StorageUnavailableError("introspection")
        return body
