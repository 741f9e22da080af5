"""Ping mode end to end over HTTP with a real ``authgate serve`` process (OpenID CIBA
Core 1.0 s7, s10.2, s10.1): everything set up through the CLI and the HTTP API; the
user's yes comes from a second runtime over the same database (the account page's call,
``runtime.approvals.approve``); the ping reaches a real loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.config import load_settings
from authgate.runtime import Runtime
from tests.authserver.servers import Authgate, authgate_server
from tests.ciba.conftest import CIBA, tool_call
from tests.ciba.receiver import Receiver, receiver
from tests.conftest import PASSWORD
from tests.helpers import consent_to

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
PAY = "http://127.0.0.1:1/pay"  # the audience only; nothing is called there
NOTIFY_TOKEN = "e2e-notification-token_0123456789"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Authgate, Receiver]]:
    with receiver() as hook, authgate_server(tmp_path) as authgate:
        yield authgate, hook


async def _approve_as_the_page(authgate: Authgate, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in authgate.env.items():
        if name.startswith(("AUTHGATE_", "JWT_")):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(authgate.cwd)
    runtime = Runtime(load_settings())
    await runtime.start()
    try:
        user = await runtime.store.user_by_email(EMAIL)
        (pending,) = await runtime.approvals.pending_for(user.id)
        assert pending.binding_message == "Pay 40 EUR to ACME (W7K)"
        await runtime.approvals.approve(pending.id, user_id=user.id)
    finally:
        await runtime.close()  # lets the ping in flight finish first


async def test_ping_mode_end_to_end(
    stack: tuple[Authgate, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    authgate, hook = stack
    rs = authgate.cli(
        "clients", "create", "--kind", "resource_server", "--name", "Payments",
        "--resource", PAY, "--scope", "pay", "--authorization-details-type", "tool_call",
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=authgate.url, timeout=30) as http:
        registered = await http.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        agent = authgate.cli(
            "agents", "create", "--name", "Pay bot", "--owner", EMAIL, "--scopes", "use_agent",
            "--ciba-mode", "ping", "--notification-endpoint", f"{hook.url}/ciba",
        )  # fmt: skip
        login = await http.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
        await consent_to(http, login.json()["accessToken"], agent["client_id"])
        auth = (agent["client_id"], agent["client_secret"])
        asked = await http.post(
            "/oauth2/bc-authorize",
            auth=auth,
            data={
                "login_hint": EMAIL,
                "binding_message": "Pay 40 EUR to ACME (W7K)",
                "authorization_details": json.dumps([tool_call(resource=PAY)]),
                "client_notification_token": NOTIFY_TOKEN,
            },
        )
        assert asked.status_code == 200, asked.text
        auth_req_id = asked.json()["auth_req_id"]
        form = {"grant_type": CIBA, "auth_req_id": auth_req_id}
        pending = await http.post("/oauth2/token", auth=auth, data=form)
        assert pending.json()["error"] == "authorization_pending"

        await _approve_as_the_page(authgate, monkeypatch)
        (ping,) = [r for r in hook.requests if r.path == "/ciba"]
        assert ping.headers["authorization"] == f"Bearer {NOTIFY_TOKEN}"
        assert json.loads(ping.body) == {"auth_req_id": auth_req_id}

        got = await http.post("/oauth2/token", auth=auth, data=form)
        assert got.status_code == 200, got.text
        assert got.json()["authorization_details"] == [tool_call(resource=PAY)]
        token = got.json()["access_token"]
        rs_auth = (rs["client_id"], rs["client_secret"])
        first = await http.post("/oauth2/approvals/redeem", auth=rs_auth, data={"token": token})
        assert first.status_code == 200, first.text
        again = await http.post("/oauth2/approvals/redeem", auth=rs_auth, data={"token": token})
        assert again.status_code == 409
        reused = await http.post("/oauth2/token", auth=auth, data=form)
        assert reused.json()["error"] == "invalid_grant"
