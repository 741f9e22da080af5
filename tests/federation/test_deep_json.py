"""A misbehaving provider's deeply nested JSON is refused, never a 500 (issue 19 item 6).

Token responses (Authlib), UserInfo and GitHub API answers (``fetch_json``) and ID token
claims (joserfc) are read within ``authgate.jsonlimits`` (RFC 8259 s9).
"""

from __future__ import annotations

import json

import httpx

from tests.federation.conftest import (
    AppFactory,
    MockProvider,
    github_settings,
    google_settings,
    login,
)
from tests.federation.github_server import GitHubServer

LEVELS = 5000  # far past the interpreter's recursion limit
# Past it too, and within what the node provider can write (JSON.stringify recurses) and
# an ID token's 16 KiB.
NODE_LEVELS = 1500


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def with_deep(members: dict[str, object], levels: int = LEVELS) -> str:
    """``members`` as a JSON object, plus a ``deep`` member nested ``levels`` deep."""
    return json.dumps(members)[:-1] + ', "deep": ' + nested(levels) + "}"


def configure_raw(provider: MockProvider, overrides: str) -> None:
    """``MockProvider.configure`` with a hand-written body: json.dumps would itself recurse."""
    response = httpx.post(
        f"{provider.base}/__control/overrides",
        content=overrides.encode(),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    response.raise_for_status()


def assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 600, response.text
    assert response.status_code != 500
    body = response.json()
    assert isinstance(body["error"], str)
    assert isinstance(body["message"], str)


async def test_deep_id_token_claims_are_refused(oauth_app: AppFactory, oidc: MockProvider) -> None:
    claims = with_deep({"sub": "u-1"}, NODE_LEVELS)
    configure_raw(oidc, '{"idTokenClaims": ' + claims + "}")
    app, client = await oauth_app(**google_settings(oidc))
    response = await login(client, "google")
    assert response.status_code == 400, response.text
    assert "(malformed)" in response.json()["message"]
    assert await app.state.authgate.store.list_users(limit=5, offset=0) == []


async def test_deep_userinfo_is_a_provider_error(oauth_app: AppFactory, oidc: MockProvider) -> None:
    claims = json.dumps({"sub": "u-9", "email": None, "email_verified": None})
    configure_raw(
        oidc, '{"idTokenClaims": ' + claims + ', "userinfo": ' + nested(NODE_LEVELS) + "}"
    )
    _, client = await oauth_app(**google_settings(oidc))
    response = await login(client, "google")
    assert_refused(response)
    assert response.status_code == 502


async def test_deep_token_response_is_a_provider_error(
    oauth_app: AppFactory, github: GitHubServer
) -> None:
    github.raw_token_response = with_deep({"access_token": "gho_x"}).encode()
    _, client = await oauth_app(**github_settings(github))
    response = await login(client, "github")
    assert_refused(response)
    assert response.status_code == 502


async def test_deep_github_user_is_a_provider_error(
    oauth_app: AppFactory, github: GitHubServer
) -> None:
    github.raw_user = with_deep({"id": 1, "login": "octocat"}).encode()
    _, client = await oauth_app(**github_settings(github))
    response = await login(client, "github")
    assert_refused(response)
    assert response.status_code == 502
