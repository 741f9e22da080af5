"""/auth: register, login, me, and the cookie mode for browser clients."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import PASSWORD, bearer, login, register
from tests.helpers import audit_events, chat, runtime_of


async def test_register_creates_a_user_with_default_role(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": "Ada@Example.com ", "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 201
    user = response.json()["user"]
    assert set(user) == {
        "id",
        "email",
        "name",
        "roles",
        "permissions",
        "createdAt",
        "emailVerified",
    }
    assert user["emailVerified"] is False
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada"
    assert user["roles"] == ["user"]
    assert user["permissions"] == ["use_agent"]
    assert PASSWORD not in response.text


async def test_register_twice_with_the_same_email_conflicts(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/register", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "Registration failed"


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("short", id="too-short"),
        pytest.param("1qaz2wsx", id="common"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("ada@example.com", id="same-as-email"),
    ],
)
async def test_register_refuses_weak_passwords(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": password}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "Weak password"
    assert password not in response.text


async def test_registration_can_be_turned_off(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    app = create_app(settings_factory(registration_enabled=False), clock=clock)
    async with lifespan(app), client_for(app) as client:
        response = await client.post(
            "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert response.status_code == 403
        assert response.json() == {
            "error": "Registration failed",
            "message": "Registration is disabled",
        }


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/login", json={"email": " ADA@example.COM", "password": PASSWORD}
    )
    assert response.status_code == 200


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    wrong_password = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "not the password at all"}
    )
    unknown_email = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json() == {
        "error": "Invalid credentials",
        "message": "Invalid email or password",
    }
    assert dict(wrong_password.headers) == dict(unknown_email.headers)
    failures = await audit_events(app, "login.failure")
    assert len(failures) == 2
    assert all(PASSWORD not in repr(e.detail) for e in failures)


async def test_unknown_email_costs_the_same_argon2_work_as_a_wrong_password(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About the same time: both paths run exactly one argon2 verification (ASVS V6.3.8)."""
    await register(client)
    hasher = runtime_of(app).hasher
    calls: list[bool] = []
    real_verify = hasher.verify

    def counting_verify(password_hash: str | None, password: str) -> bool:
        calls.append(password_hash is None)
        return real_verify(password_hash, password)

    monkeypatch.setattr(hasher, "verify", counting_verify)
    await client.post("/auth/login", json={"email": "ada@example.com", "password": "wrong-wrong"})
    await client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    # One verification each: against the stored hash, then against the dummy hash.
    assert calls == [False, True]


async def test_login_and_register_are_audited(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await register(client)
    pair = await login(client)
    [registered] = await audit_events(app, "user.registered")
    [success] = await audit_events(app, "login.success")
    assert registered.user_id == user["id"]
    assert (success.user_id, success.session_id) == (user["id"], pair["sessionId"])
    assert success.user_agent == "pytest-agent/1.0"


async def test_me_returns_the_caller(client: httpx.AsyncClient) -> None:
    user = await register(client)
    pair = await login(client)
    response = await client.get("/auth/me", headers=bearer(pair["accessToken"]))
    assert response.status_code == 200
    # A password-only account has no provider identities.
    assert response.json() == {**user, "sessionId": pair["sessionId"], "identities": []}


async def test_me_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401


# Cookies for browser clients


def _csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """Cookie-authenticated changes echo the CSRF cookie (tests/security/test_csrf.py)."""
    return {"X-CSRF-Token": client.cookies["csrf_token"]}


def _set_cookies(response: httpx.Response) -> dict[str, Any]:
    jar: dict[str, Any] = {}
    for raw in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(raw)
        for name, morsel in parsed.items():
            jar[name] = morsel
    return jar


async def test_login_with_cookies_sets_httponly_lax_cookies(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    assert response.status_code == 200
    cookies = _set_cookies(response)
    # Plus the script-readable CSRF double-submit cookie (tests/security/test_csrf.py).
    assert set(cookies) == {"access_token", "refresh_token", "csrf_token"}
    for morsel in (cookies["access_token"], cookies["refresh_token"]):
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "lax"
        assert morsel["path"] == "/"
        assert not morsel["secure"]
    assert cookies["access_token"].value == response.json()["accessToken"]
    assert int(cookies["access_token"]["max-age"]) == 900


async def test_login_without_use_cookies_sets_no_cookie(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.headers.get_list("set-cookie") == []


@pytest.fixture
async def secure_app(settings_factory: Callable[..., Any], clock: FrozenClock) -> Any:
    app = create_app(settings_factory(cookie_secure=True), clock=clock)
    async with lifespan(app):
        yield app


async def test_secure_cookies_are_host_prefixed_and_secure(secure_app: FastAPI) -> None:
    async with client_for(secure_app, base_url="https://testserver") as client:
        await register(client)
        response = await client.post(
            "/auth/login",
            json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True},
        )
    cookies = _set_cookies(response)
    assert set(cookies) == {"__Host-access_token", "__Host-refresh_token", "__Host-csrf_token"}
    for morsel in (cookies["__Host-access_token"], cookies["__Host-refresh_token"]):
        assert morsel["secure"] is True
        assert morsel["httponly"] is True
        assert morsel["path"] == "/"
        assert not morsel["domain"]  # __Host- forbids Domain (RFC 6265bis s4.1.3.2)


async def test_cookies_are_secure_outside_development_by_default(
    settings_factory: Callable[..., Any],
) -> None:
    assert settings_factory(env="test", cookie_secure=None).secure_cookies is True
    assert settings_factory(env="development", cookie_secure=None).secure_cookies is False


async def test_request_authenticated_by_the_cookie_works(secure_app: FastAPI) -> None:
    async with client_for(secure_app, base_url="https://testserver") as client:
        await register(client)
        await client.post(
            "/auth/login",
            json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True},
        )
        assert "__Host-access_token" in client.cookies
        csrf = {"X-CSRF-Token": client.cookies["__Host-csrf_token"]}
        response = await client.post("/api/ai/chat", json={"message": "hi"}, headers=csrf)
        assert response.status_code == 200
        assert response.json()["user"]["email"] == "ada@example.com"


async def test_refresh_via_the_cookie_rotates_the_cookies(client: httpx.AsyncClient) -> None:
    await register(client)
    first = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    old_refresh = client.cookies["refresh_token"]
    response = await client.post("/auth/refresh", headers=_csrf(client))
    assert response.status_code == 200
    cookies = _set_cookies(response)
    assert cookies["refresh_token"].value == response.json()["refreshToken"] != old_refresh
    assert cookies["access_token"].value != first.json()["accessToken"]
    chat_response = await client.post("/api/ai/chat", json={"message": "hi"}, headers=_csrf(client))
    assert chat_response.status_code == 200


async def test_a_bearer_header_and_the_cookie_together_are_refused(
    client: httpx.AsyncClient,
) -> None:
    """RFC 6750 s2: one method per request (tests/security/test_one_credential.py)."""
    await register(client)
    await register(client, "bob@example.com")
    await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    bob = await login(client, "bob@example.com")
    response = await chat(client, bob["accessToken"])
    assert response.status_code == 400


async def test_logout_clears_the_cookies(client: httpx.AsyncClient) -> None:
    await register(client)
    await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    access = client.cookies["access_token"]
    response = await client.post("/auth/logout", headers=_csrf(client))
    assert response.status_code == 200
    cookies = _set_cookies(response)
    assert cookies["access_token"].value == ""
    assert cookies["refresh_token"].value == ""
    assert "access_token" not in client.cookies
    assert (await chat(client, access)).status_code == 401
