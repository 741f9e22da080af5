"""``ResourceServer.verify_approval``, ``web.require_approval`` and the ``mcp`` faces,
against authgate itself in process (its keys, metadata, CIBA flow and redeem endpoint;
``tests/resource/approval_issuer.py``).

Each attack of issue 17 item 3 has its own test: the approval token used as an ordinary
token (every face), another tool, changed arguments, a second use (also through a
second resource-server instance), no approval, an entry for another resource, a
DPoP-bound approval without its proof, and authgate unreachable (fail closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate.errors import (
    ApprovalMismatchError,
    ApprovalMissingError,
    ApprovalTokenMisuseError,
    ApprovalUsedError,
    DPoPBindingError,
    DPoPProofError,
    InvalidTokenError,
    StorageUnavailableError,
)
from authgate.keys.encryption import generate_kek
from authgate.resource import Access, ResourceServer
from authgate.resource.approvals import Approval
from authgate.resource.mcp import ApprovalGate, AuthgateTokenVerifier, approved_call
from authgate.resource.web import ResourceMiddleware, install, require_approval, require_scope
from authgate.sdk.agent import DPoPKey
from authgate.tool_calls import tool_call
from tests.authserver.conftest import make_resource
from tests.ciba.conftest import make_agent
from tests.conftest import register
from tests.resource.approval_issuer import ISSUER, RESOURCE, Issuer

ARGS = {"amount": 40, "currency": "EUR", "to": "ACME"}
OTHER = "https://other.example.com/mcp"


def payment(arguments: dict[str, Any] = ARGS, **overrides: str) -> dict[str, str]:
    entry = tool_call(
        resource=RESOURCE, tool="send_payment", arguments=arguments, summary="Pay 40 EUR to ACME"
    )
    return {**entry, **overrides}


@pytest.fixture
def settings(settings_factory: Callable[..., Any]) -> Any:
    # Asymmetric keys: a resource server verifies with the JWKS (docs/resource.md).
    return settings_factory(signing_alg="EdDSA", encryption_key=generate_kek(), public_url=ISSUER)


@pytest.fixture
async def issuer(app: FastAPI, client: httpx.AsyncClient) -> Issuer:
    user = await register(client)
    made = await make_resource(
        app,
        url=RESOURCE,
        name="Payments",
        scopes=["pay", "read"],
        descriptions={},
        authorization_details_types=["tool_call"],
    )
    issuer = Issuer(app, client, await make_agent(app), user["id"])
    issuer.resource_client = (made.client_id, made.secret)
    return issuer


async def started(issuer: Issuer) -> ResourceServer:
    rs = ResourceServer(
        issuer=ISSUER,
        resource=RESOURCE,
        client_id=issuer.resource_client[0],
        client_secret=issuer.resource_client[1],
        follow_revocations=False,
        http=issuer.http(),
    )
    await rs.start()
    return rs


@pytest.fixture
async def rs(issuer: Issuer) -> AsyncIterator[ResourceServer]:
    server = await started(issuer)
    yield server
    await server._http.aclose()


@pytest.fixture
async def approval_token(issuer: Issuer) -> str:
    return await issuer.approved([payment()])


# verify_approval


async def test_the_approved_call_passes_once_and_is_redeemed(
    rs: ResourceServer, issuer: Issuer, approval_token: str
) -> None:
    approval = await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)
    assert approval.detail["summary"] == "Pay 40 EUR to ACME"
    assert approval.access.subject == issuer.user_id
    assert approval.access.client_id == issuer.agent.client_id
    assert approval.arguments == ARGS
    assert issuer.redemptions == 1


async def test_member_order_and_number_spelling_do_not_matter(
    rs: ResourceServer, approval_token: str
) -> None:
    """RFC 8785: the hash is over canonical JSON, so {"to", "amount": 40.0} is the same call."""
    same = {"to": "ACME", "currency": "EUR", "amount": 40.0}
    await rs.verify_approval(approval_token, tool="send_payment", arguments=same)


async def test_second_use_is_refused(rs: ResourceServer, approval_token: str) -> None:
    await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)
    with pytest.raises(ApprovalUsedError):
        await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)


async def test_second_use_is_refused_by_another_instance(
    rs: ResourceServer, issuer: Issuer, approval_token: str
) -> None:
    """Single use is kept by authgate, not by the process: a second instance refuses too."""
    await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)
    other = await started(issuer)
    with pytest.raises(ApprovalUsedError):
        await other.verify_approval(approval_token, tool="send_payment", arguments=ARGS)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({**ARGS, "amount": 4000}, id="amount"),
        pytest.param({**ARGS, "to": "MALLORY"}, id="payee"),
        pytest.param({**ARGS, "memo": "extra"}, id="added-member"),
        pytest.param({"amount": 40, "currency": "EUR"}, id="removed-member"),
        pytest.param({**ARGS, "amount": "40"}, id="number-as-string"),
    ],
)
async def test_changed_arguments_are_refused_and_not_redeemed(
    rs: ResourceServer, issuer: Issuer, approval_token: str, arguments: dict[str, Any]
) -> None:
    with pytest.raises(ApprovalMismatchError) as caught:
        await rs.verify_approval(approval_token, tool="send_payment", arguments=arguments)
    assert caught.value.reason == "arguments_changed"
    assert issuer.redemptions == 0  # the approval is not burned by a refused call
    await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)


async def test_another_tool_is_refused(rs: ResourceServer, approval_token: str) -> None:
    with pytest.raises(ApprovalMismatchError) as caught:
        await rs.verify_approval(approval_token, tool="delete_account", arguments=ARGS)
    assert caught.value.reason == "wrong_tool"


async def test_a_token_without_approval_is_refused(rs: ResourceServer, issuer: Issuer) -> None:
    with pytest.raises(ApprovalMissingError):
        await rs.verify_approval(issuer.mint(), tool="send_payment", arguments=ARGS)
    assert issuer.redemptions == 0


@pytest.mark.parametrize(
    "details",
    [
        pytest.param(
            [payment(resource="https://other.example.com/mcp")], id="entry-for-other-resource"
        ),
        pytest.param([{**payment(), "type": "payment_initiation"}], id="other-type"),
        pytest.param([{**payment(), "extra": "x"}], id="malformed-entry"),
        pytest.param([], id="empty-list"),
        pytest.param({"type": "tool_call"}, id="not-a-list"),
    ],
)
async def test_approvals_not_for_this_resource_and_type_count_as_none(
    rs: ResourceServer, issuer: Issuer, details: Any
) -> None:
    token = issuer.mint(authorization_details=details)
    with pytest.raises(ApprovalMissingError):
        await rs.verify_approval(token, tool="send_payment", arguments=ARGS)


async def test_one_entry_of_several_matches(rs: ResourceServer, issuer: Issuer) -> None:
    other = payment({"amount": 1, "currency": "EUR", "to": "B"})
    token = await issuer.approved([other, payment()])
    approval = await rs.verify_approval(token, tool="send_payment", arguments=ARGS)
    assert approval.detail == payment()


async def test_a_token_for_another_resource_is_refused(rs: ResourceServer, issuer: Issuer) -> None:
    token = issuer.mint(resource=OTHER, authorization_details=[payment()])
    with pytest.raises(InvalidTokenError):
        await rs.verify_approval(token, tool="send_payment", arguments=ARGS)


async def test_dpop_bound_approval_needs_its_proof(rs: ResourceServer, issuer: Issuer) -> None:
    """RFC 9449 s7.1: a bound approval token sent as Bearer, or without a proof, is refused
    and not spent; with the agent's proof for this request it passes."""
    key = DPoPKey()
    token = await issuer.approved([payment()], dpop=key)
    url = f"{RESOURCE}/payments"
    with pytest.raises(DPoPBindingError):
        await rs.verify_approval(token, tool="send_payment", arguments=ARGS, url=url)
    with pytest.raises(DPoPProofError):
        await rs.verify_approval(
            token, tool="send_payment", arguments=ARGS, scheme="dpop", method="POST", url=url
        )
    assert issuer.redemptions == 0
    proof = key.proof("POST", url, token)
    await rs.verify_approval(
        token,
        tool="send_payment",
        arguments=ARGS,
        scheme="dpop",
        dpop_proofs=[proof],
        method="POST",
        url=url,
    )
    assert issuer.redemptions == 1


