"""Redis hot state: revocations kept current by pub/sub, and single-use markers.

Keys are shaped for Redis Cluster: the part in braces is the hash tag, so every key of
one session lives in one slot (``authgate:{session:<id>}:revoked``), and multi-key
commands never cross slots. Every key has a TTL, so nothing grows without bound.

Revocations. Each instance keeps its own in-process ``RevocationList``; the verify
path reads only that. On revoke, an instance (after the database commit) sets the
session's key and its entry in the ``{revocations}`` index, both expiring when the
last access token issued before the revocation does, and publishes the ids. Every
instance subscribes; on each (re)subscription it reloads the index and catches up from
the database, so a message lost while disconnected is not lost for good. While the
subscription is down it polls the database every ``revocation_poll_interval`` seconds
instead, so logouts still propagate within that bound while PostgreSQL is up; the
list is refused (503 on access checks) only once neither Redis nor the database has
confirmed it for ``revocation_max_staleness`` seconds. Because a publish can be lost
while the subscription looks healthy, the database is re-read every
``revocation_resync_interval`` seconds as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from authgate.clock import Clock, system_clock
from authgate.errors import StorageUnavailableError
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore

__all__ = ["RedisKeys", "RedisRevocationFeed", "RedisSingleUseStore", "connect"]

logger = logging.getLogger("authgate.redis")

# Commits may land a little after the revoked_at they record; re-read this far back.
_CATCH_UP_MARGIN = 30


def connect(url: str, *, timeout: float) -> Redis:
    """A client that fails fast: no silent retries, so outages surface to the caller."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=max(1, int(timeout)),
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
    return client


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = "authgate:"

    @property
    def channel(self) -> str:
        return f"{self.prefix}revocations"

    @property
    def revocation_index(self) -> str:
        return f"{self.prefix}{{revocations}}"

    def revoked(self, session_id: str) -> str:
        return f"{self.prefix}{{session:{session_id}}}:revoked"

    def once(self, key: str) -> str:
        # Hashed: fixed length, and a one-time value never sits in Redis in clear.
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        return f"{self.prefix}{{once:{digest}}}"


class RedisRevocationFeed:
    def __init__(
        self,
        *,
        redis: Redis,
        local: RevocationList,
        store: SqlStore,
        keys: RedisKeys,
        revocation_ttl: int,
        poll_interval: float = 1.0,
        resync_interval: float = 30.0,
        max_staleness: float = 30.0,
        clock: Clock = system_clock,
    ) -> None:
        self._redis = redis
        self._local = local
        self._store = store
        self._keys = keys
        self._ttl = revocation_ttl
        self._poll = poll_interval
        self._resync = resync_interval
        self._max_staleness = max_staleness
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._db_synced_at = 0.0
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        # The caller has just loaded recent revocations from the database.
        self._db_synced_at = self._clock()
        self._local.confirm_current(self._max_staleness)
        self._task = asyncio.create_task(self._run(), name="authgate-revocation-feed")

    async def close(self) -> None:
        # The flag as well as the cancel: a client library may turn a cancellation
        # into a connection error, which the loop would otherwise retry.
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=5)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._redis.aclose(), timeout=5)

    async def publish(self, session_ids: Sequence[str], until: int) -> None:
        if not session_ids:
            return
        ttl = max(1, int(until - self._clock()))
        pipe = self._redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(self._keys.revoked(session_id), str(until), ex=ttl)
        pipe.zadd(self._keys.revocation_index, dict.fromkeys(session_ids, until))
        pipe.zremrangebyscore(self._keys.revocation_index, "-inf", self._clock())
        pipe.expire(self._keys.revocation_index, ttl, gt=True)
        pipe.expire(self._keys.revocation_index, ttl, nx=True)
        pipe.publish(self._keys.channel, json.dumps({"s": list(session_ids), "u": until}))
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            # Stored in the database already: other instances catch up from there.
            logger.warning(
                "revocation publish failed (%s); peers resync from the database", type(exc).__name__
            )

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._follow()
            except (RedisError, OSError) as exc:
                if self._closing:
                    return
                logger.warning("revocation subscription lost: %s", type(exc).__name__)
            self.subscribed.clear()
            await self._poll_database()
            await asyncio.sleep(self._poll)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._keys.channel)
            # Subscribed first, then reload: nothing published in between is missed.
            await self._reload_index()
            await self._poll_database()
            self.subscribed.set()
            logger.info("revocation subscription established")
            while not self._closing:
                message = await pubsub.get_message(timeout=self._poll)
                if message is not None:
                    self._apply(message.get("data"))
                self._local.confirm_current(self._max_staleness)
                if self._clock() - self._db_synced_at >= self._resync:
                    await self._poll_database()
        finally:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(pubsub.aclose(), timeout=2)  # type: ignore[no-untyped-call]

    def _apply(self, data: Any) -> None:
        try:
            payload = json.loads(data)
            ids, until = payload["s"], float(payload["u"])
        except (TypeError, ValueError, KeyError):
            logger.warning("ignoring a malformed revocation message")
            return
        if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
            self._local.revoke(ids, until)

    async def _reload_index(self) -> None:
        entries = await self._redis.zrangebyscore(
            self._keys.revocation_index, self._clock(), "+inf", withscores=True
        )
        for entry in entries:
            session_id, until = entry[0], entry[1]
            self._local.revoke([str(session_id)], float(until))

    async def _poll_database(self) -> None:
        started = self._clock()
        since = min(self._db_synced_at, started) - _CATCH_UP_MARGIN
        try:
            recent = await self._store.revoked_since(int(since))
        except StorageUnavailableError:
            return
        for session_id, revoked_at in recent:
            self._local.revoke([session_id], revoked_at + self._ttl)
        self._db_synced_at = started
        self._local.confirm_current(self._max_staleness)


class RedisSingleUseStore:
    """SET NX / GETDEL: atomic on the server, so one instance wins across the fleet."""

    def __init__(self, *, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def put(self, key: str, value: str, ttl: int) -> None:
        await self._call(self._redis.set(self._keys.once(key), value, ex=max(1, ttl)))

    async def take(self, key: str) -> str | None:
        value = await self._call(self._redis.getdel(self._keys.once(key)))
        return None if value is None else str(value)

    async def claim(self, key: str, ttl: int) -> bool:
        won = await self._call(self._redis.set(self._keys.once(key), "1", ex=max(1, ttl), nx=True))
        return bool(won)

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._redis.aclose(), timeout=5)

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            # Fail closed: without the marker store a one-time value cannot be honoured.
            raise StorageUnavailableError("redis") from exc
