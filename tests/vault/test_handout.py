"""Hand-out to agents: ``POST /vault/{provider}/token`` under a delegation with vault:<name>."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest

from authgate.testing import FrozenClock
from tests.conftest import bearer, login
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


async def delegated_token(
    vaulted: Vaulted, scope: str = "vault:google"
) -> tuple[str, dict[str, Any]]:
    agent = await vaulted.agent(["use_agent", "vault:google", "vault:github"])
    body = await vaulted.delegate(agent, scope)
    return agent[0], body


class Agent:
    """An agent holding a delegation, refreshing it as a real one would after a while."""

    def __init__(self, vaulted: Vaulted, scope: str) -> None:
        self.vaulted = vaulted
        self.scope = scope

    async def start(self) -> Agent:
        self.credentials = await self.vaulted.agent(["vault:google", "vault:github"])
        self.body = await self.vaulted.delegate(self.credentials, self.scope)
        return self

    async def refresh(self) -> None:
        response = await self.vaulted.client.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": self.body["refresh_token"]},
            auth=self.credentials,
        )
        assert response.status_code == 200, response.text
        self.body = response.json()

    async def hand_out(self, provider: str) -> httpx.Response:
        return await self.vaulted.hand_out(provider, self.body["access_token"])


async def test_delegated_agent_receives_the_provider_token(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google", scopes="calendar.read")
    agent_id, delegated = await delegated_token(vaulted)
    response = await vaulted.hand_out("google", delegated["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["provider"] == "google"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"openid", "email", "profile", "calendar.read"}
    # The provider's own access token, signed with its key.
    jwks = jwt.PyJWKClient(f"{oidc.base}/jwks")
    key = jwks.get_signing_key_from_jwt(body["access_token"])
    claims = jwt.decode(
        body["access_token"], key, algorithms=["RS256"], options={"verify_aud": False}
    )
    assert claims["iss"] == oidc.issuer
    assert body["access_token"] not in vaulted.database_dump()
    [event] = await audit_events(vaulted.app, "vault.handout")
    assert event.user_id == vaulted.user_id
    assert event.session_id == delegated["delegation_id"]
    assert event.detail == {"agent": agent_id, "provider": "google", "delegated": True}
    listed = await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
    assert listed.json()["connections"][0]["lastUsedAt"] is not None


async def test_delegation_grants_vault_scopes_without_a_role(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    """The user's role has only use_agent; vault:<name> is theirs to delegate anyway."""
    vaulted = await vault_app(**google_settings(oidc))
    _, delegated = await delegated_token(vaulted, "vault:google")
    assert delegated["scope"] == "vault:google"
    claims = jwt.decode(delegated["access_token"], options={"verify_signature": False})
    assert claims["permissions"] == ["vault:google"]
    # ... and the refreshed delegation keeps it.
    agent = await vaulted.agent(["vault:google"])
    first = await vaulted.delegate(agent, "vault:google")
    refreshed = await vaulted.client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=agent,
    )
    assert refreshed.status_code == 200, refreshed.text
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["permissions"] == ["vault:google"]