@pytest.mark.parametrize("status", [500, 401, 404])
async def test_authgate_not_confirming_fails_closed(
    rs: ResourceServer, issuer: Issuer, approval_token: str, status: int
) -> None:
    issuer.status = status
    with pytest.raises(StorageUnavailableError):
        await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)


async def test_authgate_unreachable_fails_closed(rs: ResourceServer, approval_token: str) -> None:
    assert rs.redeemer is not None
    rs.redeemer.url = "http://127.0.0.1:1/oauth2/approvals/redeem"
    rs.redeemer._http = httpx.AsyncClient()
    with pytest.raises(StorageUnavailableError):
        await rs.verify_approval(approval_token, tool="send_payment", arguments=ARGS)
    await rs.redeemer._http.aclose()


async def test_a_redemption_authgate_refuses_is_an_invalid_token(
    rs: ResourceServer, issuer: Issuer
) -> None:
    """A token authgate signed but never issued as an approval (no request behind its
    jti): its redemption is 400 ``invalid_token``, the call is refused."""
    token = issuer.mint(authorization_details=[payment()])
    with pytest.raises(InvalidTokenError):
        await rs.verify_approval(token, tool="send_payment", arguments=ARGS)


# Ordinary verification refuses approval tokens, on every face


async def test_verify_refuses_an_approval_token(rs: ResourceServer, approval_token: str) -> None:
    with pytest.raises(ApprovalTokenMisuseError):
        await rs.verify(approval_token)


