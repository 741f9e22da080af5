"""Real processes for the approval tests: authgate, ``examples/payments_server.py`` (one or
more instances of one resource), the user's decision through the service
(``decide.py``), and an agent speaking CIBA over HTTP."""

from __future__ import annotations

import json
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
from authgate.tool_calls import tool_call
from tests.keys.process import PASSWORD, server_env
from tests.processes import free_port
from tests.resource.stack import ROOT, Authgate, _wait_for_port

CIBA = "urn:openid:params:grant-type:ciba"
EMAIL = "ada@example.com"
ROLE_PERMISSIONS = json.dumps(
    {
        "user": ["use_agent", "payments:read", "mcp:tools"],
        "admin": ["use_agent", "manage_agent", "manage_users"],
    }
)
ARGS = {"amount": 40, "currency": "EUR", "to": "ACME"}


@contextmanager
def approving_authgate(workdir: Path, *, resources: list[str]) -> Iterator[Authgate]:
    port = free_port()
    env = server_env(
        workdir / "state",
        alg="EdDSA",
        port=port,
        AUTHGATE_RESOURCES=",".join(resources),
        AUTHGATE_ROLE_PERMISSIONS=ROLE_PERMISSIONS,
        AUTHGATE_APPROVAL_POLL_INTERVAL="1",
    )
    server = Authgate(workdir=workdir, port=port, env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def register_resource(server: Authgate, url: str, *scopes: str) -> tuple[str, str]:
    """``authgate clients create --kind resource_server ... --authorization-details-type``."""
    args = ["clients", "create", "--kind", "resource_server", "--name", "Payments"]
    args += ["--resource", url, "--authorization-details-type", "tool_call"]
    for scope in scopes:
        args += ["--scope", scope]
    created = server.cli(*args)
    return created["client_id"], created["client_secret"]


@dataclass
class Payments:
    url: str  # the resource URL, shared by every instance
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def payments_server(
    workdir: Path,
    server: Authgate,
    url: str,
    clients: dict[str, tuple[str, str]],
    *,
    port: int | None = None,
) -> Iterator[Payments]:
    """One instance of the example; ``port`` differs from the URL's for a second one."""
    port = port or int(url.rsplit(":", 1)[1])
    env = {
        **{k: v for k, v in server.env.items() if not k.startswith("AUTHGATE_")},
        "AUTHGATE_URL": server.url,
        "PAYMENTS_URL": url,
        "PAYMENTS_PORT": str(port),
    }
    for prefix, (client_id, secret) in clients.items():
        env[f"{prefix}_CLIENT_ID"], env[f"{prefix}_CLIENT_SECRET"] = client_id, secret
    log = workdir / f"payments-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "payments_server.py")],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(f"http://127.0.0.1:{port}/health", process, log)
        yield Payments(url=url, process=process, log=log, port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def login(server: Authgate, email: str = EMAIL) -> str:
    response = httpx.post(
        f"{server.url}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


def delegate(server: Authgate, user_token: str, agent_id: str) -> None:
    """The user lets the agent act for them (``POST /auth/delegations``)."""
    response = httpx.post(
        f"{server.url}/auth/delegations",
        json={"clientId": agent_id, "scopes": ["use_agent"]},
        headers={"Authorization": f"Bearer {user_token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def decide(server: Authgate, decision: str = "approve", count: int = 1) -> list[str]:
    """The user approves (or denies) what waits for them, through authgate's service."""
    script = str(ROOT / "tests" / "approvals" / "decide.py")
    result = subprocess.run(
        [sys.executable, script, EMAIL, decision, str(count)],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@dataclass
class CibaAgent:
    server: Authgate
    client_id: str
    secret: str
    dpop: DPoPKey | None = None
    issued: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)

    def ask(
        self,
        resource: str,
        *,
        tool: str = "send_payment",
        arguments: dict[str, Any] = ARGS,
        scope: str = "payments",
    ) -> str:
        detail = tool_call(
            resource=resource, tool=tool, arguments=arguments, summary="Pay 40 EUR to ACME"
        )
        form = {
            "login_hint": EMAIL,
            "binding_message": "Pay 40 EUR to ACME (code 7K2F)",
            "scope": scope,
            "authorization_details": json.dumps([detail]),
        }
        url = f"{self.server.url}/oauth2/bc-authorize"
        response = httpx.post(url, data=form, auth=self.auth, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["auth_req_id"])

    def poll(self, auth_req_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        url = f"{self.server.url}/oauth2/token"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            headers = {"DPoP": self.dpop.proof("POST", url)} if self.dpop else {}
            form = {"grant_type": CIBA, "auth_req_id": auth_req_id}
            response = httpx.post(url, data=form, auth=self.auth, headers=headers, timeout=10)
            if response.status_code == 200:
                return dict(response.json())
            error = response.json()["error"]
            assert error in ("authorization_pending", "slow_down"), response.text
            time.sleep(1.1)  # CIBA s7.3: the interval (1 s here), not waiting for expiry
        raise AssertionError("no decision in time")

    def approved_token(self, resource: str, **ask: Any) -> str:
        """Ask, let the user approve through the service, fetch the approval token."""
        auth_req_id = self.ask(resource, **ask)
        decide(self.server)
        return str(self.poll(auth_req_id)["access_token"])


def mcp_call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    return httpx.post(url, json=body, headers=headers, timeout=10.0)
