"""Errors of the authorization server, as data (RFC 6749 s4.1.2.1, s5.2; RFC 7591 s3.2.2).

AuthgateError
└── OAuthError                    (.error: the RFC code)
    ├── AuthorizeError            redirected back to the client (s4.1.2.1)
    ├── UnsafeRedirectError       shown as a page, never redirected (s4.1.2.1, s3.1.2.4)
    ├── GrantError                token endpoint, 400 (s5.2)
    └── ClientMetadataError       registration, 400 (RFC 7591 s3.2.2)
"""

from __future__ import annotations

from authgate.errors import AuthgateError

__all__ = [
    "AuthorizeError",
    "ClientMetadataError",
    "GrantError",
    "OAuthError",
    "UnsafeRedirectError",
]


class OAuthError(AuthgateError):
    """An OAuth error answer: ``error`` is the registered code, ``message`` the description."""

    error = "invalid_request"
    message = "The request is not valid"
    status_code = 400

    def __init__(self, message: str | None = None, *, error: str | None = None) -> None:
        if error is not None:
            self.error = error
        super().__init__(message)


class AuthorizeError(OAuthError):
    """The client and redirect URI are known good: the error goes back to the client."""

    def __init__(self, message: str, *, error: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(message, error=error)
        self.redirect_uri = redirect_uri
        self.state = state


class UnsafeRedirectError(OAuthError):
    """Unknown client or a redirect URI not registered: the user sees a page instead.

    RFC 6749 s4.1.2.1: the server MUST NOT redirect to an unverified URI (open redirector).
    """


class GrantError(OAuthError):
    error = "invalid_grant"
    message = "The authorization grant is not valid"


class ClientMetadataError(OAuthError):
    error = "invalid_client_metadata"
    message = "The client metadata is not valid"