async def test_mcp_verifier_refuses_an_approval_token(
    rs: ResourceServer, approval_token: str, issuer: Issuer
) -> None:
    verifier = AuthgateTokenVerifier(rs)
    assert await verifier.verify_token(approval_token) is None
    assert await verifier.verify_token(issuer.mint()) is not None


def web_app(rs: ResourceServer) -> FastAPI:
    app = FastAPI()
    install(app, rs)

    @app.get("/api/notes")
    async def notes(access: Access = Depends(require_scope("payments"))) -> dict[str, str]:
        return {"sub": access.subject}

    @app.post("/api/payments")
    async def pay(
        approval: Approval = Depends(require_approval(tool="send_payment")),
    ) -> dict[str, Any]:
        return {"paid": dict(approval.arguments), "summary": approval.detail["summary"]}

    return app


@pytest.fixture
async def web(rs: ResourceServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app(rs))
    async with httpx.AsyncClient(transport=transport, base_url="http://pay.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_require_scope_refuses_an_approval_token(
    web: httpx.AsyncClient, approval_token: str
) -> None:
    response = await web.get("/api/notes", headers=bearer(approval_token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "approval token" in response.json()["message"]


async def test_resource_middleware_refuses_an_approval_token(
    rs: ResourceServer, approval_token: str
) -> None:
    async def handler(_request: Request) -> JSONResponse:
        return JSONResponse({"ran": True})

    inner = Starlette(routes=[Route("/api/x", handler)])
    install(inner, rs)
    app = ResourceMiddleware(inner, resource_server=rs, rules={"/api": []})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pay.test") as client:
        response = await client.get("/api/x", headers=bearer(approval_token))
    assert response.status_code == 401


async def test_require_approval_runs_the_approved_call(
    web: httpx.AsyncClient, approval_token: str
) -> None:
    response = await web.post("/api/payments", json=ARGS, headers=bearer(approval_token))
    assert response.status_code == 200, response.text
    assert response.json() == {"paid": ARGS, "summary": "Pay 40 EUR to ACME"}
    again = await web.post("/api/payments", json=ARGS, headers=bearer(approval_token))
    assert again.status_code == 403
    assert again.json()["reason"] == "already_used"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({**ARGS, "amount": 4000}, "arguments_changed", id="arguments-changed"),
        pytest.param({**ARGS, "to": "MALLORY"}, "arguments_changed", id="payee-changed"),
    ],
)
async def test_require_approval_answers_403_with_the_reason(
    web: httpx.AsyncClient, approval_token: str, body: dict[str, Any], reason: str
) -> None:
    response = await web.post("/api/payments", json=body, headers=bearer(approval_token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_authorization"
    assert response.json()["reason"] == reason
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_authorization"')
    assert "resource_metadata=" in challenge
    assert approval_token not in response.text


async def test_require_approval_refuses_an_ordinary_token(
    web: httpx.AsyncClient, issuer: Issuer
) -> None:
    response = await web.post("/api/payments", json=ARGS, headers=bearer(issuer.mint()))
    assert response.status_code == 403
    assert response.json()["reason"] == "no_approval"


async def test_require_approval_without_a_token_answers_401(web: httpx.AsyncClient) -> None:
    response = await web.post("/api/payments", json=ARGS)
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"amount": 40, "currency": "EUR", "to": "ACME", "to": "MALLORY"}', id="dup"),
        pytest.param(b"[40]", id="not-an-object"),
        pytest.param(b'{"amount": NaN}', id="nan"),
        pytest.param(b"{", id="not-json"),
        pytest.param(b'{"amount": 9007199254740993}', id="integer-beyond-2**53"),
    ],
)
async def test_require_approval_refuses_ambiguous_bodies(
    web: httpx.AsyncClient, approval_token: str, issuer: Issuer, raw: bytes
) -> None:
    """A body two JSON parsers could read differently is no call at all (RFC 8259 s4)."""
    headers = {**bearer(approval_token), "Content-Type": "application/json"}
    response = await web.post("/api/payments", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"
    assert issuer.redemptions == 0


# The mcp gate, around a stand-in ASGI app (the real SDK runs in tests/approvals)


class Inner:
    """Stands for the SDK's app: authenticates with the verifier, records what ran."""

    def __init__(self, verifier: AuthgateTokenVerifier) -> None:
        self.verifier = verifier
        self.ran: list[tuple[bool, Approval | None]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        token = dict(scope["headers"])[b"authorization"].decode()[7:]
        accepted = await self.verifier.verify_token(token) is not None
        self.ran.append((accepted, approved_call()))
        await JSONResponse({"accepted": accepted, "size": len(body)})(scope, receive, send)


def rpc(name: str, arguments: Any) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


@pytest.fixture
async def gate(rs: ResourceServer) -> AsyncIterator[tuple[httpx.AsyncClient, Inner]]:
    inner = Inner(AuthgateTokenVerifier(rs))
    app = ApprovalGate(inner, resource_server=rs, tools=["send_payment"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pay.test") as client:
        yield client, inner


async def test_mcp_gate_passes_the_approved_call_and_the_verifier_accepts_it(
    gate: tuple[httpx.AsyncClient, Inner], approval_token: str
) -> None:
    client, inner = gate
    response = await client.post(
        "/api", json=rpc("send_payment", ARGS), headers=bearer(approval_token)
    )
    assert response.status_code == 200
    accepted, approval = inner.ran[0]
    assert accepted
    assert approval is not None
    assert approval.arguments == ARGS
    assert approved_call() is None  # only inside that request


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(rpc("send_payment", {**ARGS, "amount": 4000}), "arguments_changed", id="args"),
        pytest.param(rpc("send_payment", {}), "arguments_changed", id="no-args"),
    ],
)
async def test_mcp_gate_refuses_another_call(
    gate: tuple[httpx.AsyncClient, Inner], approval_token: str, message: Any, reason: str
) -> None:
    client, inner = gate
    response = await client.post("/api", json=message, headers=bearer(approval_token))
    assert response.status_code == 403
    assert response.json()["reason"] == reason
    assert inner.ran == []


async def test_mcp_gate_refuses_a_gated_tool_without_approval(
    gate: tuple[httpx.AsyncClient, Inner], issuer: Issuer
) -> None:
    client, inner = gate
    response = await client.post(
        "/api", json=rpc("send_payment", ARGS), headers=bearer(issuer.mint())
    )
    assert response.status_code == 403
    assert response.json()["reason"] == "no_approval"
    assert inner.ran == []


async def test_mcp_approval_token_is_refused_for_other_tools(
    gate: tuple[httpx.AsyncClient, Inner], approval_token: str
) -> None:
    """Outside the gated call the verifier refuses it: the SDK answers 401 (None)."""
    client, inner = gate
    response = await client.post("/api", json=rpc("whoami", {}), headers=bearer(approval_token))
    assert response.json() == {"accepted": False, "size": len(response.request.content)}
    assert inner.ran == [(False, None)]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "method": "ping",'
            b' "params": {"name": "send_payment", "arguments": {}}}',
            id="duplicate-method",
        ),
        pytest.param(
            b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
            b' "params": {"name": "send_payment", "arguments": {}}}]',
            id="batch",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
            b' "params": {"name": "send_payment", "arguments": [1]}}',
            id="arguments-not-an-object",
        ),
    ],
)
async def test_mcp_gate_refuses_ambiguous_messages(
    gate: tuple[httpx.AsyncClient, Inner], approval_token: str, raw: bytes
) -> None:
    client, inner = gate
    headers = {**bearer(approval_token), "Content-Type": "application/json"}
    response = await client.post("/api", content=raw, headers=headers)
    assert response.status_code == 400
    assert inner.ran == []


async def test_an_approval_without_the_route_scope_is_refused_and_not_spent(
    rs: ResourceServer, issuer: Issuer, approval_token: str
) -> None:
    from authgate.resource import InsufficientScopeError

    with pytest.raises(InsufficientScopeError):
        await rs.verify_approval(
            approval_token, tool="send_payment", arguments=ARGS, scopes=["payments:admin"]
        )
    assert issuer.redemptions == 0
