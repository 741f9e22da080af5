"""Faults: Redis stops, PostgreSQL stops, an instance is SIGKILLed mid-refresh.

Servers that a test stops are private ones it started on a spare port; the shared
PostgreSQL and Redis are never stopped.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.scaleout.conftest import ServerFactory
from tests.scaleout.infra import (
    PrivatePostgres,
    PrivateRedis,
    postgres_database,
    wait_until,
)
from tests.scaleout.test_instances import UA, chat, login, refresh, register_and_login

pytestmark = pytest.mark.e2e

UNAVAILABLE = {
    "error": "Service unavailable",
    "message": "The authentication store is temporarily unavailable; retry shortly",
}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(workdir=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.init()
    cluster.start()
    yield cluster
    cluster.destroy()


def logout(server: Any, access: str) -> httpx.Response:
    headers = {**UA, "authorization": f"Bearer {access}"}
    return httpx.post(f"{server.url}/auth/logout", headers=headers, timeout=10)


def test_redis_down_keeps_verifying_and_recovers(
    shared_env: dict[str, str], start_server: ServerFactory, private_redis: PrivateRedis
) -> None:
    env = {**shared_env, "AUTHGATE_REDIS_URL": private_redis.url}
    env["AUTHGATE_RATE_LIMIT_ENABLED"] = "true"
    a, b = start_server(env), start_server(env)
    kept = register_and_login(a)
    ended = login(a)

    private_redis.stop()
    # Access checks stay in process: still answered, no Redis round trip.
    assert chat(b, kept["accessToken"]).status_code == 200
    # A logout still reaches the other instance: it polls the database meanwhile.
    assert logout(a, ended["accessToken"]).status_code == 200
    wait_until(lambda: chat(b, ended["accessToken"]).status_code == 401, timeout=3.0)
    # Refresh needs only the database; login's failure counter fails closed.
    renewed = refresh(b, kept["refreshToken"])
    assert renewed.status_code == 200, renewed.text
    body = {"email": "ada@example.com", "password": "correct horse battery staple"}
    refused = httpx.post(f"{a.url}/auth/login", json=body, headers=UA, timeout=10)
    assert refused.status_code == 503

    private_redis.start()  # same port: both instances reconnect on their own
    wait_until(
        lambda: httpx.post(f"{a.url}/auth/login", json=body, headers=UA).status_code == 200,
        timeout=15,
    )
    latest = login(b)
    time.sleep(2.5)  # let the subscriptions come back (reconnect loop, 1 s period)
    assert logout(b, latest["accessToken"]).status_code == 200
    wait_until(lambda: chat(a, latest["accessToken"]).status_code == 401, timeout=1.0)


def test_postgres_down_answers_503_then_recovers(
    tmp_path: Path,
    shared_env: dict[str, str],
    start_server: ServerFactory,
    private_postgres: PrivatePostgres,
) -> None:
    with postgres_database(private_postgres.admin_url) as url:
        env = {**shared_env, "AUTHGATE_DATABASE_URL": url, "AUTHGATE_DB_CONNECT_TIMEOUT": "2"}
        a, b = start_server(env), start_server(env)
        pair = register_and_login(a)

        private_postgres.stop()
        body = {"email": "ada@example.com", "password": "correct horse battery staple"}
        started = time.monotonic()
        refused = httpx.post(f"{a.url}/auth/login", json=body, headers=UA, timeout=30)
        assert refused.status_code == 503
        assert refused.json() == UNAVAILABLE
        assert time.monotonic() - started < 10, "no hang"
        assert refresh(b, pair["refreshToken"]).status_code == 503
        # Access checks need neither database nor network: still answered.
        assert chat(b, pair["accessToken"]).status_code == 200

        private_postgres.start()
        wait_until(
            lambda: httpx.post(f"{a.url}/auth/login", json=body, headers=UA).status_code == 200,
            timeout=20,
        )
        # No partial write: the refresh refused during the outage is still unspent.
        assert refresh(b, pair["refreshToken"]).status_code == 200


def _refresh_forever(server_url: str, start: str, chain: list[str], stop: threading.Event) -> None:
    token = start
    with httpx.Client(headers=UA, timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(f"{server_url}/auth/refresh", json={"refreshToken": token})
            except httpx.HTTPError:
                return  # the instance died under us
            if response.status_code != 200:
                return
            token = response.json()["refreshToken"]
            chain.append(token)


async def _active_tokens(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT session_id, count(*) FILTER (WHERE status = 'active') AS active "
            "FROM refresh_tokens GROUP BY session_id"
        )
    finally:
        await conn.close()
    return {row["session_id"]: row["active"] for row in rows}


def test_sigkill_during_refreshes_leaves_no_half_rotated_session(
    shared_env: dict[str, str], start_server: ServerFactory, pg_url: str
) -> None:
    env = {**shared_env, "AUTHGATE_REFRESH_REUSE_GRACE": "0"}
    a, b = start_server(env), start_server(env)
    first = register_and_login(a)
    pairs = [first] + [login(a) for _ in range(3)]
    chains: list[list[str]] = [[pair["refreshToken"]] for pair in pairs]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_refresh_forever, args=(a.url, c[0], c, stop)) for c in chains
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: all(len(c) >= 3 for c in chains), timeout=30)
    a.kill(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)

    # Every session has exactly one unspent refresh token: never none, never two.
    active = asyncio.run(_active_tokens(pg_url))
    assert sorted(active.values()) == [1] * len(pairs)
    time.sleep(1.1)  # beyond the (zero) race grace
    for chain in chains:
        # The latest token the client received works on the surviving instance, unless
        # the kill struck after the commit and before the answer (then it was spent).
        latest = refresh(b, chain[-1])
        if latest.status_code == 200:
            newest = latest.json()
            # An older token is reuse: refused, and it ends the session.
            assert refresh(b, chain[-2]).status_code == 401
            assert refresh(b, newest["refreshToken"]).status_code == 401
        else:
            assert latest.status_code == 401
