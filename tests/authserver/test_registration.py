"""RFC 7591 dynamic client registration and its brakes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock, client_for, lifespan


async def _register(client: httpx.AsyncClient, **metadata: Any) -> httpx.Response:
    body = {"client_name": "x", "redirect_uris": ["https://app.example/cb"], **metadata}
    return await client.post("/oauth2/register", json=body)


async def test_public_client_registration_answers_rfc7591_fields(client: httpx.AsyncClient) -> None:
    response = await _register(client, token_endpoint_auth_method="none")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_id"].startswith("app_")
    assert "client_secret" not in body
    assert body["redirect_uris"] == ["https://app.example/cb"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code"]
    assert isinstance(body["client_id_issued_at"], int)


async def test_confidential_client_gets_a_secret_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    body = (await _register(client, token_endpoint_auth_method="client_secret_post")).json()
    assert len(body["client_secret"]) >= 43
    assert body["client_secret_expires_at"] == 0
    row = await app.state.authgate.clients.get(body["client_id"])
    assert row.secret_hash != body["client_secret"]


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("http://app.example/cb", id="http-public-host"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("data:text/html,hi", id="data"),
        pytest.param("https://app.example/cb#frag", id="fragment"),
        pytest.param("https://*.example/cb", id="wildcard-host"),
        pytest.param("https://app.example/*", id="wildcard-path"),
        pytest.param("https://user:pw@app.example/cb", id="userinfo"),
        pytest.param("/relative/cb", id="relative"),
        pytest.param("myapp:/cb", id="private-scheme-not-reverse-domain"),
        pytest.param("com.example.app://host/cb", id="private-scheme-with-authority"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("https://app.example/c b", id="space"),
        pytest.param("", id="empty"),
        pytest.param(42, id="not-a-string"),
    ],
)
async def test_bad_redirect_uri_is_invalid_redirect_uri(
    client: httpx.AsyncClient, uri: object
) -> None:
    """RFC 7591 s3.2.2; RFC 8252 s7; RFC 9700 s4.1.1."""
    response = await _register(client, redirect_uris=["https://ok.example/cb", uri])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("http://127.0.0.1:3000/callback", id="loopback-v4"),
        pytest.param("http://[::1]/callback", id="loopback-v6"),
        pytest.param("http://localhost:3000/callback", id="localhost"),
        pytest.param("com.example.app:/oauth2redirect", id="private-use-scheme"),
        pytest.param("https://app.example/cb?tenant=1", id="https-with-query"),
    ],
)
async def test_allowed_redirect_uris(client: httpx.AsyncClient, uri: str) -> None:
    assert (await _register(client, redirect_uris=[uri])).status_code == 201


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"redirect_uris": []}, id="no-redirect-uris"),
        pytest.param({"grant_types": ["client_credentials"]}, id="client-credentials"),
        pytest.param({"grant_types": ["implicit"]}, id="implicit"),
        pytest.param({"response_types": ["token"]}, id="response-type-token"),
        pytest.param({"token_endpoint_auth_method": "tls_client_auth"}, id="unknown-auth"),
        pytest.param({"token_endpoint_auth_method": "private_key_jwt"}, id="pkjwt-without-jwks"),
        pytest.param({"client_name": "x" * 201}, id="long-name"),
        pytest.param(
            {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": ["nope"]}},
            id="jwks-not-keys",
        ),
        pytest.param(
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]},
            },
            id="jwks-private-key",
        ),
        pytest.param(
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "!", "y": "?"}]},
            },
            id="jwks-unreadable",
        ),
    ],
)
async def test_bad_metadata_is_refused(client: httpx.AsyncClient, metadata: dict[str, Any]) -> None:
    response = await _register(client, **metadata)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


async def test_not_json_is_a_clear_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth2/register", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


async def test_token_mode_needs_an_initial_access_token(settings_factory: Any, clock: Any) -> None:
    from authgate.http.app import create_app

    app = create_app(settings_factory(client_registration="token"), clock=clock)
    async with lifespan(app), client_for(app) as c:
        assert (await _register(c)).status_code == 403
        token = await app.state.authgate.client_registration.make_token(
            label="ide", ttl=3600, uses=1
        )
        bearer = {"Authorization": f"Bearer {token}"}
        body = {"redirect_uris": ["https://app.example/cb"]}
        first = await c.post("/oauth2/register", json=body, headers=bearer)
        second = await c.post("/oauth2/register", json=body, headers=bearer)
        wrong = await c.post(
            "/oauth2/register", json=body, headers={"Authorization": "Bearer nope"}
        )
    assert first.status_code == 201
    assert second.status_code == 403  # one use only
    assert wrong.status_code == 403


async def test_cap_on_registered_clients(settings_factory: Any, clock: Any) -> None:
    from authgate.http.app import create_app

    app = create_app(settings_factory(client_registration_max=2), clock=clock)
    async with lifespan(app), client_for(app) as c:
        codes = [(await _register(c)).status_code for _ in range(3)]
    assert codes == [201, 201, 403]


async def test_never_used_clients_expire(settings_factory: Any, clock: FrozenClock) -> None:
    from authgate.http.app import create_app

    app = create_app(
        settings_factory(client_registration_max=1, client_unused_ttl=3600), clock=clock
    )
    async with lifespan(app), client_for(app) as c:
        old = (await _register(c)).json()["client_id"]
        assert (await _register(c)).status_code == 403
        clock.advance(3601)
        assert (await _register(c)).status_code == 201
        assert await app.state.authgate.clients.get(old) is None


async def test_registrations_per_ip_are_rate_limited(settings_factory: Any, clock: Any) -> None:
    from authgate.http.app import create_app

    app = create_app(
        settings_factory(rate_limit_enabled=True, rate_limit_register="2 per hour"), clock=clock
    )
    async with lifespan(app), client_for(app) as c:
        codes = [(await _register(c)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
