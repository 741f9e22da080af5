"""Which state a command uses (issue 20 items 1, 9, 15).

Every command that touches the database names it on stderr; only ``serve`` and ``db
upgrade`` may create state, the others refuse and say where they looked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.config import DevelopmentSecretsWarning, load_settings
from authgate.runtime import Runtime
from authgate.secretstrength import generate_secret
from tests.conftest import PASSWORD

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A directory without state; no .env or inherited setting leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET", "AUTHGATE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return {
        "AUTHGATE_ENV": "development",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
    }


@pytest.fixture
def ready(env: dict[str, str]) -> dict[str, str]:
    """State a server made: a database at head, configured secrets."""
    secrets = {"JWT_ACCESS_SECRET": generate_secret(), "JWT_REFRESH_SECRET": generate_secret()}
    env = {**env, **secrets}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    return env


def database_line(state: Path) -> str:
    return (
        f"authgate: using sqlite {(state / 'authgate.db').resolve()} "
        "(set AUTHGATE_STATE_DIR or AUTHGATE_DATABASE_URL to change)"
    )


READERS_AND_WRITERS = [
    pytest.param(["users", "create", "--email", "a@example.com"], id="users-create"),
    pytest.param(["agents", "list"], id="agents-list"),
    pytest.param(["agents", "disable", "agent_x"], id="agents-disable"),
    pytest.param(["audit", "tail"], id="audit-tail"),
    pytest.param(["sessions", "cleanup"], id="sessions-cleanup"),
    pytest.param(["clients", "create", "--name", "rs"], id="clients-create"),
    pytest.param(["keys", "list"], id="keys-list"),
    pytest.param(["vault", "rekey"], id="vault-rekey"),
    pytest.param(["db", "current"], id="db-current"),
]


@pytest.mark.parametrize("args", READERS_AND_WRITERS)
def test_a_command_refuses_to_create_fresh_state(
    env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    result = runner.invoke(app, args, input=PASSWORD + "\n", env=env)
    assert result.exit_code == 1, result.output
    state = tmp_path / "state"
    assert database_line(state) in result.stderr
    assert f"no authgate database at {(state / 'authgate.db').resolve()}" in result.stderr
    assert "AUTHGATE_STATE_DIR" in result.stderr
    assert not (state / "authgate.db").exists()
    assert not (state / "secrets.env").exists(), "no development secrets made either"


def test_db_upgrade_creates_state_and_names_it(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert database_line(tmp_path / "state") in result.stderr
    assert (tmp_path / "state" / "authgate.db").exists()
    # Schema commands need no JWT secrets, so none were generated.
    assert not (tmp_path / "state" / "secrets.env").exists()


def test_commands_name_the_database_they_use(ready: dict[str, str], tmp_path: Path) -> None:
    listed = runner.invoke(app, ["agents", "list"], env=ready)
    assert listed.exit_code == 0, listed.output
    assert listed.stderr.startswith(database_line(tmp_path / "state"))
    assert listed.stdout == ""


def test_the_state_dir_setting_points_every_command_at_one_state(
    ready: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another directory, with AUTHGATE_STATE_DIR, the user lands in the same state."""
    env = ready
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["users", "create", "--email", "a@example.com"]
    created = runner.invoke(app, args, input=PASSWORD + "\n", env=env)
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, args, input=PASSWORD + "\n", env=env)
    assert "already exists" in again.stderr
    assert not (elsewhere / ".authgate").exists()


def test_the_default_state_dir_is_dot_authgate_here(env: dict[str, str], tmp_path: Path) -> None:
    del env["AUTHGATE_STATE_DIR"]
    result = runner.invoke(app, ["audit", "tail"], env=env)
    assert result.exit_code == 1
    assert database_line(tmp_path / ".authgate") in result.stderr


def test_another_database_is_named_without_its_password(env: dict[str, str]) -> None:
    url = "postgresql+asyncpg://authgate:hunter2-db-password@127.0.0.1:1/authgate"
    result = runner.invoke(app, ["agents", "list"], env={**env, "AUTHGATE_DATABASE_URL": url})
    assert "authgate: using postgresql+asyncpg://authgate:***@127.0.0.1:1/authgate" in (
        result.stderr
    )
    assert "hunter2-db-password" not in result.output


def test_secrets_check_refuses_when_no_secrets_exist_anywhere(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = runner.invoke(app, ["secrets", "check"], env=env)
    assert result.exit_code == 1
    assert "no JWT secrets configured" in result.stderr
    assert not (tmp_path / "state" / "secrets.env").exists()


def test_secrets_check_names_the_file_it_read(env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.env").write_text(
        f"JWT_ACCESS_SECRET={generate_secret()}\nJWT_REFRESH_SECRET={generate_secret()}\n"
    )
    with pytest.warns(DevelopmentSecretsWarning):
        result = runner.invoke(app, ["secrets", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert f"using secrets from {(state / 'secrets.env').resolve()}" in result.stderr


BAD_EMAILS = [
    pytest.param("not-an-email", id="no-at"),
    pytest.param("a@b", id="no-dot-domain"),
    pytest.param("a@@example.com", id="two-at"),
    pytest.param("a b@example.com", id="space"),
    pytest.param("root@localhost", id="special-use-domain"),
]


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_the_api_refuses_these_addresses(client: Any, email: str) -> None:
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "email"


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_users_create_refuses_what_the_api_refuses(ready: dict[str, str], email: str) -> None:
    env = ready
    result = runner.invoke(
        app, ["users", "create", "--email", email], input=PASSWORD + "\n", env=env
    )
    assert result.exit_code == 1
    assert "Not a valid email address" in result.stderr
    assert "created user" not in result.output


async def _grant(agent_id: str) -> None:
    """A client-credentials grant for the agent, as the token endpoint would make it."""
    runtime = Runtime(load_settings())
    await runtime.start()
    try:
        client = await runtime.clients.get(agent_id)
        assert client is not None
        assert client.owner_user_id is not None
        await runtime.auth.start_agent_grant(
            agent_id=agent_id, owner_id=client.owner_user_id, scopes=["use_agent"], jkt=None
        )
    finally:
        await runtime.close()


def test_rotate_secret_and_disable_are_audited_with_their_own_reasons(
    ready: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ready
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    created_user = runner.invoke(
        app, ["users", "create", "--email", "ada@example.com"], input=PASSWORD + "\n", env=env
    )
    assert created_user.exit_code == 0, created_user.output
    create = ["agents", "create", "--name", "bot", "--owner", "ada@example.com"]
    created = runner.invoke(app, [*create, "--scopes", "use_agent"], env=env)
    agent_id = created.stdout.splitlines()[0].removeprefix("client_id=")
    asyncio.run(_grant(agent_id))
    assert runner.invoke(app, ["agents", "rotate-secret", agent_id], env=env).exit_code == 0
    asyncio.run(_grant(agent_id))
    assert runner.invoke(app, ["agents", "disable", agent_id], env=env).exit_code == 0
    tail = runner.invoke(app, ["audit", "tail"], env=env).stdout.splitlines()
    events = [line.split()[1] for line in tail]
    assert events[-4:] == [
        "agent.secret_rotated",
        "session.revoked",
        "agent.disabled",
        "session.revoked",
    ]
    assert "agent_secret_rotated" in tail[-3]
    assert "agent_disabled" in tail[-1]
