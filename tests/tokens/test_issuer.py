"""The token pair a login issues: response shape, claims, JOSE headers, configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from authgate.http.app import create_app
from authgate.keys.keyring import hmac_kid
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import login, register
from tests.helpers import decode, header

ACCESS_CLAIMS = {
    "sub",
    "email",
    "roles",
    "permissions",
    "sessionId",
    "deviceFingerprint",
    "tokenType",
    "email_verified",
    "amr",
    "acr",
    "auth_time",
    "iat",
    "exp",
    "iss",
    "aud",
    "jti",
}
REFRESH_CLAIMS = {
    "sub",
    "sessionId",
    "deviceFingerprint",
    "tokenType",
    "jti",
    "iat",
    "exp",
    "iss",
    "aud",
}


async def test_login_returns_the_pair_shape(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "correct horse battery staple"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "accessToken",
        "refreshToken",
        "sessionId",
        "tokenType",
        "expiresIn",
        "user",
    }
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["user"]["email"] == "ada@example.com"
    # RFC 6749 s5.1: token responses must not be cached.
    assert response.headers["cache-control"] == "no-store"


async def test_access_token_claims(
    client: httpx.AsyncClient, settings: Any, clock: FrozenClock
) -> None:
    user = await register(client)
    pair = await login(client)
    claims = decode(pair["accessToken"], settings.access_secret())
    assert set(claims) == ACCESS_CLAIMS
    assert claims["sub"] == user["id"]
    assert claims["email"] == "ada@example.com"
    assert claims["roles"] == ["user"]
    assert claims["permissions"] == ["use_agent"]
    assert claims["sessionId"] == pair["sessionId"]
    assert claims["tokenType"] == "access"
    assert claims["email_verified"] is False
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")
    assert claims["auth_time"] == int(clock())
    assert claims["iss"] == "ai-agent-system"
    assert claims["aud"] == "ai-agent-users"
    assert claims["iat"] == int(clock())
    assert claims["exp"] == int(clock()) + 15 * 60
    assert len(claims["deviceFingerprint"]) == 64  # hex SHA-256
    assert len(claims["jti"]) >= 16


async def test_refresh_token_claims_are_minimal(
    client: httpx.AsyncClient, settings: Any, clock: FrozenClock
) -> None:
    user = await register(client)
    pair = await login(client)
    claims = decode(pair["refreshToken"], settings.refresh_secret())
    assert set(claims) == REFRESH_CLAIMS
    assert claims["sub"] == user["id"]
    assert claims["sessionId"] == pair["sessionId"]
    assert claims["tokenType"] == "refresh"
    assert claims["exp"] == int(clock()) + 7 * 86400
    access = decode(pair["accessToken"], settings.access_secret())
    assert claims["deviceFingerprint"] == access["deviceFingerprint"]
    assert claims["jti"] != access["jti"]


async def test_access_and_refresh_have_different_typ_headers_and_kids(
    client: httpx.AsyncClient, settings: Any
) -> None:
    await register(client)
    pair = await login(client)
    access_kid = hmac_kid("access", settings.access_secret())
    refresh_kid = hmac_kid("refresh", settings.refresh_secret())
    assert header(pair["accessToken"]) == {"alg": "HS256", "typ": "at+jwt", "kid": access_kid}
    assert header(pair["refreshToken"]) == {"alg": "HS256", "typ": "rt+jwt", "kid": refresh_kid}
    assert access_kid != refresh_kid


async def test_access_and_refresh_use_different_secrets(
    client: httpx.AsyncClient, settings: Any
) -> None:
    await register(client)
    pair = await login(client)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(pair["accessToken"], settings.refresh_secret())
    with pytest.raises(jwt.InvalidSignatureError):
        decode(pair["refreshToken"], settings.access_secret())


async def test_each_login_is_a_new_session_with_fresh_ids(
    client: httpx.AsyncClient, settings: Any
) -> None:
    await register(client)
    first, second = await login(client), await login(client)
    assert first["sessionId"] != second["sessionId"]
    a = decode(first["accessToken"], settings.access_secret())
    b = decode(second["accessToken"], settings.access_secret())
    assert a["jti"] != b["jti"]


async def test_lifetimes_issuer_and_audience_are_configurable(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    settings = settings_factory(
        access_token_ttl="5m", refresh_token_ttl="2d", jwt_issuer="my-iss", jwt_audience="my-aud"
    )
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app) as client:
        await register(client)
        pair = await login(client)
        assert pair["expiresIn"] == 300
        claims = decode(
            pair["accessToken"], settings.access_secret(), audience="my-aud", issuer="my-iss"
        )
        assert claims["exp"] - claims["iat"] == 300
        refresh = decode(
            pair["refreshToken"], settings.refresh_secret(), audience="my-aud", issuer="my-iss"
        )
        assert refresh["exp"] - refresh["iat"] == 2 * 86400
        chat = await client.post(
            "/api/ai/chat",
            json={"message": "hi"},
            headers={"Authorization": f"Bearer {pair['accessToken']}"},
        )
        assert chat.status_code == 200
