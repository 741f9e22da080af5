"""How /account words a request an agent waits on (RFC 9396 s2 authorization_details)."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.authserver.approvals import PendingApproval
from authgate.http.pages.approval_view import ActionView, Fact, approval_view, describe_action

PAYMENT = {
    "type": "tool_call",
    "resource": "https://payments.example.com:8443/mcp",
    "tool": "send_payment",
    "arguments_sha256": "x" * 43,
    "summary": "Pay 40 EUR to ACME",
}


def test_a_tool_call_reads_as_its_summary_tool_and_service_host() -> None:
    assert describe_action(PAYMENT) == ActionView(
        "tool_call",
        "Pay 40 EUR to ACME",
        (Fact("Tool", "send_payment"), Fact("Service", "payments.example.com:8443")),
    )


def test_a_tool_call_without_summary_names_the_tool() -> None:
    detail = {**PAYMENT, "resource": "https://api.example.com/"}
    del detail["summary"]
    action = describe_action(detail)
    assert action.title == "Use the tool send_payment"
    assert Fact("Service", "api.example.com") in action.facts


@pytest.mark.parametrize(
    ("detail", "title", "facts"),
    [
        pytest.param(
            {"type": "payment_initiation", "amount": {"currency": "EUR", "value": "40"}},
            "An action of the type “payment_initiation”",
            (Fact("amount", '{"currency": "EUR", "value": "40"}'),),
            id="unknown-type-member-by-member",
        ),
        pytest.param(
            {"type": "<img src=x onerror=alert(1)>", "note": "<script>alert(2)</script>"},
            "An action of the type “<img src=x onerror=alert(1)>”",
            (Fact("note", "<script>alert(2)</script>"),),
            id="markup-stays-text",
        ),
        pytest.param(
            {"locations": ["x"]},
            "An action of the type “unnamed”",
            (Fact("locations", '["x"]'),),
            id="no-type",
        ),
        pytest.param({"type": 7}, "An action of the type “7”", (), id="type-not-a-string"),
    ],
)
def test_an_entry_of_another_type_is_shown_generically(
    detail: dict[str, Any], title: str, facts: tuple[Fact, ...]
) -> None:
    action = describe_action(detail)
    assert (action.title, action.facts) == (title, facts)


def test_extra_members_of_a_tool_call_are_not_hidden() -> None:
    action = describe_action({**PAYMENT, "amount": 40})
    assert Fact("amount", "40") in action.facts


def test_an_unparseable_resource_is_shown_as_sent() -> None:
    action = describe_action({**PAYMENT, "resource": "http://[::1"})
    assert Fact("Service", "http://[::1") in action.facts


def test_the_view_and_its_json_carry_the_agent_message_and_actions() -> None:
    pending = PendingApproval(
        id="a1",
        user_id="u1",
        client_id="agent-1",
        agent_name="",
        binding_message="Code 4F2K",
        scope="payments read",
        authorization_details=[PAYMENT],
        created_at=1_700_000_000.5,
        expires_at=1_700_000_300.5,
    )
    body = approval_view(pending).as_json()
    assert body["agent"] == "agent-1"  # no display name: the client id
    assert body["binding_message"] == "Code 4F2K"
    assert body["scopes"] == ["payments", "read"]
    assert body["actions"][0]["title"] == "Pay 40 EUR to ACME"
    assert body["actions"][0]["facts"][0] == {"label": "Tool", "value": "send_payment"}
    assert body["expires_at"] == 1_700_000_300
    assert body["expires_at_iso"] == "2023-11-14T22:18:20Z"
