"""Real processes for the resource-server tests: authgate (EdDSA) and a service beside it.

``Authgate`` can be stopped and started again on the same port and state, so a test can
cut the revocation feed and watch the service recover by itself. The service is
``examples/service.py`` (or ``examples/mcp_server.py``) run as its own process, exactly
as the README tells a user to run it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from authgate.sdk.agent import DPoPKey
from tests.keys.process import PASSWORD, _wait_until_healthy, server_env
from tests.processes import authgate_command, free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


def values(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@dataclass
class Authgate:
    workdir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        with (self.workdir / f"authgate-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_until_healthy(self.url, self.process, self.workdir / f"authgate-{self.starts}.log")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cli(self, *args: str) -> dict[str, str]:
        result = subprocess.run(
            [*authgate_command(), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return values(result.stdout)

    def register(self, email: str) -> None:
        response = httpx.post(
            f"{self.url}/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text

    def agent(self, owner: str, scopes: str, *, dpop: bool = False) -> tuple[str, str]:
        args = ["agents", "create", "--name", "bot", "--owner", owner, "--scopes", scopes]
        created = self.cli(*args, *(["--dpop"] if dpop else []))
        return created["client_id"], created["client_secret"]

    def resource_client(self) -> tuple[str, str]:
        created = self.cli("clients", "create", "--name", "notes service")
        return created["client_id"], created["client_secret"]

    def token(
        self,
        agent: tuple[str, str],
        resource: str | None,
        *,
        dpop: DPoPKey | None = None,
        scope: str | None = None,
    ) -> str:
        form = {"grant_type": "client_credentials"}
        if resource is not None:
            form["resource"] = resource
        if scope is not None:
            form["scope"] = scope
        url = f"{self.url}/oauth2/token"
        headers = {"DPoP": dpop.proof("POST", url)} if dpop is not None else {}
        response = httpx.post(url, data=form, auth=agent, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def revoke(self, agent: tuple[str, str], token: str) -> None:
        response = httpx.post(f"{self.url}/oauth2/revoke", data={"token": token}, auth=agent)
        assert response.status_code == 200, response.text


ROLE_PERMISSIONS = (
    '{"user": ["use_agent", "notes:read", "notes:write", "mcp:tools"],'
    ' "admin": ["use_agent", "manage_agent", "manage_users"]}'
)


@contextmanager
def authgate(workdir: Path, *, resources: list[str], **extra: str) -> Iterator[Authgate]:
    port = free_port()
    env = server_env(
        workdir / "state",
        alg="EdDSA",
        port=port,
        AUTHGATE_RESOURCES=",".join(resources),
        # Agents hold at most their owner's permissions (issue 16): users hold the
        # resource scopes the tests give agents.
        AUTHGATE_ROLE_PERMISSIONS=ROLE_PERMISSIONS,
        **extra,
    )
    server = Authgate(workdir=workdir, port=port, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    calls: int = field(default=0)

    def get(self, path: str, token: str | None = None, **headers: str) -> httpx.Response:
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10.0)


@contextmanager
def service(
    workdir: Path,
    server: Authgate,
    client: tuple[str, str],
    *,
    script: str = "service.py",
    prefix: str = "SERVICE",
    path: str = "",
    port: int | None = None,
    **extra: str,
) -> Iterator[Service]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}{path}"
    env = {
        **{k: v for k, v in server.env.items() if not k.startswith("AUTHGATE_")},
        "AUTHGATE_URL": server.url,
        f"{prefix}_URL": url,
        f"{prefix}_CLIENT_ID": client[0],
        f"{prefix}_CLIENT_SECRET": client[1],
        **extra,
    }
    log = workdir / f"{script}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / script)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(
            f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource{path}", process, log
        )
        yield Service(url=f"http://127.0.0.1:{port}", process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited: {log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for start-up
    raise AssertionError(f"the service did not start: {log.read_text()}")


def until(predicate: Any, timeout: float = 10.0) -> float:
    """Poll ``predicate`` until true; the seconds it took (measured, never asserted)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.02)  # polling for propagation, not waiting for expiry
    return time.monotonic() - started
