"""Rotation done elsewhere (``authgate keys rotate``, another instance) and the reload lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.keys.encryption import generate_kek
from authgate.keys.manager import KeyManager
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, login, register

RELOAD = 60


@pytest.fixture
async def app(settings_factory: Any, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    settings = settings_factory(
        signing_alg="ES256", encryption_key=generate_kek(), key_reload_interval=RELOAD
    )
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


def manager_of(app: FastAPI) -> KeyManager:
    manager: KeyManager = app.state.authgate.keys
    return manager


async def chat(client: httpx.AsyncClient, token: str) -> int:
    response = await client.post("/api/ai/chat", json={"message": "x"}, headers=bearer(token))
    return response.status_code


async def test_a_token_signed_during_the_reload_lag_verifies_until_it_expires(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The old key still signs until this instance reloads; it must outlive those tokens."""
    manager = manager_of(app)
    assert manager.store is not None
    await register(client)
    old_kid = manager.ring.signer.kid
    await manager.store.rotate()  # as `authgate keys rotate` does, from another process
    clock.advance(RELOAD - 1)
    late = (await login(client))["accessToken"]
    assert jwt.get_unverified_header(late)["kid"] == old_kid
    expires = int(jwt.decode(late, options={"verify_signature": False})["exp"])

    await manager.maintain()  # the scheduled reload: the new key signs from here
    assert manager.ring.signer.kid != old_kid
    clock.now = expires - 1
    await manager.maintain()
    assert manager.ring.get(old_kid) is not None
    assert await chat(client, late) == 200

    clock.now = expires + 11  # past exp and the clock leeway: nothing it signed is alive
    await manager.maintain()
    assert manager.ring.get(old_kid) is None
    assert await chat(client, late) == 401


async def test_rotate_promotes_the_longest_published_next_key(
    app: FastAPI, clock: FrozenClock
) -> None:
    """By publication time, not by the order the database happens to return rows in."""
    store = manager_of(app).store
    assert store is not None
    start = clock.now
    clock.now = start - 600  # a key published earlier than the one made at first start
    oldest = (await store.generate(state="next")).kid
    clock.now = start + 10
    await store.generate(state="next")  # `authgate keys generate`: newer, less known
    assert (await store.rotate()).kid == oldest
