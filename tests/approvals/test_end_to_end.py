"""Issue 17 end to end, every part a real process: ``authgate serve``, the example
payments server (``examples/payments_server.py``, HTTP API and MCP tool), the example
agent (``examples/pay_agent.py``), and the user's decision through authgate's service.

The agent asks (OpenID CIBA Core 1.0 s7) for one call named by an RFC 9396
``tool_call`` entry; the user approves; the agent's one call succeeds, and each
variation is refused: a second use (also at another instance), changed arguments,
another tool, a token without approval, an approval token at an ordinary route, a
DPoP-bound approval without its proof, an MCP call with and without approval.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from authgate.sdk.agent import DPoPKey
from tests.approvals.stack import (
    ARGS,
    EMAIL,
    CibaAgent,
    Payments,
    approving_authgate,
    decide,
    delegate,
    finish,
    login,
    mcp_call,
    payments_server,
    register_resource,
    run_pay_agent,
)
from tests.processes import free_port
from tests.resource.stack import Authgate

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    server: Authgate
    payments: Payments
    clients: dict[str, tuple[str, str]]
    workdir: Path
    user_token: str

    @property
    def mcp(self) -> str:
        return f"{self.payments.url}/mcp"

    def agent(self, *extra: str, dpop: bool = False) -> CibaAgent:
        args = ["agents", "create", "--name", "Pay bot", "--owner", EMAIL]
        args += ["--scopes", "use_agent,payments:read,mcp:tools", *extra]
        created = self.server.cli(*args, *(["--dpop"] if dpop else []))
        delegate(self.server, self.user_token, created["client_id"])
        return CibaAgent(
            self.server,
            created["client_id"],
            created["client_secret"],
            dpop=DPoPKey() if dpop else None,
        )

    def ordinary_token(self, agent: CibaAgent, resource: str, scope: str) -> str:
        form = {"grant_type": "client_credentials", "resource": resource, "scope": scope}
        url = f"{self.server.url}/oauth2/token"
        response = httpx.post(url, data=form, auth=agent.auth, timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def pay(
        self, token: str, arguments: dict[str, object] = ARGS, **headers: str
    ) -> httpx.Response:
        headers.setdefault("Authorization", f"Bearer {token}")
        url = f"{self.payments.base}/payments"
        return httpx.post(url, json=arguments, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("approvals")
    url = f"http://127.0.0.1:{free_port()}"
    with approving_authgate(workdir, resources=[url, f"{url}/mcp"]) as server:
        server.register(EMAIL)
        clients = {
            "PAYMENTS": register_resource(server, url, "payments", "payments:read"),
            "PAYMENTS_MCP": register_resource(server, f"{url}/mcp", "mcp:tools"),
        }
        with payments_server(workdir, server, url, clients) as payments:
            yield Stack(server, payments, clients, workdir, login(server))


@pytest.fixture(scope="module")
def agent(stack: Stack) -> CibaAgent:
    return stack.agent()


def run_agent(stack: Stack, agent: CibaAgent, *extra: str) -> subprocess.Popen[str]:
    """The example agent, run as docs/approvals.md tells a reader to run it."""
    return run_pay_agent(stack.server.url, stack.payments.url, agent.auth, *extra)


# The example agent, poll and ping


def test_example_agent_asks_waits_in_poll_mode_and_pays_once(
    stack: Stack, agent: CibaAgent
) -> None:
    process = run_agent(stack, agent)
    assert decide(stack.server) == ["Pay 40 EUR to ACME"]
    code, out, err = finish(process)
    assert code == 0, err
    assert "Asked ada@example.com: Pay 40 EUR to ACME (code " in out
    assert "Paid: " in out


def test_example_agent_in_ping_mode_is_woken_and_pays(stack: Stack) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/ciba"
    pinged = stack.agent("--ciba-mode", "ping", "--notification-endpoint", endpoint)
    process = run_agent(stack, pinged, "--ping", endpoint)
    decide(stack.server)
    code, out, err = finish(process)
    assert code == 0, err
    assert "Paid: " in out


def test_example_agent_stops_when_the_user_denies(stack: Stack, agent: CibaAgent) -> None:
    process = run_agent(stack, agent)
    decide(stack.server, "deny")
    code, _, err = finish(process)
    assert code == 1
    assert "access_denied" in err


# Single use


def test_second_use_is_refused_also_by_another_instance(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.payments.url)
    first = stack.pay(token)
    assert first.status_code == 200, first.text
    assert first.json()["approved_by"] != first.json()["agent"]
    again = stack.pay(token)
    assert again.status_code == 403
    assert again.json()["reason"] == "already_used"
    # A second instance of the same resource (same URL, another process) refuses it too.
    with payments_server(
        stack.workdir, stack.server, stack.payments.url, stack.clients, port=free_port()
    ) as other:
        response = httpx.post(
            f"{other.base}/payments",
            json=ARGS,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    assert response.status_code == 403
    assert response.json()["reason"] == "already_used"


def test_token_used_first_at_another_instance_is_refused_here(
    stack: Stack, agent: CibaAgent
) -> None:
    token = agent.approved_token(stack.payments.url)
    with payments_server(
        stack.workdir, stack.server, stack.payments.url, stack.clients, port=free_port()
    ) as other:
        response = httpx.post(
            f"{other.base}/payments",
            json=ARGS,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    assert stack.pay(token).json()["reason"] == "already_used"


def test_resource_metadata_lists_the_tool_call_type(stack: Stack) -> None:
    """RFC 9728 s2 metadata with RFC 9396 s10's ``authorization_details_types_supported``."""
    url = f"{stack.payments.base}/.well-known/oauth-protected-resource"
    body = httpx.get(url, timeout=10).json()
    assert body["resource"] == stack.payments.url
    assert body["authorization_details_types_supported"] == ["tool_call"]


