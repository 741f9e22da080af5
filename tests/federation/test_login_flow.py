"""End to end against real providers on loopback: start URL, provider redirect, callback,
token pair, protected call (Google-style, Auth0-style, a generic issuer, GitHub)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.storage.models import AuditEvent
from tests.conftest import PASSWORD, bearer
from tests.federation.conftest import (
    CALLBACK,
    CLIENTS,
    AppFactory,
    MockProvider,
    auth0_settings,
    authorize,
    github_settings,
    google_settings,
    login,
    query,
    start,
)
from tests.federation.github_server import GitHubServer
from tests.helpers import without_cookies


async def audit(app: FastAPI, event: str) -> list[AuditEvent]:
    return list(await app.state.authgate.store.recent_audit(limit=50, event=event))


async def chat_ok(client: httpx.AsyncClient, access_token: str) -> None:
    # The callback also set auth cookies; a request carries one credential (RFC 6750 s2).
    response = await without_cookies(
        client, "POST", "/api/ai/chat", json={"message": "hello"}, headers=bearer(access_token)
    )
    assert response.status_code == 200, response.text


async def test_google_style_login_end_to_end(oauth_app: AppFactory, oidc: MockProvider) -> None:
    oidc.configure(idTokenClaims={"sub": "g-1", "email": "Ada@Example.com", "name": "Ada"})
    app, client = await oauth_app(**google_settings(oidc))
    response = await client.get("/auth/oauth/google")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["provider"] == "google"
    params = query(body["authUrl"])
    assert body["authUrl"].startswith(f"{oidc.issuer}/authorize?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "google-client"
    assert params["redirect_uri"] == CALLBACK.format(name="google")
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43
    assert len(params["nonce"]) >= 43
    cookie = response.headers["set-cookie"]
    for attribute in ("oauth_state=", "HttpOnly", "Max-Age=600", "Path=/auth/oauth"):
        assert attribute in cookie
    assert "samesite=lax" in cookie.lower()

    callback = await client.get(await authorize(body["authUrl"]))
    assert callback.status_code == 200, callback.text
    done = callback.json()
    assert done["success"] is True
    assert done["user"]["email"] == "ada@example.com"
    assert done["user"]["name"] == "Ada"
    assert done["tokenType"] == "Bearer"
    cleared = [c for c in callback.headers.get_list("set-cookie") if "oauth_state" in c]
    assert len(cleared) == 1
    assert "Max-Age=0" in cleared[0]
    await chat_ok(client, done["accessToken"])
    me = (
        await without_cookies(client, "GET", "/auth/me", headers=bearer(done["accessToken"]))
    ).json()
    assert me["identities"] == [
        {"provider": "google", "subject": "g-1", "email": "Ada@Example.com", "emailVerified": True}
    ]
    # Client authentication as the provider's metadata asks, and PKCE on the exchange.
    assert oidc.last()["tokenRequests"][-1] == {"auth": "client_secret_basic", "hasVerifier": True}
    [linked] = await audit(app, "oauth.linked")
    assert linked.user_id == done["user"]["id"]
    assert linked.detail == {"provider": "google", "created_user": True}
    [success] = await audit(app, "login.success")
    assert success.session_id == done["sessionId"]


async def test_auth0_style_login_by_domain(oauth_app: AppFactory, oidc_post: MockProvider) -> None:
    assert oidc_post.issuer.endswith("/")  # Auth0 issuers end with a slash
    oidc_post.configure(idTokenClaims={"sub": "auth0|42", "email": "grace@example.com"})
    _, client = await oauth_app(**auth0_settings(oidc_post))
    started = await start(client, "auth0")
    callback_url = await authorize(started["authUrl"])
    assert query(callback_url)["iss"] == oidc_post.issuer  # RFC 9207, and it matches
    callback = await client.get(callback_url)
    assert callback.status_code == 200, callback.text
    assert callback.json()["user"]["email"] == "grace@example.com"
    assert oidc_post.last()["tokenRequests"][-1] == {
        "auth": "client_secret_post",
        "hasVerifier": True,
    }
    await chat_ok(client, callback.json()["accessToken"])


async def test_generic_issuer_from_environment(
    oauth_app: AppFactory, oidc: MockProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHGATE_OIDC_CORP_ISSUER", oidc.issuer)
    monkeypatch.setenv("AUTHGATE_OIDC_CORP_CLIENT_ID", "corp-client")
    monkeypatch.setenv("AUTHGATE_OIDC_CORP_CLIENT_SECRET", CLIENTS["corp-client"])
    monkeypatch.setenv("AUTHGATE_OIDC_CORP_REDIRECT_URI", CALLBACK.format(name="corp"))
    monkeypatch.setenv("AUTHGATE_OIDC_CORP_SCOPES", "openid email")
    oidc.configure(idTokenClaims={"sub": "corp-7", "email": "lin@corp.example"})
    _, client = await oauth_app(oidc_providers=["corp"])
    started = await start(client, "corp")
    assert query(started["authUrl"])["scope"] == "openid email"
    callback = await client.get(await authorize(started["authUrl"]))
    assert callback.status_code == 200, callback.text
    assert callback.json()["user"]["email"] == "lin@corp.example"
    await chat_ok(client, callback.json()["accessToken"])


async def test_generic_issuer_from_settings(oauth_app: AppFactory, oidc: MockProvider) -> None:
    _, client = await oauth_app(
        oidc_providers=["partner"],
        oidc_provider_settings={
            "partner": {
                "issuer": oidc.issuer,
                "client_id": "corp-client",
                "client_secret": CLIENTS["corp-client"],
                "redirect_uri": CALLBACK.format(name="partner"),
            }
        },
    )
    callback = await login(client, "partner")
    assert callback.status_code == 200, callback.text


async def test_github_login_end_to_end(oauth_app: AppFactory, github: GitHubServer) -> None:
    _, client = await oauth_app(**github_settings(github))
    started = await start(client, "github")
    params = query(started["authUrl"])
    assert started["authUrl"].startswith(f"{github.base}/login/oauth/authorize?")
    assert params["scope"] == "read:user user:email"
    assert params["code_challenge_method"] == "S256"
    assert "nonce" not in params
    callback = await client.get(await authorize(started["authUrl"]))
    assert callback.status_code == 200, callback.text
    done = callback.json()
    assert done["user"] == {
        "id": done["user"]["id"],
        "email": "octocat@github.example",
        "name": "The Octocat",
    }
    await chat_ok(client, done["accessToken"])
    me = (
        await without_cookies(client, "GET", "/auth/me", headers=bearer(done["accessToken"]))
    ).json()
    assert me["identities"][0]["subject"] == "583231"
    assert "client_secret" not in github.token_requests[-1]
    assert github.token_requests[-1]["code_verifier"]


async def test_github_unverified_primary_email_is_not_used(
    oauth_app: AppFactory, github: GitHubServer
) -> None:
    github.emails = [{"email": "octocat@github.example", "primary": True, "verified": False}]
    _, client = await oauth_app(**github_settings(github))
    callback = await login(client, "github")
    assert callback.status_code == 200, callback.text
    assert callback.json()["user"]["email"].endswith("@users.invalid")


async def test_browser_mode_redirects_both_ways(oauth_app: AppFactory, oidc: MockProvider) -> None:
    _, client = await oauth_app(
        **google_settings(oidc), allowed_redirects=["https://app.example/welcome"]
    )
    response = await client.get(
        "/auth/oauth/google",
        params={"returnTo": "https://app.example/welcome/home"},
        headers={"accept": "text/html,application/xhtml+xml"},
    )
    assert response.status_code == 302
    callback = await client.get(await authorize(response.headers["location"]))
    assert callback.status_code == 303
    assert callback.headers["location"] == "https://app.example/welcome/home"
    assert client.cookies.get("access_token")
    assert client.cookies.get("refresh_token")


async def test_redirect_query_parameter_and_default_target(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    _, client = await oauth_app(**google_settings(oidc), post_login_redirect="/app")
    response = await client.get("/auth/oauth/google", params={"redirect": "true"})
    assert response.status_code == 302
    callback = await client.get(await authorize(response.headers["location"]))
    assert callback.status_code == 303
    assert callback.headers["location"] == "/app"


async def test_redirect_by_default_ends_on_the_account_page(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    """Issue 20 item 7: not `/`, which is no page, but `/account`, as `/login` does."""
    _, client = await oauth_app(**google_settings(oidc))
    response = await client.get("/auth/oauth/google", params={"redirect": "true"})
    callback = await client.get(await authorize(response.headers["location"]))
    assert callback.status_code == 303
    assert callback.headers["location"] == "/account"
    page = await client.get("/account")
    assert page.status_code == 200
    assert "Sign out" in page.text or "session" in page.text.lower()


async def test_returning_identity_signs_in_the_same_user(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    oidc.configure(idTokenClaims={"sub": "same-sub", "email": "sam@example.com"})
    app, client = await oauth_app(**google_settings(oidc))
    first = (await login(client, "google")).json()
    second = (await login(client, "google")).json()
    assert first["user"]["id"] == second["user"]["id"]
    assert first["sessionId"] != second["sessionId"]
    assert len(await audit(app, "oauth.linked")) == 1


async def test_verified_email_links_to_existing_account(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    app, client = await oauth_app(**google_settings(oidc))
    registered = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    user_id = registered.json()["user"]["id"]
    # The account proved its address (a mailed link): only then may a provider link in.
    await app.state.authgate.accounts.update_user(user_id, email_verified=True)
    oidc.configure(idTokenClaims={"sub": "g-ada", "email": "ada@example.com"})
    callback = await login(client, "google")
    assert callback.status_code == 200, callback.text
    assert callback.json()["user"]["id"] == user_id
    [linked] = await audit(app, "oauth.linked")
    assert linked.detail == {"provider": "google", "created_user": False}
    # The password still works: linking added a way in, it took nothing away.
    again = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert again.status_code == 200


async def test_kid_rotation_refetches_the_key_set(
    oauth_app: AppFactory, oidc: MockProvider, clock: Any
) -> None:
    _, client = await oauth_app(**google_settings(oidc))
    assert (await login(client, "google")).status_code == 200  # caches the JWKS
    new_kid = oidc.rotate_key()
    clock.advance(11)  # past the minimum interval between refetches
    callback = await login(client, "google")
    assert oidc.last()["idTokenKid"] == new_kid
    assert callback.status_code == 200, callback.text
