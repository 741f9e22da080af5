"""Canaries: a full flow with recognisable secrets, then every log line is searched.

Run twice: in process with every logger at DEBUG (caplog), and as a real
``authgate serve --ssl-certfile --ssl-keyfile`` process whose stderr (authgate,
uvicorn and the uvicorn access log, as JSON lines) is captured whole.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.logconfig import RedactingFilter, redact
from authgate.secretstrength import generate_secret
from tests.processes import free_port
from tests.tls import self_signed

CANARY_PASSWORD = "canary-PASSWORD-7f3a9c1e-do-not-log"
CANARY_WRONG = "canary-WRONGPASS-51d2e0b4-do-not-log"
EMAIL = "canary@example.com"


async def _flow(client: httpx.AsyncClient) -> list[str]:
    """Register, log in, use, refresh, misuse and log out; return every secret seen."""
    secrets = [CANARY_PASSWORD, CANARY_WRONG]
    assert (
        await client.post("/auth/register", json={"email": EMAIL, "password": CANARY_PASSWORD})
    ).status_code == 201
    pair = (
        await client.post("/auth/login", json={"email": EMAIL, "password": CANARY_PASSWORD})
    ).json()
    secrets += [pair["accessToken"], pair["refreshToken"]]
    auth = {"Authorization": f"Bearer {pair['accessToken']}"}
    await client.post("/auth/login", json={"email": EMAIL, "password": CANARY_WRONG})
    await client.post("/api/ai/chat", json={"message": "hello"}, headers=auth)
    await client.get("/auth/me", params={"access_token": pair["accessToken"]})
    await client.get("/auth/me", params={"refresh_token": pair["refreshToken"]})
    refreshed = (
        await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    ).json()
    secrets += [refreshed["accessToken"], refreshed["refreshToken"]]
    # Reuse of the rotated token (revokes the session) and a broken token.
    await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['accessToken']}x"})
    await client.post(
        "/auth/logout", headers={"Authorization": f"Bearer {refreshed['accessToken']}"}
    )
    return secrets


def _assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
        # Not even a recognisable half of a token (a signature alone is a secret too).
        for part in secret.split("."):
            if len(part) >= 20:
                assert part not in text


async def test_no_secret_reaches_any_log_in_process(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = await _flow(client)
    # httpx/httpcore are the test's own client, which logs the URLs it requests.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name.startswith("authgate") for r in server)
    for record in server:
        _assert_clean(record.getMessage(), secrets)
        _assert_clean(repr(vars(record)), secrets)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Bearer eyJa.eyJb.sig", "Bearer [redacted]", id="bearer"),
        pytest.param("got eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "got [redacted-jwt]", id="jwt"),
        pytest.param(
            "GET /cb?code=abc123&state=xyz", "GET /cb?code=[redacted]&state=[redacted]", id="query"
        ),
        pytest.param('{"password": "hunter2"}', '{"password": "[redacted]"}', id="json-field"),
        pytest.param("client_secret=s3cr3t", "client_secret=[redacted]", id="client-secret"),
        pytest.param("code_verifier=dBjftJeZ4CVP", "code_verifier=[redacted]", id="pkce"),
    ],
)
def test_redaction_catches_what_a_careless_log_call_would_leak(raw: str, expected: str) -> None:
    assert redact(raw) == expected


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/auth/me?access_token=abc.def.ghi", "1.1", 400),
        None,
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /auth/me HTTP/1.1" 400'


# The same flow against a real HTTPS server process.


def _command() -> list[str]:
    script = Path(sys.executable).with_name("authgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "authgate.cli"]


def _wait_healthy(base: str, verify: ssl.SSLContext, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"authgate exited early with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", verify=verify, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling for startup
    raise AssertionError("authgate did not become healthy")


@pytest.mark.e2e
async def test_https_server_logs_json_without_secrets(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path / "state"),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
        "AUTHGATE_LOG_LEVEL": "debug",
        "AUTHGATE_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "server.log"
    tls = ssl.create_default_context(cafile=str(cert))
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 (a server for the test's lifetime)
            [
                *_command(),
                "serve",
                "--port",
                str(port),
                "--ssl-certfile",
                str(cert),
                "--ssl-keyfile",
                str(key),
            ],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"https://127.0.0.1:{port}"
        try:
            _wait_healthy(base, tls, process)
            async with httpx.AsyncClient(base_url=base, verify=tls) as client:
                secrets = await _flow(client)
                health = await client.get("/healthz")
        finally:
            process.terminate()
            process.wait(timeout=15)
    assert health.headers["strict-transport-security"].startswith("max-age=31536000")
    text = log_path.read_text()
    _assert_clean(text, secrets)
    lines: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line]
    access = [line for line in lines if line["logger"] == "authgate.access"]
    assert any("/auth/me" in line["message"] for line in access)
    assert {"time", "level", "logger", "message"} <= lines[0].keys()
    database = (tmp_path / "state" / "authgate.db").read_bytes()
    for secret in secrets:
        assert secret.encode() not in database
