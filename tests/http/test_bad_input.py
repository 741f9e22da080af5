"""Bad input: always a 4xx with the JSON error shape, never a 500, and nothing damaged.

Each case is followed by a check that the account still logs in and works, so a request
that half-wrote something would show up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, bearer, login, register
from tests.helpers import chat

EMAIL = "ada@example.com"


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


async def assert_intact(client: httpx.AsyncClient) -> None:
    """The stored account is unchanged: it logs in with its password and can chat."""
    fresh = await login(client, EMAIL)
    assert fresh["user"]["email"] == EMAIL
    assert fresh["user"]["roles"] == ["user"]
    assert (await chat(client, fresh["accessToken"])).status_code == 200


def assert_json_error(response: httpx.Response, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["message"], str)


JSON = {"Content-Type": "application/json"}

RAW_BODIES = [
    pytest.param(b"{", id="truncated"),
    pytest.param(b"{'email': 'a'}", id="single-quotes"),
    pytest.param(b"not json at all", id="text"),
    pytest.param(b'{"email": "a@b.c", "password": "x",}', id="trailing-comma"),
    pytest.param(b"\xff\xfe\x00", id="binary"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"a string"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"12345", id="number"),
    pytest.param(b'{"email": {"$ne": null}, "password": {"$ne": null}}', id="operator-injection"),
    pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, id="deeply-nested"),
]


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
@pytest.mark.parametrize("raw", RAW_BODIES)
async def test_malformed_bodies_are_4xx(
    client: httpx.AsyncClient, pair: dict[str, Any], path: str, raw: bytes
) -> None:
    response = await client.post(path, content=raw, headers=JSON)
    assert_json_error(response)
    await assert_intact(client)


@pytest.mark.parametrize("raw", RAW_BODIES)
async def test_malformed_refresh_bodies_are_4xx(
    client: httpx.AsyncClient, pair: dict[str, Any], raw: bytes
) -> None:
    response = await client.post("/auth/refresh", content=raw, headers=JSON)
    assert_json_error(response)
    ok = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert ok.status_code == 200


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"{", headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid request",
        "message": "The request body is not valid JSON",
    }


LOGIN_BODIES = [
    pytest.param({}, id="empty-object"),
    pytest.param({"email": EMAIL}, id="missing-password"),
    pytest.param({"password": PASSWORD}, id="missing-email"),
    pytest.param({"email": EMAIL, "password": PASSWORD, "role": "admin"}, id="extra-field"),
    pytest.param({"email": EMAIL, "password": PASSWORD, "roles": ["admin"]}, id="extra-roles"),
    pytest.param({"email": 123, "password": PASSWORD}, id="email-number"),
    pytest.param({"email": [EMAIL], "password": PASSWORD}, id="email-list"),
    pytest.param({"email": EMAIL, "password": 12345678}, id="password-number"),
    pytest.param({"email": EMAIL, "password": None}, id="password-null"),
    pytest.param({"email": EMAIL, "password": ""}, id="password-empty"),
    pytest.param({"email": EMAIL, "password": "x" * 5000}, id="password-huge"),
    pytest.param({"email": "a" * 400 + "@example.com", "password": PASSWORD}, id="email-huge"),
    pytest.param({"email": EMAIL, "password": PASSWORD, "useCookies": [True]}, id="cookies-list"),
    pytest.param({"email": EMAIL, "password": {"a": 1}}, id="password-object"),
]


@pytest.mark.parametrize("body", LOGIN_BODIES)
async def test_invalid_login_bodies_are_422(
    client: httpx.AsyncClient, pair: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post("/auth/login", json=body)
    assert_json_error(response, 422)
    await assert_intact(client)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "not-an-email", "password": PASSWORD}, id="bad-email"),
        pytest.param({"email": EMAIL, "password": PASSWORD, "roles": ["admin"]}, id="roles"),
        pytest.param({"email": EMAIL, "password": PASSWORD, "is_active": False}, id="is-active"),
        pytest.param({"email": EMAIL, "password": PASSWORD, "name": ["x"]}, id="name-list"),
        pytest.param({"email": EMAIL, "password": PASSWORD, "name": "n" * 500}, id="name-huge"),
        pytest.param({"email": EMAIL}, id="missing-password"),
    ],
)
async def test_invalid_register_bodies_are_422_and_do_not_touch_the_account(
    client: httpx.AsyncClient, pair: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post("/auth/register", json=body)
    assert_json_error(response, 422)
    await assert_intact(client)


async def test_register_cannot_grant_itself_roles(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={"email": "eve@example.com", "password": PASSWORD, "roles": ["admin"]},
    )
    assert response.status_code == 422
    assert (
        await client.post("/auth/login", json={"email": "eve@example.com", "password": PASSWORD})
    ).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"refreshToken": 123}, id="number"),
        pytest.param({"refreshToken": ["a"]}, id="list"),
        pytest.param({"refreshToken": "x" * 20000}, id="huge"),
        pytest.param({"refreshToken": "a.b.c", "extra": 1}, id="extra-field"),
    ],
)
async def test_invalid_refresh_bodies_are_4xx(
    client: httpx.AsyncClient, pair: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post("/auth/refresh", json=body)
    assert_json_error(response)
    ok = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"message": ""}, id="empty-message"),
        pytest.param({"message": 5}, id="number"),
        pytest.param({"message": "x" * 10001}, id="too-long"),
        pytest.param({"message": "hi", "as_user": "root"}, id="extra-field"),
    ],
)
async def test_invalid_chat_bodies_are_422(
    client: httpx.AsyncClient, pair: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post("/api/ai/chat", json=body, headers=bearer(pair["accessToken"]))
    assert_json_error(response, 422)


async def test_validation_errors_do_not_echo_the_password(client: httpx.AsyncClient) -> None:
    secret_password = "Tr0ub4dor&3-very-secret"
    cases = [
        {"email": "not-an-email", "password": secret_password},
        {"email": EMAIL, "password": secret_password, "extra": secret_password},
        {"email": EMAIL, "password": secret_password * 300},
        {"email": secret_password, "password": secret_password},
    ]
    for body in cases:
        for path in ("/auth/login", "/auth/register"):
            response = await client.post(path, json=body)
            assert 400 <= response.status_code < 500
            assert secret_password not in response.text, (path, response.text)


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", json={"email": EMAIL})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "Invalid request"
    assert [d["field"] for d in body["details"]] == ["password"]


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("multipart/form-data; boundary=x", id="multipart"),
        pytest.param("application/xml", id="xml"),
    ],
)
@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/refresh", "/api/ai/chat"])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, pair: dict[str, Any], content_type: str, path: str
) -> None:
    response = await client.post(
        path,
        content=f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'.encode(),
        headers={"Content-Type": content_type, **bearer(pair["accessToken"])},
    )
    assert_json_error(response, 415)
    await assert_intact(client)


async def test_json_with_charset_is_accepted(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await client.post(
        "/auth/login",
        content=f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, pair: dict[str, Any], settings: Any
) -> None:
    body = b'{"email": "' + b"a" * (settings.max_body_bytes + 1) + b'"}'
    response = await client.post("/auth/login", content=body, headers=JSON)
    assert_json_error(response, 413)
    await assert_intact(client)


async def test_oversized_streamed_body_is_413(
    client: httpx.AsyncClient, pair: dict[str, Any], settings: Any
) -> None:
    """Without a Content-Length the limit still holds while the body streams in."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"a" * 1024
        yield b'"}'

    response = await client.post("/auth/login", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_json_error(response, 413)
    await assert_intact(client)


async def test_oversized_authorization_header_is_401(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await chat(client, "e" * 100_000)
    assert_json_error(response, 401)


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert_json_error(missing, 404)
    wrong_method = await client.get("/auth/login")
    assert_json_error(wrong_method, 405)


async def test_invalid_credentials_leave_the_account_intact(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    for _ in range(3):
        response = await client.post(
            "/auth/login", json={"email": EMAIL, "password": "wrong-wrong"}
        )
        assert_json_error(response, 401)
    await assert_intact(client)


async def test_chat_refuses_a_non_json_body_before_asking_for_a_token(
    client: httpx.AsyncClient,
) -> None:
    """/api/ai/chat checks the media type, then the token, as a router-level json_only
    dependency ran before require(): 415 without a token, not 401."""
    response = await client.post(
        "/api/ai/chat", content=b"message=hi", headers={"Content-Type": "text/plain"}
    )
    assert_json_error(response, 415)
    assert (await client.post("/api/ai/chat", json={"message": "hi"})).status_code == 401
