"""Which tokens the hot path accepts: everything but an intact, current access token fails.

Forged tokens are built with PyJWT from a genuine token's claims, so each case changes
exactly one thing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from authgate.http.app import create_app
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import login, register
from tests.helpers import AUTH_FAILED, TOKEN_EXPIRED, chat, decode


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client)
    return await login(client)


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(
    claims: dict[str, Any],
    secret: str,
    *,
    typ: str | None = "at+jwt",
    alg: str = "HS256",
    **extra_header: Any,
) -> str:
    # PyJWT drops the typ header when it is given as None.
    return jwt.encode(claims, secret, algorithm=alg, headers={"typ": typ, **extra_header})


async def test_valid_access_token_is_accepted(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await chat(client, pair["accessToken"])
    assert response.status_code == 200
    assert response.json()["user"]["email"] == "ada@example.com"
    assert response.json()["sessionId"] == pair["sessionId"]


async def test_expired_access_token_gets_the_expired_answer(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    clock.advance(15 * 60 + settings.clock_leeway + 1)
    response = await chat(client, pair["accessToken"])
    assert response.status_code == 401
    assert response.json() == TOKEN_EXPIRED
    assert response.headers["www-authenticate"].startswith('Bearer realm="authgate"')
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_access_token_within_leeway_is_still_accepted(
    client: httpx.AsyncClient, pair: dict[str, Any], clock: FrozenClock, settings: Any
) -> None:
    clock.advance(15 * 60 + settings.clock_leeway - 1)
    assert (await chat(client, pair["accessToken"])).status_code == 200


async def test_refresh_token_is_refused_as_access_token(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await chat(client, pair["refreshToken"])
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


async def test_access_token_is_refused_as_refresh_token(
    client: httpx.AsyncClient, pair: dict[str, Any]
) -> None:
    response = await client.post("/auth/refresh", json={"refreshToken": pair["accessToken"]})
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid refresh token"
    # The session is untouched: its real refresh token still works.
    ok = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert ok.status_code == 200


def _access_cases() -> list[Any]:
    """(id, how to build a bad token from (claims, access secret, refresh secret))."""
    other = generate_secret()

    def changed(**updates: Any) -> Callable[[dict[str, Any], str, str], str]:
        return lambda c, a, r: forge({**c, **updates}, a)

    def without(name: str) -> Callable[[dict[str, Any], str, str], str]:
        return lambda c, a, r: forge({k: v for k, v in c.items() if k != name}, a)

    return [
        pytest.param(lambda c, a, r: forge(c, r), id="signed-with-refresh-secret"),
        pytest.param(lambda c, a, r: forge(c, other), id="signed-with-unknown-secret"),
        pytest.param(lambda c, a, r: forge(c, a, typ="rt+jwt"), id="typ-refresh"),
        pytest.param(lambda c, a, r: forge(c, a, typ="JWT"), id="typ-plain-jwt"),
        pytest.param(lambda c, a, r: forge(c, a, typ=None), id="typ-missing"),
        pytest.param(lambda c, a, r: forge(c, a, alg="HS512"), id="alg-hs512"),
        pytest.param(lambda c, a, r: forge(c, a, alg="HS384"), id="alg-hs384"),
        pytest.param(
            lambda c, a, r: f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(c)}.",
            id="alg-none",
        ),
        pytest.param(lambda c, a, r: forge(c, a, crit=["exp"]), id="crit-header"),
        pytest.param(lambda c, a, r: forge(c, a, jku="https://evil.example/jwks"), id="jku-header"),
        pytest.param(changed(tokenType="refresh"), id="claim-tokenType-refresh"),
        pytest.param(changed(iss="ai-agent-system-evil"), id="claim-iss-suffix"),
        pytest.param(changed(iss="ai-agent"), id="claim-iss-prefix"),
        pytest.param(changed(aud="ai-agent-users2"), id="claim-aud-other"),
        pytest.param(changed(aud=["someone-else"]), id="claim-aud-list-without-us"),
        pytest.param(lambda c, a, r: forge({**c, "iat": c["iat"] + 3600}, a), id="iat-future"),
        pytest.param(lambda c, a, r: forge({**c, "nbf": c["iat"] + 3600}, a), id="nbf-future"),
        pytest.param(changed(exp="9999999999"), id="exp-string"),
        pytest.param(changed(exp=True), id="exp-bool"),
        pytest.param(without("exp"), id="exp-missing"),
        pytest.param(without("iat"), id="iat-missing"),
        pytest.param(without("sub"), id="sub-missing"),
        pytest.param(without("sessionId"), id="sessionId-missing"),
        pytest.param(changed(roles="admin"), id="roles-not-a-list"),
        pytest.param(changed(permissions=[1, 2]), id="permissions-not-strings"),
        pytest.param(
            lambda c, a, r: _tamper(forge(c, a), {**c, "permissions": ["manage_agent"]}),
            id="payload-tampered",
        ),
        pytest.param(
            lambda c, a, r: f"{_b64({'alg': 'HS256', 'typ': 'at+jwt'})}.{_b64(b'[1,2]')}.c2ln",
            id="payload-not-object",
        ),
    ]


def _tamper(token: str, claims: dict[str, Any]) -> str:
    head, _payload, signature = token.split(".")
    return f"{head}.{_b64(claims)}.{signature}"


@pytest.mark.parametrize("build", _access_cases())
async def test_bad_access_token_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any], settings: Any, build: Any
) -> None:
    claims = decode(pair["accessToken"], settings.access_secret())
    token = build(claims, settings.access_secret(), settings.refresh_secret())
    response = await chat(client, token)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_forge_helper_builds_an_accepted_token(
    client: httpx.AsyncClient, pair: dict[str, Any], settings: Any
) -> None:
    """The attack table is meaningful: an unmodified forged token passes."""
    claims = decode(pair["accessToken"], settings.access_secret())
    response = await chat(client, forge(claims, settings.access_secret()))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("abc", id="one-segment"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c", id="three-garbage-segments"),
        pytest.param("....", id="only-dots"),
        pytest.param("a.b.c.d.e", id="jwe-shaped"),
        pytest.param("e30.e30.", id="empty-json-objects"),
        pytest.param("%%%.%%%.%%%", id="not-base64"),
        pytest.param("x" * 9000, id="oversized"),
        pytest.param("eyJ" + "A" * 20000 + ".e30.e30", id="oversized-header"),
    ],
)
async def test_garbage_access_token_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any], token: str
) -> None:
    response = await chat(client, token)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


async def test_non_ascii_token_is_refused(client: httpx.AsyncClient, pair: dict[str, Any]) -> None:
    response = await client.post(
        "/api/ai/chat",
        json={"message": "hi"},
        headers={"Authorization": "Bearer \xe9\xe9.\xe9.\xe9".encode("latin-1")},
    )
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda c, a, r: forge(c, a, typ="rt+jwt"), id="signed-with-access-secret"),
        pytest.param(lambda c, a, r: forge(c, r, typ="at+jwt"), id="typ-access"),
        pytest.param(
            lambda c, a, r: forge({**c, "tokenType": "access"}, r, typ="rt+jwt"),
            id="claim-tokenType-access",
        ),
        pytest.param(lambda c, a, r: forge({**c, "aud": "other"}, r, typ="rt+jwt"), id="aud-other"),
        pytest.param(lambda c, a, r: "x.y.z", id="garbage"),
    ],
)
async def test_bad_refresh_token_is_refused(
    client: httpx.AsyncClient, pair: dict[str, Any], settings: Any, build: Any
) -> None:
    claims = decode(pair["refreshToken"], settings.refresh_secret())
    token = build(claims, settings.access_secret(), settings.refresh_secret())
    response = await client.post("/auth/refresh", json={"refreshToken": token})
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid refresh token"


async def test_token_from_a_deployment_with_another_audience_is_refused(
    settings: Any, clock: FrozenClock, pair: dict[str, Any], tmp_path: Path
) -> None:
    """Same secrets, different audience: the audience check alone refuses the token."""
    update = {"jwt_audience": "another-api", "state_dir": tmp_path / "other"}
    other = create_app(settings.model_copy(update=update), clock=clock)
    async with lifespan(other), client_for(other) as other_client:
        response = await chat(other_client, pair["accessToken"])
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED
