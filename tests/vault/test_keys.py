"""Static API keys: write-only from the API, handed to agents like provider tokens."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import bearer
from tests.federation.conftest import MockProvider
from tests.helpers import audit_events
from tests.vault.conftest import Vaulted, VaultFactory, google_settings

API_KEY = "sk-live-abcdefghijklmnopqrstuvwxyz0123456789"


async def put_key(
    vaulted: Vaulted, service: str, value: str, token: str | None = None
) -> httpx.Response:
    return await vaulted.client.put(
        f"/auth/connections/keys/{service}",
        json={"value": value},
        headers=bearer(token or vaulted.token),
    )


async def test_a_stored_key_is_never_returned_to_the_user(vault_app: VaultFactory) -> None:
    vaulted = await vault_app()
    response = await put_key(vaulted, "openai", API_KEY)
    assert response.status_code == 200
    assert API_KEY not in response.text
    connection = response.json()["connection"]
    assert connection["kind"] == "api_key"
    assert connection["provider"] == "openai"
    listed = await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
    assert API_KEY not in listed.text
    assert [c["provider"] for c in listed.json()["connections"]] == ["openai"]
    [event] = await audit_events(vaulted.app, "vault.key_stored")
    assert event.detail == {"service": "openai"}
    assert API_KEY not in str(event.detail)


async def test_delegated_agent_gets_the_key_and_a_replacement_wins(
    vault_app: VaultFactory,
) -> None:
    vaulted = await vault_app()
    await put_key(vaulted, "openai", API_KEY)
    agent = await vaulted.agent(["vault:openai"])
    token = (await vaulted.delegate(agent, "vault:openai"))["access_token"]
    handed = await vaulted.hand_out("openai", token)
    assert handed.status_code == 200
    assert handed.json() == {
        "access_token": API_KEY,
        "token_type": "api_key",
        "provider": "openai",
    }
    await put_key(vaulted, "openai", API_KEY + "-rotated")
    assert (await vaulted.hand_out("openai", token)).json()["access_token"] == API_KEY + "-rotated"
    assert len(vaulted.raw_rows()) == 1


@pytest.mark.parametrize(
    ("service", "value", "status"),
    [
        pytest.param("Open AI", API_KEY, 400, id="bad-service-name"),
        pytest.param("openai", "", 422, id="empty-value"),
        pytest.param("openai", " padded ", 400, id="surrounding-spaces"),
        pytest.param("openai", "x" * 9000, 422, id="too-long"),
    ],
)
async def test_bad_keys_are_refused(
    vault_app: VaultFactory, service: str, value: str, status: int
) -> None:
    vaulted = await vault_app()
    response = await put_key(vaulted, service, value)
    assert response.status_code == status
    assert vaulted.raw_rows() == []


async def test_a_key_cannot_replace_a_connected_account(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    response = await put_key(vaulted, "google", API_KEY)
    assert response.status_code == 409
    assert [row["kind"] for row in vaulted.raw_rows()] == ["oauth"]


async def test_an_agent_cannot_store_keys_for_its_user(vault_app: VaultFactory) -> None:
    vaulted = await vault_app()
    agent = await vaulted.agent(["use_agent", "vault:openai"])
    token = (await vaulted.delegate(agent, "use_agent vault:openai"))["access_token"]
    response = await put_key(vaulted, "openai", API_KEY, token=token)
    assert response.status_code == 403


async def test_admin_stores_a_key_for_an_agent_with_the_cli(
    vault_app: VaultFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`authgate vault put-key` (value on stdin): the agent alone, with its own token, gets it."""
    vaulted = await vault_app()
    settings = vaulted.runtime.settings
    agent = await vaulted.agent(["vault:anthropic"])
    env = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(settings.state_dir),
        "AUTHGATE_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "JWT_ACCESS_SECRET": settings.access_secret(),
        "JWT_REFRESH_SECRET": settings.refresh_secret(),
    }
    monkeypatch.chdir(settings.state_dir)
    from authgate.cli import app

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["vault", "put-key", "--agent", agent[0], "--service", "anthropic"],
        input=API_KEY + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output
    own = await vaulted.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "vault:anthropic"},
        auth=agent,
    )
    handed = await vaulted.hand_out("anthropic", own.json()["access_token"])
    assert handed.status_code == 200, handed.text
    assert handed.json()["access_token"] == API_KEY
    [event] = await audit_events(vaulted.app, "vault.handout")
    assert event.user_id == f"agent:{agent[0]}"
    assert event.detail == {"agent": agent[0], "provider": "anthropic", "delegated": False}
    # The agent's own key is not its user's: a delegation from the user finds nothing.
    delegated = (await vaulted.delegate(agent, "vault:anthropic"))["access_token"]
    assert (await vaulted.hand_out("anthropic", delegated)).status_code == 404
    unknown = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["vault", "put-key", "--agent", "no-such-agent", "--service", "anthropic"],
        input=API_KEY + "\n",
        env=env,
    )
    assert unknown.exit_code == 1
    assert os.environ.get("AUTHGATE_ENCRYPTION_KEY") != env["AUTHGATE_ENCRYPTION_KEY"]


async def test_a_cors_origin_may_store_a_key(vault_app: VaultFactory) -> None:
    """The preflight for PUT from an allowed origin succeeds (the settings page is elsewhere)."""
    vaulted = await vault_app(cors_origins=["https://app.example"])
    response = await vaulted.client.options(
        "/auth/connections/keys/openai",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "PUT",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert "PUT" in response.headers["access-control-allow-methods"]
