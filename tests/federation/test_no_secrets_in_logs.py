"""Canaries through an OAuth login: client secret, authorization code, PKCE verifier,
state and the issued tokens never reach a log record that authgate emits."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.federation.conftest import AppFactory, authorize, github_settings, query, start
from tests.federation.github_server import GitHubServer

CANARY_CLIENT_SECRET = "canary-CLIENTSECRET-93b1f7-do-not-log"


@pytest.fixture
def canary_github() -> Iterator[GitHubServer]:
    server = GitHubServer(client_id="github-client", client_secret=CANARY_CLIENT_SECRET)
    server.start()
    yield server
    server.stop()


def _authgate_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Drop what is not authgate: the test's client and simulated browser (httpx logs the
    URLs they call) and the mock provider's own server. authgate's outbound calls stay."""
    browser = ("http://testserver", "/login/oauth/authorize")
    return [
        record
        for record in caplog.records
        if not record.name.startswith("uvicorn")
        and not any(marker in record.getMessage() for marker in browser)
    ]


async def test_oauth_flow_leaks_no_secret_to_logs(
    oauth_app: AppFactory, canary_github: GitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, client = await oauth_app(**github_settings(canary_github))
    started = await start(client, "github")
    callback_url = await authorize(started["authUrl"])
    params = query(callback_url)
    done = await client.get(callback_url)
    assert done.status_code == 200, done.text
    replay = await client.get(callback_url)  # the code and state again: refused
    assert replay.status_code >= 400
    exchanged = canary_github.token_requests[-1]
    secrets = [
        CANARY_CLIENT_SECRET,
        params["code"],
        params["state"],
        exchanged["code_verifier"],
        done.json()["accessToken"],
        done.json()["refreshToken"],
    ]
    records = _authgate_records(caplog)
    assert any(r.name.startswith("authgate") for r in records)
    # authgate's own call to the token endpoint is among what is checked.
    assert any("/login/oauth/access_token" in r.getMessage() for r in records)
    for record in records:
        text = record.getMessage() + repr(vars(record))
        for secret in secrets:
            assert secret not in text, record.name
