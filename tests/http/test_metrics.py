"""Prometheus metrics: security counters, latency by route template, per-app registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import PASSWORD, bearer, login, register


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_security_events_are_counted(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    await register(client)
    pair = await login(client)
    await client.post("/auth/login", json={"email": "ada@example.com", "password": "nope-nope"})
    await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    # The rotated token again, after the race grace: reuse detected, session revoked.
    clock.advance(10)
    await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    await client.get("/auth/me", headers=bearer("garbage"))
    text = (await client.get("/metrics")).text
    assert _value(text, 'authgate_logins_total{outcome="success",reason="ok"}') == 1
    assert (
        _value(text, 'authgate_logins_total{outcome="failure",reason="invalid_credentials"}') == 1
    )
    assert _value(text, "authgate_tokens_refreshed_total") == 1
    assert _value(text, 'authgate_tokens_issued_total{type="access"}') == 2
    assert _value(text, "authgate_refresh_reuse_detected_total") == 1
    assert _value(text, 'authgate_sessions_revoked_total{reason="refresh_reuse"}') == 1
    assert _value(text, 'authgate_token_verification_failures_total{reason="malformed"}') == 1


async def test_latency_is_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    await client.delete("/auth/sessions/one-id", headers=bearer("x"))
    await client.delete("/auth/sessions/another-id", headers=bearer("x"))
    await client.get("/no/such/path/123")
    text = (await client.get("/metrics")).text
    sample = (
        "authgate_http_request_duration_seconds_count"
        '{method="DELETE",route="/auth/sessions/{session_id}",status="4xx"}'
    )
    assert _value(text, sample) == 2
    assert "one-id" not in text
    assert "/no/such/path" not in text


async def test_each_app_has_its_own_registry(
    settings_factory: Callable[..., Any], clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    await register(client)
    await login(client)
    other = create_app(settings_factory(), clock=clock)
    async with lifespan(other), client_for(other) as second:
        text = (await second.get("/metrics")).text
    assert _value(text, 'authgate_logins_total{outcome="success",reason="ok"}') == 0


async def test_metrics_token_protects_the_endpoint(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    app: FastAPI = create_app(settings_factory(metrics_token="s3cret-metrics-token"), clock=clock)
    async with lifespan(app), client_for(app) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer("wrong"))).status_code == 401
        ok = await client.get("/metrics", headers=bearer("s3cret-metrics-token"))
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")


async def test_metrics_can_be_turned_off(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    app = create_app(settings_factory(metrics_enabled=False), clock=clock)
    async with lifespan(app), client_for(app) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_login_counts_use_the_password_only_as_input(client: httpx.AsyncClient) -> None:
    await register(client)
    await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    text = (await client.get("/metrics")).text
    assert PASSWORD not in text
