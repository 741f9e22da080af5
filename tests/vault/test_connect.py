"""Connecting a provider account: the login flow's protections, bound to the user."""

from __future__ import annotations

import pytest

from authgate.vault.connect import CONNECT_COOKIE
from tests.conftest import bearer
from tests.federation.conftest import MockProvider, authorize, query
from tests.federation.github_server import GitHubServer
from tests.helpers import audit_events
from tests.vault.conftest import VaultFactory, github_settings, google_settings, second_user


async def test_google_connect_asks_for_extra_scopes_with_pkce_state_and_nonce(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    auth_url = await vaulted.start_connect("google", scopes="calendar.read,mail.send")
    params = query(auth_url)
    assert auth_url.startswith(f"{oidc.issuer}/authorize?")
    assert params["redirect_uri"] == "http://testserver/auth/connect/google/callback"
    assert params["scope"] == "openid email profile calendar.read mail.send"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43
    assert len(params["nonce"]) >= 43
    assert params["access_type"] == "offline"
    cookie = vaulted.client.cookies.get(CONNECT_COOKIE)
    assert cookie
    assert params["state"] not in cookie  # sealed, not readable by the browser

    response = await vaulted.client.get(await authorize(auth_url), headers=bearer(vaulted.token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    connection = response.json()["connection"]
    assert connection["provider"] == "google"
    assert connection["kind"] == "oauth"
    assert connection["status"] == "active"
    assert connection["account"] == "mock-user"
    assert connection["scopes"] == sorted(
        ["openid", "email", "profile", "calendar.read", "mail.send"]
    )
    assert connection["expiresAt"] is not None
    assert "token" not in response.text.lower().replace("tokentype", "")
    [event] = await audit_events(vaulted.app, "vault.connected")
    assert event.user_id == vaulted.user_id
    assert event.detail["provider"] == "google"
    # The exchange sent the connect redirect URI and the PKCE verifier.
    assert oidc.last()["tokenRequests"][-1] == {"auth": "client_secret_basic", "hasVerifier": True}


async def test_github_connect_stores_the_granted_scopes(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await vault_app(**github_settings(github))
    connection = await vaulted.connect("github", scopes="repo")
    assert connection["account"] == "583231"
    assert connection["scopes"] == ["read:user", "repo", "user:email"]
    assert connection["expiresAt"] is None  # classic OAuth app tokens do not expire
    assert github.token_requests[-1]["redirect_uri"] == (
        "http://testserver/auth/connect/github/callback"
    )
    assert github.token_requests[-1]["code_verifier"]


async def test_callback_for_another_signed_in_user_is_refused(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    """The state names the user who started: a callback cannot attach it to someone else."""
    vaulted = await vault_app(**google_settings(oidc))
    eve_id, eve_token = await second_user(vaulted)
    callback = await authorize(await vaulted.start_connect("google"))
    response = await vaulted.client.get(callback, headers=bearer(eve_token))
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid OAuth state"
    assert await vaulted.runtime.vault.connections(eve_id) == []
    assert await vaulted.runtime.vault.connections(vaulted.user_id) == []
    [failed] = await audit_events(vaulted.app, "vault.connect_failed")
    assert failed.detail["reason"] == "user"
    assert failed.user_id == eve_id


async def test_connect_needs_a_signed_in_user(vault_app: VaultFactory, oidc: MockProvider) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    assert (await vaulted.client.get("/auth/connect/google")).status_code == 401
    callback = await authorize(await vaulted.start_connect("google"))
    anonymous = await vaulted.client.get(callback)
    assert anonymous.status_code == 401
    assert await vaulted.runtime.vault.connections(vaulted.user_id) == []


async def test_an_agent_cannot_connect_accounts(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    agent = await vaulted.agent(["use_agent", "vault:google"])
    delegated = await vaulted.delegate(agent, "use_agent vault:google")
    response = await vaulted.client.get(
        "/auth/connect/google", headers=bearer(delegated["access_token"])
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param("login_cookie", "malformed", id="login-state-cookie-at-connect-callback"),
        pytest.param("no_cookie", "missing", id="cookie-missing"),
        pytest.param("other_state", "mismatch", id="state-parameter-swapped"),
        pytest.param("replay", "missing", id="callback-replayed-after-success"),
    ],
)
async def test_connect_callback_attacks(
    vault_app: VaultFactory, oidc: MockProvider, mutate: str, reason: str
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    client = vaulted.client
    callback = await authorize(await vaulted.start_connect("google"))
    if mutate == "login_cookie":
        # A login's sealed state (another key, another purpose) in the connect cookie.
        await client.get("/auth/oauth/google")
        client.cookies.set(
            CONNECT_COOKIE, client.cookies.get("oauth_state") or "", path="/auth/connect"
        )
    elif mutate == "no_cookie":
        client.cookies.delete(CONNECT_COOKIE)
    elif mutate == "other_state":
        other = query(await vaulted.start_connect("google"))["state"]
        callback = callback.replace(query(callback)["state"], other)
        client.cookies.delete(CONNECT_COOKIE)
        await vaulted.start_connect("google")  # a fresh, different cookie
    elif mutate == "replay":
        first = await client.get(callback, headers=bearer(vaulted.token))
        assert first.status_code == 200
    response = await client.get(callback, headers=bearer(vaulted.token))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Invalid OAuth state"
    events = await audit_events(vaulted.app, "vault.connect_failed")
    assert events[0].detail["reason"] == reason
    expected = 1 if mutate == "replay" else 0
    assert len(await vaulted.runtime.vault.connections(vaulted.user_id)) == expected


async def test_provider_refusal_stores_nothing(vault_app: VaultFactory, oidc: MockProvider) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    oidc.configure(authorizeError="access_denied")
    callback = await authorize(await vaulted.start_connect("google"))
    response = await vaulted.client.get(callback, headers=bearer(vaulted.token))
    assert response.status_code == 400
    assert response.json()["error"] == "OAuth access denied"
    assert vaulted.raw_rows() == []


async def test_bad_scopes_and_unknown_provider(vault_app: VaultFactory, oidc: MockProvider) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    headers = bearer(vaulted.token)
    bad = await vaulted.client.get(
        "/auth/connect/google", params={"scopes": 'a"b'}, headers=headers
    )
    assert bad.status_code == 400
    unknown = await vaulted.client.get("/auth/connect/nope", headers=headers)
    assert unknown.status_code == 404


async def test_without_a_kek_the_vault_refuses_to_store(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc), encryption_key=None)
    response = await vaulted.client.get("/auth/connect/google", headers=bearer(vaulted.token))
    assert response.status_code == 500
    assert "AUTHGATE_ENCRYPTION_KEY" in response.json()["message"]


async def test_browser_connect_redirects_both_ways(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    html = {"accept": "text/html", **bearer(vaulted.token)}
    started = await vaulted.client.get(
        "/auth/connect/google", params={"returnTo": "/settings/connections"}, headers=html
    )
    assert started.status_code == 302
    done = await vaulted.client.get(await authorize(started.headers["location"]), headers=html)
    assert done.status_code == 303
    assert done.headers["location"] == "/settings/connections"
    assert len(vaulted.raw_rows()) == 1
