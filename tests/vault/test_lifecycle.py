"""Listing and disconnecting: nothing secret is listed; DELETE revokes at the provider."""

from __future__ import annotations

import time

from tests.conftest import bearer
from tests.federation.conftest import MockProvider
from tests.federation.github_server import GitHubServer
from tests.helpers import audit_events
from tests.vault.conftest import (
    Vaulted,
    VaultFactory,
    github_settings,
    google_settings,
    second_user,
)


async def handed(vaulted: Vaulted, provider: str) -> str:
    agent = await vaulted.agent([f"vault:{provider}"])
    token = (await vaulted.delegate(agent, f"vault:{provider}"))["access_token"]
    return str((await vaulted.hand_out(provider, token)).json()["access_token"])


async def connection_id(vaulted: Vaulted, provider: str) -> str:
    listed = await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
    return next(c["id"] for c in listed.json()["connections"] if c["provider"] == provider)


async def test_listing_shows_connections_and_keys_but_no_secret(
    vault_app: VaultFactory, oidc: MockProvider, github: GitHubServer
) -> None:
    vaulted = await vault_app(**google_settings(oidc), **github_settings(github))
    await vaulted.connect("google")
    await vaulted.connect("github")
    await vaulted.client.put(
        "/auth/connections/keys/openai",
        json={"value": "sk-1234567890"},
        headers=bearer(vaulted.token),
    )
    secrets = [await handed(vaulted, "google"), await handed(vaulted, "github"), "sk-1234567890"]
    response = await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
    assert response.status_code == 200
    for secret in secrets:
        assert secret not in response.text
    connections = response.json()["connections"]
    assert {(c["provider"], c["kind"]) for c in connections} == {
        ("google", "oauth"),
        ("github", "oauth"),
        ("openai", "api_key"),
    }
    assert set(connections[0]) == {
        "id",
        "kind",
        "provider",
        "status",
        "account",
        "scopes",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "lastUsedAt",
    }
    # Someone else sees none of them.
    _, eve_token = await second_user(vaulted)
    other = await vaulted.client.get("/auth/connections", headers=bearer(eve_token))
    assert other.json() == {"connections": []}


async def test_disconnect_revokes_at_an_oidc_provider(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    """RFC 7009 at the discovery document's revocation_endpoint, refresh token first."""
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    [row] = vaulted.raw_rows()
    access = await handed(vaulted, "google")
    before = len(oidc.last()["revocations"])
    response = await vaulted.client.delete(
        f"/auth/connections/{row['id']}", headers=bearer(vaulted.token)
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "id": row["id"], "revokedAtProvider": True}
    revocations = oidc.last()["revocations"][before:]
    assert [r["hint"] for r in revocations] == ["refresh_token", "access_token"]
    assert all(r["authenticated"] for r in revocations)
    assert revocations[1]["token"] == access
    assert vaulted.raw_rows() == []
    [event] = await audit_events(vaulted.app, "vault.disconnected")
    assert event.detail == {"provider": "google", "kind": "oauth", "revoked_at_provider": True}


async def test_disconnect_revokes_a_github_token(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await vault_app(**github_settings(github))
    await vaulted.connect("github")
    access = await handed(vaulted, "github")
    assert github.token_works(access)
    response = await vaulted.client.delete(
        f"/auth/connections/{await connection_id(vaulted, 'github')}",
        headers=bearer(vaulted.token),
    )
    assert response.json()["revokedAtProvider"] is True
    assert github.revoked == [access]
    assert not github.token_works(access)


async def test_disconnect_with_the_provider_down_still_disconnects_quickly(
    vault_app: VaultFactory, github: GitHubServer
) -> None:
    vaulted = await vault_app(**github_settings(github), oauth_http_timeout=0.5)
    await vaulted.connect("github")
    record = await connection_id(vaulted, "github")
    github.stop()
    started = time.monotonic()
    response = await vaulted.client.delete(
        f"/auth/connections/{record}", headers=bearer(vaulted.token)
    )
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert response.json()["revokedAtProvider"] is False
    assert vaulted.raw_rows() == []


async def test_deleting_a_key_and_someone_elses_connection(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    record = await connection_id(vaulted, "google")
    _, eve_token = await second_user(vaulted)
    refused = await vaulted.client.delete(f"/auth/connections/{record}", headers=bearer(eve_token))
    assert refused.status_code == 404
    assert refused.json()["error"] == "Not connected"
    assert len(vaulted.raw_rows()) == 1
    await vaulted.client.put(
        "/auth/connections/keys/openai", json={"value": "sk-1"}, headers=bearer(vaulted.token)
    )
    key = await connection_id(vaulted, "openai")
    gone = await vaulted.client.delete(f"/auth/connections/{key}", headers=bearer(vaulted.token))
    assert gone.json()["revokedAtProvider"] is None
    again = await vaulted.client.delete(f"/auth/connections/{key}", headers=bearer(vaulted.token))
    assert again.status_code == 404
