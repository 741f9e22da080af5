"""OAuth ``state`` is used once across instances: two apps sharing PostgreSQL and Redis.

(Two runtimes in one test process, each with its own connections, as two servers have;
the cross-process suite is tests/scaleout/.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.federation.conftest import MockProvider, authorize, google_settings, start
from tests.scaleout.infra import REDIS_URL, postgres_database, redis_prefix

Instance = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
def shared_stores() -> Iterator[tuple[str, str]]:
    with postgres_database() as url, redis_prefix() as prefix:
        yield url, prefix


@pytest.fixture
async def two_instances(
    tmp_path: Path, oidc: MockProvider, clock: FrozenClock, shared_stores: tuple[str, str]
) -> AsyncIterator[tuple[Instance, Instance]]:
    url, prefix = shared_stores
    shared: dict[str, Any] = {
        "database_url": url,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
        "auto_migrate": True,
        "rate_limit_enabled": False,
        "oauth_http_timeout": 2.0,
        "jwt_access_secret": generate_secret(),
        "jwt_refresh_secret": generate_secret(),
        **google_settings(oidc),
    }
    async with AsyncExitStack() as stack:
        instances = []
        for name in ("a", "b"):
            app = create_app(make_settings(tmp_path / name, **shared), clock=clock)
            await stack.enter_async_context(lifespan(app))
            client = await stack.enter_async_context(
                client_for(app, headers={"user-agent": "pytest-agent/1.0"})
            )
            instances.append((app, client))
        yield instances[0], instances[1]


async def test_callback_replayed_to_another_instance_is_refused(
    two_instances: tuple[Instance, Instance],
) -> None:
    (_, a), (app_b, b) = two_instances
    started = await start(a, "google")
    cookie = a.cookies.get("oauth_state")
    assert cookie is not None
    callback = await authorize(started["authUrl"])
    assert (await a.get(callback)).status_code == 200
    b.cookies.set("oauth_state", cookie, path="/auth/oauth")
    replayed = await b.get(callback)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "Invalid OAuth state"
    audits = await app_b.state.authgate.store.recent_audit(limit=5, event="oauth.failure")
    assert audits[0].detail["reason"] == "replayed"