# What the approval does not cover


def test_changed_arguments_are_refused(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.payments.url)
    for changed in ({**ARGS, "amount": 4000}, {**ARGS, "to": "MALLORY"}):
        response = stack.pay(token, changed)
        assert response.status_code == 403
        assert response.json()["reason"] == "arguments_changed"
        assert 'error="insufficient_authorization"' in response.headers["www-authenticate"]
    # The refused calls did not spend it: the approved call still goes through, once.
    assert stack.pay(token).status_code == 200


def test_another_tool_is_refused(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.payments.url, tool="refund_payment")
    response = stack.pay(token)
    assert response.status_code == 403
    assert response.json()["reason"] == "wrong_tool"


def test_a_token_without_approval_is_refused(stack: Stack, agent: CibaAgent) -> None:
    token = stack.ordinary_token(agent, stack.payments.url, "payments:read")
    response = stack.pay(token)
    assert response.status_code == 403
    assert response.json()["reason"] == "no_approval"
    listed = httpx.get(
        f"{stack.payments.base}/payments",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert listed.status_code == 200


def test_an_approval_token_is_refused_at_an_ordinary_route(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.payments.url, scope="payments payments:read")
    response = httpx.get(
        f"{stack.payments.base}/payments",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_dpop_bound_approval_needs_its_proof(stack: Stack) -> None:
    """RFC 9449 s7.1: the agent used DPoP at the token endpoint, so the approval token is
    bound; as Bearer, or as DPoP without a proof, it is refused and not spent."""
    bound = stack.agent(dpop=True)
    token = bound.approved_token(stack.payments.url)
    assert stack.pay(token).status_code == 401
    assert stack.pay(token, Authorization=f"DPoP {token}").status_code == 401
    assert bound.dpop is not None
    proof = bound.dpop.proof("POST", f"{stack.payments.url}/payments", token)
    response = stack.pay(token, Authorization=f"DPoP {token}", DPoP=proof)
    assert response.status_code == 200, response.text


# The MCP tool


def test_mcp_tool_call_with_approval_runs_once(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.mcp, scope="mcp:tools")
    response = mcp_call(stack.mcp, token, "send_payment", ARGS)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError"), result
    assert result["structuredContent"]["to"] == "ACME"
    again = mcp_call(stack.mcp, token, "send_payment", ARGS)
    assert again.status_code == 403
    assert again.json()["reason"] == "already_used"


def test_mcp_tool_call_with_changed_arguments_is_refused(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.mcp, scope="mcp:tools")
    response = mcp_call(stack.mcp, token, "send_payment", {**ARGS, "amount": 4000})
    assert response.status_code == 403
    assert response.json()["reason"] == "arguments_changed"


def test_mcp_tool_call_without_approval_is_refused(stack: Stack, agent: CibaAgent) -> None:
    token = stack.ordinary_token(agent, stack.mcp, "mcp:tools")
    response = mcp_call(stack.mcp, token, "send_payment", ARGS)
    assert response.status_code == 403
    assert response.json()["reason"] == "no_approval"
    # The same token calls the tools that need no approval.
    ordinary = mcp_call(stack.mcp, token, "payments_made", {})
    assert ordinary.status_code == 200, ordinary.text


def test_mcp_approval_token_is_refused_for_another_tool(stack: Stack, agent: CibaAgent) -> None:
    token = agent.approved_token(stack.mcp, scope="mcp:tools")
    response = mcp_call(stack.mcp, token, "payments_made", {})
    assert response.status_code == 401
