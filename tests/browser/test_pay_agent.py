"""Issue 17 "Done when", every part real: an example agent asks to pay, the user approves
on the account page, the agent's one call succeeds, and the same call again is refused.

``authgate serve``, ``examples/payments_server.py`` and ``examples/pay_agent.py`` (run as
docs/approvals.md tells a reader to) are processes of their own; the user decides in
Chromium on an ``/account`` page opened before the agent asks, so the request must
appear there live (``/static/approvals.js``). The agent asks with OpenID CIBA Core 1.0
s7.1 for one RFC 9396 ``tool_call`` and polls (s7.3, s10.1); the payments server checks
the approval token against the call it receives and redeems its ``jti`` once. Between
the agent and the payments server's public URL a recorder keeps the call as it went over
the wire, so the test can replay it with the same token: ``already_used``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.approvals.stack import (
    ARGS,
    EMAIL,
    Payments,
    Recorder,
    approving_authgate,
    asked_line,
    delegate,
    finish,
    login,
    mcp_call,
    payments_server,
    recorder,
    register_resource,
    run_pay_agent,
)
from tests.browser.conftest import watched_contexts
from tests.browser.test_approvals import mark_the_document, still_the_same_document
from tests.browser.test_pages import sign_in
from tests.processes import free_port
from tests.resource.stack import Authgate

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    server: Authgate = field(repr=False)
    payments: Recorder  # the payments server's public URL, in front of its one instance
    instance: Payments
    agent: tuple[str, str] = field(repr=False)  # the guide's "Pay bot"
    reader: tuple[str, str] = field(repr=False)  # another agent of the user's, to read
    user_id: str

    def payments_made(self) -> int:
        """The payments server's state: how many payments it made (its MCP tool
        ``payments_made``, with an ordinary token; asked of the instance directly)."""
        mcp = f"{self.payments.url}/mcp"
        token = self.server.token(self.reader, mcp, scope="mcp:tools")
        answer = mcp_call(f"{self.instance.base}/mcp", token, "payments_made", {})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["result"]["structuredContent"]["result"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One authgate, one payments server and the guide's set-up, for both tests."""
    workdir = tmp_path_factory.mktemp("pay-agent")
    public = free_port()
    url = f"http://127.0.0.1:{public}"
    with approving_authgate(workdir, resources=[f"{url}/mcp"]) as server:
        server.register(EMAIL)
        clients = {
            "PAYMENTS": register_resource(server, url, "payments", "payments:read"),
            "PAYMENTS_MCP": register_resource(server, f"{url}/mcp", "mcp:tools"),
        }
        with (
            payments_server(workdir, server, url, clients, port=free_port()) as instance,
            recorder(public, instance.base) as front,
        ):
            user_token = login(server)
            # docs/approvals.md s1: the agent, by the CLI, and the user's delegation.
            created = server.cli(
                *("agents", "create", "--name", "Pay bot", "--owner", EMAIL),
                *("--scopes", "use_agent"),
            )
            agent = (created["client_id"], created["client_secret"])
            delegate(server, user_token, agent[0])
            reader = server.agent(EMAIL, "mcp:tools")
            headers = {"Authorization": f"Bearer {user_token}"}
            me = httpx.get(f"{server.url}/auth/me", headers=headers, timeout=10)
            assert me.status_code == 200, me.text
            yield Stack(server, front, instance, agent, reader, str(me.json()["id"]))


@pytest.fixture
def run_agent(stack: Stack) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Starts the guide's agent command; none outlives its test, even a failed one."""
    started: list[subprocess.Popen[str]] = []

    def run() -> subprocess.Popen[str]:
        started.append(run_pay_agent(stack.server.url, stack.payments.url, stack.agent))
        return started[-1]

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def account(browser: Browser, stack: Stack) -> Iterator[Page]:
    """The user signed in, ``/account`` open, nothing waiting yet."""
    with watched_contexts(browser, stack.server.url) as new_context:
        page = new_context().new_page()
        sign_in(page)
        expect(page).to_have_url(re.compile(r"/account$"))
        expect(page.locator("[data-approval-id]")).to_have_count(0)
        mark_the_document(page)
        yield page


def test_the_user_approves_on_the_open_account_page_and_the_agent_pays_once(
    stack: Stack, account: Page, run_agent: Callable[[], subprocess.Popen[str]]
) -> None:
    before, calls = stack.payments_made(), len(stack.payments.calls("POST", "/payments"))
    agent = run_agent()
    asked = asked_line(agent)
    message = asked.removeprefix(f"Asked {EMAIL}: ")
    assert re.fullmatch(r"Pay 40 EUR to ACME \(code [0-9A-F]{4}\)", message), asked

    # The request appears live on the page that was already open (CIBA s7.1 binding
    # message: the same code on both screens; RFC 9396 s2: the entry's summary and tool).
    shown = account.locator("[data-approval-id]")
    expect(shown).to_have_count(1)
    assert still_the_same_document(account)
    expect(shown.locator(".device")).to_have_text("Pay bot")
    expect(shown.locator("[data-binding-message]")).to_have_text(message)
    expect(shown.locator(".action-title")).to_have_text("Pay 40 EUR to ACME")
    expect(shown).to_contain_text("send_payment")
    assert agent.poll() is None  # still waiting for the user (authorization_pending)
    assert len(stack.payments.calls("POST", "/payments")) == calls

    shown.get_by_role("button", name="Approve").click()
    expect(account.locator(".notice")).to_contain_text("Approved")
    expect(shown).to_have_count(0)

    code, out, err = finish(agent)
    assert code == 0, err
    [call] = stack.payments.calls("POST", "/payments")[calls:]
    assert call.status == 200, call.answer
    assert json.loads(call.body) == ARGS
    assert call.headers["authorization"].startswith("Bearer ")
    paid = json.loads(call.answer)
    assert out.splitlines()[-1] == f"Paid: {paid['payment_id']}"
    assert {k: paid[k] for k in ARGS} == ARGS
    assert (paid["approved_by"], paid["agent"]) == (stack.user_id, stack.agent[0])
    assert stack.payments_made() == before + 1

    # The same call, same token, same body, at the same URL: spent (RFC 9396 s9.1 token
    # carrying one approved call; its jti redeemed once at authgate).
    again = stack.payments.replay(call)
    assert again.status_code == 403, again.text
    assert again.json()["reason"] == "already_used"
    assert 'error="insufficient_authorization"' in again.headers["www-authenticate"]
    assert stack.payments_made() == before + 1


def test_the_user_denies_and_the_agent_reports_it_and_pays_nothing(
    stack: Stack, account: Page, run_agent: Callable[[], subprocess.Popen[str]]
) -> None:
    before, calls = stack.payments_made(), len(stack.payments.calls("POST", "/payments"))
    agent = run_agent()
    message = asked_line(agent).removeprefix(f"Asked {EMAIL}: ")

    shown = account.locator("[data-approval-id]")
    expect(shown.locator("[data-binding-message]")).to_have_text(message)
    assert still_the_same_document(account)
    shown.get_by_role("button", name="Deny").click()
    expect(account.locator(".notice")).to_contain_text("Denied")
    expect(shown).to_have_count(0)

    code, out, err = finish(agent)
    assert code == 1, out
    assert err.strip().splitlines()[-1] == "Refused: token: access_denied"  # CIBA s11
    assert "Paid" not in out
    assert len(stack.payments.calls("POST", "/payments")) == calls  # no call to pay
    assert stack.payments_made() == before
