"""Ping callbacks (OpenID CIBA Core 1.0 s10.2) and the signed approval webhook, sent to
a real HTTP server on loopback; secrets at rest and in logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from authgate.agents.registry import CibaRegistration
from authgate.storage.models import BackchannelRequest
from tests.authserver.conftest import ResourceServer
from tests.ciba.conftest import Agent, approve_only, ask, make_agent, poll
from tests.ciba.receiver import Receiver, receiver

WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789abcdef"
NOTIFY_TOKEN = "n0tify-Bearer_token.for-tests~1"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture
def settings(settings_factory: Callable[..., Any], hook: Receiver) -> Any:
    return settings_factory(
        approval_webhook_url=f"{hook.url}/webhook",
        approval_webhook_secret=WEBHOOK_SECRET,
        public_url="https://auth.example.com",
    )


async def drained(app: FastAPI) -> None:
    await app.state.authgate.approval_notices.drain(within=15)


async def ping_agent(app: FastAPI, endpoint: str) -> Agent:
    return await make_agent(app, backchannel=CibaRegistration("ping", endpoint))


def sent_to(hook: Receiver, path: str) -> list[Any]:
    return [r for r in hook.requests if r.path == path]


async def test_ping_carries_the_bearer_token_and_the_auth_req_id(
    app: FastAPI,
    client: httpx.AsyncClient,
    ada: dict[str, Any],
    pay: ResourceServer,
    hook: Receiver,
) -> None:
    agent = await ping_agent(app, f"{hook.url}/cb")
    asked = await ask(client, agent, client_notification_token=NOTIFY_TOKEN)
    auth_req_id = asked.json()["auth_req_id"]
    await approve_only(app)
    await drained(app)
    (ping,) = sent_to(hook, "/cb")
    assert ping.headers["authorization"] == f"Bearer {NOTIFY_TOKEN}"
    assert json.loads(ping.body) == {"auth_req_id": auth_req_id}
    # s10.2: the ping says "come and get it"; the token itself comes from /oauth2/token.
    assert (await poll(client, agent, auth_req_id)).status_code == 200
    metrics = app.state.authgate.metrics
    assert metrics.approval_notices.labels("ping", "sent")._value.get() == 1


async def test_a_denial_is_pinged_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    ada: dict[str, Any],
    pay: ResourceServer,
    hook: Receiver,
) -> None:
    agent = await ping_agent(app, f"{hook.url}/cb")
    asked = await ask(client, agent, client_notification_token=NOTIFY_TOKEN)
    runtime = app.state.authgate
    (pending,) = await runtime.approvals.pending_for(ada["id"])
    await runtime.approvals.deny(pending.id, user_id=ada["id"])
    await drained(app)
    (ping,) = sent_to(hook, "/cb")
    assert json.loads(ping.body) == {"auth_req_id": asked.json()["auth_req_id"]}
    got = await poll(client, agent, asked.json()["auth_req_id"])
    assert got.json()["error"] == "access_denied"


async def test_a_slow_endpoint_never_holds_up_the_decision(
    app: FastAPI,
    client: httpx.AsyncClient,
    ada: dict[str, Any],
    pay: ResourceServer,
    hook: Receiver,
) -> None:
    """The receiver holds every answer until released: approve still returns first."""
    agent = await ping_agent(app, f"{hook.url}/cb")
    asked = await ask(client, agent, client_notification_token=NOTIFY_TOKEN)
    hook.release.clear()
    await approve_only(app)  # returned while the receiver still holds the ping
    got = await poll(client, agent, asked.json()["auth_req_id"])
    assert got.status_code == 200
    hook.release.set()
    await drained(app)
    assert len(sent_to(hook, "/cb")) == 1


async def test_a_failed_ping_is_logged_without_secrets_and_counted(
    app: FastAPI,
    client: httpx.AsyncClient,
    ada: dict[str, Any],
    pay: ResourceServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with receiver() as gone:
        endpoint = f"{gone.url}/cb/secret-path"
    agent = await ping_agent(app, endpoint)  # nothing listens there any more
    asked = await ask(client, agent, client_notification_token=NOTIFY_TOKEN)
    caplog.set_level(logging.DEBUG)
    await approve_only(app)
    await drained(app)
    metrics = app.state.authgate.metrics
    assert metrics.approval_notices.labels("ping", "failed")._value.get() == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "approval ping" in logged
    for secret in (NOTIFY_TOKEN, asked.json()["auth_req_id"], "secret-path"):
        assert secret not in logged
    assert (await poll(client, agent, asked.json()["auth_req_id"])).status_code == 200


async def test_webhook_is_signed_and_carries_no_secret_of_the_agent(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: Agent,
    ada: dict[str, Any],
    hook: Receiver,
) -> None:
    asked = await ask(client, agent)
    await drained(app)
    (sent,) = sent_to(hook, "/webhook")
    # Standard Webhooks: HMAC-SHA256 over "id.timestamp.body", computed here on its own.
    message_id, timestamp = sent.headers["webhook-id"], sent.headers["webhook-timestamp"]
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{message_id}.{timestamp}.".encode() + sent.body, hashlib.sha256
    ).digest()
    version, _, signature = sent.headers["webhook-signature"].partition(",")
    assert version == "v1"
    assert hmac.compare_digest(base64.b64decode(signature), expected)
    assert int(timestamp) == int(app.state.authgate.clock())
    body = json.loads(sent.body)
    (pending,) = await app.state.authgate.approvals.pending_for(ada["id"])
    assert body["event"] == "approval.requested"
    assert body["approval_id"] == pending.id
    assert body["user_id"] == ada["id"]
    assert body["agent"] == {"client_id": agent.client_id, "name": "Pay bot"}
    assert body["binding_message"] == "Pay 40 EUR to ACME (W7K)"
    assert body["summaries"] == ["Pay 40 EUR to ACME"]
    assert body["approve_url"] == f"https://auth.example.com/account#approval-{pending.id}"
    assert asked.json()["auth_req_id"] not in sent.body.decode()
    assert agent.secret not in sent.body.decode()


async def test_a_tampered_webhook_body_fails_the_signature(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, hook: Receiver
) -> None:
    await ask(client, agent)
    await drained(app)
    (sent,) = sent_to(hook, "/webhook")
    tampered = sent.body.replace(b"Pay 40", b"Pay 90")
    signed = f"{sent.headers['webhook-id']}.{sent.headers['webhook-timestamp']}.".encode()
    forged = hmac.new(WEBHOOK_SECRET.encode(), signed + tampered, hashlib.sha256).digest()
    assert sent.headers["webhook-signature"] != "v1," + base64.b64encode(forged).decode()


async def test_secrets_are_not_stored_in_the_clear(
    app: FastAPI,
    client: httpx.AsyncClient,
    ada: dict[str, Any],
    pay: ResourceServer,
    hook: Receiver,
) -> None:
    """Only the hash of auth_req_id is kept; the ping's token and id are sealed."""
    agent = await ping_agent(app, f"{hook.url}/cb")
    asked = await ask(client, agent, client_notification_token=NOTIFY_TOKEN)
    auth_req_id = asked.json()["auth_req_id"]
    async with app.state.authgate.store.engine.connect() as conn:
        (row,) = (await conn.execute(select(BackchannelRequest.__table__))).all()
    stored = repr(tuple(row)).encode()
    for secret in (auth_req_id, NOTIFY_TOKEN):
        assert secret.encode() not in stored
    assert row.req_hash == hashlib.sha256(auth_req_id.encode()).hexdigest()
    assert row.ping_secret is not None
