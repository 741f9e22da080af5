"""The approval forms and list of /account over HTTP (OpenID CIBA Core 1.0 s8, the user's
side). The flows in a real browser are in tests/browser/test_approvals.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock, client_for
from tests.authserver.conftest import ResourceServer, make_resource
from tests.ciba.conftest import PAY, Agent, ask, make_agent
from tests.conftest import PASSWORD, bearer, login, register
from tests.http.pages.forms import ORIGIN, form_token, sign_up

APPROVE = "/account/approvals/approve"
DENY = "/account/approvals/deny"


@pytest.fixture
async def payments(app: FastAPI) -> ResourceServer:
    """A resource that takes tool_call approvals (RFC 9396 s2), as in tests/ciba."""
    return await make_resource(
        app,
        url=PAY,
        name="Payments",
        scopes=["pay"],
        descriptions={},
        authorization_details_types=["tool_call"],
    )


@pytest.fixture
async def agent_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The agent's own connection: no browser cookies."""
    async with client_for(app) as other:
        yield other


async def asked(agent_client: httpx.AsyncClient, agent: Agent) -> str:
    answer = await ask(agent_client, agent)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["auth_req_id"])


async def waiting_ids(client: httpx.AsyncClient) -> list[str]:
    listed = await client.get("/account/approvals")
    assert listed.status_code == 200, listed.text
    return [a["id"] for a in listed.json()["approvals"]]


async def answer(client: httpx.AsyncClient, path: str, approval_id: str, **extra: str) -> Any:
    token = await form_token(client, "/account")
    data = {"csrf_token": token, "approval": approval_id, **extra}
    return await client.post(path, data=data, headers=ORIGIN)


def test_approvals_js_never_turns_text_into_markup() -> None:
    script = resources.files("authgate").joinpath("static", "approvals.js").read_text()
    sinks = r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    assert re.search(sinks, script) is None
    assert re.search(r"setAttribute\(\s*[\"']on", script) is None


async def test_the_list_is_for_a_signed_in_browser_only(client: httpx.AsyncClient) -> None:
    listed = await client.get("/account/approvals")
    assert listed.status_code == 401
    assert listed.headers["cache-control"] == "no-store"
    assert listed.json()["error"] == "signed_out"


async def test_the_list_and_the_page_show_a_waiting_request(
    client: httpx.AsyncClient,
    agent_client: httpx.AsyncClient,
    app: FastAPI,
    payments: ResourceServer,
) -> None:
    await sign_up(client)
    auth_req_id = await asked(agent_client, await make_agent(app))
    (approval_id,) = await waiting_ids(client)
    page = (await client.get("/account")).text
    assert f'id="approval-{approval_id}"' in page
    assert "Pay 40 EUR to ACME (W7K)" in page  # the binding message
    assert auth_req_id not in page  # the agent's secret never reaches the page


async def test_a_decided_request_cannot_be_answered_again(
    client: httpx.AsyncClient,
    agent_client: httpx.AsyncClient,
    app: FastAPI,
    payments: ResourceServer,
) -> None:
    await sign_up(client)
    await asked(agent_client, await make_agent(app))
    (approval_id,) = await waiting_ids(client)
    denied = await answer(client, DENY, approval_id)
    assert (denied.status_code, denied.headers["location"]) == (
        303,
        "/account?notice=approval_denied",
    )
    assert (await answer(client, DENY, approval_id)).status_code == 409
    assert (await answer(client, APPROVE, approval_id)).status_code == 404  # not waiting
    assert await waiting_ids(client) == []


@pytest.mark.parametrize("approval_id", ["", "x" * 37, "not-a-uuid", "<script>"])
async def test_an_unknown_id_is_not_found(
    client: httpx.AsyncClient, approval_id: str, payments: ResourceServer
) -> None:
    await sign_up(client)
    for path in (APPROVE, DENY):
        refused = await answer(client, path, approval_id)
        assert refused.status_code == 404, path
        assert "Nothing to answer" in refused.text


async def test_the_passkey_step_up_needs_the_form_token(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    refused = await client.post("/account/approvals/passkey-options", headers=ORIGIN)
    assert refused.status_code == 403
    token = await form_token(client, "/account")
    options = await client.post(
        "/account/approvals/passkey-options", data={"csrf_token": token}, headers=ORIGIN
    )
    assert options.status_code == 200
    assert set(options.json()) == {"ceremony", "options"}


async def enrol_totp_and_sign_in(client: httpx.AsyncClient, clock: FrozenClock) -> list[str]:
    """TOTP on (the API), then a browser sign-in with password and code; recovery codes."""
    await register(client)
    auth = bearer((await login(client))["accessToken"])
    secret = (await client.post("/auth/mfa/totp", headers=auth)).json()["secret"]
    confirmed = await client.post(
        "/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).at(int(clock()))}, headers=auth
    )
    codes: list[str] = confirmed.json()["recoveryCodes"]
    clock.advance(30)
    first = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    second = await client.post(
        "/auth/login/mfa",
        json={
            "mfaToken": first.json()["mfaToken"],
            "code": pyotp.TOTP(secret).at(int(clock())),
            "useCookies": True,
        },
    )
    assert second.status_code == 200, second.text
    return codes


async def test_a_recent_second_factor_approves_at_once_an_old_one_asks_again(
    client: httpx.AsyncClient,
    agent_client: httpx.AsyncClient,
    app: FastAPI,
    clock: FrozenClock,
    payments: ResourceServer,
) -> None:
    """RFC 9470 step-up within mfa_recent_window; a recovery code is a second factor too."""
    codes = await enrol_totp_and_sign_in(client, clock)
    agent = await make_agent(app)
    await asked(agent_client, agent)
    (first,) = await waiting_ids(client)
    assert (await answer(client, APPROVE, first)).status_code == 303  # signed in just now

    clock.advance(app.state.authgate.settings.mfa_recent_window + 1)
    await asked(agent_client, agent)
    (second,) = await waiting_ids(client)
    asking = await answer(client, APPROVE, second)
    assert asking.status_code == 200
    assert "Confirm it is you" in asking.text
    assert await waiting_ids(client) == [second]
    wrong = await answer(client, APPROVE, second, code="000000")
    assert wrong.status_code == 400
    assert await waiting_ids(client) == [second]
    old_access = client.cookies["access_token"]
    approved = await answer(client, APPROVE, second, recovery_code=codes[0])
    assert approved.status_code == 303, approved.text
    assert client.cookies["access_token"] != old_access  # the session's fresh aal2 token
    assert await waiting_ids(client) == []
