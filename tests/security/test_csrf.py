"""CSRF on cookie-authenticated requests: double-submit token plus Origin check.

Each forged request must fail closed with 403; the legitimate browser flow, which
echoes the csrf_token cookie in X-CSRF-Token from the same origin, must work.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login, register

CSRF_FAILED = {
    "error": "CSRF check failed",
    "message": "Send the csrf_token cookie value in the X-CSRF-Token header, from this site",
}


async def _cookie_login(client: httpx.AsyncClient, email: str = "ada@example.com") -> Any:
    await register(client, email)
    response = await client.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "useCookies": True}
    )
    assert response.status_code == 200
    return response.json()


def _csrf(client: httpx.AsyncClient, **extra: str) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["csrf_token"], **extra}


async def test_cookie_login_sets_a_readable_random_csrf_cookie(client: httpx.AsyncClient) -> None:
    await register(client)
    first = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    header = next(h for h in first.headers.get_list("set-cookie") if h.startswith("csrf_token="))
    assert "httponly" not in header.lower()
    assert "samesite=lax" in header.lower()
    token = client.cookies["csrf_token"]
    assert len(token) >= 40
    await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    assert client.cookies["csrf_token"] != token


STATE_CHANGES = [
    pytest.param("POST", "/api/ai/chat", {"message": "hi"}, id="chat"),
    pytest.param("POST", "/auth/refresh", None, id="refresh"),
    pytest.param("POST", "/auth/logout", None, id="logout"),
    pytest.param("POST", "/auth/logout-all", None, id="logout-all"),
    pytest.param("DELETE", "/auth/sessions/{sid}", None, id="revoke-session"),
]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
async def test_cookie_request_without_the_token_is_refused(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    pair = await _cookie_login(client)
    url = path.format(sid=pair["sessionId"])
    response = await client.request(method, url, json=body)
    assert response.status_code == 403
    assert response.json() == CSRF_FAILED
    # Nothing happened: the session still works.
    assert (await client.get("/auth/me")).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
async def test_cookie_request_with_the_token_from_this_site_works(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    pair = await _cookie_login(client)
    url = path.format(sid=pair["sessionId"])
    headers = _csrf(client, Origin="http://testserver")
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-CSRF-Token": "guessed"}, id="wrong-token"),
        pytest.param({"X-CSRF-Token": ""}, id="empty-token"),
        pytest.param({"Origin": "http://testserver"}, id="origin-but-no-token"),
    ],
)
async def test_wrong_or_missing_token_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _cookie_login(client)
    response = await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Origin": "https://testserver"}, id="other-scheme"),
        pytest.param({"Origin": "http://testserver.evil.example"}, id="suffix-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-fetch"),
    ],
)
async def test_right_token_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, extra: dict[str, str]
) -> None:
    await _cookie_login(client)
    response = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=_csrf(client, **extra)
    )
    assert response.status_code == 403


async def test_token_without_its_cookie_is_refused(client: httpx.AsyncClient) -> None:
    await _cookie_login(client)
    token = client.cookies["csrf_token"]
    client.cookies.delete("csrf_token")
    response = await client.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 403


async def test_reads_with_cookies_need_no_token(client: httpx.AsyncClient) -> None:
    await _cookie_login(client)
    assert (await client.get("/auth/me")).status_code == 200
    assert (await client.get("/auth/sessions")).status_code == 200


async def test_bearer_requests_are_exempt(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    response = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(pair["accessToken"])
    )
    assert response.status_code == 200


async def test_a_cookie_never_rescues_a_bad_bearer_token(client: httpx.AsyncClient) -> None:
    await _cookie_login(client)
    response = await client.get("/auth/me", headers=bearer("not-a-token"))
    assert response.status_code == 400  # two credentials: refused, neither is used


async def test_refresh_cookie_is_ignored_when_a_bearer_token_is_sent(
    client: httpx.AsyncClient,
) -> None:
    pair = await _cookie_login(client)
    client.cookies.delete("access_token")  # the refresh cookie alone: dropped, not refused
    response = await client.post("/auth/refresh", headers=bearer(pair["accessToken"]))
    assert response.status_code == 401


async def test_token_in_the_url_is_refused(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    response = await client.get("/auth/me", params={"access_token": pair["accessToken"]})
    assert response.status_code == 400


async def test_login_and_register_are_not_blocked_by_old_cookies(
    client: httpx.AsyncClient,
) -> None:
    await _cookie_login(client)
    again = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD, "useCookies": True}
    )
    assert again.status_code == 200
    await register(client, "eve@example.com")


async def test_logout_clears_the_csrf_cookie(client: httpx.AsyncClient) -> None:
    await _cookie_login(client)
    response = await client.post("/auth/logout", headers=_csrf(client))
    assert response.status_code == 200
    assert "csrf_token" not in client.cookies
