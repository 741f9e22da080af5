"""``authgate clients``: resource servers, apps, list, disable, registration tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.secretstrength import generate_secret

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    values = {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
    }
    # Only `serve` and `db upgrade` create state (issue 20 item 1).
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    return values


def _values(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def test_resource_server_create_list_disable(env: dict[str, str]) -> None:
    made = runner.invoke(
        app,
        [
            "clients", "create", "--kind", "resource_server", "--name", "Notes",
            "--resource", "https://mcp.example.com/mcp", "--scope", "mcp:tools mcp:read",
            "--describe", "mcp:tools=Use the tools", "--require-permission", "mcp:tools",
        ],
        env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    values = _values(made.stdout)
    assert values["client_id"].startswith("rs_")
    assert len(values["client_secret"]) >= 43
    assert values["resource"] == "https://mcp.example.com/mcp"
    listed = runner.invoke(app, ["clients", "list"], env=env)
    assert "https://mcp.example.com/mcp" in listed.stdout
    assert "mcp:read,mcp:tools" in listed.stdout
    assert values["client_secret"] not in listed.stdout
    disabled = runner.invoke(app, ["clients", "disable", values["client_id"]], env=env)
    assert disabled.exit_code == 0, disabled.output
    assert "disabled" in runner.invoke(app, ["clients", "list"], env=env).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--resource", "http://mcp.example.com/mcp"], "https", id="http-public"),
        pytest.param(["--resource", "https://mcp.example.com/mcp#x"], "fragment", id="fragment"),
        pytest.param(
            ["--resource", "https://a.example/mcp", "--require-permission", "other"],
            "scope",
            id="restrict-unknown-scope",
        ),
    ],
)
def test_bad_resource_servers_are_refused(
    env: dict[str, str], args: list[str], message: str
) -> None:
    base = ["clients", "create", "--kind", "resource_server", "--name", "N", "--scope", "a"]
    result = runner.invoke(app, [*base, *args], env=env)
    assert result.exit_code == 1
    assert message in result.output


def test_app_create_public_and_registration_token(env: dict[str, str]) -> None:
    made = runner.invoke(
        app,
        ["clients", "create", "--kind", "app", "--name", "IDE", "--public",
         "--redirect-uri", "http://127.0.0.1/callback"],
        env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "client_secret" not in made.stdout
    token = runner.invoke(app, ["clients", "registration-token", "--uses", "2"], env=env)
    assert token.exit_code == 0
    assert len(_values(token.stdout)["registration_token"]) >= 43


def test_app_with_a_bad_redirect_uri_is_refused(env: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        ["clients", "create", "--kind", "app", "--name", "X", "--redirect-uri", "http://evil.example/cb"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1
