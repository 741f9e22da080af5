"""One agent action as an RFC 9396 authorization details entry of type ``tool_call``.

    {"type": "tool_call", "resource": "https://pay.example/api", "tool": "send_payment",
     "arguments_sha256": "<43 chars>", "summary": "Pay 40 EUR to ACME"}

The user approves this entry (OpenID CIBA Core 1.0, issue 17); the approval token carries
it; the resource server recomputes ``arguments_sha256`` from the call it receives and
refuses any other call. The hash is base64url (RFC 4648 s5, no padding) of SHA-256 over
the RFC 8785 (JCS) canonical JSON of the arguments object, so any language computes the
same value from the same JSON: member order, whitespace and number spelling
(``40`` vs ``40.0``) do not matter, any change of value does.

A root module: the standard library, ``rfc8785`` and ``jsonlimits`` only. The agent
(SDK), the authorization server and the resource server all use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import rfc8785

from authgate import jsonlimits
from authgate.errors import InvalidAuthorizationDetailsError

__all__ = [
    "MAX_SUMMARY",
    "TOOL_CALL",
    "arguments_sha256",
    "parse_arguments",
    "parse_json",
    "tool_call",
    "validate_tool_call",
]

TOOL_CALL = "tool_call"
MAX_SUMMARY = 200
MAX_RESOURCE = 2048
_MEMBERS = frozenset({"type", "resource", "tool", "arguments_sha256", "summary"})
# MCP tool names (1 to 128 of A-Z a-z 0-9 _ - .), plus : and / for namespaced tools, as
# /oauth2/bc-authorize accepts them (authserver/authorization_details.py).
_TOOL = re.compile(r"[A-Za-z0-9_.:/\-]{1,128}")
_SHA256 = re.compile(r"[A-Za-z0-9_\-]{43}")
_ZWJ = "\u200d"  # kept: emoji sequences; other format characters can disguise the text


def arguments_sha256(arguments: Mapping[str, Any]) -> str:
    """base64url(SHA-256(JCS(arguments))) without padding (RFC 8785 s3, RFC 4648 s5).

    Raises ``InvalidAuthorizationDetailsError`` for what JCS cannot represent exactly
    (integers beyond 2**53, NaN, non-string member names, non-JSON values).
    """
    if not isinstance(arguments, Mapping):
        raise InvalidAuthorizationDetailsError("arguments", "The arguments must be an object")
    try:
        canonical = rfc8785.dumps(dict(arguments))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidAuthorizationDetailsError(
            "arguments", "The arguments cannot be canonicalized (RFC 8785)"
        ) from exc
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")
    return members


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # RFC 8259 s6: no NaN or Infinity


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constants)


def parse_json(raw: bytes) -> Any:
    """Untrusted JSON, bounded (``jsonlimits``), refusing duplicate member names.

    Two parsers keeping different duplicates would hash one call and run another
    (RFC 8259 s4 leaves the behaviour open), so such a text is no call at all.
    """
    try:
        return jsonlimits.loads(raw, decoder=_DECODER)
    except (ValueError, UnicodeError) as exc:
        raise InvalidAuthorizationDetailsError("arguments", "The body is not valid JSON") from exc


def parse_arguments(raw: bytes) -> dict[str, Any]:
    """A request body as the arguments object the hash is computed over."""
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise InvalidAuthorizationDetailsError("arguments", "The body must be a JSON object")
    return value


def tool_call(
    *, resource: str, tool: str, arguments: Mapping[str, Any], summary: str
) -> dict[str, str]:
    """The entry an agent sends to ``/oauth2/bc-authorize`` for one call it will make."""
    return validate_tool_call(
        {
            "type": TOOL_CALL,
            "resource": resource,
            "tool": tool,
            "arguments_sha256": arguments_sha256(arguments),
            "summary": summary,
        }
    )


def validate_tool_call(detail: Any) -> dict[str, str]:
    """RFC 9396 s2: one well-formed ``tool_call`` entry, or ``InvalidAuthorizationDetailsError``.

    Every member is required and a string; unknown members are refused (s2 lets each
    type define its members; s5 ``invalid_authorization_details``).
    """
    if not isinstance(detail, dict):
        raise InvalidAuthorizationDetailsError("type", "Each entry must be an object")
    if detail.get("type") != TOOL_CALL:
        raise InvalidAuthorizationDetailsError("type", "The entry's type must be tool_call")
    wrong = sorted(_MEMBERS.symmetric_difference(detail))
    if wrong:
        raise InvalidAuthorizationDetailsError(
            wrong[0], f"tool_call entries have exactly {', '.join(sorted(_MEMBERS))}"
        )
    for name in sorted(detail):
        if not isinstance(detail[name], str):
            raise InvalidAuthorizationDetailsError(name, "Every member must be a string")
    _check_resource(detail["resource"])
    if not _TOOL.fullmatch(detail["tool"]):
        raise InvalidAuthorizationDetailsError("tool", "Tool names are 1-128 of A-Za-z0-9_.:/-")
    _check_sha256(detail["arguments_sha256"])
    _check_summary(detail["summary"])
    return dict(detail)


def _check_resource(resource: str) -> None:
    if not resource or len(resource) > MAX_RESOURCE or not resource.isascii():
        raise InvalidAuthorizationDetailsError("resource", "The resource must be a URL")
    if not resource.startswith(("https://", "http://")) or any(c.isspace() for c in resource):
        raise InvalidAuthorizationDetailsError("resource", "The resource must be a URL")


def _check_sha256(value: str) -> None:
    if not _SHA256.fullmatch(value):
        raise InvalidAuthorizationDetailsError("arguments_sha256", "Not a base64url SHA-256")
    try:
        digest = base64.urlsafe_b64decode(value + "=")
    except (binascii.Error, ValueError) as exc:
        raise InvalidAuthorizationDetailsError("arguments_sha256", "Not base64url") from exc
    # The canonical spelling only: 43 characters carry 258 bits, the last 2 must be 0.
    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") != value:
        raise InvalidAuthorizationDetailsError("arguments_sha256", "Not canonical base64url")


def _check_summary(summary: str) -> None:
    if not summary.strip() or len(summary) > MAX_SUMMARY:
        raise InvalidAuthorizationDetailsError(
            "summary", f"The summary must be 1 to {MAX_SUMMARY} characters"
        )
    # Control and format characters (bidi overrides, zero-width spaces) could make the
    # text the user approves read differently from what it says (Trojan Source).
    for char in summary:
        if char != _ZWJ and unicodedata.category(char) in ("Cc", "Cf"):
            raise InvalidAuthorizationDetailsError(
                "summary", "The summary must not contain control or format characters"
            )
