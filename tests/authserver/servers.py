"""Real processes for the end-to-end tests: ``authgate serve`` and an MCP SDK server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from authgate.secretstrength import generate_secret
from tests.processes import authgate_command, free_port

STARTUP_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Authgate:
    url: str
    env: dict[str, str]
    cwd: Path

    def cli(self, *args: str) -> dict[str, str]:
        """Run ``authgate ARGS`` against this server's state; its key=value lines."""
        done = subprocess.run(
            [*authgate_command(), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited early: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)  # polling for start-up, not waiting for expiry
    raise AssertionError(f"did not start: {log.read_text()[-2000:]}")


@contextmanager
def _process(
    args: list[str], env: dict[str, str], cwd: Path, url: str, name: str
) -> Iterator[None]:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(url, process, log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def authgate_server(tmp: Path, **settings: str) -> Iterator[Authgate]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp / "state"),
        "AUTHGATE_PUBLIC_URL": url,
        "AUTHGATE_COOKIE_SECURE": "false",
        "AUTHGATE_RATE_LIMIT_ENABLED": "false",
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "warning",
        **settings,
    }
    args = [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with _process(args, env, tmp, f"{url}/healthz", "authgate"):
        yield Authgate(url, env, tmp)


@contextmanager
def mcp_server(tmp: Path, authgate: str, client_id: str, secret: str, port: int) -> Iterator[str]:
    """The MCP server of ``tests/authserver/mcp_server.py``; yields its resource URL."""
    args = [
        sys.executable,
        "-m",
        "tests.authserver.mcp_server",
        str(port),
        authgate,
        client_id,
        secret,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    url = f"http://127.0.0.1:{port}"
    with _process(args, env, tmp, f"{url}/.well-known/oauth-protected-resource/mcp", "mcp"):
        yield f"{url}/mcp"
