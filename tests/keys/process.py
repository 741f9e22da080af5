"""A real ``authgate serve`` process with an asymmetric key store, and the CLI beside it.

The server and the ``authgate`` commands share one environment, hence one SQLite file
and one key-encryption key: ``authgate keys rotate`` run here changes what the server
signs with after its next key-ring reload (``AUTHGATE_KEY_RELOAD_INTERVAL``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from authgate.keys.encryption import generate_kek
from authgate.secretstrength import generate_secret
from tests.processes import authgate_command, free_port

PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = 30.0
ISSUER = "ai-agent-system"
AUDIENCE = "ai-agent-users"


def server_env(state_dir: Path, *, alg: str, port: int, **extra: str) -> dict[str, str]:
    """Everything the server and the CLI read; nothing inherited can change it."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "JWT_"))}
    return {
        **inherited,
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(state_dir),
        "AUTHGATE_SIGNING_ALG": alg,
        "AUTHGATE_ENCRYPTION_KEY": generate_kek(),
        "AUTHGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "AUTHGATE_KEY_RELOAD_INTERVAL": "1",
        "AUTHGATE_RATE_LIMIT_ENABLED": "false",
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "warning",
        **extra,
    }


@dataclass
class Server:
    url: str
    env: dict[str, str]
    workdir: Path

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{Path(self.env['AUTHGATE_STATE_DIR']) / 'authgate.db'}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``authgate ARGS`` against the server's database; fails the test on error."""
        result = subprocess.run(
            [*authgate_command(), *args],
            env=self.env,
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result

    def jwks_kids(self) -> set[str]:
        keys = httpx.get(self.jwks_url, timeout=5.0).json()["keys"]
        return {str(key["kid"]) for key in keys}

    def wait_for_new_kid(self, known: set[str], timeout: float = 15.0) -> None:
        """Poll the JWKS until the server's reloaded key ring publishes a kid not in ``known``."""
        deadline = time.monotonic() + timeout
        while self.jwks_kids() <= known:
            if time.monotonic() > deadline:
                raise AssertionError("the server did not reload its key ring in time")
            time.sleep(0.1)  # polling for a reload, not waiting for a token to expire

    def register(self, email: str) -> None:
        response = httpx.post(
            f"{self.url}/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text

    def login(self, email: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"user-agent": "keys-test/1.0"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"authgate exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for startup
    raise AssertionError("authgate did not become healthy in time")


@contextmanager
def running_server(workdir: Path, *, alg: str, **extra: str) -> Iterator[Server]:
    port = free_port()
    env = server_env(workdir / "state", alg=alg, port=port, **extra)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(url, process, log_path)
            yield Server(url=url, env=env, workdir=workdir)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
