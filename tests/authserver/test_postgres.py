"""The authorization server on PostgreSQL + Redis: the flow, and concurrent code redemption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.authserver.conftest import (
    EMAIL,
    ResourceServer,
    exchange,
    introspect,
    make_resource,
    register_client,
    request_for,
)
from tests.authserver.flow import PASSWORD, Browser
from tests.scaleout.infra import REDIS_URL, postgres_database, redis_prefix


@pytest.fixture
def backends() -> Iterator[dict[str, str]]:
    with postgres_database() as url, redis_prefix() as prefix:
        yield {"database_url": url, "redis_url": REDIS_URL, "redis_key_prefix": prefix}


@pytest.fixture
async def pg_app(
    tmp_path: Path, clock: FrozenClock, backends: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, auto_migrate=True, **backends)
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


async def test_flow_and_concurrent_redemption_on_postgres(pg_app: FastAPI) -> None:
    """Of two concurrent redemptions of one code exactly one wins (RFC 6749 s4.1.2), and
    the loser, a replay, revokes what the winner got."""
    resource: ResourceServer = await make_resource(pg_app)
    async with client_for(pg_app) as client, client_for(pg_app) as web:
        await client.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        registered = await register_client(client)
        pending = request_for(registered)
        outcome = await Browser(web, email=EMAIL).authorize(pending.url)
        first, second = await asyncio.gather(
            exchange(client, registered, outcome.code, pending.verifier),
            exchange(client, registered, outcome.code, pending.verifier),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 400]
        winner = first if first.status_code == 200 else second
        info = await introspect(client, resource, winner.json()["access_token"])
    assert info == {"active": False}


async def test_refresh_rotation_on_postgres(pg_app: FastAPI) -> None:
    await make_resource(pg_app)
    async with client_for(pg_app) as client, client_for(pg_app) as web:
        await client.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        registered = await register_client(client)
        pending = request_for(registered)
        outcome = await Browser(web, email=EMAIL).authorize(pending.url)
        tokens = (await exchange(client, registered, outcome.code, pending.verifier)).json()
        refreshed = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": registered.client_id,
            },
        )
    assert refreshed.status_code == 200, refreshed.text
    assert isinstance(refreshed.json()["access_token"], str)
