"""The one factory that picks the hot-state backends from Settings.

``AUTHGATE_REDIS_URL`` unset: in-process memory (one process, the embedded default).
Set: Redis, imported lazily so the base install does not need the ``redis`` package.
"""

from __future__ import annotations

from dataclasses import dataclass

from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.errors import ConfigurationError
from authgate.storage.memory import LocalRevocationFeed, MemorySingleUseStore
from authgate.storage.protocols import RevocationFeed, SingleUseStore
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore

__all__ = ["HotState", "build_hot_state", "revocation_ttl"]

INSTALL_HINT = "AUTHGATE_REDIS_URL is set but redis is not installed: pip install 'authgate[redis]'"


@dataclass(frozen=True, slots=True)
class HotState:
    revocation_feed: RevocationFeed
    single_use: SingleUseStore
    backend: str


def revocation_ttl(settings: Settings) -> int:
    """How long a revocation entry must live: until every older access token expired."""
    return settings.access_token_ttl + settings.clock_leeway


def build_hot_state(
    settings: Settings, *, local: RevocationList, store: SqlStore, clock: Clock = system_clock
) -> HotState:
    if settings.redis_url is None:
        return HotState(LocalRevocationFeed(), MemorySingleUseStore(clock=clock), "memory")
    try:
        from authgate.storage import redis as backend
    except ImportError as exc:
        raise ConfigurationError(INSTALL_HINT) from exc
    keys = backend.RedisKeys(settings.redis_key_prefix)
    # Two clients: the subscription holds its connection for good.
    feed = backend.RedisRevocationFeed(
        redis=backend.connect(settings.redis_url, timeout=settings.redis_timeout),
        local=local,
        store=store,
        keys=keys,
        revocation_ttl=revocation_ttl(settings),
        poll_interval=settings.revocation_poll_interval,
        resync_interval=settings.revocation_resync_interval,
        max_staleness=settings.revocation_max_staleness,
        liveness_timeout=settings.redis_timeout,
        clock=clock,
    )
    single_use = backend.RedisSingleUseStore(
        redis=backend.connect(settings.redis_url, timeout=settings.redis_timeout), keys=keys
    )
    return HotState(feed, single_use, "redis")
