"""Attacks over HTTP: weak secrets, user enumeration, forged tokens, client-IP spoofing.

Everything fails closed with the documented answer; the wire is httpx against the real
app (``create_app``), the database a real SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from authgate.config import validate_secrets
from authgate.errors import WeakSecretError
from authgate.http.app import create_app
from authgate.secretstrength import check_secret
from authgate.storage.models import User
from authgate.testing import FrozenClock, lifespan
from tests.conftest import PASSWORD, bearer, login, register
from tests.helpers import AUTH_FAILED
from tests.security.tokens import sign

# Common JWT secrets from tutorials and cracking wordlists (jwt_tool, hashcat jwt lists).
WEAK_SECRETS = [
    "secret",
    "your-256-bit-secret",
    "your-super-secret-jwt-key-change-this-in-production",
    "jwt_secret",
    "supersecret",
    "changeme",
    "password",
    "SECRET",
    "secretsecretsecretsecretsecretsecret",
    "changeme-changeme-changeme-changeme",
    "secret123secret123secret123secret123",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "0123456789" * 4,
    "hs256key",
]


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_weak_secret_is_detected(secret: str) -> None:
    report = check_secret(secret)
    assert not report.ok
    assert secret not in " ".join(report.problems)


@pytest.mark.parametrize("secret", WEAK_SECRETS[:6])
def test_weak_secret_stops_startup_naming_the_variable_only(
    settings_factory: Callable[..., Any], secret: str
) -> None:
    with pytest.raises(WeakSecretError) as caught:
        validate_secrets(settings_factory(jwt_access_secret=secret))
    assert caught.value.variable == "JWT_ACCESS_SECRET"
    assert secret not in str(caught.value)


async def test_token_signed_with_a_wordlist_secret_is_refused(client: httpx.AsyncClient) -> None:
    """An attacker who cracks nothing gains nothing by trying the usual secrets."""
    await register(client)
    claims = jwt.decode((await login(client))["accessToken"], options={"verify_signature": False})
    for secret in WEAK_SECRETS:
        forged = sign({"alg": "HS256", "typ": "at+jwt"}, claims, secret)
        response = await client.get("/auth/me", headers=bearer(forged))
        assert response.status_code == 401
        assert response.json() == AUTH_FAILED


# User enumeration (OWASP ASVS V6.3.8): same status, body and headers


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in {"date", "content-length"}}
    return response.status_code, response.json(), headers


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "nobody@example.com", "password": PASSWORD}, id="unknown-email"),
        pytest.param({"email": "ada@example.com", "password": "wrong password"}, id="bad-password"),
        pytest.param({"email": "ADA@example.com ", "password": "wrong password"}, id="case-space"),
    ],
)
async def test_login_failures_look_alike(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    await register(client)
    reference = await client.post(
        "/auth/login", json={"email": "ghost@example.com", "password": "x" * 12}
    )
    response = await client.post("/auth/login", json=body)
    assert _comparable(response) == _comparable(reference)
    assert response.json() == {
        "error": "Invalid credentials",
        "message": "Invalid email or password",
    }


async def test_disabled_account_looks_like_an_unknown_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    async with app.state.authgate.store.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user["id"]).values(is_active=False))
    unknown = await client.post(
        "/auth/login", json={"email": "ghost@example.com", "password": PASSWORD}
    )
    disabled = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert _comparable(disabled) == _comparable(unknown)


# Forged tokens over HTTP get the one generic 401


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda c: jwt.encode(c, None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda c: jwt.encode(c, "x" * 64, algorithm="HS256", headers={"typ": "at+jwt"}),
            id="unknown-key",
        ),
        pytest.param(lambda c: "eyJhbGciOiJub25lIn0." + "e30.", id="unsecured-empty"),
    ],
)
async def test_forged_tokens_get_the_generic_answer(
    client: httpx.AsyncClient, forge: Callable[[dict[str, Any]], str]
) -> None:
    await register(client)
    claims = jwt.decode((await login(client))["accessToken"], options={"verify_signature": False})
    response = await client.get("/auth/me", headers=bearer(forge(claims)))
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# Client-IP spoofing against the login limit


@asynccontextmanager
async def _limited(
    settings_factory: Callable[..., Any], clock: FrozenClock, **overrides: Any
) -> AsyncIterator[FastAPI]:
    app = create_app(settings_factory(rate_limit_enabled=True, **overrides), clock=clock)
    async with lifespan(app):
        yield app


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


SPOOF_HEADERS = [
    "X-Forwarded-For",
    "Forwarded",
    "X-Real-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Client-IP",
    "X-Originating-IP",
]


def _spoof(name: str, n: int) -> dict[str, str]:
    value = f"for=198.51.100.{n}" if name == "Forwarded" else f"198.51.100.{n}"
    return {name: value}


@pytest.mark.parametrize("header", SPOOF_HEADERS)
@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8"], ids=["no-proxies", "other-proxies"])
async def test_spoofed_client_ip_headers_do_not_dodge_the_login_limit(
    settings_factory: Callable[..., Any], clock: FrozenClock, header: str, trusted: str
) -> None:
    async with (
        _limited(settings_factory, clock, trusted_proxies=trusted) as app,
        _client(app, "203.0.113.50") as client,
    ):
        await register(client)
        for n in range(5):
            await client.post(
                "/auth/login",
                json={"email": "ada@example.com", "password": "wrong password"},
                headers=_spoof(header, n),
            )
        last = await client.post(
            "/auth/login",
            json={"email": "ada@example.com", "password": PASSWORD},
            headers=_spoof(header, 99),
        )
    assert last.status_code == 429


async def test_spoofed_header_cannot_reset_someone_elses_limit(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """Naming a blocked IP in X-Forwarded-For neither frees it nor blocks the sender."""
    async with _limited(settings_factory, clock) as app:
        async with _client(app, "203.0.113.60") as victim:
            await register(victim)
            for _ in range(5):
                await victim.post(
                    "/auth/login", json={"email": "ada@example.com", "password": "wrong"}
                )
            assert (await login_status(victim)) == 429
        async with _client(app, "203.0.113.61") as other:
            response = await other.post(
                "/auth/login",
                json={"email": "ada@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": "203.0.113.60"},
            )
            assert response.status_code == 200
        async with _client(app, "203.0.113.60") as victim:
            assert (await login_status(victim)) == 429


async def login_status(client: httpx.AsyncClient) -> int:
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    return response.status_code
