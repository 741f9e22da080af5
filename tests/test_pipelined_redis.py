"""The limiter's Redis client: one pipelined connection, replies matched in order.

Against the shared Redis and private ``redis-server`` processes: concurrent calls each
get their own reply; a hung server fails every waiting call within the timeout and is
not retried; a connection the server closed is replaced once; the URL's database and
password are used; a fresh server without the script cached still runs it. The command
encoding is checked against redis-py's own.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio.connection import Connection

from authgate.ratelimit.cells import RedisCells, Slot
from authgate.ratelimit.pipelined import (
    PipelinedRedis,
    RedisReplyError,
    RedisUnavailableError,
    pack_command,
)
from tests.scaleout.infra import REDIS_URL, redis_prefix, require_binary, wait_until


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as value:
        yield value


@pytest.fixture
async def client() -> AsyncIterator[PipelinedRedis]:
    pipelined = PipelinedRedis(REDIS_URL, timeout=2)
    yield pipelined
    await pipelined.close()


@pytest.mark.parametrize(
    "args",
    [
        ("PING",),
        ("SET", "k", "v", "EX", 10, "NX"),
        ("EVALSHA", "a" * 40, 2, "k1", "k2", 0, -5, 2**62, 1),
        ("ECHO", "été ✓ 𝄞"),
        ("ECHO", b"\x00\r\n\xff"),
        ("ECHO", ""),
    ],
)
def test_commands_are_encoded_as_redis_py_encodes_them(args: tuple[Any, ...]) -> None:
    expected = b"".join(Connection().pack_command(*args))
    assert pack_command(*args) == expected


async def test_concurrent_calls_each_get_their_own_reply(client: PipelinedRedis) -> None:
    payloads = [secrets.token_hex(8) for _ in range(300)]
    replies = await asyncio.gather(*(client.call("ECHO", p) for p in payloads))
    assert replies == [p.encode() for p in payloads]


async def test_an_error_reply_raises_and_the_connection_stays_usable(
    client: PipelinedRedis, prefix: str
) -> None:
    await client.call("SET", prefix + "text", "not a number")
    with pytest.raises(RedisReplyError, match="not an integer"):
        await client.call("INCR", prefix + "text")
    assert await client.call("ECHO", "still here") == b"still here"


async def test_an_unreachable_server_is_unavailable(unused_tcp_port: int) -> None:
    client = PipelinedRedis(f"redis://127.0.0.1:{unused_tcp_port}/0", timeout=0.5)
    with pytest.raises(RedisUnavailableError, match="cannot reach Redis"):
        await client.call("PING")


async def test_a_silent_server_fails_every_waiting_call_in_time_and_is_not_retried() -> None:
    accepted: list[socket.socket] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    loop = asyncio.get_running_loop()

    async def accept_forever() -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            accepted.append(conn)  # held open, never answered

    acceptor = asyncio.create_task(accept_forever())
    port = listener.getsockname()[1]
    client = PipelinedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.call("ECHO", str(n)) for n in range(5)), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        assert all(isinstance(r, RedisUnavailableError) for r in results), results
        assert all("in time" in str(r) for r in results)
        assert elapsed < 2.0  # bounded by the timeout, not by the server
        assert len(accepted) == 1  # one connection, and no retry after the timeout
    finally:
        acceptor.cancel()
        await client.close()
        for conn in accepted:
            conn.close()
        listener.close()


async def test_a_connection_the_server_closed_is_replaced_once(client: PipelinedRedis) -> None:
    own_id = await client.call("CLIENT", "ID")
    admin = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        admin.execute_command("CLIENT", "KILL", "ID", own_id)
    finally:
        admin.close()
    # The next call may find the dead connection first; it is retried on a new one.
    assert await client.call("ECHO", "again") == b"again"
    assert await client.call("CLIENT", "ID") != own_id


async def test_the_database_of_the_url_is_used(prefix: str) -> None:
    client = PipelinedRedis(REDIS_URL.rsplit("/", 1)[0] + "/5", timeout=2)
    key = prefix + "in-db-5"
    other = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/5", socket_timeout=2)
    try:
        await client.call("SET", key, "here", "EX", 30)
        assert other.get(key) == b"here"
    finally:
        other.delete(key)
        other.close()
        await client.close()


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A redis-server of this test's own that asks for a password (and has no scripts)."""
    binary = require_binary("redis-server")
    password = secrets.token_urlsafe(16)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", str(tmp_path), "--requirepass", password]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(up, 10)
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_password_of_the_url_is_sent(password_redis: tuple[int, str]) -> None:
    port, password = password_redis
    client = PipelinedRedis(f"redis://:{password}@127.0.0.1:{port}/0", timeout=2)
    try:
        assert await client.call("PING") == b"PONG"
    finally:
        await client.close()


async def test_a_wrong_password_is_unavailable_and_not_echoed(
    password_redis: tuple[int, str],
) -> None:
    port, _ = password_redis
    wrong = "wrong-" + secrets.token_hex(8)
    client = PipelinedRedis(f"redis://:{wrong}@127.0.0.1:{port}/0", timeout=2)
    with pytest.raises(RedisUnavailableError, match="refused the handshake") as raised:
        await client.call("PING")
    assert wrong not in str(raised.value)


async def test_a_server_without_the_script_cached_still_runs_it(
    password_redis: tuple[int, str],
) -> None:
    port, password = password_redis
    cells = RedisCells(f"redis://:{password}@127.0.0.1:{port}/0", timeout=2)
    slot = Slot("authgate-test:fresh", interval=1_000_000, window=2_000_000)
    try:
        now = 10**15
        first = await cells.take_one(slot, now, cost=1)  # NOSCRIPT, then EVAL
        second = await cells.take_one(slot, now, cost=1)  # EVALSHA now finds it
        third = await cells.take_one(slot, now, cost=1)
        assert (first.refused, second.refused, third.refused) == (None, None, 0)
        assert second.tats == (now + 2_000_000,)
    finally:
        await cells.close()
