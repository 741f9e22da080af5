"""Approved actions at the resource: match the call to the approval, then redeem it once.

An approval token (issue 17, OpenID CIBA Core 1.0 s10-s11) is an RFC 9068 access token
for this resource that also carries ``authorization_details`` (RFC 9396 s2, s9.1): the
entries the user approved. The resource accepts it only for a call that one of those
entries describes: same ``type``, same ``resource`` (this one), same ``tool``, and the
SHA-256 of the call's actual arguments (``authgate.tool_calls``) equal to the approved
``arguments_sha256``, compared in constant time. Then, and only then, it redeems the
token at authgate (``POST /oauth2/approvals/redeem``), which marks its ``jti`` used in
one conditional UPDATE: a second use is refused on every instance of every resource.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from authgate import jsonlimits
from authgate.errors import (
    ApprovalMismatchError,
    ApprovalMissingError,
    ApprovalUsedError,
    InvalidAuthorizationDetailsError,
    InvalidTokenError,
    StorageUnavailableError,
)
from authgate.resource._access import Access
from authgate.tool_calls import TOOL_CALL, arguments_sha256, validate_tool_call

__all__ = ["SUPPORTED_TYPES", "Approval", "Redeemer", "match_tool_call"]

logger = logging.getLogger("authgate.resource")

SUPPORTED_TYPES = (TOOL_CALL,)


@dataclass(frozen=True, slots=True)
class Approval:
    """A call the user approved, checked and redeemed: run exactly ``arguments``."""

    access: Access
    detail: Mapping[str, str]  # the approved RFC 9396 entry this call matched
    arguments: Mapping[str, Any] = field(repr=False)  # what was hashed; never logged


def _entries(claims: Mapping[str, Any], type_: str, resource: str) -> list[dict[str, str]]:
    """The well-formed entries of ``type_`` for ``resource``; malformed ones count as none."""
    details = claims.get("authorization_details")
    if not isinstance(details, list):
        raise ApprovalMissingError()
    entries = []
    for detail in details:
        if not isinstance(detail, dict) or detail.get("type") != type_:
            continue
        try:
            entry = validate_tool_call(detail)
        except InvalidAuthorizationDetailsError:
            continue
        # RFC 9396 s2: the entry names where it applies; aud said so too, both must agree.
        if entry["resource"] == resource:
            entries.append(entry)
    return entries


def match_tool_call(
    claims: Mapping[str, Any], *, resource: str, tool: str, arguments: Mapping[str, Any]
) -> dict[str, str]:
    """The approved entry describing this call; ``ApprovalRequiredError`` saying why not."""
    entries = _entries(claims, TOOL_CALL, resource)
    if not entries:
        raise ApprovalMissingError()
    for_tool = [entry for entry in entries if hmac.compare_digest(entry["tool"], tool)]
    if not for_tool:
        raise ApprovalMismatchError("wrong_tool")
    actual = arguments_sha256(arguments)
    matched = None
    for entry in for_tool:  # every entry compared: the time does not say which matched
        if hmac.compare_digest(entry["arguments_sha256"], actual):
            matched = entry
    if matched is None:
        raise ApprovalMismatchError("arguments_changed")
    return matched


class Redeemer:
    """``POST /oauth2/approvals/redeem`` as this resource's client (HTTP Basic).

    200 ``redeemed``: the first use; 409 ``already_used``; 400: authgate does not take it
    as an approval token for this resource. Anything else (unreachable, 5xx, our own
    credentials refused) fails closed with 503: an approval never counts as unused
    because authgate could not be asked.
    """

    def __init__(
        self, *, url: str, client_id: str, client_secret: str, http: httpx.AsyncClient
    ) -> None:
        self.url = url
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._http = http

    async def redeem(self, token: str) -> dict[str, Any]:
        try:
            response = await self._http.post(self.url, data={"token": token}, auth=self._auth)
        except httpx.HTTPError as exc:
            raise _unavailable() from exc
        if response.status_code == 409:
            raise ApprovalUsedError()
        if response.status_code == 400:
            raise InvalidTokenError()
        if response.status_code != 200:
            logger.error("approval redemption at %s answered %s", self.url, response.status_code)
            raise _unavailable()
        try:
            body = jsonlimits.loads(response.content)
        except ValueError as exc:
            raise _unavailable() from exc
        if not isinstance(body, dict) or body.get("redeemed") is not True:
            raise _unavailable()
        return body


def _unavailable() -> StorageUnavailableError:
    return StorageUnavailableError(
        "approvals", "Cannot confirm the approval with the authorization server; retry shortly"
    )
