"""The GCRA limiter itself: rules, window edges, reservations, shared counts on Redis.

Every test runs on the in-process store and on a real Redis (a fresh key prefix), with
the injected clock: the Redis script takes ``now`` from the caller, so time is frozen
there too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from authgate.ratelimit import RateLimits, Rule, StoreUnavailable, parse_rule
from authgate.ratelimit.cells import MemoryCells
from authgate.testing import FrozenClock
from tests.scaleout.infra import REDIS_URL, redis_prefix

RULES: dict[Any, str] = {
    "api": "4 per minute",
    "refresh": "60 per 15 minutes",
    "register": "10 per hour",
    "login": "3 per 15 minutes",
    "oauth": "5 per 15 minutes",
    "account": "5 per 15 minutes",
}


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "memory":
        yield {}
        return
    with redis_prefix() as prefix:
        yield {"redis_url": REDIS_URL, "key_prefix": prefix}


@asynccontextmanager
async def limiter(
    clock: FrozenClock, backend: dict[str, Any], **rules: str
) -> AsyncIterator[RateLimits]:
    limits = RateLimits(rules={**RULES, **rules}, clock=clock, **backend)
    await limits.start()
    try:
        yield limits
    finally:
        await limits.close()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        pytest.param("100 per 15 minutes", Rule(100, 900), id="minutes"),
        pytest.param("10 per hour", Rule(10, 3600), id="unit-without-count"),
        pytest.param("2 per 1 second", Rule(2, 1), id="singular"),
        pytest.param("5/minute", Rule(5, 60), id="slash"),
        pytest.param(" 7 PER 2 Days ", Rule(7, 172800), id="case-and-spaces"),
    ],
)
def test_rules_keep_the_settings_notation(text: str, rule: Rule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("0 per minute", id="zero"),
        pytest.param("5 per 0 minutes", id="zero-window"),
        pytest.param("5 per fortnight", id="unknown-unit"),
        pytest.param("five per minute", id="words"),
        pytest.param("5 per minute; 100 per day", id="several"),
    ],
)
def test_bad_rules_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a rate"):
        parse_rule(text)


async def test_a_burst_of_the_limit_then_one_per_interval(
    clock: FrozenClock, backend: dict[str, Any]
) -> None:
    """4 per minute: four at once, the fifth refused until 15 s (60 / 4) have passed."""
    async with limiter(clock, backend) as limits:
        remaining = [(await limits.hit("api", "k")).remaining for _ in range(4)]
        assert remaining == [3, 2, 1, 0]
        refused = await limits.hit("api", "k")
        assert (refused.allowed, refused.remaining, refused.reset_after) == (False, 0, 15)
        clock.advance(14.999)
        assert not (await limits.hit("api", "k")).allowed
        clock.advance(0.001)  # the edge: exactly one interval later
        assert (await limits.hit("api", "k")).allowed
        assert not (await limits.hit("api", "k")).allowed


async def test_a_quiet_window_restores_the_whole_burst(
    clock: FrozenClock, backend: dict[str, Any]
) -> None:
    async with limiter(clock, backend) as limits:
        for _ in range(4):
            await limits.hit("api", "k")
        clock.advance(60)
        assert [(await limits.hit("api", "k")).allowed for _ in range(5)] == [True] * 4 + [False]


async def test_refused_requests_are_not_counted(
    clock: FrozenClock, backend: dict[str, Any]
) -> None:
    """A client hammering past its limit does not push its own release further away."""
    async with limiter(clock, backend) as limits:
        for _ in range(4 + 50):
            await limits.hit("api", "k")
        clock.advance(15)
        assert (await limits.hit("api", "k")).allowed


async def test_check_does_not_count(clock: FrozenClock, backend: dict[str, Any]) -> None:
    async with limiter(clock, backend) as limits:
        for _ in range(10):
            assert (await limits.check("api", "k")).remaining == 4
        assert (await limits.hit("api", "k")).remaining == 3


async def test_keys_and_groups_are_separate(clock: FrozenClock, backend: dict[str, Any]) -> None:
    async with limiter(clock, backend) as limits:
        for _ in range(4):
            await limits.hit("api", "principal", "agent-1")
        assert not (await limits.hit("api", "principal", "agent-1")).allowed
        assert (await limits.hit("api", "principal", "agent-2")).allowed
        assert (await limits.hit("api", "ip", "agent-1")).allowed
        assert (await limits.hit("refresh", "principal", "agent-1")).allowed


async def test_a_released_reservation_is_given_back(
    clock: FrozenClock, backend: dict[str, Any]
) -> None:
    async with limiter(clock, backend) as limits:
        for _ in range(10):
            reservation = await limits.reserve_login("203.0.113.7", "ada@example.com")
            assert reservation.decision.allowed
            await limits.release(reservation)
        kept = [await limits.reserve_login("203.0.113.7", "ada@example.com") for _ in range(4)]
        assert [r.decision.allowed for r in kept] == [True, True, True, False]
        assert kept[-1].slots == ()  # a refused attempt counted nothing to give back


async def test_a_login_reservation_counts_both_brakes_or_neither(
    clock: FrozenClock, backend: dict[str, Any]
) -> None:
    async with limiter(
        clock, backend, login="3 per 15 minutes", account="4 per 15 minutes"
    ) as limits:
        for n in range(4):  # four IPs, one failure each: the account brake is spent
            assert (await limits.reserve_login(f"192.0.2.{n}", "ada@example.com")).decision.allowed
        locked = await limits.reserve_login("192.0.2.99", "ada@example.com")
        assert not locked.decision.allowed
        assert locked.decision.limit == 4  # the account brake is the one reported
        # The refused attempt did not eat into that IP's own budget either.
        await limits.remember_client("192.0.2.99", "ada@example.com")
        allowed = [await limits.reserve_login("192.0.2.99", "ada@example.com") for _ in range(4)]
        assert [r.decision.allowed for r in allowed] == [True, True, True, False]


async def test_counts_are_exact_across_two_instances_on_redis(clock: FrozenClock) -> None:
    with redis_prefix() as prefix:
        backend = {"redis_url": REDIS_URL, "key_prefix": prefix}
        async with limiter(clock, backend) as first, limiter(clock, backend) as second:
            answers = [await (first, second)[n % 2].hit("api", "k") for n in range(6)]
            assert [a.allowed for a in answers] == [True] * 4 + [False] * 2
            reservation = await first.reserve_login("203.0.113.7", "ada@example.com")
            await second.release(reservation)  # any instance can give it back
            taken = [await second.reserve_login("203.0.113.7", "ada@example.com") for _ in range(4)]
            assert [r.decision.allowed for r in taken] == [True, True, True, False]


async def test_memory_state_stays_bounded(clock: FrozenClock) -> None:
    """Expired entries are swept, so a stream of one-off clients does not grow memory."""
    async with limiter(clock, {}) as limits:
        for n in range(20_000):
            await limits.hit("api", "ip", str(n))
            clock.advance(1)
        cells = limits.cells
        assert isinstance(cells, MemoryCells)
        assert len(cells._tats) < 10_000


async def test_an_unreachable_store_fails_closed_for_brakes_and_open_for_the_api(
    clock: FrozenClock, unused_tcp_port: int
) -> None:
    backend = {"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0", "redis_timeout": 0.5}
    async with limiter(clock, backend) as limits:
        assert (await limits.hit("api", "k")).allowed
        with pytest.raises(StoreUnavailable):
            await limits.reserve_login("203.0.113.7", "ada@example.com")
        with pytest.raises(StoreUnavailable):
            await limits.reserve("oauth", "203.0.113.7")
