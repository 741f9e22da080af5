"""The ``authgate`` command: secrets generate/check, users create, housekeeping."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.config import load_settings
from authgate.http.app import create_app
from authgate.secretstrength import check_secret, generate_secret
from authgate.testing import client_for, lifespan
from tests.conftest import PASSWORD, bearer

runner = CliRunner()
BASE64URL = re.compile(r"^[A-Za-z0-9_-]{86}$")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A complete environment for the command; no .env or inherited secrets leak in."""
    monkeypatch.chdir(tmp_path)
    for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
    }
    # The state a server would have made: commands other than serve never create it.
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    return env


def test_secrets_generate_prints_two_distinct_strong_secrets() -> None:
    result = runner.invoke(app, ["secrets", "generate"])
    assert result.exit_code == 0
    values = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if line and line[0] != "#"
    )
    assert set(values) == {"JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"}
    access, refresh = values["JWT_ACCESS_SECRET"], values["JWT_REFRESH_SECRET"]
    assert access != refresh
    for value in (access, refresh):
        assert BASE64URL.match(value), "64 random bytes are 86 base64url characters"
        assert check_secret(value).ok


def test_secrets_generate_differs_each_run() -> None:
    first = runner.invoke(app, ["secrets", "generate"]).stdout
    second = runner.invoke(app, ["secrets", "generate"]).stdout
    assert first != second


def test_generated_block_is_accepted_as_dotenv(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(runner.invoke(app, ["secrets", "generate"]).stdout)
    settings = load_settings()
    assert check_secret(settings.access_secret()).ok


def test_secrets_check_reports_strength_without_values(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["secrets", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert "JWT_ACCESS_SECRET: strong" in result.output
    assert "JWT_REFRESH_SECRET: strong" in result.output
    assert env["JWT_ACCESS_SECRET"] not in result.output
    assert env["JWT_REFRESH_SECRET"] not in result.output


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param("tooshort", id="short"),
        pytest.param("ab" * 20, id="few-distinct"),
        pytest.param("your-super-secret-jwt-key-change-this-in-production", id="well-known"),
    ],
)
def test_secrets_check_fails_for_weak_secrets_and_never_prints_them(
    env: dict[str, str], weak: str
) -> None:
    result = runner.invoke(app, ["secrets", "check"], env={**env, "JWT_REFRESH_SECRET": weak})
    assert result.exit_code == 1
    assert "JWT_REFRESH_SECRET: weak" in result.output
    assert weak not in result.output


def test_secrets_check_fails_for_equal_secrets(env: dict[str, str]) -> None:
    same = env["JWT_ACCESS_SECRET"]
    result = runner.invoke(app, ["secrets", "check"], env={**env, "JWT_REFRESH_SECRET": same})
    assert result.exit_code == 1
    assert "must differ" in result.output
    assert same not in result.output


def test_serve_refuses_weak_secrets(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["serve"], env={**env, "JWT_ACCESS_SECRET": "weak-secret"})
    assert result.exit_code == 1
    assert "JWT_ACCESS_SECRET" in result.output
    assert "weak-secret" not in result.output


def test_serve_refuses_production_without_secrets(env: dict[str, str]) -> None:
    production = {**env, "AUTHGATE_ENV": "production"}
    del production["JWT_ACCESS_SECRET"], production["JWT_REFRESH_SECRET"]
    result = runner.invoke(app, ["serve"], env=production)
    assert result.exit_code == 1
    assert "JWT_ACCESS_SECRET" in result.output


def test_users_create_admin_with_password_on_stdin(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(
        app,
        ["users", "create", "--email", "Root@Example.com", "--role", "admin"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "root@example.com" in result.output
    assert "roles=admin" in result.output
    assert PASSWORD not in result.output

    # The account works over HTTP against the same state, with admin permissions.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    roles, admin_status = asyncio.run(_login_and_list_users("root@example.com"))
    assert roles == ["admin"]
    assert admin_status == 200


async def _login_and_list_users(email: str) -> tuple[list[str], int]:
    served = create_app(load_settings(rate_limit_enabled=False))
    async with lifespan(served), client_for(served) as client:
        login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        users = await client.get("/api/admin/users", headers=bearer(token))
        return list(login.json()["user"]["roles"]), users.status_code


def test_users_create_refuses_an_unknown_role(env: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        ["users", "create", "--email", "a@example.com", "--role", "god"],
        input=PASSWORD + "\n",
        env=env,
    )
    assert result.exit_code == 1
    assert "god" in result.output


def test_users_create_refuses_a_weak_password_without_echoing_it(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["users", "create", "--email", "a@example.com"], input="1qaz2wsx3edc4rfv\n", env=env
    )
    assert result.exit_code == 1
    assert "too common" in result.output
    assert "1qaz2wsx" not in result.output


def test_users_create_twice_fails(env: dict[str, str]) -> None:
    args = ["users", "create", "--email", "a@example.com"]
    assert runner.invoke(app, args, input=PASSWORD + "\n", env=env).exit_code == 0
    again = runner.invoke(app, args, input=PASSWORD + "\n", env=env)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_sessions_cleanup_and_audit_tail_run(env: dict[str, str]) -> None:
    created = runner.invoke(
        app, ["users", "create", "--email", "a@example.com"], input=PASSWORD + "\n", env=env
    )
    assert created.exit_code == 0
    cleanup = runner.invoke(app, ["sessions", "cleanup"], env=env)
    assert cleanup.exit_code == 0
    assert "removed 0 sessions" in cleanup.output
    tail = runner.invoke(app, ["audit", "tail"], env=env)
    assert tail.exit_code == 0


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "secrets" in result.output
    assert "users" in result.output
    assert "serve" in result.output
