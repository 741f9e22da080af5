"""One authgate process, no Redis: revocations made by the CLI reach the running server.

The CLI is another process; the server follows the ``revocation_events`` table, so
``authgate agents disable`` and ``rotate-secret`` are refused from the next poll on
(``AUTHGATE_REVOCATION_FOLLOW_INTERVAL``, 0.25 s). The time it took is printed, never
asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.keys.process import Server, running_server

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"


def chat(server: Server, token: str) -> int:
    response = httpx.post(
        f"{server.url}/api/ai/chat",
        json={"message": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def agent_token(server: Server) -> tuple[str, str]:
    created = server.cli(
        "agents", "create", "--name", "bot", "--owner", EMAIL, "--scopes", "use_agent"
    ).stdout
    values = dict(line.split("=", 1) for line in created.splitlines() if "=" in line)
    response = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(values["client_id"], values["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return values["client_id"], str(response.json()["access_token"])


@pytest.mark.parametrize("command", ["disable", "rotate-secret"])
def test_agent_revoked_from_the_cli_is_refused_by_the_running_server(
    tmp_path: Path, command: str
) -> None:
    with running_server(tmp_path, alg="HS256") as server:
        server.register(EMAIL)
        client_id, token = agent_token(server)
        assert chat(server, token) == 200
        started = time.monotonic()
        server.cli("agents", command, client_id)
        answered = time.monotonic()
        deadline = answered + 10
        while chat(server, token) != 401:
            assert time.monotonic() < deadline, "the server never heard of the revocation"
            time.sleep(0.02)  # polling for propagation, not waiting for expiry
        print(
            f"\nagents {command}: refused {time.monotonic() - answered:.3f} s after the CLI "
            f"returned ({time.monotonic() - started:.3f} s including the CLI's start-up)"
        )
