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

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from authgate import jsonlimits
from authgate.authserver.errors import OAuthError

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
MAX_SUMMARY = 200
_TOOL = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
_HASH = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url, no padding, of 32 bytes
_TOOL_CALL_MEMBERS = frozenset({"type", "resource", "tool", "arguments_sha256", "summary"})


@dataclass(frozen=True, slots=True)
class ApprovedAction:
    """What an approval is for: one resource and the entries, as the agent sent them."""

    resource: str
    details: list[dict[str, Any]]


def _bad(message: str) -> OAuthError:
    return OAuthError(message, error=INVALID_DETAILS)


def _printable(value: str) -> bool:
    return value.isprintable()


def _tool_call(entry: dict[str, Any]) -> dict[str, Any]:
    unknown = set(entry) - _TOOL_CALL_MEMBERS
    if unknown:
        raise _bad(f"tool_call does not allow {sorted(unknown)[0][:40]!r}")
    missing = _TOOL_CALL_MEMBERS - set(entry)
    if missing:
        raise _bad(f"tool_call needs {sorted(missing)[0]}")
    if any(not isinstance(value, str) for value in entry.values()):
        raise _bad("Every member of a tool_call is a string")
    if not _TOOL.match(entry["tool"]):
        raise _bad("tool must be 1 to 128 characters of A-Z a-z 0-9 _ . : / -")
    if not _HASH.match(entry["arguments_sha256"]):
        raise _bad("arguments_sha256 must be the base64url SHA-256 of the arguments")
    summary = entry["summary"]
    if not summary.strip() or len(summary) > MAX_SUMMARY or not _printable(summary):
        raise _bad(f"summary must be 1 to {MAX_SUMMARY} printable characters")
    return dict(entry)


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
