"""The vault against real providers on loopback (the OAuth tests' OIDC and GitHub servers).

``vault_app`` builds an app with a KEK and the given providers; ``Vaulted`` bundles what
a test needs: the app, its client, a signed-in user and helpers for connecting accounts
and delegating to an agent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.keys.encryption import generate_kek
from authgate.runtime import Runtime
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import bearer, login, register
from tests.federation.conftest import (  # noqa: F401 - fixtures shared with the OAuth tests
    _oidc_basic,
    authorize,
    github,
    github_settings,
    google_settings,
    oidc,
)
from tests.helpers import without_cookies

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class Vaulted:
    app: FastAPI
    client: httpx.AsyncClient
    token: str
    user_id: str
    db_path: Path

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.authgate
        return runtime

    async def start_connect(self, provider: str, *, token: str | None = None, **params: str) -> str:
        response = await without_cookies(
            self.client,
            "GET",
            f"/auth/connect/{provider}",
            params=params,
            headers=bearer(token or self.token),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["authUrl"])

    async def connect(self, provider: str, **params: str) -> dict[str, Any]:
        callback = await authorize(await self.start_connect(provider, **params))
        response = await without_cookies(self.client, "GET", callback, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        return dict(response.json()["connection"])

    async def agent(self, scopes: list[str], *, owner: str | None = None) -> tuple[str, str]:
        owner = owner or self.user_id
        created = await self.runtime.clients.create(
            name="mail bot", kind="agent", scopes=scopes, owner_user_id=owner
        )
        # The owner lets the agent act for them (token exchange needs it, issue 19 item 4).
        await self.runtime.consents.grant(
            user_id=owner,
            agent_id=created.client.client_id,
            scopes=scopes,
            max_ttl=self.runtime.settings.delegation_max_ttl,
        )
        return created.client.client_id, created.secret

    async def delegate(
        self, agent: tuple[str, str], scope: str, *, token: str | None = None
    ) -> dict[str, Any]:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": token or self.token,
            "subject_token_type": ACCESS_TYPE,
            "scope": scope,
        }
        response = await self.client.post("/oauth2/token", data=form, auth=agent)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def hand_out(self, provider: str, token: str) -> httpx.Response:
        url = f"/vault/{provider}/token"
        return await without_cookies(self.client, "POST", url, headers=bearer(token))

    def raw_rows(self) -> list[dict[str, Any]]:
        """The vault table as SQLite holds it, read past authgate with plain SQL."""
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM vault_credentials")]

    def database_dump(self) -> str:
        """Every table of the database as SQL text (blobs as hex literals)."""
        with sqlite3.connect(self.db_path) as db:
            return "\n".join(db.iterdump())


VaultFactory = Callable[..., Any]


@pytest.fixture
async def vault_app(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[VaultFactory]:
    """Builds an app (a KEK, no rate limits, the given settings) with a signed-in user."""
    async with AsyncExitStack() as stack:

        async def build(
            *, email: str = "ada@example.com", state_dir: Path | None = None, **overrides: Any
        ) -> Vaulted:
            directory = state_dir or tmp_path
            values = {"encryption_key": generate_kek(), "oauth_http_timeout": 2.0, **overrides}
            app = create_app(make_settings(directory, **values), clock=clock)
            await stack.enter_async_context(lifespan(app))
            client = await stack.enter_async_context(
                client_for(app, headers={"user-agent": "pytest-agent/1.0"})
            )
            user = await register(client, email)
            pair = await login(client, email)
            return Vaulted(app, client, pair["accessToken"], user["id"], directory / "authgate.db")

        yield build


async def second_user(vaulted: Vaulted, email: str = "eve@example.com") -> tuple[str, str]:
    """Another account on the same app: (user id, access token)."""
    user = await register(vaulted.client, email)
    pair = await login(vaulted.client, email)
    return user["id"], pair["accessToken"]
