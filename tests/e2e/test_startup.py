"""``authgate serve`` as a real process: what a newcomer gets wrong ends in one line.

Issue 20 items 4 and 5: a busy port, invalid settings, PostgreSQL before `db upgrade`,
a wrong AUTHGATE_ENCRYPTION_KEY: exit 1, the last line says what and how to fix it, no
traceback. Without AUTHGATE_PUBLIC_URL the metadata names the address actually bound.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.keys.encryption import generate_kek
from authgate.secretstrength import generate_secret
from tests.processes import authgate_command, free_port
from tests.scaleout.infra import postgres_database

pytestmark = pytest.mark.e2e


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTHGATE_", "JWT_", "PROMETHEUS_"))
    }
    return {
        **inherited,
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "warning",
        **extra,
    }


def authgate(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*authgate_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def serve_fails(env: dict[str, str], cwd: Path, port: int | None = None) -> str:
    """Run serve; it must exit 1 without a traceback. Returns the last line of stderr."""
    port = port or free_port()
    result = authgate(env, cwd, "serve", "--host", "127.0.0.1", "--port", str(port))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), output
    return last


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_busy_port_is_one_line_naming_the_port_and_the_fix(
    tmp_path: Path, busy_port: int
) -> None:
    last = serve_fails(environment(tmp_path), tmp_path, busy_port)
    assert f"port {busy_port} on 127.0.0.1 is already in use" in last
    assert f"make run PORT={busy_port + 1}" in last


def test_bad_settings_are_one_line_naming_the_variable(tmp_path: Path) -> None:
    """More cases, in process, in tests/cli/test_serve.py."""
    last = serve_fails(environment(tmp_path, AUTHGATE_ACCESS_TOKEN_TTL="soon"), tmp_path)
    assert "invalid settings: AUTHGATE_ACCESS_TOKEN_TTL" in last
    assert "soon" not in last, "a setting's value is never echoed"


def test_postgresql_before_db_upgrade_says_to_run_it(tmp_path: Path) -> None:
    with postgres_database() as url:
        last = serve_fails(environment(tmp_path, AUTHGATE_DATABASE_URL=url), tmp_path)
    assert "database schema is at revision none" in last
    assert "run `authgate db upgrade`" in last


def test_a_wrong_encryption_key_is_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path, AUTHGATE_SIGNING_ALG="ES256", AUTHGATE_ENCRYPTION_KEY="")
    env["AUTHGATE_ENCRYPTION_KEY"] = generate_kek()
    # The first start seals new signing keys under that KEK (in process: quicker).
    made = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert made.exit_code == 0, made.output
    made = CliRunner().invoke(app, ["keys", "list"], env=env)
    assert made.exit_code == 0, made.output
    env["AUTHGATE_ENCRYPTION_KEY"] = generate_kek()
    last = serve_fails(env, tmp_path)
    assert "could not be decrypted with the configured encryption key" in last


def test_without_a_public_url_the_metadata_names_the_bound_port(tmp_path: Path) -> None:
    port = free_port()
    args = [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        args, env=environment(tmp_path), cwd=tmp_path, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        metadata = _wait_for_metadata(base, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    assert metadata["issuer"] == base
    assert metadata["token_endpoint"] == f"{base}/oauth2/token"


def _wait_for_metadata(base: str, process: subprocess.Popen[bytes]) -> dict[str, str]:
    for _ in range(600):  # polling for startup, up to about 60 s
        if process.poll() is not None:
            raise AssertionError(f"authgate exited with {process.returncode}")
        try:
            response = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=1)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return dict(response.json())
        time.sleep(0.1)
    raise AssertionError("authgate did not start")


def test_public_url_for_wildcards_and_ipv6() -> None:
    from authgate.cli.serve import public_url_for

    assert public_url_for("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert public_url_for("::1", 8001) == "http://[::1]:8001"
    assert public_url_for("auth.example", 443, tls=True) == "https://auth.example"
