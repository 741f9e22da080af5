"""The user's side of CIBA in Chromium over real HTTP (OpenID CIBA Core 1.0, RFC 9396).

An agent asks through the real ``/oauth2/bc-authorize`` and polls the real token
endpoint (``urn:openid:params:grant-type:ciba``); the person answers on ``/account``,
which shows the request without a reload (``/static/approvals.js`` polls
``GET /account/approvals``). The server's clock is frozen: tests move it by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ContextFactory
from tests.browser.live import PASSWORD, LiveServer
from tests.browser.test_accounts import virtual_authenticator

RESOURCE = "https://payments.example.com/mcp"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
HOSTILE_MESSAGE = "<script>window.__pwned = 1</script> code 4F2K"
HOSTILE_SUMMARY = 'Pay 40 EUR to <img src=x onerror="window.__pwned = 2">ACME'


@dataclass(frozen=True)
class Agent:
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


@dataclass(frozen=True)
class Asked:
    approval_id: str
    auth_req_id: str
    interval: int


@pytest.fixture
def server_options(server_port: int) -> dict[str, Any]:
    # localhost: a WebAuthn RP id is a host name, never an IP address (the passkey test).
    return {"mfa_recent_window": 600, "public_url": f"http://localhost:{server_port}"}


def sign_up(page: Page, email: str = "ada@example.com") -> None:
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def user_id(server: LiveServer, email: str) -> str:
    user = server.call(server.runtime.store.user_by_email(email))
    assert user is not None
    return user.id


def register_resource(server: LiveServer) -> None:
    server.call(
        server.runtime.authserver.resources.create(
            name="Payments",
            url=RESOURCE,
            scopes=["payments"],
            authorization_details_types=["tool_call"],
        )
    )


def delegated_agent(server: LiveServer, page: Page, name: str = "pay bot") -> Agent:
    """An agent the signed-in person lets act for them (``POST /auth/delegations``)."""
    email = page.locator(".who").inner_text()
    created = server.call(
        server.runtime.clients.create(
            name=name, kind="agent", scopes=["use_agent"], owner_user_id=user_id(server, email)
        )
    )
    access = next(c["value"] for c in page.context.cookies() if c["name"] == "access_token")
    httpx.post(
        f"{server.url}/auth/delegations",
        json={"clientId": created.client.client_id, "scopes": ["use_agent"]},
        headers={"Authorization": f"Bearer {access}"},
    ).raise_for_status()
    return Agent(created.client.client_id, created.secret)


def tool_call(summary: str = "Pay 40 EUR to ACME") -> dict[str, str]:
    return {
        "type": "tool_call",
        "resource": RESOURCE,
        "tool": "send_payment",
        "arguments_sha256": "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",
        "summary": summary,
    }


def ask(
    server: LiveServer,
    agent: Agent,
    email: str = "ada@example.com",
    *,
    message: str = "code 4F2K",
    summary: str = "Pay 40 EUR to ACME",
    expiry: int | None = None,
) -> Asked:
    """CIBA s7.1: the agent's backchannel request; the page's id of it from the service."""
    form = {
        "login_hint": email,
        "binding_message": message,
        "scope": "payments",
        "authorization_details": json.dumps([tool_call(summary)]),
    }
    if expiry is not None:
        form["requested_expiry"] = str(expiry)
    answer = httpx.post(f"{server.url}/oauth2/bc-authorize", data=form, auth=agent.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    pending = server.call(server.runtime.approvals.pending_for(user_id(server, email)))
    newest = max(pending, key=lambda p: p.created_at)
    return Asked(newest.id, body["auth_req_id"], body["interval"])


def poll(server: LiveServer, agent: Agent, asked: Asked) -> httpx.Response:
    """CIBA s10.1 token request, one interval after the last (no ``slow_down``)."""
    server.clock.advance(asked.interval)
    data = {"grant_type": CIBA_GRANT, "auth_req_id": asked.auth_req_id}
    return httpx.post(f"{server.url}/oauth2/token", data=data, auth=agent.auth)


def item(page: Page, asked: Asked) -> Any:
    return page.locator(f"#approval-{asked.approval_id}")


def mark_the_document(page: Page) -> None:
    """A flag a reload would lose: what appears afterwards came without one."""
    page.evaluate("window.__noReload = true")


def still_the_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__noReload === true"))


@pytest.fixture
def ada(page: Page, server: LiveServer) -> Agent:
    register_resource(server)
    sign_up(page)
    return delegated_agent(server, page)


def test_a_request_appears_without_reload_and_approving_gives_the_agent_a_token(
    page: Page, server: LiveServer, ada: Agent
) -> None:
    expect(page.locator("[data-approvals-card]")).to_be_hidden()
    mark_the_document(page)
    asked = ask(server, ada)
    shown = item(page, asked)
    expect(shown).to_be_visible()
    assert still_the_same_document(page)
    expect(shown.locator(".device")).to_have_text("pay bot")
    expect(shown.locator("[data-binding-message]")).to_have_text("code 4F2K")
    expect(shown.locator(".action-title")).to_have_text("Pay 40 EUR to ACME")
    expect(shown).to_contain_text("send_payment")
    expect(shown).to_contain_text("payments.example.com")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    assert poll(server, ada, asked).json()["error"] == "authorization_pending"

    shown.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice")).to_contain_text("Approved")
    expect(page.locator("[data-approval-id]")).to_have_count(0)
    token = poll(server, ada, asked)
    assert token.status_code == 200, token.text
    assert token.json()["authorization_details"] == [tool_call()]


def test_deny_gives_the_agent_access_denied(page: Page, server: LiveServer, ada: Agent) -> None:
    asked = ask(server, ada)
    item(page, asked).get_by_role("button", name="Deny").click()
    expect(page.locator(".notice")).to_contain_text("Denied")
    answer = poll(server, ada, asked)
    assert answer.status_code == 400
    assert answer.json()["error"] == "access_denied"


def test_markup_from_the_agent_is_shown_as_text(page: Page, server: LiveServer, ada: Agent) -> None:
    """CIBA s7.1 binding_message and RFC 9396 summary never become elements or script."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    asked = ask(server, ada, message=HOSTILE_MESSAGE, summary=HOSTILE_SUMMARY)
    for how in ("live", "reloaded"):
        shown = item(page, asked)
        expect(shown.locator("[data-binding-message]")).to_have_text(HOSTILE_MESSAGE)
        expect(shown.locator(".action-title")).to_have_text(HOSTILE_SUMMARY)
        assert shown.locator("script, img").count() == 0, how
        assert page.locator("img").count() == 0, how
        assert page.evaluate("window.__pwned") is None, how
        page.reload()
    assert dialogs == []


