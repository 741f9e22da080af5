"""RFC 8414 metadata, complete and true; no OIDC discovery (authgate is no OpenID Provider)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.authserver.conftest import ResourceServer


async def test_metadata_lists_what_the_server_does(
    client: httpx.AsyncClient, resource: ResourceServer, settings: Any
) -> None:
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    base = "http://127.0.0.1:8000"
    assert body["issuer"] == base
    assert body["authorization_endpoint"] == f"{base}/oauth2/authorize"
    assert body["token_endpoint"] == f"{base}/oauth2/token"
    assert body["registration_endpoint"] == f"{base}/oauth2/register"
    assert body["response_types_supported"] == ["code"]
    assert set(body["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:openid:params:grant-type:ciba",  # docs/ciba.md
    }
    assert {"none", "private_key_jwt"} <= set(body["token_endpoint_auth_methods_supported"])
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert body["client_id_metadata_document_supported"] is True
    assert body["scopes_supported"] == ["mcp:read", "mcp:tools"]
    assert "ES256" in body["dpop_signing_alg_values_supported"]
    assert "id_token_signing_alg_values_supported" not in body


async def test_every_advertised_endpoint_answers(
    client: httpx.AsyncClient, resource: ResourceServer
) -> None:
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    names = ("authorization_endpoint", "token_endpoint", "registration_endpoint")
    for name in (*names, "backchannel_authentication_endpoint"):
        path = body[name].removeprefix("http://127.0.0.1:8000")
        method = client.get if name == "authorization_endpoint" else client.post
        assert (await method(path)).status_code != 404, name


async def test_no_registration_endpoint_when_registration_is_off(
    settings_factory: Any, clock: Any
) -> None:
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(client_registration="off"), clock=clock)
    async with lifespan(app), client_for(app) as c:
        body = (await c.get("/.well-known/oauth-authorization-server")).json()
        registered = await c.post(
            "/oauth2/register", json={"redirect_uris": ["https://a.example/cb"]}
        )
    assert "registration_endpoint" not in body
    assert registered.status_code == 403


async def test_openid_configuration_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 404
