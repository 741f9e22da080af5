"""Real processes for the approval tests: authgate, ``examples/payments_server.py`` (one or
more instances of one resource), ``examples/pay_agent.py`` run as docs/approvals.md runs
it, the user's decision through the service (``decide.py``), an agent speaking CIBA over
HTTP, and a recorder in front of the payments server that keeps each call as it went
over the wire (to replay it)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from authgate.sdk.agent import DPoPKey
from authgate.tool_calls import tool_call
from tests.keys.process import PASSWORD, server_env
from tests.processes import free_port
from tests.resource.stack import ROOT, Authgate, _wait_for_port
from tests.test_docs import shell_blocks

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


# The example agent as docs/approvals.md runs it

GUIDE = ROOT / "docs" / "approvals.md"
# What the guide's command sets, and the values this test gives them: the guide's
# authgate and payments URLs (ports 8000 and 9200) become this test's free ports, its
# placeholders (``agent_...``, ``...``) the agent's credentials.
GUIDE_VARIABLES = {"AUTHGATE_URL", "PAYMENTS_URL", "AGENT_CLIENT_ID", "AGENT_CLIENT_SECRET"}


def guide_agent_command() -> tuple[dict[str, str], list[str]]:
    """The guide's command that runs ``examples/pay_agent.py``: its variables, its words."""
    for _, block in shell_blocks(GUIDE):
        if "examples/pay_agent.py" in block:
            words = shlex.split(block.replace("\\\n", " "), comments=True)
            variables: dict[str, str] = {}
            while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
                name, value = words.pop(0).split("=", 1)
                variables[name] = value
            return variables, words
    raise AssertionError(f"{GUIDE.name} has no command that runs examples/pay_agent.py")


def run_pay_agent(
    authgate: str, payments: str, agent: tuple[str, str], *extra: str
) -> subprocess.Popen[str]:
    """``examples/pay_agent.py`` started as the guide tells a reader: from the repository
    root, with the guide's variables and arguments (``extra`` appended, e.g. ``--ping``),
    ``.venv/bin/python`` being this interpreter. Nothing of authgate's own settings in
    its environment: the agent knows only what the guide gives it."""
    variables, words = guide_agent_command()
    assert set(variables) == GUIDE_VARIABLES, variables
    assert words[:2] == [".venv/bin/python", "examples/pay_agent.py"], words
    given = {
        "AUTHGATE_URL": authgate,
        "PAYMENTS_URL": payments,
        "AGENT_CLIENT_ID": agent[0],
        "AGENT_CLIENT_SECRET": agent[1],
    }
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "JWT_"))}
    return subprocess.Popen(
        [sys.executable, *words[1:], *extra],
        env={**inherited, **given},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def asked_line(process: subprocess.Popen[str]) -> str:
    """The agent's first line, once it has asked (``Asked <user>: <binding message>``)."""
    assert process.stdout is not None
    line = process.stdout.readline().rstrip("\n")
    if not line.startswith("Asked "):
        _, err = process.communicate(timeout=60)
        raise AssertionError(f"the agent did not ask: {line!r} {err}")
    return line


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


# A recorder at the resource's public URL


@dataclass(frozen=True)
class Exchange:
    """One request as it reached the resource's URL, and the answer it got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer: bytes


FORWARDED = ("authorization", "content-type", "dpop", "accept")


class Recorder:
    """The payments server's public URL: forwards each request to one instance and keeps
    a copy of it and of its answer, as anything on the path could (a proxy, a log)."""

    def __init__(self, port: int, backend: str) -> None:
        self.port = port
        self.backend = backend
        self.exchanges: list[Exchange] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items() if k.lower() in FORWARDED}
                answer = recorder.send(self.command, self.path, headers, body)
                recorder.exchanges.append(
                    Exchange(
                        self.command, self.path, headers, body, answer.status_code, answer.content
                    )
                )
                self.send_response(answer.status_code)
                for name in ("content-type", "www-authenticate", "retry-after"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = handle_one  # http.server dispatches on these names

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the requests carry tokens

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        url = f"{self.backend}{path}"
        return httpx.request(method, url, headers=headers, content=body, timeout=10)

    def replay(self, exchange: Exchange) -> httpx.Response:
        """The same request again, byte for byte, at the public URL."""
        return httpx.request(
            exchange.method,
            f"{self.url}{exchange.path}",
            headers=exchange.headers,
            content=exchange.body,
            timeout=10,
        )

    def calls(self, method: str, path: str) -> list[Exchange]:
        return [e for e in self.exchanges if (e.method, e.path) == (method, path)]


@contextmanager
def recorder(port: int, backend: str) -> Iterator[Recorder]:
    running = Recorder(port, backend)
    running.thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
