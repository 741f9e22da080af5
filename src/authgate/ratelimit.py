"""Rate limits on top of the `limits` library: moving windows, in memory or in Redis.

Groups and what they count (all configurable in Settings, see docs/hardening.md):

    api       every /api request, per client IP
    refresh   every /auth/refresh request, per client IP
    register  every /auth/register request, per client IP
    login     FAILED /auth/login attempts, per client IP + email
    oauth     FAILED /auth/oauth/* attempts, per client IP
    account   FAILED logins for one email from any IP not known to have signed in to it

The account group is the credential-stuffing brake (OWASP ASVS V6.3): many IPs failing
against one account lock it for at most one window, for every IP that has not signed in
to it before, whether or not the account exists. A client that signed in successfully
is remembered for ``known_client_ttl`` and is not locked out by other people's failures.

`limits` reads wall-clock time itself, so windows are real time (not the injected clock).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from authgate.errors import ConfigurationError

__all__ = ["GROUPS", "Decision", "RateLimits", "rules_from_settings"]

logger = logging.getLogger("authgate.ratelimit")

Group = Literal["api", "refresh", "register", "login", "oauth", "account"]
GROUPS: tuple[Group, ...] = ("api", "refresh", "register", "login", "oauth", "account")
# When the shared store is down, brute-force brakes fail closed; the rest fail open.
_FAIL_CLOSED = frozenset({"login", "oauth", "account"})


@dataclass(frozen=True, slots=True)
class Decision:
    """The state of one limit for one client, as the RateLimit-* headers report it."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees up

    @property
    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }


class StoreUnavailable(Exception):
    """The rate-limit store failed and the group fails closed."""


def rules_from_settings(settings: Any) -> dict[Group, str]:
    return {group: getattr(settings, f"rate_limit_{group}") for group in GROUPS}


class RateLimits:
    def __init__(
        self,
        *,
        rules: Mapping[Group, str],
        redis_url: str | None = None,
        key_prefix: str = "authgate:",
        known_client_ttl: int = 30 * 86400,
        redis_timeout: float = 2.0,
    ) -> None:
        self._items: dict[Group, RateLimitItem] = {g: parse(text) for g, text in rules.items()}
        self._redis_url = redis_url
        self._prefix = key_prefix + "rl"
        self._known_ttl = known_client_ttl
        self._timeout = redis_timeout
        self._pool: Any = None
        self._storage: Storage | None = None
        self._limiter: MovingWindowRateLimiter | None = None

    async def start(self) -> None:
        """Create the store; inside the running event loop, which `limits` needs."""
        self._storage = self._make_storage()
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._storage = self._limiter = self._pool = None

    def _make_storage(self) -> Storage:
        if not self._redis_url:
            return MemoryStorage()
        try:
            from limits.aio.storage import RedisStorage
            from redis.asyncio import ConnectionPool
        except ImportError as exc:
            raise ConfigurationError(
                "AUTHGATE_REDIS_URL needs the redis extra: pip install 'authgate[redis]'"
            ) from exc
        url = self._redis_url.removeprefix("async+")
        # Our own pool, so close() can release its connections (limits has no close).
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
        )
        return RedisStorage(
            f"async+{url}",
            implementation="redispy",
            key_prefix=self._prefix,
            connection_pool=self._pool,
        )

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            raise RuntimeError("RateLimits.start() was not awaited")
        return self._limiter

    async def check(self, group: Group, *key: str) -> Decision:
        """Whether one more request fits, without counting it."""
        item = self._items[group]
        ids = _identifiers(key)
        try:
            allowed = await self.limiter.test(item, *ids)
            return await self._decision(item, ids, allowed)
        except Exception as exc:
            return self._on_store_error(group, item, exc)

    async def hit(self, group: Group, *key: str) -> Decision:
        """Count one request; ``allowed`` is False when it did not fit."""
        item = self._items[group]
        ids = _identifiers(key)
        try:
            allowed = await self.limiter.hit(item, *ids)
            return await self._decision(item, ids, allowed)
        except Exception as exc:
            return self._on_store_error(group, item, exc)

    async def remember_client(self, ip: str, email: str) -> None:
        """Mark ``ip`` as having signed in to ``email``: the account lock spares it."""
        storage = self._storage
        if storage is None:
            return
        try:
            await storage.clear(self._known_key(ip, email))
            await storage.incr(self._known_key(ip, email), self._known_ttl)
        except Exception:
            logger.warning("rate-limit store unavailable: known client not recorded")

    async def is_known_client(self, ip: str, email: str) -> bool:
        storage = self._storage
        if storage is None:
            return False
        try:
            return await storage.get(self._known_key(ip, email)) > 0
        except Exception:
            return False

    async def first_block_in(self, seconds: int, *key: str) -> bool:
        """True once per ``seconds`` per key: keeps audit writes for floods bounded."""
        item = parse(f"1 per {seconds} seconds")
        try:
            return await self.limiter.hit(item, "audit", *_identifiers(key))
        except Exception:
            return False

    def item(self, group: Group) -> RateLimitItem:
        return self._items[group]

    def _known_key(self, ip: str, email: str) -> str:
        return f"{self._prefix}/known/{'/'.join(_identifiers((ip, email)))}"

    async def _decision(self, item: RateLimitItem, ids: list[str], allowed: bool) -> Decision:
        stats = await self.limiter.get_window_stats(item, *ids)
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, item.amount, max(0, stats.remaining), reset_after)

    def _on_store_error(self, group: Group, item: RateLimitItem, exc: Exception) -> Decision:
        logger.error("rate-limit store unavailable: %s", type(exc).__name__)
        if group in _FAIL_CLOSED:
            raise StoreUnavailable(group) from exc
        return Decision(True, item.amount, item.amount, item.get_expiry())


def _identifiers(key: tuple[str, ...]) -> list[str]:
    # Hashed: emails (personal data) and attacker-chosen strings never become store keys.
    return [hashlib.sha256(part.encode("utf-8", "replace")).hexdigest()[:32] for part in key]
