"""Redis hot state: revocations kept current by pub/sub, and single-use markers.

Keys are shaped for Redis Cluster: the part in braces is the hash tag, so every key of
one session lives in one slot (``authgate:{session:<id>}:revoked``), and multi-key
commands never cross slots. Every key has a TTL, so nothing grows without bound.

Revocations. Each instance keeps its own in-process ``RevocationList``; the verify
path reads only that. On revoke, an instance (after the database commit) sets the
session's key and its entry in the ``{revocations}`` index, both expiring when the
last access token issued before the revocation does, and publishes the ids. Every
instance subscribes; on each (re)subscription it reloads the index and catches up from
the database, so a message lost while disconnected is not lost for good. The
subscription checks that Redis answers (a PING when quiet), so a hung server is dropped
within ``revocation_poll_interval + redis_timeout`` seconds. While the subscription is
down or hung the database is polled every ``revocation_poll_interval`` seconds instead,
so logouts still propagate within that bound while PostgreSQL is up; the list is
refused (503 on access checks) only once neither Redis nor the database has confirmed
it for ``revocation_max_staleness`` seconds. Because a publish can be lost while the
subscription looks healthy, the database is re-read every
``revocation_resync_interval`` seconds as well. Subscriber and poller are supervised
tasks (authgate/supervision.py): an unexpected error restarts them, never stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from authgate.clock import Clock, system_clock
from authgate.errors import StorageUnavailableError
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore
from authgate.supervision import Heartbeat, Supervisor

__all__ = [
    "RedisKeys",
    "RedisRevocationFeed",
    "RedisSingleUseStore",
    "SubscriptionHungError",
    "connect",
]

logger = logging.getLogger("authgate.redis")

# Commits may land a little after the revoked_at they record; re-read this far back.
_CATCH_UP_MARGIN = 30
# The payload of the liveness PING on the subscription (redis-py ignores its own).
_PING = "authgate-liveness"
_SUBSCRIBER, _POLLER = "revocation-subscriber", "revocation-poller"


def connect(url: str, *, timeout: float) -> Redis:
    """A client that fails fast: a dead pooled connection (Redis restarted or closed it) is
    retried once on a fresh one; a timeout never is, so outages surface to the caller."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=max(1, int(timeout)),
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
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


class SubscriptionHungError(Exception):
    """Redis stopped answering on the subscription without closing it (a hung server)."""


