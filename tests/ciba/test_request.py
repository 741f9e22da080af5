"""``POST /oauth2/bc-authorize`` (OpenID CIBA Core 1.0 s7, s13) and RFC 9396 s2, s5.

Who may be asked (only a user who delegated to the agent, with no way to tell an
unknown user from one without delegation) and what may be asked for (a well-formed
``tool_call`` at one registered resource that declares the type).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.agents.registry import CibaRegistration
from authgate.authserver.ciba import MAX_PENDING
from tests.authserver.conftest import ResourceServer, make_resource
from tests.ciba.conftest import Agent, ask, make_agent, tool_call
from tests.conftest import register

PLAIN = "https://plain.example.com/api"  # a resource that declares no details type
OTHER = "https://other.example.com/mcp"  # another resource that takes tool_call


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["error"])


async def test_user_without_delegation_gets_the_same_answer_as_an_unknown_user(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent
) -> None:
    """CIBA s13 unknown_user_id for both: the agent cannot tell who has an account."""
    await register(client, "bob@example.com")  # a real user who never delegated
    no_delegation = await ask(client, agent, login_hint="bob@example.com")
    unknown = await ask(client, agent, login_hint="nobody@example.com")
    assert refusal(no_delegation) == (400, "unknown_user_id")
    assert no_delegation.json() == unknown.json()
    assert no_delegation.status_code == unknown.status_code
    user = await app.state.authgate.store.user_by_email("bob@example.com")
    assert await app.state.authgate.approvals.pending_for(user.id) == []


async def test_delegation_to_another_agent_does_not_count(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], pay: ResourceServer
) -> None:
    stranger = await make_agent(app, consent_of=None)
    await make_agent(app)  # ada delegated to this one, not to the stranger
    assert refusal(await ask(client, stranger)) == (400, "unknown_user_id")


async def test_login_hint_is_matched_as_an_email(client: httpx.AsyncClient, agent: Agent) -> None:
    assert (await ask(client, agent, login_hint="  ADA@example.com ")).status_code == 200


def _long_details() -> list[dict[str, Any]]:
    return [tool_call(summary="x" * 200, tool=f"t{i}") for i in range(5)] * 2


DETAILS_ATTACKS = [
    pytest.param("not json at all", "not JSON", id="non-json"),
    pytest.param("[" * 40 + "]" * 40, "not JSON", id="too-deep"),
    pytest.param(
        json.dumps([tool_call(summary="y" * 190)] * 5)[:-1] + "," * 5000 + "]",
        "longer than",
        id="too-long",
    ),
    pytest.param(json.dumps(_long_details()), "At most", id="too-many-entries"),
    pytest.param(json.dumps({"type": "tool_call"}), "non-empty JSON array", id="not-an-array"),
    pytest.param("[]", "non-empty JSON array", id="empty"),
    pytest.param(json.dumps(["tool_call"]), "object with a string type", id="entry-not-object"),
    pytest.param(
        json.dumps([tool_call(type="payment_initiation")]),
        "Unknown authorization_details type",
        id="unknown-type",
    ),
    pytest.param(
        json.dumps([tool_call(resource=PLAIN)]), "does not accept", id="type-not-declared"
    ),
    pytest.param(
        json.dumps([tool_call(resource="https://unregistered.example.com/mcp")]),
        "not registered",
        id="unregistered-resource",
    ),
    pytest.param(
        json.dumps([tool_call(), tool_call(resource=OTHER)]), "same resource", id="mixed-resources"
    ),
    pytest.param(json.dumps([tool_call(extra="x")]), "extra:", id="unknown-member"),
    pytest.param(json.dumps([tool_call(summary="<omit>")]), "summary:", id="no-summary"),
    pytest.param(json.dumps([tool_call(summary="")]), "summary:", id="empty-summary"),
    pytest.param(json.dumps([tool_call(summary="s" * 201)]), "summary:", id="summary-too-long"),
    pytest.param(
        json.dumps([tool_call(summary="line\nbreak")]), "summary:", id="summary-control-char"
    ),
    pytest.param(
        json.dumps([tool_call(arguments_sha256="abc")]), "arguments_sha256", id="bad-hash"
    ),
    pytest.param(json.dumps([tool_call(tool="")]), "tool:", id="empty-tool"),
    pytest.param(
        json.dumps([tool_call(summary="Pay 40 EUR to \u202eEMCA")]),
        "summary:",
        id="summary-bidi-override",
    ),
    pytest.param(
        json.dumps([tool_call(resource="javascript:alert(1)")]), "resource:", id="resource-not-url"
    ),
    pytest.param(json.dumps([tool_call(tool="send payment")]), "tool:", id="tool-with-space"),
    pytest.param(json.dumps([tool_call(tool=7)]), "tool:", id="tool-not-string"),
    pytest.param(json.dumps([tool_call(resource=None)]), "names its resource", id="no-resource"),
]


@pytest.mark.parametrize(("details", "reason"), DETAILS_ATTACKS)
async def test_bad_authorization_details_are_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: Agent,
    ada: dict[str, Any],
    details: str,
    reason: str,
) -> None:
    """RFC 9396 s5: invalid_authorization_details, and no user ever sees the request."""
    await make_resource(app, url=PLAIN, name="Plain", scopes=["read"], descriptions={})
    await make_resource(
        app,
        url=OTHER,
        name="Other",
        scopes=["pay"],
        descriptions={},
        authorization_details_types=["tool_call"],
    )
    response = await client.post(
        "/oauth2/bc-authorize",
        data={"login_hint": ada["email"], "authorization_details": details},
        auth=agent.auth,
    )
    assert refusal(response) == (400, "invalid_authorization_details")
    assert reason in response.json()["error_description"]  # refused for its own reason
    assert await app.state.authgate.approvals.pending_for(ada["id"]) == []


async def test_several_calls_at_one_resource_are_accepted(
    client: httpx.AsyncClient, agent: Agent
) -> None:
    details = [tool_call(), tool_call(tool="get_balance", summary="Read the balance")]
    assert (await ask(client, agent, details=details)).status_code == 200


REQUEST_ATTACKS = [
    pytest.param({"authorization_details": "<omit>"}, "invalid_request", id="no-details"),
    pytest.param({"login_hint": "<omit>"}, "invalid_request", id="no-login-hint"),
    pytest.param({"id_token_hint": "x"}, "invalid_request", id="id-token-hint"),
    pytest.param({"login_hint_token": "x"}, "invalid_request", id="login-hint-token"),
    pytest.param({"user_code": "1234"}, "invalid_request", id="user-code"),
    pytest.param({"requested_expiry": "-5"}, "invalid_request", id="negative-expiry"),
    pytest.param({"requested_expiry": "soon"}, "invalid_request", id="word-expiry"),
    pytest.param({"binding_message": "m" * 121}, "invalid_binding_message", id="long-message"),
    pytest.param({"binding_message": "a\x00b"}, "invalid_binding_message", id="control-message"),
    pytest.param({"binding_message": "  "}, "invalid_binding_message", id="blank-message"),
    pytest.param({"scope": "pay admin"}, "invalid_scope", id="scope-not-of-resource"),
]


@pytest.mark.parametrize(("form", "error"), REQUEST_ATTACKS)
async def test_bad_requests_are_refused(
    client: httpx.AsyncClient, agent: Agent, form: dict[str, str], error: str
) -> None:
    assert refusal(await ask(client, agent, **form)) == (400, error)


async def test_requested_expiry_shortens_but_never_lengthens(
    client: httpx.AsyncClient, agent: Agent
) -> None:
    assert (await ask(client, agent, requested_expiry="60")).json()["expires_in"] == 60
    assert (await ask(client, agent, requested_expiry="86400")).json()["expires_in"] == 300


async def test_restricted_scope_needs_the_users_permission(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any]
) -> None:
    url = "https://admin.example.com/mcp"
    await make_resource(
        app,
        url=url,
        name="Admin",
        scopes=["admin:pay"],
        descriptions={},
        require_permission=["admin:pay"],
        authorization_details_types=["tool_call"],
    )
    agent = await make_agent(app)
    response = await ask(client, agent, scope="admin:pay", details=[tool_call(resource=url)])
    assert refusal(response) == (400, "invalid_scope")


async def test_client_authentication_is_required(
    client: httpx.AsyncClient, agent: Agent, pay: ResourceServer
) -> None:
    anonymous = await client.post("/oauth2/bc-authorize", data={"login_hint": "ada@example.com"})
    assert refusal(anonymous) == (401, "invalid_client")
    wrong = await ask(client, Agent(agent.client_id, "not-the-secret"))
    assert refusal(wrong) == (401, "invalid_client")
    # A resource server is a confidential client too, but not one that asks users.
    resource = await client.post(
        "/oauth2/bc-authorize", data={"login_hint": "ada@example.com"}, auth=pay.auth
    )
    assert refusal(resource) == (400, "unauthorized_client")


async def test_ping_mode_needs_a_client_notification_token(
    app: FastAPI, client: httpx.AsyncClient, ada: dict[str, Any], pay: ResourceServer
) -> None:
    """CIBA s7.1: client_notification_token is REQUIRED for a ping-mode client."""
    agent = await make_agent(app, backchannel=CibaRegistration("ping", "http://127.0.0.1:9/cb"))
    assert refusal(await ask(client, agent)) == (400, "invalid_request")
    bad = await ask(client, agent, client_notification_token="has space")
    assert refusal(bad) == (400, "invalid_request")
    good = await ask(client, agent, client_notification_token="n0tification-T0ken_abc")
    assert good.status_code == 200, good.text


async def test_an_agent_cannot_flood_the_user_with_requests(
    app: FastAPI, client: httpx.AsyncClient, agent: Agent, ada: dict[str, Any]
) -> None:
    """At most MAX_PENDING undecided requests per agent and user; deciding frees a place."""
    for _ in range(MAX_PENDING):
        assert (await ask(client, agent)).status_code == 200
    assert refusal(await ask(client, agent)) == (400, "access_denied")
    approvals = app.state.authgate.approvals
    first = (await approvals.pending_for(ada["id"]))[0]
    await approvals.deny(first.id, user_id=ada["id"])
    assert (await ask(client, agent)).status_code == 200
