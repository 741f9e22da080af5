"""``authgate serve`` refuses bad settings in one line, before uvicorn (issue 20 item 5).

The same checks as a real process (tests/e2e/test_startup.py), in process for speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.keys.encryption import generate_kek
from authgate.logconfig import resolve_log_format
from authgate.secretstrength import generate_secret
from tests.processes import free_port

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_SIGNING_ALG": "ES256",
        "AUTHGATE_ENCRYPTION_KEY": generate_kek(),
    }


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        pytest.param(
            "AUTHGATE_ACCESS_TOKEN_TTL",
            "soon",
            "invalid settings: AUTHGATE_ACCESS_TOKEN_TTL: expected seconds or a duration",
            id="bad-duration",
        ),
        pytest.param(
            "AUTHGATE_LOG_FORMAT",
            "xml",
            "invalid settings: AUTHGATE_LOG_FORMAT: Input should be 'auto', 'json' or 'text'",
            id="bad-choice",
        ),
        pytest.param(
            "AUTHGATE_REFRESH_TOKEN_TTL",
            "60",
            "invalid settings: refresh_token_ttl must be longer than access_token_ttl",
            id="ttl-order",
        ),
        pytest.param(
            "JWT_ACCESS_SECRET",
            "",
            "JWT_ACCESS_SECRET",
            id="empty-secret",
        ),
        pytest.param(
            "AUTHGATE_ENCRYPTION_KEY",
            "not-a-key-at-all",
            "cannot start: AUTHGATE_ENCRYPTION_KEY",
            id="kek-shape",
        ),
    ],
)
def test_bad_settings_end_in_one_line_without_the_value(
    env: dict[str, str], setting: str, value: str, expected: str
) -> None:
    args = ["serve", "--port", str(free_port())]
    result = runner.invoke(app, args, env={**env, setting: value})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert expected in last
    if value:
        assert value not in last


@pytest.mark.parametrize(
    ("configured", "env", "tty", "expected"),
    [
        pytest.param("auto", "development", True, "text", id="terminal-in-development"),
        pytest.param("auto", "development", False, "json", id="piped-in-development"),
        pytest.param("auto", "production", True, "json", id="terminal-in-production"),
        pytest.param("json", "development", True, "json", id="json-explicit"),
        pytest.param("text", "production", False, "text", id="text-explicit"),
    ],
)
def test_log_format_auto_is_text_only_for_a_person_at_a_terminal(
    configured: str, env: str, tty: bool, expected: str
) -> None:
    """Issue 20 item 13."""
    assert resolve_log_format(configured, env=env, tty=tty) == expected
