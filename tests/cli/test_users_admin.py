"""``authgate users list|show|disable|enable|delete|set-roles|logout|reset-mfa`` and the
owner bound of ``agents create``, against a real SQLite state directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.secretstrength import generate_secret
from tests.conftest import PASSWORD

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    for email in ("ada@example.com", "bob@example.com"):
        created = runner.invoke(app, ["users", "create", "--email", email], input=PASSWORD + "\n")
        assert created.exit_code == 0, created.output
    return values


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_and_search(env: dict[str, str]) -> None:
    assert _run("users", "list").count("@example.com") == 2
    only = _run("users", "list", "--search", "bob")
    assert "bob@example.com" in only
    assert "ada@example.com" not in only


def test_disable_show_enable(env: dict[str, str]) -> None:
    assert "disabled ada@example.com" in _run("users", "disable", "ada@example.com")
    assert "disabled" in _run("users", "show", "ada@example.com").splitlines()[0]
    _run("users", "enable", "ada@example.com")
    assert "  active  " in _run("users", "show", "ada@example.com")


def test_set_roles_logout_reset_mfa_delete(env: dict[str, str]) -> None:
    assert "admin" in _run("users", "set-roles", "ada@example.com", "--role", "admin")
    refused = runner.invoke(app, ["users", "set-roles", "ada@example.com", "--role", "god"])
    assert refused.exit_code == 1
    assert "Unknown role" in refused.output
    assert "revoked 0 sessions" in _run("users", "logout", "ada@example.com")
    assert "removed" in _run("users", "reset-mfa", "ada@example.com")
    assert "audit events now name deleted:" in _run("users", "delete", "ada@example.com", "--yes")
    assert "ada@example.com" not in _run("users", "list")
    missing = runner.invoke(app, ["users", "show", "ada@example.com"])
    assert missing.exit_code == 1


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param("use_agent,manage_agent", id="manage_agent-beyond-owner"),
        pytest.param("manage_users", id="manage_users-beyond-owner"),
    ],
)
def test_agents_cannot_hold_more_than_their_owner(env: dict[str, str], scopes: str) -> None:
    """A plain user's agent given manage_agent could list every user: refused."""
    result = runner.invoke(
        app, ["agents", "create", "--name", "bot", "--owner", "ada@example.com", "--scopes", scopes]
    )
    assert result.exit_code == 1
    assert "does not hold" in result.output


def test_agents_within_the_owner_are_created(env: dict[str, str]) -> None:
    result = _run(
        "agents", "create", "--name", "bot", "--owner", "ada@example.com",
        "--scopes", "use_agent,vault:github",
    )  # fmt: skip
    assert "client_id=" in result
