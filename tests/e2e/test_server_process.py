"""End to end: ``authgate serve`` as a real process on a free port, over real HTTP."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from authgate.secretstrength import generate_secret
from tests.processes import authgate_command, free_port

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = 30.0


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"authgate exited early with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for startup, not waiting for a token to expire
    raise AssertionError("authgate did not become healthy in time")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module: starting a process costs seconds."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    port = free_port()
    env = {
        **os.environ,
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "warning",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [*authgate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode in (0, -15), (tmp_path / "server.log").read_text()


def test_register_login_chat_refresh_logout_over_the_network(server: str) -> None:
    with httpx.Client(base_url=server, headers={"user-agent": "e2e-agent/1.0"}) as client:
        registered = client.post(
            "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text

        login = client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        pair = login.json()
        assert pair["tokenType"] == "Bearer"
        auth = {"Authorization": f"Bearer {pair['accessToken']}"}

        chat = client.post("/api/ai/chat", json={"message": "hello"}, headers=auth)
        assert chat.status_code == 200, chat.text
        assert chat.json()["user"]["email"] == "ada@example.com"

        assert client.post("/api/ai/chat", json={"message": "hello"}).json() == {
            "error": "Authentication required",
            "message": "Provide Bearer token in Authorization header",
        }

        refreshed = client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        assert refreshed.status_code == 200, refreshed.text
        new = refreshed.json()
        new_auth = {"Authorization": f"Bearer {new['accessToken']}"}
        assert (
            client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}).status_code
            == 401
        )

        assert client.post("/auth/logout", headers=new_auth).status_code == 200
        rejected = client.post("/api/ai/chat", json={"message": "hello"}, headers=new_auth)
        assert rejected.status_code == 401
        assert rejected.json() == {
            "error": "Authentication failed",
            "message": "Invalid or expired token",
        }
        assert rejected.headers["www-authenticate"].startswith("Bearer")


def test_docs_and_health_are_served(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{server}/docs").status_code == 200
