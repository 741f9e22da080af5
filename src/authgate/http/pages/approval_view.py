"""What ``/account`` shows of a request an agent is waiting on, in words.

A request (OpenID CIBA Core 1.0 s7.1) names the agent, may carry the agent's
``binding_message``, and lists the actions it wants (RFC 9396 s2
``authorization_details``). A ``tool_call`` entry reads as its summary, the tool and
the service's host; an entry of any other type is shown member by member, generically.

Everything here ends up as text: the template autoescapes it and ``approvals.js`` sets
it with ``textContent``. Nothing an agent sent is ever markup on the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authgate.authserver.approvals import PendingApproval
from authgate.http.pages.templates import format_time, iso_time
from authgate.runtime import Runtime

__all__ = ["ActionView", "ApprovalView", "Fact", "describe_action", "pending_views"]

# The members of a tool_call entry that the view shows in its own words.
_TOOL_CALL_SHOWN = frozenset({"type", "resource", "tool", "summary", "arguments_sha256"})


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ActionView:
    type: str
    title: str
    facts: tuple[Fact, ...]

    def as_json(self) -> dict[str, Any]:
        facts = [{"label": fact.label, "value": fact.value} for fact in self.facts]
        return {"type": self.type, "title": self.title, "facts": facts}


@dataclass(frozen=True, slots=True)
class ApprovalView:
    id: str
    agent: str
    binding_message: str | None
    scopes: tuple[str, ...]
    actions: tuple[ActionView, ...]
    created_at: int
    expires_at: int

    def as_json(self) -> dict[str, Any]:
        """The shape ``GET /account/approvals`` answers and ``approvals.js`` renders."""
        return {
            "id": self.id,
            "agent": self.agent,
            "binding_message": self.binding_message,
            "scopes": list(self.scopes),
            "actions": [action.as_json() for action in self.actions],
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "expires_at_iso": iso_time(self.expires_at),
            "expires_at_text": format_time(self.expires_at),
        }


def _text(value: Any) -> str:
    """A member's value as plain text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _host(resource: Any) -> str:
    """The service's host (and port when not the default), or the value as sent."""
    text = _text(resource)
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return text
    if not host:
        return text
    return f"{host}:{port}" if port is not None else host


def _other_facts(detail: Mapping[str, Any], shown: frozenset[str]) -> list[Fact]:
    return [Fact(str(key), _text(value)) for key, value in detail.items() if key not in shown]


def _tool_call(detail: Mapping[str, Any]) -> ActionView:
    tool = _text(detail.get("tool", ""))
    summary = detail.get("summary")
    title = _text(summary) if summary else f"Use the tool {tool}"
    facts = [Fact("Tool", tool), Fact("Service", _host(detail.get("resource", "")))]
    return ActionView("tool_call", title, (*facts, *_other_facts(detail, _TOOL_CALL_SHOWN)))


def describe_action(detail: Mapping[str, Any]) -> ActionView:
    """One RFC 9396 s2 entry in words; a type this page does not know, member by member."""
    kind = detail.get("type")
    if kind == "tool_call":
        return _tool_call(detail)
    name = _text(kind) if kind is not None else "unnamed"
    facts = _other_facts(detail, frozenset({"type"}))
    return ActionView(name, f"An action of the type “{name}”", tuple(facts))


def approval_view(pending: PendingApproval) -> ApprovalView:
    return ApprovalView(
        id=pending.id,
        agent=pending.agent_name or pending.client_id,
        binding_message=pending.binding_message or None,
        scopes=tuple(pending.scope.split()),
        actions=tuple(describe_action(detail) for detail in pending.authorization_details),
        created_at=int(pending.created_at),
        expires_at=int(pending.expires_at),
    )


async def pending_views(runtime: Runtime, user_id: str) -> list[ApprovalView]:
    """The user's waiting requests, oldest first (the one that expires soonest on top)."""
    rows = await runtime.approvals.pending_for(user_id)
    return sorted((approval_view(row) for row in rows), key=lambda view: view.expires_at)
