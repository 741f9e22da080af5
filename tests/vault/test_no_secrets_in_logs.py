"""Canaries through the vault: connect, hand-out, refresh, disconnect; no provider token,
refresh token, API key or client secret reaches a log record authgate emits."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from authgate.testing import FrozenClock
from tests.conftest import bearer
from tests.federation.github_server import GitHubServer
from tests.vault.conftest import VaultFactory, github_settings
from tests.vault.test_storage import opened

CANARY_CLIENT_SECRET = "canary-VAULTSECRET-4c1e-do-not-log"
CANARY_KEY = "sk-canary-KEY-7d2a-do-not-log"


@pytest.fixture
def canary_github() -> Iterator[GitHubServer]:
    server = GitHubServer(client_id="github-client", client_secret=CANARY_CLIENT_SECRET)
    server.expiring = True
    server.start()
    yield server
    server.stop()


async def test_vault_flows_leak_no_secret_to_logs(
    vault_app: VaultFactory,
    canary_github: GitHubServer,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    vaulted = await vault_app(**github_settings(canary_github))
    await vaulted.connect("github")
    await vaulted.client.put(
        "/auth/connections/keys/openai", json={"value": CANARY_KEY}, headers=bearer(vaulted.token)
    )
    agent = await vaulted.agent(["vault:github", "vault:openai"])
    delegation = await vaulted.delegate(agent, "vault:github vault:openai")
    first = (await vaulted.hand_out("github", delegation["access_token"])).json()
    [connected] = [row for row in vaulted.raw_rows() if row["name"] == "github"]
    refresh_tokens = [opened(vaulted, connected, "refresh_secret")]
    clock.advance(28800)
    refreshed = await vaulted.client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": delegation["refresh_token"]},
        auth=agent,
    )
    token = refreshed.json()["access_token"]
    second = (await vaulted.hand_out("github", token)).json()
    assert canary_github.refreshes == 1
    await vaulted.hand_out("openai", token)
    github_row = next(row for row in vaulted.raw_rows() if row["name"] == "github")
    refresh_tokens.append(opened(vaulted, github_row, "refresh_secret"))
    record = github_row["id"]
    clock.advance(-28800)
    vaulted.token = (
        await vaulted.client.post(
            "/auth/login",
            json={"email": "ada@example.com", "password": "correct horse battery staple"},
        )
    ).json()["accessToken"]
    gone = await vaulted.client.delete(f"/auth/connections/{record}", headers=bearer(vaulted.token))
    assert gone.json()["revokedAtProvider"] is True
    secrets = [
        CANARY_CLIENT_SECRET,
        CANARY_KEY,
        first["access_token"],
        second["access_token"],
        *refresh_tokens,
    ]
    assert len(set(secrets)) == 6
    records = [r for r in caplog.records if not r.name.startswith("uvicorn")]
    assert any(r.name.startswith("authgate") for r in records)
    # authgate's own calls to the provider (refresh, revocation) are among what is checked.
    assert any("/applications/github-client/token" in r.getMessage() for r in records)
    for entry in records:
        text = entry.getMessage() + repr(vars(entry))
        for secret in secrets:
            assert secret not in text, entry.name
