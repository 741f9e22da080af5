"""The service API the account page builds on: pending_for, approve, deny."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.errors import ApprovalConflictError, ApprovalNotFoundError
from authgate.testing import FrozenClock
from tests.ciba.conftest import Agent, ask, poll, tool_call
from tests.conftest import register


async def test_pending_for_lists_the_request_without_its_auth_req_id(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    asked = await ask(client, agent)
    assert asked.status_code == 200, asked.text
    auth_req_id = asked.json()["auth_req_id"]
    (pending,) = await app.state.authgate.approvals.pending_for(ada["id"])
    assert pending.user_id == ada["id"]
    assert pending.client_id == agent.client_id
    assert pending.agent_name == "Pay bot"
    assert pending.binding_message == "Pay 40 EUR to ACME (W7K)"
    assert pending.scope == "pay"
    assert pending.authorization_details == [tool_call()]
    assert pending.expires_at - pending.created_at == asked.json()["expires_in"]
    assert auth_req_id not in repr(pending)


async def test_another_users_request_is_not_found(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    await ask(client, agent)
    eve = await register(client, "eve@example.com")
    approvals = app.state.authgate.approvals
    (pending,) = await approvals.pending_for(ada["id"])
    assert await approvals.pending_for(eve["id"]) == []
    with pytest.raises(ApprovalNotFoundError):
        await approvals.approve(pending.id, user_id=eve["id"])
    with pytest.raises(ApprovalNotFoundError):
        await approvals.deny("no-such-id", user_id=ada["id"])
    with pytest.raises(ApprovalNotFoundError):
        await approvals.deny("x" * 500, user_id=ada["id"])


async def test_a_request_is_decided_once(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    await ask(client, agent)
    approvals = app.state.authgate.approvals
    (pending,) = await approvals.pending_for(ada["id"])
    await approvals.approve(pending.id, user_id=ada["id"])
    assert await approvals.pending_for(ada["id"]) == []
    with pytest.raises(ApprovalConflictError) as caught:
        await approvals.deny(pending.id, user_id=ada["id"])
    assert caught.value.reason == "decided"
    assert caught.value.status_code == 409


async def test_an_expired_request_cannot_be_approved(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any], clock: FrozenClock
) -> None:
    await ask(client, agent, requested_expiry="60")
    approvals = app.state.authgate.approvals
    (pending,) = await approvals.pending_for(ada["id"])
    clock.advance(60)
    assert await approvals.pending_for(ada["id"]) == []
    with pytest.raises(ApprovalConflictError) as caught:
        await approvals.approve(pending.id, user_id=ada["id"])
    assert caught.value.reason == "expired"


async def test_purge_keeps_a_request_until_its_token_has_expired(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any], clock: FrozenClock
) -> None:
    """Cleanup forgets a request only when its wait and its token are both over, so a
    live token stays redeemable once."""
    runtime = app.state.authgate
    auth_req_id = (await ask(client, agent, requested_expiry="10")).json()["auth_req_id"]
    (first,) = await runtime.approvals.pending_for(ada["id"])
    await runtime.approvals.approve(first.id, user_id=ada["id"])
    await ask(client, agent, requested_expiry="10")  # never decided
    got = await poll(client, agent, auth_req_id)
    assert got.status_code == 200, got.text
    clock.advance(11)
    assert await runtime.approval_store.purge(int(clock())) == 1  # the undecided one
    clock.advance(120)
    assert await runtime.approval_store.purge(int(clock())) == 1  # now the issued one