def test_with_an_authenticator_app_an_old_sign_in_must_show_a_code_to_approve(
    page: Page, server: LiveServer, ada: Agent
) -> None:
    page.get_by_role("button", name="Set up an authenticator app").click()
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text())
    page.get_by_label("The code your app shows now").fill(totp.at(int(server.clock())))
    page.get_by_role("button", name="Turn it on").click()
    page.get_by_role("link", name="Done").click()
    server.clock.advance(601)  # the second factor is now older than mfa_recent_window
    asked = ask(server, ada)
    item(page, asked).get_by_role("button", name="Approve").click()

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(page.locator(".action-title")).to_have_text("Pay 40 EUR to ACME")
    assert poll(server, ada, asked).json()["error"] == "authorization_pending"
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert poll(server, ada, asked).json()["error"] == "authorization_pending"

    page.get_by_label("Code from your authenticator app").fill(totp.at(int(server.clock())))
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice")).to_contain_text("Approved")
    assert poll(server, ada, asked).status_code == 200
    # The step-up counts for the window, as for any other step-up: no second code.
    again = ask(server, ada)
    item(page, again).get_by_role("button", name="Approve").click()
    expect(page.locator(".notice")).to_contain_text("Approved")


def test_with_a_passkey_an_old_sign_in_must_use_it_to_approve(
    new_context: ContextFactory, server: LiveServer, server_port: int
) -> None:
    context = new_context(base_url=f"http://localhost:{server_port}")
    page = context.new_page()
    virtual_authenticator(context, page)
    register_resource(server)
    sign_up(page)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".notice")).to_contain_text("The passkey has been added")
    agent = delegated_agent(server, page)
    server.clock.advance(601)
    asked = ask(server, agent)
    item(page, asked).get_by_role("button", name="Approve").click()

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(page.get_by_label("Code from your authenticator app")).to_have_count(0)
    assert poll(server, agent, asked).json()["error"] == "authorization_pending"
    page.get_by_role("button", name="Approve with your passkey").click()
    expect(page.locator(".notice")).to_contain_text("Approved")
    assert poll(server, agent, asked).status_code == 200


