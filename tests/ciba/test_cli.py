"""``authgate agents create --ciba-mode`` and ``authgate clients create
--authorization-details-type`` (OpenID CIBA Core 1.0 s4, RFC 9396 s2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from authgate.cli import app
from authgate.secretstrength import generate_secret
from tests.conftest import PASSWORD

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
    assert runner.invoke(app, ["db", "upgrade"], env=values).exit_code == 0
    made = runner.invoke(
        app, ["users", "create", "--email", "ada@example.com"], input=PASSWORD + "\n", env=values
    )
    assert made.exit_code == 0, made.output
    return values


def _agent(env: dict[str, str], *extra: str) -> Result:
    base = ["agents", "create", "--name", "Pay bot", "--owner", "ada@example.com"]
    return runner.invoke(app, [*base, "--scopes", "use_agent", *extra], env=env)


def test_ping_agent_with_a_notification_endpoint(env: dict[str, str]) -> None:
    made = _agent(env, "--ciba-mode", "ping", "--notification-endpoint", "https://a.example/cb")
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["agents", "list"], env=env)
    assert "ciba-ping" in listed.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--ciba-mode", "push"], id="push-is-not-offered"),
        pytest.param(["--ciba-mode", "ping"], id="ping-without-endpoint"),
        pytest.param(
            ["--ciba-mode", "poll", "--notification-endpoint", "https://a.example/cb"],
            id="poll-with-endpoint",
        ),
        pytest.param(
            ["--ciba-mode", "ping", "--notification-endpoint", "http://a.example/cb"],
            id="plain-http-endpoint",
        ),
        pytest.param(
            ["--ciba-mode", "ping", "--notification-endpoint", "https://a.example/cb#x"],
            id="endpoint-with-fragment",
        ),
    ],
)
def test_bad_ciba_registrations_are_refused(env: dict[str, str], args: list[str]) -> None:
    made = _agent(env, *args)
    assert made.exit_code == 1


def test_resource_server_declares_its_details_types(env: dict[str, str]) -> None:
    base = [
        "clients", "create", "--kind", "resource_server", "--name", "Payments",
        "--resource", "https://pay.example.com/mcp", "--scope", "pay",
    ]  # fmt: skip
    made = runner.invoke(app, [*base, "--authorization-details-type", "tool_call"], env=env)
    assert made.exit_code == 0, made.output
    unknown = runner.invoke(
        app,
        [*base[:-3], "https://b.example.com/mcp", "--scope", "pay", "--authorization-details-type",
         "payment_initiation"],
        env=env,
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert "payment_initiation" in unknown.output
