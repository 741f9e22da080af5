"""``authorization_details`` of an approval request (RFC 9396 s2, s5).

The parameter is a JSON array of objects, each with a ``type`` (s2). authgate knows one
type, ``tool_call`` (docs/ciba.md): one call of one tool at one resource, its arguments
named by their hash::

    {"type": "tool_call", "resource": "https://api.example.com/mcp", "tool": "send_payment",
     "arguments_sha256": "<43 chars base64url>", "summary": "Pay 40 EUR to ACME"}

Every member is a string and none other is allowed; an approval names at most
``MAX_ENTRIES`` calls, all at the same registered resource, which must declare the type
(``authgate clients create --authorization-details-type tool_call``). Anything else is
``invalid_authorization_details`` (RFC 9396 s5), checked before any user sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from authgate import jsonlimits
from authgate.authserver.errors import OAuthError
from authgate.errors import InvalidAuthorizationDetailsError
from authgate.tool_calls import validate_tool_call

__all__ = [
    "INVALID_DETAILS",
    "KNOWN_TYPES",
    "MAX_BYTES",
    "MAX_ENTRIES",
    "ApprovedAction",
    "parse_authorization_details",
]

INVALID_DETAILS = "invalid_authorization_details"  # RFC 9396 s5
MAX_BYTES = 4096
MAX_ENTRIES = 5


@dataclass(frozen=True, slots=True)
class ApprovedAction:
    """What an approval is for: one resource and the entries, as the agent sent them."""

    resource: str
    details: list[dict[str, Any]]


def _bad(message: str) -> OAuthError:
    return OAuthError(message, error=INVALID_DETAILS)


def _tool_call(entry: dict[str, Any]) -> dict[str, Any]:
    # One shape check for the server and the resource side (authgate.tool_calls): the
    # summary the user approves is refused with control or format characters here too.
    try:
        return validate_tool_call(entry)
    except InvalidAuthorizationDetailsError as exc:
        raise _bad(f"{exc.member}: {exc}") from exc


# The types authgate understands, each with its shape check (RFC 9396 s2: the type
# determines the other members). Listed in metadata (s10) when a resource declares them.
KNOWN_TYPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"tool_call": _tool_call}

# The types the resource at a URL declares, or None when no such resource is registered.
DeclaredTypes = Callable[[str], Awaitable[frozenset[str] | None]]


def _entries(raw: str) -> list[Any]:
    if len(raw.encode("utf-8")) > MAX_BYTES:
        raise _bad(f"authorization_details is longer than {MAX_BYTES} bytes")
    try:
        value = jsonlimits.loads(raw)
    except ValueError as exc:
        raise _bad("authorization_details is not JSON") from exc
    if not isinstance(value, list) or not value:
        raise _bad("authorization_details must be a non-empty JSON array (RFC 9396 s2)")
    if len(value) > MAX_ENTRIES:
        raise _bad(f"At most {MAX_ENTRIES} entries in authorization_details")
    return value


def _entry(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise _bad("Each entry is an object with a string type (RFC 9396 s2)")
    check = KNOWN_TYPES.get(value["type"])
    if check is None:
        raise _bad(f"Unknown authorization_details type {value['type'][:40]!r}")
    if not isinstance(value.get("resource"), str):
        raise _bad("Each entry names its resource")
    return check(value)


async def parse_authorization_details(raw: str, declared: DeclaredTypes) -> ApprovedAction:
    """The validated entries of ``raw``; ``OAuthError`` (RFC 9396 s5) for anything else."""
    entries = [_entry(value) for value in _entries(raw)]
    resources = {entry["resource"] for entry in entries}
    if len(resources) != 1:
        raise _bad("All entries must name the same resource")
    resource = resources.pop()
    types = await declared(resource)
    if types is None:
        raise _bad("The resource is not registered")
    undeclared = sorted({entry["type"] for entry in entries} - types)
    if undeclared:
        raise _bad(f"The resource does not accept {undeclared[0]!r} authorization details")
    return ApprovedAction(resource=resource, details=entries)
