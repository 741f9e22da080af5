"""RFC 6750 s3 answers to a refused request, framework-free: the ``web`` and ``mcp`` faces
both send them. Bodies are ``{"error", "message"}`` (plus ``reason`` for approvals) and
never echo the token."""

from __future__ import annotations

from typing import Any

from authgate.errors import (
    ApprovalRequiredError,
    AuthgateError,
    StorageUnavailableError,
    TokenMissingError,
)
from authgate.resource._access import InsufficientScopeError

__all__ = ["answer"]


def answer(exc: AuthgateError, metadata_url: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body for ``exc``; ``metadata_url`` is RFC 9728 s5.1's."""
    metadata = f'resource_metadata="{metadata_url}"'
    challenge: str | None = f"Bearer {metadata}"
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if isinstance(exc, InsufficientScopeError):
        scope = " ".join(exc.required)
        challenge = f'Bearer error="insufficient_scope", scope="{scope}", {metadata}'
    elif isinstance(exc, ApprovalRequiredError):
        # Not an RFC 6750 code: a valid token that does not approve this call (issue 17).
        body["reason"] = exc.reason
        challenge = (
            f'Bearer error="insufficient_authorization", error_description="{exc.reason}", '
            f"{metadata}"
        )
    elif isinstance(exc, StorageUnavailableError):
        headers["Retry-After"] = "1"
        challenge = None
    elif not isinstance(exc, TokenMissingError) and exc.status_code == 401:
        challenge = f'Bearer error="invalid_token", {metadata}'
    if challenge:
        headers["WWW-Authenticate"] = challenge
    return exc.status_code, headers, body
