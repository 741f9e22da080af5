"""Token endpoint details: DPoP binding, confidential clients, the JWT contract, units."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from authgate.authserver.pkce import verify_s256
from authgate.authserver.redirects import redirect_matches
from authgate.keys.encryption import generate_kek
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.authserver.conftest import (
    EMAIL,
    RESOURCE,
    Registered,
    ResourceServer,
    exchange,
    grant,
    make_resource,
    register_client,
    request_for,
)
from tests.authserver.flow import PASSWORD, Browser
from tests.security.dpop_support import ProofKey

TOKEN_URL = "http://testserver/oauth2/token"


def test_pkce_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert verify_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not verify_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN")
    assert not verify_s256("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


@pytest.mark.parametrize(
    ("registered", "presented", "ok"),
    [
        pytest.param("https://a.example/cb", "https://a.example/cb", True, id="exact"),
        pytest.param("https://a.example/cb", "https://a.example:443/cb", False, id="https-port"),
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb", True, id="loopback-port"),
        pytest.param("http://[::1]:1/cb", "http://[::1]:2/cb", True, id="loopback-v6-port"),
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?", False, id="empty-query"),
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.2:5000/cb", False, id="other-ip"),
        pytest.param("com.example.app:/cb", "com.example.app:/cb", True, id="private-scheme"),
    ],
)
def test_redirect_matching(registered: str, presented: str, ok: bool) -> None:
    """RFC 9700 s4.1.3 exact matching; RFC 8252 s7.3 loopback ports."""
    assert redirect_matches([registered], presented) is ok


async def test_dpop_binds_the_code_grant_and_its_refresh(
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    clock: FrozenClock,
    app: FastAPI,
) -> None:
    """RFC 9449 s5, s6.1: cnf.jkt in the token; the refresh keeps the binding."""
    # The proof names the configured public URL, never what the Host header says.
    token_url = f"{app.state.authgate.settings.public_url}/oauth2/token"
    key = ProofKey()
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    proof = key.proof(iat=clock(), htu=token_url)
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": pending.params["redirect_uri"],
            "code_verifier": pending.verifier,
            "client_id": registered.client_id,
        },
        headers={"DPoP": proof},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}
    refreshed = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": registered.client_id,
        },
        headers={"DPoP": key.proof(iat=clock(), htu=token_url)},
    )
    assert refreshed.status_code == 200, refreshed.text
    again = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert again["cnf"] == {"jkt": key.jkt}


async def test_refresh_may_narrow_the_scope(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    tokens = await grant(client, browser, registered)
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": registered.client_id,
            "scope": "mcp:read",
        },
    )
    assert response.json()["scope"] == "mcp:read"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "mcp:read"


async def test_refresh_token_reuse_revokes_the_grant(
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    clock: FrozenClock,
) -> None:
    """RFC 9700 s4.14.2, through the sessions machinery."""
    tokens = await grant(client, browser, registered)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": registered.client_id,
    }
    newer = (await client.post("/oauth2/token", data=data)).json()
    clock.advance(30)  # past the concurrent-refresh grace
    reused = await client.post("/oauth2/token", data=data)
    assert reused.status_code == 400
    newest = await client.post(
        "/oauth2/token", data={**data, "refresh_token": newer["refresh_token"]}
    )
    assert newest.status_code == 400


async def test_eddsa_tokens_verify_with_the_published_jwks_and_contract(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """The shared contract: typ at+jwt, kid, iss = metadata issuer, aud = the resource."""
    from authgate.http.app import create_app

    settings = make_settings(tmp_path, signing_alg="EdDSA", encryption_key=generate_kek())
    application = create_app(settings, clock=clock)
    async with lifespan(application), client_for(application) as c:
        await make_resource(application)
        await c.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        registered = await register_client(c)
        async with client_for(application) as web:
            tokens = await grant(c, Browser(web, email=EMAIL), registered)
        jwks = KeySet.import_key_set((await c.get("/.well-known/jwks.json")).json())
    token = jose_jwt.decode(tokens["access_token"], jwks, algorithms=["EdDSA"])
    assert token.header["typ"] == "at+jwt"
    assert token.header["kid"]
    claims = token.claims
    assert claims["iss"] == settings.metadata_issuer
    assert claims["aud"] == RESOURCE
    assert set(claims) >= {"sub", "client_id", "scope", "exp", "iat", "jti", "sessionId"}
    assert "permissions" not in claims


async def test_private_key_jwt_client(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser, resource: ResourceServer
) -> None:
    """RFC 7523 s2.2 client authentication, as agents use it."""
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": "k1"}
    registered = await register_client(
        client, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]}
    )
    pending = request_for(registered)
    outcome = await browser.authorize(pending.url)
    clock = app.state.authgate.clock
    now = int(clock())
    assertion = jose_jwt.encode(
        {"alg": "ES256", "kid": "k1"},
        {
            "iss": registered.client_id,
            "sub": registered.client_id,
            "aud": "http://127.0.0.1:8000/oauth2/token",
            "iat": now,
            "exp": now + 60,
            "jti": "j1",
        },
        key,
    )
    response = await exchange(
        client,
        registered,
        outcome.code,
        pending.verifier,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion,
    )
    assert response.status_code == 200, response.text


async def test_disabling_the_client_ends_its_grants(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
) -> None:
    """``authgate clients disable``: the client's tokens stop at once."""
    tokens = await grant(client, browser, registered)
    runtime = app.state.authgate
    await runtime.clients.disable(registered.client_id)
    assert await runtime.authserver.revoke_client(registered.client_id, None) == 1
    info = await client.post(
        "/oauth2/introspect", data={"token": tokens["access_token"]}, auth=resource.auth
    )
    assert info.json() == {"active": False}
    outcome = await browser.client.get(request_for(registered).url)
    assert outcome.status_code == 400  # a disabled client is unknown


async def test_disabling_the_resource_ends_every_grant_for_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
) -> None:
    tokens = await grant(client, browser, registered)
    runtime = app.state.authgate
    await runtime.clients.disable(resource.client_id)
    assert await runtime.authserver.revoke_client(resource.client_id, resource.url) == 1
    refreshed = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": registered.client_id,
        },
    )
    assert refreshed.status_code == 400


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
async def test_public_client_revokes_its_grant(
    client: httpx.AsyncClient,
    browser: Browser,
    resource: ResourceServer,
    registered: Registered,
    which: str,
) -> None:
    """RFC 7009 s2.1: a public client identifies itself with client_id alone."""
    tokens = await grant(client, browser, registered)
    response = await client.post(
        "/oauth2/revoke", data={"token": tokens[which], "client_id": registered.client_id}
    )
    assert response.status_code == 200
    info = await client.post(
        "/oauth2/introspect", data={"token": tokens["access_token"]}, auth=resource.auth
    )
    assert info.json() == {"active": False}


async def test_a_client_cannot_revoke_another_clients_grant(
    client: httpx.AsyncClient, browser: Browser, resource: ResourceServer, registered: Registered
) -> None:
    other = await register_client(client)
    tokens = await grant(client, browser, registered)
    response = await client.post(
        "/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": other.client_id}
    )
    assert response.status_code == 200  # s2.2: answered like an unknown token
    info = await client.post(
        "/oauth2/introspect", data={"token": tokens["access_token"]}, auth=resource.auth
    )
    assert info.json()["active"] is True