class RedisRevocationFeed:
    """Two supervised tasks keep the local list current: a subscriber and a poller.

    The subscriber follows the channel and checks that Redis still answers: when no
    message came for ``poll_interval`` it sends a PING, and when nothing (not even the
    PONG) came within ``liveness_timeout`` more it drops the connection as hung. The
    poller reads the database every ``poll_interval`` while the subscription is not
    live, and every ``resync_interval`` while it is.
    """

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
        liveness_timeout: float = 2.0,
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
        self._liveness = liveness_timeout
        self._clock = clock
        self._db_synced_at = 0.0
        self._poll_now = asyncio.Event()
        self._supervisor: Supervisor | None = None
        self.subscribed = asyncio.Event()

    @property
    def live(self) -> bool:
        """Subscribed, and Redis answered within the liveness bound."""
        return self.subscribed.is_set()

    async def start(self, supervisor: Supervisor) -> None:
        # The caller has just loaded recent revocations from the database.
        self._db_synced_at = self._clock()
        self._local.confirm_current(self._max_staleness)
        bound = self._max_staleness
        self._supervisor = supervisor
        supervisor.supervise(_SUBSCRIBER, self._subscribe_forever, staleness=bound)
        supervisor.supervise(_POLLER, self._poll_forever, staleness=bound)

    async def close(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop(_SUBSCRIBER)
            await self._supervisor.stop(_POLLER)
        self.subscribed.clear()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._redis.aclose(), timeout=5)

    async def publish(self, session_ids: Sequence[str], until: int) -> None:
        """Tell the other instances; never fatal, the database holds the revocation (or
        will: sessions/revoker.py publishes one it could not record yet, too).

        A pooled connection may predate a Redis restart and fail on first use: then it
        is retried once on a fresh connection, unless the subscription already knows
        Redis is down or the failure was a timeout (a hung server). If that fails too,
        the peers' database polling (Redis down) or resync (Redis up) carries it.
        """
        if not session_ids:
            return
        retry = self.live
        while True:
            try:
                await asyncio.wait_for(self._publish_once(session_ids, until), self._liveness + 1)
                return
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("revocation publish failed (%s)", type(exc).__name__)
                # A timeout means a hung server: a fresh connection would hang as well.
                if not retry or isinstance(exc, TimeoutError | RedisTimeoutError):
                    break
                retry = False
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
        logger.warning("revocation not published; peers learn it from the database")

    async def _publish_once(self, session_ids: Sequence[str], until: int) -> None:
        ttl = max(1, int(until - self._clock()))
        pipe = self._redis.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(self._keys.revoked(session_id), str(until), ex=ttl)
        pipe.zadd(self._keys.revocation_index, dict.fromkeys(session_ids, until))
        pipe.zremrangebyscore(self._keys.revocation_index, "-inf", self._clock())
        pipe.expire(self._keys.revocation_index, ttl, gt=True)
        pipe.expire(self._keys.revocation_index, ttl, nx=True)
        pipe.publish(self._keys.channel, json.dumps({"s": list(session_ids), "u": until}))
        await pipe.execute()

    # The subscriber

    async def _subscribe_forever(self, beat: Heartbeat) -> None:
        reported = False
        while True:
            beat()
            try:
                await self._follow(beat)
            except (RedisError, OSError, TimeoutError, SubscriptionHungError) as exc:
                if self.live or not reported:
                    logger.warning("revocation subscription down: %s", type(exc).__name__)
                reported = True
            finally:
                if self.live:
                    self.subscribed.clear()
                    self._poll_now.set()  # the poller takes over at once
            await asyncio.sleep(self._poll)

    async def _follow(self, beat: Heartbeat) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await asyncio.wait_for(pubsub.subscribe(self._keys.channel), self._liveness)
            # Subscribed first, then reload: nothing published in between is missed.
            await asyncio.wait_for(self._reload_index(), self._liveness + 1)
            self.subscribed.set()
            self._poll_now.set()  # and catch up from the database
            logger.info("revocation subscription established")
            await self._listen(pubsub, beat)
        finally:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(pubsub.aclose(), timeout=2)  # type: ignore[no-untyped-call]

    async def _listen(self, pubsub: Any, beat: Heartbeat) -> None:
        """Follow the channel; any reply Redis sends proves it alive.

        The reply to the liveness PING is read as a raw reply, not through redis-py's
        ``get_message``: on RESP3 (redis-py's default protocol since 8) a PING on a
        subscribed connection is answered with a plain string, which ``get_message``
        drops as if it were a subscribe confirmation, so the PONG was never seen and a
        healthy subscription was torn down as hung after every ``poll_interval +
        liveness_timeout`` without a revocation. The connection is declared hung only
        when a PING has gone unanswered for ``liveness_timeout``.
        """
        last_seen = time.monotonic()
        pinged_at: float | None = None
        while True:
            beat()
            wait = self._poll
            if pinged_at is not None:  # no longer than the PONG has left
                wait = min(wait, max(0.0, pinged_at + self._liveness - time.monotonic()))
            reply = await pubsub.parse_response(block=False, timeout=wait)
            now = time.monotonic()
            if reply is not None:
                last_seen, pinged_at = now, None
                if not isinstance(reply, str | bytes):  # a bare string is the PONG (RESP3)
                    message = await pubsub.handle_message(reply, ignore_subscribe_messages=True)
                    if message is not None and message.get("type") == "message":
                        self._apply(message.get("data"))
            elif pinged_at is not None and now - pinged_at >= self._liveness:
                raise SubscriptionHungError()
            if now - last_seen <= self._poll + self._liveness:
                self._local.confirm_current(self._max_staleness)
            if now - last_seen >= self._poll and pinged_at is None:
                # Any reply proves Redis alive; a hung one never sends the PONG.
                await asyncio.wait_for(pubsub.ping(_PING), self._liveness)
                pinged_at = time.monotonic()

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

    # The poller

    async def _poll_forever(self, beat: Heartbeat) -> None:
        while True:
            beat()
            due = self._resync if self.live else self._poll
            if self._poll_now.is_set() or self._clock() - self._db_synced_at >= due:
                self._poll_now.clear()
                await self._poll_database()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), timeout=self._poll)

    async def _poll_database(self) -> bool:
        started = self._clock()
        since = min(self._db_synced_at, started) - _CATCH_UP_MARGIN
        try:
            recent = await self._store.revoked_since(int(since))
        except StorageUnavailableError:
            return False  # polled again next period; staleness decides when to refuse
        for session_id, revoked_at in recent:
            self._local.revoke([session_id], revoked_at + self._ttl)
        self._db_synced_at = started
        self._local.confirm_current(self._max_staleness)
        return True


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
