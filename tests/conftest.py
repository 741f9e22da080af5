from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Any]:
    def factory(**overrides: Any) -> Any:
        return make_settings(tmp_path, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Any]) -> Any:
    return settings_factory()


@pytest.fixture
async def app(settings: Any, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


async def register(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return dict(response.json()["user"])


async def login(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
