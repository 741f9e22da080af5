"""Connected accounts and API keys on /account: listed without secrets, disconnected there."""

from __future__ import annotations

import re

import httpx
import pytest

from authgate.vault.connect import CONNECT_COOKIE
from tests.conftest import bearer
from tests.federation.conftest import authorize
from tests.federation.github_server import GitHubServer
from tests.helpers import audit_events, without_cookies
from tests.http.pages.forms import ORIGIN, form_token, sign_in
from tests.vault.conftest import Vaulted, VaultFactory, github_settings, second_user

API_KEY = "sk-live-0123456789abcdef"
DISCONNECT = "/account/connections/disconnect"


async def signed_in(vault_app: VaultFactory, **settings: object) -> Vaulted:
    """Ada, signed in through the sign-in form (cookies), on an app with the vault on."""
    vaulted = await vault_app(**settings)
    vaulted.client.cookies.clear()
    assert (await sign_in(vaulted.client)).status_code == 303
    return vaulted


async def store_key(vaulted: Vaulted, service: str = "openai") -> str:
    response = await without_cookies(
        vaulted.client,
        "PUT",
        f"/auth/connections/keys/{service}",
        json={"value": API_KEY},
        headers=bearer(vaulted.token),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["connection"]["id"])


def connection_ids(html: str) -> list[str]:
    return re.findall(r'data-connection-id="([^"]+)"', html)


async def disconnect(client: httpx.AsyncClient, connection_id: str) -> httpx.Response:
    token = await form_token(client, "/account")
    data = {"csrf_token": token, "connection": connection_id}
    return await client.post(DISCONNECT, data=data, headers=ORIGIN)


