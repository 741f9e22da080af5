"""The core contract on both backends, in process: embedded (SQLite + memory) and
PostgreSQL + Redis. Also the hot-state stores on their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.errors import StorageUnavailableError
from authgate.http.app import create_app
from authgate.storage.memory import MemorySingleUseStore
from authgate.storage.protocols import RevocationFeed, SingleUseStore
from authgate.storage.revocations import RevocationList
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import bearer, login, register
from tests.scaleout.infra import REDIS_URL, free_port, postgres_database, redis_prefix


@pytest.fixture(params=["embedded", "postgres-redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "embedded":
        yield {}
        return
    with postgres_database() as url, redis_prefix() as prefix:
        yield {"database_url": url, "redis_url": REDIS_URL, "redis_key_prefix": prefix}


@pytest.fixture
async def backend_app(
    backend: dict[str, Any], tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, auto_migrate=True, rate_limit_enabled=False, **backend)
    app = create_app(settings, clock=clock)
    async with lifespan(app):
        yield app


@pytest.fixture
async def backend_client(backend_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(backend_app, headers={"user-agent": "contract/1.0"}) as client:
        yield client


async def test_login_gives_a_working_access_token(backend_client: httpx.AsyncClient) -> None:
    await register(backend_client)
    pair = await login(backend_client)
    me = await backend_client.get("/auth/me", headers=bearer(pair["accessToken"]))
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_refresh_rotates_and_spends_the_old_token(
    backend_client: httpx.AsyncClient,
) -> None:
    await register(backend_client)
    pair = await login(backend_client)
    new = await backend_client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert new.status_code == 200
    assert new.json()["refreshToken"] != pair["refreshToken"]
    assert new.json()["sessionId"] == pair["sessionId"]


async def test_reuse_after_grace_revokes_the_session(
    backend_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await register(backend_client)
    pair = await login(backend_client)
    new = await backend_client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    clock.advance(5)
    replay = await backend_client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert replay.status_code == 401
    newest = new.json()
    again = await backend_client.post(
        "/auth/refresh", json={"refreshToken": newest["refreshToken"]}
    )
    assert again.status_code == 401
    chat = await backend_client.post(
        "/api/ai/chat", json={"message": "x"}, headers=bearer(newest["accessToken"])
    )
    assert chat.status_code == 401


async def test_logout_refuses_the_access_token(backend_client: httpx.AsyncClient) -> None:
    await register(backend_client)
    pair = await login(backend_client)
    out = await backend_client.post("/auth/logout", headers=bearer(pair["accessToken"]))
    assert out.status_code == 200
    me = await backend_client.get("/auth/me", headers=bearer(pair["accessToken"]))
    assert me.status_code == 401


async def test_backend_is_chosen_from_settings(
    backend: dict[str, Any], backend_app: FastAPI
) -> None:
    runtime = backend_app.state.authgate
    assert runtime.hot.backend == ("redis" if backend else "memory")
    assert isinstance(runtime.hot.revocation_feed, RevocationFeed)
    assert isinstance(runtime.single_use, SingleUseStore)


# Single-use markers


@pytest.fixture(params=["memory", "redis"])
async def single_use_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Any]]:
    """Two instances' stores; with Redis they share the server, as two processes would."""
    if request.param == "memory":
        store = MemorySingleUseStore(clock=FrozenClock())
        yield store, store
        return
    from authgate.storage.redis import RedisKeys, RedisSingleUseStore, connect

    with redis_prefix() as prefix:
        keys = RedisKeys(prefix)
        a = RedisSingleUseStore(redis=connect(REDIS_URL, timeout=2), keys=keys)
        b = RedisSingleUseStore(redis=connect(REDIS_URL, timeout=2), keys=keys)
        yield a, b
        await a.close()
        await b.close()


async def test_a_value_is_taken_once_across_instances(single_use_pair: tuple[Any, Any]) -> None:
    a, b = single_use_pair
    await a.put("state-123", "verifier", 60)
    assert await b.take("state-123") == "verifier"
    assert await a.take("state-123") is None


async def test_a_key_is_claimed_once_across_instances(single_use_pair: tuple[Any, Any]) -> None:
    a, b = single_use_pair
    assert await a.claim("oauth-state-xyz", 60) is True
    assert await b.claim("oauth-state-xyz", 60) is False
    assert await a.claim("oauth-state-xyz", 60) is False


async def test_memory_markers_expire() -> None:
    clock = FrozenClock()
    store = MemorySingleUseStore(clock=clock)
    await store.put("k", "v", 10)
    assert await store.claim("c", 10)
    clock.advance(11)
    assert await store.take("k") is None
    assert await store.claim("c", 10), "an expired claim can be made again"


async def test_memory_markers_do_not_grow_without_bound() -> None:
    clock = FrozenClock()
    store = MemorySingleUseStore(clock=clock, sweep_above=8)
    for i in range(100):
        await store.put(f"k{i}", "v", 1)
        clock.advance(2)
    assert len(store) <= 8


async def test_redis_markers_fail_closed_when_redis_is_down() -> None:
    from authgate.storage.redis import RedisKeys, RedisSingleUseStore, connect

    url = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisSingleUseStore(redis=connect(url, timeout=0.5), keys=RedisKeys("t:"))
    try:
        with pytest.raises(StorageUnavailableError):
            await store.claim("state", 60)
    finally:
        await store.close()


async def test_redis_keys_keep_a_session_in_one_cluster_slot() -> None:
    from authgate.storage.redis import RedisKeys

    keys = RedisKeys("authgate:")
    assert keys.revoked("abc") == "authgate:{session:abc}:revoked"
    assert keys.revocation_index == "authgate:{revocations}"
    assert "state-value" not in keys.once("state-value"), "one-time values are hashed"


# Revocation freshness


def test_an_embedded_revocation_list_is_never_stale() -> None:
    assert RevocationList().stale is False


def test_an_unconfirmed_revocation_list_is_stale() -> None:
    revocations = RevocationList()
    revocations.confirm_current(-1)
    assert revocations.stale is True
    revocations.confirm_current(60)
    assert revocations.stale is False


async def test_stale_revocations_fail_access_checks_closed(
    backend_client: httpx.AsyncClient, backend_app: FastAPI, backend: dict[str, Any]
) -> None:
    await register(backend_client)
    pair = await login(backend_client)
    runtime = backend_app.state.authgate
    await runtime.hot.revocation_feed.close()  # nothing confirms the view any more
    runtime.revocations._fresh_until = 0.0  # its last confirmation is long past
    chat = await backend_client.post(
        "/api/ai/chat", json={"message": "x"}, headers=bearer(pair["accessToken"])
    )
    assert chat.status_code == 503
    assert chat.json()["error"] == "Service unavailable"