def form_post(page: Page, server: LiveServer, path: str, data: dict[str, str]) -> Any:
    """A POST from this browser profile (its cookies), from this site's origin."""
    return page.request.post(path, form=data, headers={"Origin": server.url})


def csrf_token(page: Page) -> str:
    token = page.locator("[data-approvals]").get_attribute("data-csrf-token")
    assert token
    return token


def test_another_persons_request_is_not_found(
    page: Page, new_context: ContextFactory, server: LiveServer, ada: Agent
) -> None:
    bob_page = new_context().new_page()
    sign_up(bob_page, "bob@example.com")
    bobs = ask(server, delegated_agent(server, bob_page, "bob's bot"), "bob@example.com")
    for action in ("approve", "deny"):
        answer = form_post(
            page,
            server,
            f"/account/approvals/{action}",
            {"csrf_token": csrf_token(page), "approval": bobs.approval_id},
        )
        assert answer.status == 404, action
    expect(item(bob_page, bobs)).to_be_visible()
    assert [p.id for p in server.call(server.runtime.approvals.pending_for(
        user_id(server, "bob@example.com")))] == [bobs.approval_id]  # fmt: skip


def test_an_answer_without_the_csrf_token_is_refused(
    page: Page, server: LiveServer, ada: Agent
) -> None:
    asked = ask(server, ada)
    expect(item(page, asked)).to_be_visible()
    for action in ("approve", "deny"):
        answer = form_post(
            page, server, f"/account/approvals/{action}", {"approval": asked.approval_id}
        )
        assert answer.status == 403, action
    page.reload()
    expect(item(page, asked)).to_be_visible()
    assert poll(server, ada, asked).json()["error"] == "authorization_pending"


def test_an_expired_request_disappears_and_cannot_be_approved(
    page: Page, new_context: ContextFactory, server: LiveServer, ada: Agent
) -> None:
    asked = ask(server, ada, expiry=60)
    # The same person in a browser without script: a plain list and forms.
    plain = new_context(java_script_enabled=False).new_page()
    plain.context.add_cookies(page.context.cookies())
    plain.goto("/account")
    expect(item(plain, asked)).to_be_visible()
    expect(item(page, asked)).to_be_visible()

    server.clock.advance(61)
    expect(item(page, asked)).to_have_count(0)  # gone from the live page
    item(plain, asked).get_by_role("button", name="Approve").click()
    expect(plain.get_by_role("heading", name="Nothing to answer")).to_be_visible()
    answer = poll(server, ada, asked)
    assert answer.json()["error"] == "expired_token"


def test_without_script_the_list_and_forms_work_after_a_reload(
    new_context: ContextFactory, page: Page, server: LiveServer, ada: Agent
) -> None:
    plain = new_context(java_script_enabled=False).new_page()
    plain.context.add_cookies(page.context.cookies())
    plain.goto("/account")
    expect(plain.locator("[data-approvals-card]")).to_be_hidden()
    asked = ask(server, ada)
    plain.reload()
    item(plain, asked).get_by_role("button", name="Approve").click()
    expect(plain.locator(".notice")).to_contain_text("Approved")
    assert poll(server, ada, asked).status_code == 200


def test_the_waiting_list_answers_json_only_to_the_signed_in_person(
    page: Page, server: LiveServer, ada: Agent
) -> None:
    asked = ask(server, ada)
    answer = page.request.get("/account/approvals")
    assert answer.status == 200
    assert answer.headers["cache-control"] == "no-store"
    assert [a["id"] for a in answer.json()["approvals"]] == [asked.approval_id]
    assert asked.auth_req_id not in answer.text()  # the agent's secret stays the agent's
    page.context.clear_cookies()
    assert page.request.get("/account/approvals").status == 401
    expect(page.get_by_role("alert")).to_contain_text("signed out")


def test_a_request_fits_a_phone_screen(
    new_context: ContextFactory, page: Page, server: LiveServer, ada: Agent, tmp_path: Path
) -> None:
    phone = new_context(viewport={"width": 375, "height": 740}).new_page()
    phone.context.add_cookies(page.context.cookies())
    phone.goto("/account")
    asked = ask(server, ada, message="Order 1042 · code 4F2K")
    expect(item(phone, asked)).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing sticks out sideways on a phone
    phone.screenshot(path=tmp_path / "approvals-phone.png", full_page=True)
