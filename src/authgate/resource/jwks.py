"""The issuer's public keys, fetched from its JWKS (RFC 7517) and cached.

An unknown ``kid`` triggers at most one refetch per ``min_refetch_interval``, however
many requests ask at once (no refetch storm from forged kids). Only asymmetric keys are
kept, each with the one ``alg`` it is published with (RFC 8725 s3.1); ``kid`` is only a
dictionary key (s3.10). A key the revocation feed names as retired is dropped and
refused even if a stale JWKS still lists it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from joserfc.errors import JoseError

from authgate.keys.keyring import ASYMMETRIC_ALGORITHMS, RingKey, import_key

__all__ = ["JwksCache", "index_jwks"]

logger = logging.getLogger("authgate.resource")


class JwksCache:
    def __init__(
        self,
        *,
        url: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float],
        algorithms: frozenset[str] = frozenset(ASYMMETRIC_ALGORITHMS),
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 30.0,
    ) -> None:
        unknown = algorithms - set(ASYMMETRIC_ALGORITHMS)
        if unknown:
            raise ValueError(f"only asymmetric algorithms can be verified offline: {unknown}")
        self.url = url
        self._http = http
        self._clock = clock
        self._algorithms = algorithms
        self._cache_ttl = cache_ttl
        self._min_refetch = min_refetch_interval
        self._keys: dict[str, RingKey] = {}
        self._retired: set[str] = set()
        self._fetched_at = -float("inf")
        self._lock = anyio.Lock()
        self.fetches = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def key(self, kid: str) -> RingKey | None:
        """The key of ``kid``, refetching the JWKS when it is unknown or the cache is old."""
        if kid in self._retired:
            return None
        key = self._keys.get(kid)
        if key is None or self._clock() - self._fetched_at > self._cache_ttl:
            await self.refresh(force=key is None)
            key = self._keys.get(kid)
        return key

    def retire(self, kid: str) -> None:
        self._retired.add(kid)
        self._keys.pop(kid, None)

    async def refresh(self, *, force: bool) -> None:
        async with self._lock:
            since = self._clock() - self._fetched_at
            # Another caller just fetched, or (unforced) the cache is still fresh.
            if since < self._min_refetch or (not force and since <= self._cache_ttl):
                return
            # Counted from the attempt: a failing endpoint is not retried on every request.
            self._fetched_at = self._clock()
            self.fetches += 1
            try:
                response = await self._http.get(self.url)
                response.raise_for_status()
                keys = index_jwks(response.json(), self._algorithms)
            except (httpx.HTTPError, JoseError, ValueError, TypeError, AttributeError, KeyError):
                # Keep the keys we have: their tokens still verify, unknown kids are refused.
                logger.warning("could not fetch the JWKS from %s", self.url, exc_info=True)
                return
            self._keys = {kid: key for kid, key in keys.items() if kid not in self._retired}


def index_jwks(document: Any, algorithms: frozenset[str]) -> dict[str, RingKey]:
    """kid -> key for each published public signing key of an allowed algorithm."""
    keys: dict[str, RingKey] = {}
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(jwk, dict):
            continue
        alg, kid = jwk.get("alg"), jwk.get("kid")
        if alg in algorithms and isinstance(kid, str) and "d" not in jwk:
            keys[kid] = RingKey(kid=kid, alg=alg, key=import_key(alg, jwk), public_jwk=jwk)
    return keys