async def test_account_lists_connections_and_keys_without_their_secrets(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await signed_in(vault_app, **github_settings(github))
    account = (await vaulted.connect("github", scopes="repo"))["id"]
    key = await store_key(vaulted)
    page = await vaulted.client.get("/account")
    assert page.status_code == 200
    assert connection_ids(page.text) == [account, key]
    github_item, key_item = page.text.split('data-connection-id="')[1:]
    assert '<h3 class="device">GitHub</h3>' in github_item
    assert "<dd>OAuth connection</dd>" in github_item
    assert "<dd>read:user, repo, user:email</dd>" in github_item
    assert "<dd>Active</dd>" in github_item
    assert '<h3 class="device">openai</h3>' in key_item
    assert "<dd>API key</dd>" in key_item
    assert "Scopes" not in key_item
    assert "Reconnect" not in page.text
    assert API_KEY not in page.text
    assert API_KEY[-6:] not in page.text


async def test_no_connection_shows_the_empty_state(vault_app: VaultFactory) -> None:
    vaulted = await signed_in(vault_app)
    page = (await vaulted.client.get("/account")).text
    assert "Connected accounts" in page
    assert "No account or API key is connected." in page
    assert connection_ids(page) == []


async def test_without_the_vault_the_section_is_not_shown(
    vault_app: VaultFactory,
) -> None:
    vaulted = await signed_in(vault_app, encryption_key=None)
    page = (await vaulted.client.get("/account")).text
    assert "Your account" in page
    assert "Connected accounts" not in page


async def test_disconnecting_an_account_removes_it_and_revokes_it_at_the_provider(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await signed_in(vault_app, **github_settings(github))
    account = (await vaulted.connect("github"))["id"]
    response = await disconnect(vaulted.client, account)
    assert response.status_code == 303
    assert response.headers["location"] == "/account?notice=connection_revoked"
    assert len(github.revoked) == 1
    assert vaulted.raw_rows() == []
    page = (await vaulted.client.get(response.headers["location"])).text
    assert "The provider has revoked authgate&#39;s access." in page
    assert "No account or API key is connected." in page
    [event] = await audit_events(vaulted.app, "vault.disconnected")
    assert event.user_id == vaulted.user_id
    assert event.detail == {"provider": "github", "kind": "oauth", "revoked_at_provider": True}


async def test_disconnecting_with_the_provider_down_says_it_was_not_confirmed(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await signed_in(vault_app, **github_settings(github), oauth_http_timeout=0.5)
    account = (await vaulted.connect("github"))["id"]
    github.stop()
    response = await disconnect(vaulted.client, account)
    assert response.headers["location"] == "/account?notice=connection_removed"
    assert vaulted.raw_rows() == []
    page = (await vaulted.client.get(response.headers["location"])).text
    assert "did not confirm that it revoked access" in page


async def test_deleting_a_key_removes_it(vault_app: VaultFactory) -> None:
    vaulted = await signed_in(vault_app)
    key = await store_key(vaulted)
    response = await disconnect(vaulted.client, key)
    assert response.headers["location"] == "/account?notice=key_removed"
    assert vaulted.raw_rows() == []
    listed = await without_cookies(
        vaulted.client, "GET", "/auth/connections", headers=bearer(vaulted.token)
    )
    assert listed.json() == {"connections": []}
    page = (await vaulted.client.get(response.headers["location"])).text
    assert "The API key has been deleted." in page


@pytest.mark.parametrize(
    ("field", "headers"),
    [
        pytest.param(None, ORIGIN, id="no-token-field"),
        pytest.param("A" * 43, ORIGIN, id="wrong-token"),
        pytest.param("TOKEN", {"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param("TOKEN", {"Origin": "null"}, id="null-origin"),
        pytest.param("TOKEN", {}, id="no-origin-no-referer"),
    ],
)
async def test_disconnect_without_a_valid_form_token_is_refused(
    vault_app: VaultFactory, field: str | None, headers: dict[str, str]
) -> None:
    vaulted = await signed_in(vault_app)
    key = await store_key(vaulted)
    token = await form_token(vaulted.client, "/account")
    data = {"connection": key}
    if field is not None:
        data["csrf_token"] = token if field == "TOKEN" else field
    response = await vaulted.client.post(DISCONNECT, data=data, headers=headers)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert [row["id"] for row in vaulted.raw_rows()] == [key]
    assert await audit_events(vaulted.app, "vault.disconnected") == []


async def test_another_users_connection_is_not_found_and_stays(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await signed_in(vault_app, **github_settings(github))
    adas = (await vaulted.connect("github"))["id"]
    await second_user(vaulted, "eve@example.com")
    vaulted.client.cookies.clear()
    assert (await sign_in(vaulted.client, "eve@example.com")).status_code == 303
    response = await disconnect(vaulted.client, adas)
    assert response.status_code == 404
    assert "Nothing to disconnect" in response.text
    assert [row["id"] for row in vaulted.raw_rows()] == [adas]
    assert github.revoked == []
    assert await audit_events(vaulted.app, "vault.disconnected") == []


async def test_disconnecting_twice_answers_not_found_the_second_time(
    vault_app: VaultFactory,
) -> None:
    vaulted = await signed_in(vault_app)
    key = await store_key(vaulted)
    assert (await disconnect(vaulted.client, key)).status_code == 303
    again = await disconnect(vaulted.client, key)
    assert again.status_code == 404
    assert 'href="/account"' in again.text


async def test_needs_reconsent_links_to_reconnect_and_reconnecting_restores_it(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await signed_in(vault_app, **github_settings(github))
    account = (await vaulted.connect("github", scopes="repo"))["id"]
    assert await vaulted.runtime.vault.store.update_if_version(account, 1, status="needs_reconsent")
    page = (await vaulted.client.get("/account")).text
    assert "Needs reconnecting" in page
    assert "GitHub stopped accepting this connection: reconnect" in page
    [link] = re.findall(r'<a class="button primary" href="([^"]+)">Reconnect', page)
    assert link == (
        "/auth/connect/github?redirect=true&amp;returnTo=%2Faccount"
        "&amp;scopes=read%3Auser%2Crepo%2Cuser%3Aemail"
    )
    started = await vaulted.client.get(link.replace("&amp;", "&"))
    assert started.status_code == 302
    assert started.headers["location"].startswith(f"{github.base}/login/oauth/authorize?")
    assert vaulted.client.cookies.get(CONNECT_COOKIE)
    back = await vaulted.client.get(await authorize(started.headers["location"]))
    assert back.status_code == 303
    assert back.headers["location"] == "/account"
    page = (await vaulted.client.get("/account")).text
    assert "Needs reconnecting" not in page
    assert "<dd>Active</dd>" in page
    assert "<dd>read:user, repo, user:email</dd>" in page


async def test_needs_reconsent_for_a_provider_no_longer_configured_offers_no_link(
    vault_app: VaultFactory,
) -> None:
    vaulted = await signed_in(vault_app)
    key = await store_key(vaulted, "gitlab")
    # A connection made while GitLab was configured here; it is not any more.
    assert await vaulted.runtime.vault.store.update_if_version(
        key, 1, kind="oauth", status="needs_reconsent", scopes=["api"]
    )
    page = (await vaulted.client.get("/account")).text
    assert "Needs reconnecting" in page
    assert "it is no longer offered here" in page
    assert "Reconnect" not in page
    assert connection_ids(page) == [key]
    # It can still be disconnected; nobody could confirm a revocation.
    response = await disconnect(vaulted.client, key)
    assert response.headers["location"] == "/account?notice=connection_removed"
    assert vaulted.raw_rows() == []
