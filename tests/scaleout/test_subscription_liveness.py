"""The revocation subscription's liveness check on a real Redis (RESP3, redis-py's default).

A PING on a subscribed connection is answered with a plain string on RESP3, which
redis-py's ``get_message`` drops; the feed must still see it as Redis answering, and keep
a healthy but quiet subscription up (the server logged a false
``revocation subscription down: SubscriptionHungError`` every ``poll_interval +
liveness_timeout`` without a revocation, then resubscribed and re-read the database).
A revocation published meanwhile still reaches the local list.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from authgate.storage.redis import RedisKeys, RedisRevocationFeed, connect
from authgate.storage.revocations import RevocationList
from authgate.supervision import Supervisor
from tests.scaleout.infra import REDIS_URL, redis_prefix

POLL, LIVENESS = 0.1, 0.2


class _NoDatabaseRevocations:
    async def revoked_since(self, _since: int) -> list[tuple[str, int]]:
        return []


async def test_a_quiet_healthy_subscription_stays_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authgate")
    with redis_prefix() as prefix:
        local = RevocationList()
        feed = RedisRevocationFeed(
            redis=connect(REDIS_URL, timeout=LIVENESS),
            local=local,
            store=_NoDatabaseRevocations(),  # type: ignore[arg-type]
            keys=RedisKeys(prefix),
            revocation_ttl=60,
            poll_interval=POLL,
            liveness_timeout=LIVENESS,
        )
        supervisor = Supervisor()
        await feed.start(supervisor)
        try:
            await asyncio.wait_for(feed.subscribed.wait(), 5)
            # Ten liveness windows without a message: each one a PING and its PONG.
            await asyncio.sleep(10 * (POLL + LIVENESS))
            assert feed.live
            assert not local.stale
            # Another instance's revocation, straight onto the channel.
            publisher = connect(REDIS_URL, timeout=2)
            payload = json.dumps({"s": ["quiet-session"], "u": 2**31})
            await publisher.publish(RedisKeys(prefix).channel, payload)
            await publisher.aclose()
            for _ in range(50):
                if "quiet-session" in local:
                    break
                await asyncio.sleep(0.05)
            assert "quiet-session" in local
        finally:
            await feed.close()
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "subscription down" in m], messages
    assert messages.count("revocation subscription established") == 1, messages
