"""Disabling or deleting a user is effective at once on every instance (issue 16).

Two server processes share PostgreSQL and Redis; ``authgate users disable|delete`` runs as
a third process against the same state, as an operator would.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.scaleout.conftest import ServerFactory
from tests.scaleout.infra import AUTHGATE, wait_until
from tests.scaleout.test_instances import chat, login, refresh, register_and_login

pytestmark = pytest.mark.e2e


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [AUTHGATE, "users", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("action", [["disable"], ["delete", "--yes"]], ids=["disable", "delete"])
def test_every_instance_refuses_the_users_tokens_at_once(
    shared_env: dict[str, str], start_server: ServerFactory, action: list[str]
) -> None:
    a, b = start_server(shared_env), start_server(shared_env)
    on_a = register_and_login(a)
    on_b = login(b)
    assert chat(b, on_a["accessToken"]).status_code == 200
    _cli(shared_env, action[0], "ada@example.com", *action[1:])
    for server in (a, b):
        for pair in (on_a, on_b):
            token = pair["accessToken"]
            wait_until(lambda s=server, t=token: chat(s, t).status_code == 401, timeout=1.0)
    assert refresh(b, on_b["refreshToken"]).status_code == 401