async def test_vault_scopes_are_delegated_only_when_asked_for_by_name(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    agent = await vaulted.agent(["use_agent", "vault:google"])
    response = await vaulted.client.post(
        "/oauth2/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": vaulted.token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
        auth=agent,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "use_agent"


async def test_agent_not_allowed_the_vault_scope_cannot_be_delegated_it(
    vault_app: VaultFactory, oidc: MockProvider
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    agent = await vaulted.agent(["use_agent"])
    response = await vaulted.client.post(
        "/oauth2/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": vaulted.token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "scope": "vault:google",
        },
        auth=agent,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_expired_token_is_refreshed_at_the_provider(
    vault_app: VaultFactory, oidc: MockProvider, clock: FrozenClock
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    agent = await Agent(vaulted, "vault:google").start()
    first = (await agent.hand_out("google")).json()
    [row] = vaulted.raw_rows()
    refreshes = oidc.last()["refreshes"]

    clock.advance(3600 - 30)  # inside the refresh margin (60 s)
    await agent.refresh()
    second = (await agent.hand_out("google")).json()
    assert oidc.last()["refreshes"] == refreshes + 1
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 3600
    [after] = vaulted.raw_rows()
    assert after["version"] == row["version"] + 1
    assert after["refresh_secret"] != row["refresh_secret"]  # rotated, and sealed anew
    assert after["data_key"] != row["data_key"]
    [refreshed] = await audit_events(vaulted.app, "vault.refreshed")
    assert refreshed.user_id == vaulted.user_id

    third = (await agent.hand_out("google")).json()
    assert oidc.last()["refreshes"] == refreshes + 1  # still fresh: no second refresh
    assert third["access_token"] == second["access_token"]


async def test_github_expiring_token_is_refreshed(
    vault_app: VaultFactory, github: GitHubServer, clock: FrozenClock
) -> None:
    github.expiring = True
    vaulted = await vault_app(**github_settings(github))
    await vaulted.connect("github", scopes="repo")
    agent = await Agent(vaulted, "vault:github").start()
    first = (await agent.hand_out("github")).json()
    assert github.token_works(first["access_token"])
    clock.advance(28800)
    await agent.refresh()
    second = (await agent.hand_out("github")).json()
    assert github.refreshes == 1
    assert second["access_token"] != first["access_token"]
    assert github.token_works(second["access_token"])
    # GitHub's answer is the real API's: the handed-out token reads the user.
    async with httpx.AsyncClient() as api:
        user = await api.get(f"{github.base}/api/v3/user", headers=bearer(second["access_token"]))
    assert user.json()["id"] == 583231


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_refused_refresh_marks_the_connection_for_reconsent(
    vault_app: VaultFactory,
    oidc: MockProvider,
    github: GitHubServer,
    clock: FrozenClock,
    provider: str,
) -> None:
    github.expiring = True
    vaulted = await vault_app(**google_settings(oidc), **github_settings(github))
    await vaulted.connect(provider)
    agent = await Agent(vaulted, f"vault:{provider}").start()
    assert (await agent.hand_out(provider)).status_code == 200
    oidc.configure(refreshError="invalid_grant")
    github.refresh_error = "bad_refresh_token"
    later = 3600 - 30 if provider == "google" else 28800  # into the refresh margin
    clock.advance(later)
    await agent.refresh()
    refused = await agent.hand_out(provider)
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "Reconsent required",
        "message": "The provider no longer accepts this connection; the user must connect it again",
    }
    vaulted.token = (await login(vaulted.client))["accessToken"]  # hours later
    listed = await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
    assert listed.json()["connections"][0]["status"] == "needs_reconsent"
    [failed] = await audit_events(vaulted.app, "vault.refresh_failed")
    assert failed.detail == {"provider": provider, "reason": "refresh_refused"}
    # Connecting again restores it (back on the provider's clock, which signs ID tokens).
    clock.advance(-later)
    oidc.configure()
    github.refresh_error = None
    vaulted.token = (await login(vaulted.client))["accessToken"]
    await vaulted.connect(provider)
    agent = await Agent(vaulted, f"vault:{provider}").start()
    assert (await agent.hand_out(provider)).status_code == 200


async def test_unreachable_provider_during_refresh_is_502_and_keeps_the_connection(
    vault_app: VaultFactory, github: GitHubServer, clock: FrozenClock
) -> None:
    github.expiring = True
    vaulted = await vault_app(**github_settings(github))
    await vaulted.connect("github")
    agent = await Agent(vaulted, "vault:github").start()
    github.stop()
    clock.advance(28800)
    await agent.refresh()
    response = await agent.hand_out("github")
    assert response.status_code == 502
    [row] = vaulted.raw_rows()
    assert row["status"] == "active"


async def refusal(vaulted: Vaulted, case: str) -> httpx.Response:
    agent = await vaulted.agent(["use_agent", "vault:google", "vault:github"])
    if case == "no-scope":
        token = (await vaulted.delegate(agent, "use_agent"))["access_token"]
    elif case == "scope-for-another-provider":
        token = (await vaulted.delegate(agent, "vault:github"))["access_token"]
    elif case == "user-token-not-agent":
        token = vaulted.token
    elif case == "agent-on-its-own":
        response = await vaulted.client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": "vault:google"},
            auth=agent,
        )
        token = response.json()["access_token"]  # only its own keys, never the user's
    elif case == "delegation-revoked":
        delegated = await vaulted.delegate(agent, "vault:google")
        token = delegated["access_token"]
        revoked = await vaulted.client.delete(
            f"/auth/delegations/{delegated['delegation_id']}", headers=bearer(vaulted.token)
        )
        assert revoked.status_code == 200
    elif case == "disconnected":
        token = (await vaulted.delegate(agent, "vault:google"))["access_token"]
        [connection] = (
            await vaulted.client.get("/auth/connections", headers=bearer(vaulted.token))
        ).json()["connections"]
        gone = await vaulted.client.delete(
            f"/auth/connections/{connection['id']}", headers=bearer(vaulted.token)
        )
        assert gone.status_code == 200
    elif case == "other-users-agent":
        eve_id, eve_token = await second_user(vaulted)
        eves = await vaulted.agent(["vault:google"], owner=eve_id)
        token = (await vaulted.delegate(eves, "vault:google", token=eve_token))["access_token"]
    elif case == "user-logged-out":
        delegated = await vaulted.delegate(agent, "vault:google")
        token = delegated["access_token"]
        await vaulted.client.post("/auth/logout", headers=bearer(vaulted.token))
    return await vaulted.hand_out("google", token)


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        pytest.param("no-scope", 403, "Insufficient permissions", id="no-scope"),
        pytest.param(
            "scope-for-another-provider", 403, "Insufficient permissions", id="other-scope"
        ),
        pytest.param("user-token-not-agent", 403, "Insufficient permissions", id="user-token"),
        pytest.param("agent-on-its-own", 404, "Not connected", id="agent-on-its-own"),
        pytest.param("delegation-revoked", 401, "Authentication failed", id="delegation-revoked"),
        pytest.param("user-logged-out", 401, "Authentication failed", id="parent-session-ended"),
        pytest.param("disconnected", 404, "Not connected", id="disconnected"),
        pytest.param("other-users-agent", 404, "Not connected", id="another-users-delegation"),
    ],
)
async def test_hand_out_refusals(
    vault_app: VaultFactory, oidc: MockProvider, case: str, status: int, error: str
) -> None:
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    response = await refusal(vaulted, case)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert set(body) == {"error", "message"}
    assert await audit_events(vaulted.app, "vault.handout") == []
    if status in (403, 404) and case != "user-token-not-agent":
        [refused] = await audit_events(vaulted.app, "vault.refused")
        assert refused.detail["provider"] == "google"
        assert refused.detail["error"] == error


async def test_concurrent_hand_outs_refresh_once(
    vault_app: VaultFactory, oidc: MockProvider, clock: FrozenClock
) -> None:
    """The provider rotates refresh tokens: a second refresh with the spent one would fail."""
    vaulted = await vault_app(**google_settings(oidc))
    await vaulted.connect("google")
    agent = await Agent(vaulted, "vault:google").start()
    before = oidc.last()["refreshes"]
    clock.advance(3600 - 30)
    await agent.refresh()
    answers = await asyncio.gather(*(agent.hand_out("google") for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.json()["access_token"] for a in answers}) == 1
    assert oidc.last()["refreshes"] == before + 1
    assert [row["status"] for row in vaulted.raw_rows()] == ["active"]
