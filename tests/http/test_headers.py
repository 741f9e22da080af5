"""Security headers on every response, and CORS with an explicit allow-list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import PASSWORD, register

CSP = (
    "default-src 'self'; script-src 'self' https://apis.google.com; "
    "connect-src 'self' https://api.github.com; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains; preload"
ALWAYS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


@asynccontextmanager
async def app_with(
    settings_factory: Callable[..., Any], clock: FrozenClock, **overrides: Any
) -> AsyncIterator[FastAPI]:
    app = create_app(settings_factory(**overrides), clock=clock)
    async with lifespan(app):
        yield app


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/healthz", 200, id="ok"),
        pytest.param("GET", "/auth/me", 401, id="unauthorized"),
        pytest.param("GET", "/nowhere", 404, id="not-found"),
        pytest.param("POST", "/auth/login", 422, id="validation"),
        pytest.param("GET", "/metrics", 200, id="metrics"),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    for name, value in ALWAYS.items():
        assert response.headers[name] == value
    assert "no-store" in response.headers["cache-control"]
    assert "strict-transport-security" not in response.headers  # plain HTTP, not production


async def test_token_responses_are_never_cached(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


async def test_413_and_429_answers_carry_the_headers_too(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with (
        app_with(settings_factory, clock, rate_limit_enabled=True, rate_limit_api="1/hour") as app,
        client_for(app) as client,
    ):
        await client.get("/api/admin/users")
        limited = await client.get("/api/admin/users")
        big = await client.post("/auth/login", content=b"x" * 70000)
    assert (limited.status_code, big.status_code) == (429, 413)
    for response in (limited, big):
        assert response.headers["x-frame-options"] == "DENY"


async def test_hsts_over_https(client: httpx.AsyncClient, app: FastAPI) -> None:
    async with client_for(app, base_url="https://testserver") as https:
        response = await https.get("/healthz")
    assert response.headers["strict-transport-security"] == HSTS


async def test_hsts_always_in_production(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with app_with(settings_factory, clock, env="production") as app, client_for(app) as c:
        response = await c.get("/healthz")
    assert response.headers["strict-transport-security"] == HSTS


async def test_docs_get_a_policy_that_lets_swagger_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy, "the assets are local: no CDN, no inline script"
    assert "https://" not in policy
    assert "frame-ancestors 'none'" in policy


async def test_headers_are_configurable(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    custom = {"content_security_policy": "default-src 'none'", "hsts_max_age": 0}
    async with (
        app_with(settings_factory, clock, env="production", **custom) as app,
        client_for(app) as client,
    ):
        response = await client.get("/healthz")
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert "strict-transport-security" not in response.headers
    async with (
        app_with(settings_factory, clock, security_headers=False) as app,
        client_for(app) as client,
    ):
        response = await client.get("/healthz")
    assert "x-frame-options" not in response.headers


ORIGIN = "https://app.example.com"


@pytest.fixture
async def cors_client(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app_with(settings_factory, clock, cors_origins=ORIGIN) as app,
        client_for(app) as client,
    ):
        yield client


async def test_cors_allows_a_listed_origin_with_credentials(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.get("/healthz", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    preflight = await cors_client.options(
        "/auth/refresh",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://evil.example", id="foreign"),
        pytest.param("null", id="null"),
        pytest.param("https://app.example.com.evil.example", id="suffix"),
        pytest.param("http://app.example.com", id="other-scheme"),
    ],
)
async def test_cors_never_reflects_an_unlisted_origin(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    response = await cors_client.get("/healthz", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers
    preflight = await cors_client.options(
        "/auth/logout",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert preflight.headers.get("access-control-allow-origin") != origin


async def test_no_cors_headers_without_an_allow_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origins", ["*", "null", "https://a.example/path", "app.example.com"])
def test_cors_setting_accepts_origins_only(
    settings_factory: Callable[..., Any], origins: str
) -> None:
    with pytest.raises(ValueError, match="cors_origins"):
        settings_factory(cors_origins=origins)
