"""The error tree. Every error is data: a stable ``error`` title, a ``message``
for people, and the HTTP ``status_code`` the HTTP layer answers with. Errors never
carry token, secret or password values.

    AuthgateError
    ├── ConfigurationError
    │   └── WeakSecretError                 (.variable)
    ├── AuthenticationError                 401
    │   ├── TokenMissingError
    │   ├── InvalidTokenError
    │   │   ├── ExpiredTokenError
    │   │   ├── MalformedTokenError
    │   │   ├── InvalidSignatureError
    │   │   ├── InvalidClaimError           (.claim)
    │   │   ├── WrongTokenTypeError
    │   │   ├── RevokedTokenError
    │   │   ├── DeviceMismatchError
    │   │   ├── DPoPBindingError            (.reason)
    │   │   └── ApprovalTokenMisuseError
    │   ├── DPoPProofError                  (.reason, .nonce)
    │   │   └── UseDPoPNonceError
    │   ├── RefreshTokenError
    │   │   ├── RefreshTokenReuseError
    │   │   └── RefreshDeviceMismatchError
    │   └── InvalidCredentialsError
    ├── PermissionDeniedError               403 (.missing)
    ├── DelegationPolicyError               403
    ├── CsrfError                           403
    ├── InvalidRequestError                 400
    │   ├── PasswordPolicyError             422
    │   ├── TokenInUrlError
    │   ├── MultipleCredentialsError
    │   └── InvalidAuthorizationDetailsError (.member)
    ├── RegistrationError
    │   ├── RegistrationClosedError         403
    │   └── EmailTakenError                 409
    ├── NotFoundError                       404
    ├── OAuthLoginError                     400 (.provider)
    │   ├── UnknownProviderError            404
    │   ├── OAuthStateError                 (.reason)
    │   ├── ProviderDeniedError             (.provider_error)
    │   ├── IssuerMismatchError
    │   ├── CodeExchangeError
    │   ├── IdTokenError                    (.claim)
    │   ├── RedirectNotAllowedError
    │   ├── AccountDisabledError            403
    │   ├── UnverifiedAccountError          409
    │   └── ProviderUnavailableError        502
    ├── VaultError                          (.name)
    │   ├── CredentialNotFoundError         404
    │   ├── CredentialConflictError         409
    │   └── ReconsentRequiredError          409
    ├── StorageUnavailableError             503 (.store)
    │   └── RevocationNotRecordedError
    ├── ApprovalError                       (human approval of an agent action, CIBA)
    │   ├── ApprovalNotFoundError           404
    │   ├── ApprovalConflictError           409 (.reason: decided | expired)
    │   └── ApprovalRequiredError           403 (.reason), at the resource
    │       ├── ApprovalMissingError
    │       ├── ApprovalMismatchError
    │       └── ApprovalUsedError
    └── AccountError                        (accounts: links, verification, MFA)
        ├── InvalidLinkError                400
        ├── EmailNotVerifiedError           403
        ├── FeatureUnavailableError         404
        ├── SecondFactorError               401
        ├── SecondFactorLockedError         429 (.retry_after)
        └── StepUpRequiredError             401 (.max_age)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "ApprovalMismatchError",
    "ApprovalMissingError",
    "ApprovalRequiredError",
    "ApprovalTokenMisuseError",
    "ApprovalUsedError",
    "InvalidAuthorizationDetailsError",
    "AccountDisabledError",
    "ApprovalConflictError",
    "ApprovalError",
    "ApprovalNotFoundError",
    "AccountError",
    "UnverifiedAccountError",
    "EmailNotVerifiedError",
    "FeatureUnavailableError",
    "InvalidLinkError",
    "SecondFactorError",
    "SecondFactorLockedError",
    "StepUpRequiredError",
    "AuthenticationError",
    "AuthgateError",
    "CodeExchangeError",
    "ConfigurationError",
    "CredentialConflictError",
    "CredentialNotFoundError",
    "CsrfError",
    "DPoPBindingError",
    "DPoPProofError",
    "DelegationPolicyError",
    "DeviceMismatchError",
    "EmailTakenError",
    "ExpiredTokenError",
    "IdTokenError",
    "InvalidClaimError",
    "InvalidCredentialsError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenError",
    "IssuerMismatchError",
    "MalformedTokenError",
    "MultipleCredentialsError",
    "NotFoundError",
    "OAuthLoginError",
    "OAuthStateError",
    "PasswordPolicyError",
    "PermissionDeniedError",
    "ProviderDeniedError",
    "ProviderUnavailableError",
    "ReconsentRequiredError",
    "RedirectNotAllowedError",
    "RefreshDeviceMismatchError",
    "RefreshTokenError",
    "RefreshTokenReuseError",
    "RegistrationClosedError",
    "RegistrationError",
    "RevocationNotRecordedError",
    "RevokedTokenError",
    "StorageUnavailableError",
    "TokenInUrlError",
    "TokenMissingError",
    "UnknownProviderError",
    "UseDPoPNonceError",
    "VaultError",
    "WeakSecretError",
    "WrongTokenTypeError",
]


class AuthgateError(Exception):
    """Root of every error authgate raises on purpose."""

    error: str = "Error"
    message: str = "The request could not be processed"
    status_code: int = 400

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class ConfigurationError(AuthgateError):
    error = "Configuration error"
    status_code = 500


class WeakSecretError(ConfigurationError):
    """A configured secret fails the strength rules; names the variable, never the value."""

    def __init__(self, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(f"{variable} is not acceptable: {reason}")


class AuthenticationError(AuthgateError):
    error = "Authentication failed"
    message = "Invalid or expired token"
    status_code = 401
    # RFC 6750 s3.1 error code for the WWW-Authenticate header; None omits it.
    bearer_error: str | None = "invalid_token"


class TokenMissingError(AuthenticationError):
    error = "Authentication required"
    message = "Provide Bearer token in Authorization header"
    bearer_error = None


class InvalidTokenError(AuthenticationError):
    """Any reason a presented token is not accepted."""

    reason = "invalid"


class ExpiredTokenError(InvalidTokenError):
    error = "Token expired"
    message = "Please refresh your token or login again"
    reason = "expired"


class MalformedTokenError(InvalidTokenError):
    reason = "malformed"


class InvalidSignatureError(InvalidTokenError):
    reason = "signature"


class InvalidClaimError(InvalidTokenError):
    reason = "claim"

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__()


class WrongTokenTypeError(InvalidTokenError):
    reason = "token_type"


class RevokedTokenError(InvalidTokenError):
    reason = "revoked"


class DeviceMismatchError(InvalidTokenError):
    reason = "device_mismatch"


class DPoPBindingError(InvalidTokenError):
    """RFC 9449 s7.1: a DPoP-bound token without the DPoP scheme, or DPoP with an unbound one."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # bearer_downgrade | not_bound | no_verifier
        super().__init__()


class ApprovalTokenMisuseError(InvalidTokenError):
    """An approval token (one carrying ``authorization_details``) used as an ordinary one.

    It grants exactly the action the user approved, once, and only through
    ``require_approval`` (issue 17); everywhere else it is refused.
    """

    reason = "approval_token"
    message = "An approval token is accepted only for the one action it approves"


class DPoPProofError(AuthenticationError):
    """RFC 9449 s4.3: the DPoP proof failed a check; ``reason`` names which, never the proof."""

    error = "Invalid DPoP proof"
    message = "The DPoP proof is missing or invalid"
    bearer_error = "invalid_dpop_proof"

    def __init__(self, reason: str, *, nonce: str | None = None) -> None:
        self.reason = reason
        self.nonce = nonce  # a fresh server nonce to send back as DPoP-Nonce (s8, s9)
        super().__init__()


class UseDPoPNonceError(DPoPProofError):
    """RFC 9449 s8, s9: the proof lacks the current server nonce; retry with ``nonce``."""

    error = "DPoP nonce required"
    message = "Retry with a DPoP proof carrying the nonce from the DPoP-Nonce header"
    bearer_error = "use_dpop_nonce"


class RefreshTokenError(AuthenticationError):
    error = "Invalid refresh token"
    message = "The refresh token is invalid, expired or revoked; please login again"


class RefreshTokenReuseError(RefreshTokenError):
    """An already rotated refresh token came back: the session is revoked (RFC 9700 s4.14)."""


class RefreshDeviceMismatchError(RefreshTokenError):
    message = "The refresh token was presented from a different device; please login again"


class InvalidCredentialsError(AuthenticationError):
    error = "Invalid credentials"
    message = "Invalid email or password"
    bearer_error = None


class PermissionDeniedError(AuthgateError):
    error = "Insufficient permissions"
    status_code = 403

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = tuple(sorted(missing))
        super().__init__(f"This action requires: {', '.join(self.missing)}")


class CsrfError(AuthgateError):
    """A cookie-authenticated change without a matching CSRF token or from a foreign origin."""

    error = "CSRF check failed"
    message = "Send the csrf_token cookie value in the X-CSRF-Token header, from this site"
    status_code = 403


class DelegationPolicyError(AuthgateError):
    """The route demands (or forbids) an agent acting for a user."""

    error = "Insufficient permissions"
    status_code = 403


class InvalidRequestError(AuthgateError):
    error = "Invalid request"
    status_code = 400


class PasswordPolicyError(InvalidRequestError):
    error = "Weak password"
    status_code = 422


class TokenInUrlError(InvalidRequestError):
    """RFC 6750 s5.3: tokens in URLs leak through logs and referrers; refuse them."""

    message = "Tokens must not be sent in the URL; use the Authorization header"


class MultipleCredentialsError(InvalidRequestError):
    """RFC 6750 s2: a request uses one way of sending its access token, never two.

    An auth cookie for one user with a Bearer token for another is not resolved by
    picking one: the request is refused (``invalid_request``, s3.1).
    """

    message = "Send the access token one way: the Authorization header or the cookie, not both"
    bearer_error = "invalid_request"


class InvalidAuthorizationDetailsError(InvalidRequestError):
    """RFC 9396 s5 ``invalid_authorization_details``; ``member`` names the faulty member."""

    error = "invalid_authorization_details"

    def __init__(self, member: str, message: str | None = None) -> None:
        self.member = member
        super().__init__(message or "The authorization details are not acceptable")


class RegistrationError(AuthgateError):
    error = "Registration failed"


class RegistrationClosedError(RegistrationError):
    message = "Registration is disabled"
    status_code = 403


class EmailTakenError(RegistrationError):
    message = "An account with this email already exists"
    status_code = 409


class NotFoundError(AuthgateError):
    error = "Not found"
    message = "The resource does not exist"
    status_code = 404


class OAuthLoginError(AuthgateError):
    """A sign-in through an OAuth/OIDC provider failed; nothing was created."""

    error = "OAuth login failed"
    message = "The sign-in with the provider could not be completed; please start again"
    status_code = 400

    def __init__(self, provider: str, message: str | None = None) -> None:
        self.provider = provider
        super().__init__(message)


class UnknownProviderError(OAuthLoginError):
    error = "Unknown provider"
    message = "No such sign-in provider is configured"
    status_code = 404


class OAuthStateError(OAuthLoginError):
    """RFC 9700 s4.7: the callback is not bound to a login this browser started."""

    error = "Invalid OAuth state"
    message = "The sign-in request is missing, expired, already used or does not match"

    def __init__(self, provider: str, reason: str) -> None:
        self.reason = reason  # missing | malformed | mismatch | provider | expired | replayed
        super().__init__(provider)


class ProviderDeniedError(OAuthLoginError):
    """The provider answered the authorization request with ``error`` (RFC 6749 s4.1.2.1)."""

    error = "OAuth access denied"

    def __init__(self, provider: str, provider_error: str) -> None:
        self.provider_error = provider_error
        super().__init__(provider, f"The provider refused the sign-in: {provider_error}")


class IssuerMismatchError(OAuthLoginError):
    """RFC 9207 s2.4: the authorization response names another issuer (mix-up attack)."""

    error = "Issuer mismatch"
    message = "The authorization response came from an unexpected issuer"


class CodeExchangeError(OAuthLoginError):
    """The token endpoint refused the code (used, expired, or the PKCE verifier differs)."""

    error = "Code exchange failed"
    message = "The provider refused the authorization code; please start again"


class IdTokenError(OAuthLoginError):
    """OIDC Core s3.1.3.7: the ID token failed a check; ``claim`` names which."""

    error = "Invalid ID token"
    message = "The provider's ID token was not accepted"

    def __init__(self, provider: str, claim: str) -> None:
        self.claim = claim
        super().__init__(provider, f"The provider's ID token was not accepted ({claim})")


class RedirectNotAllowedError(OAuthLoginError):
    """RFC 9700 s4.11: return targets come from an allow-list only (no open redirect)."""

    error = "Redirect not allowed"
    message = "The return target is not on the allow-list"


class AccountDisabledError(OAuthLoginError):
    error = "Account disabled"
    message = "This account is disabled"
    status_code = 403


class UnverifiedAccountError(OAuthLoginError):
    """The provider's verified email belongs to an account whose address is unverified.

    Linking would hand the account to whoever registered the address first (a
    pre-hijack); the owner proves the address first (verification or a reset).
    """

    error = "Account not verified"
    message = (
        "An account with this email exists but its address is not verified. Sign in with "
        "its password and verify the address, or reset the password, then try again"
    )
    status_code = 409


class ProviderUnavailableError(OAuthLoginError):
    """The provider did not answer in time, or answered with a server error."""

    error = "Provider unavailable"
    message = "The sign-in provider did not answer in time; please try again"
    status_code = 502


class VaultError(AuthgateError):
    """A connected account or stored key could not be used; ``name`` is the provider."""

    error = "Vault error"

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        super().__init__(message)


class CredentialNotFoundError(VaultError):
    """Nothing connected or stored under this name for this owner (or it was removed)."""

    error = "Not connected"
    message = "No connected account or stored key for this provider"
    status_code = 404


class CredentialConflictError(VaultError):
    error = "Conflict"
    message = "A connected account already uses this name; disconnect it first"
    status_code = 409


class ReconsentRequiredError(VaultError):
    """The provider refused the stored refresh token: the user must connect again."""

    error = "Reconsent required"
    message = "The provider no longer accepts this connection; the user must connect it again"
    status_code = 409


class StorageUnavailableError(AuthgateError):
    """The database or Redis cannot be reached in time (down, or its pool exhausted).

    Answered with 503 so clients retry; never a hang and never a 500.
    """

    error = "Service unavailable"
    message = "The authentication store is temporarily unavailable; retry shortly"
    status_code = 503

    def __init__(self, store: str = "database", message: str | None = None) -> None:
        self.store = store
        super().__init__(message)


class RevocationNotRecordedError(StorageUnavailableError):
    """A logout applied on this instance that the database could not record yet.

    The instance refuses the session's tokens at once and records the revocation when
    the database is back (sessions/revoker.py); the answer says so rather than pretend.
    """

    message = (
        "The logout is not recorded yet: the database is unavailable. This instance "
        "refuses the token from now on and records the logout when the database is back"
    )


class AccountError(AuthgateError):
    """The account lifecycle: mailed links, verification, second factors."""

    error = "Account error"


class InvalidLinkError(AccountError):
    """A mailed link that is unknown, altered, expired or already used (all alike)."""

    error = "Invalid link"
    message = "This link is invalid, has expired or was already used; ask for a new one"
    status_code = 400


class EmailNotVerifiedError(AccountError):
    error = "Email not verified"
    message = "Confirm your email address with the link we sent before signing in"
    status_code = 403


class FeatureUnavailableError(AccountError):
    error = "Not available"
    message = "This feature is not enabled on this server"
    status_code = 404


class SecondFactorError(AccountError):
    """A wrong, replayed or expired one-time code, recovery code or passkey assertion."""

    error = "Invalid second factor"
    message = "The code is not valid; try again"
    status_code = 401


class SecondFactorLockedError(AccountError):
    error = "Too many attempts"
    message = "Too many wrong codes; second-factor checks are locked for a while"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__()


class StepUpRequiredError(AccountError):
    """RFC 9470 s3: the token's authentication is too weak or too old for this action."""

    error = "Step-up required"
    message = "This action needs a recent second factor: verify it and retry"
    status_code = 401

    def __init__(self, max_age: int | None = None, message: str | None = None) -> None:
        self.max_age = max_age
        super().__init__(message)


class ApprovalError(AuthgateError):
    """A user's decision on an agent's approval request (docs/ciba.md)."""

    error = "Approval error"
    message = "The approval request cannot be decided"


class ApprovalNotFoundError(ApprovalError):
    """No pending request of this user by that id: unknown, or another user's."""

    error = "Not found"
    message = "No such approval request"
    status_code = 404


class ApprovalConflictError(ApprovalError):
    """The request was already approved or denied, or it expired."""

    error = "Conflict"
    status_code = 409

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            "The request has expired" if reason == "expired" else "The request was already decided"
        )


class ApprovalRequiredError(ApprovalError):
    """The action needs the user's approval of exactly this call (CIBA + RFC 9396).

    ``reason`` says which check failed, never a token or argument value.
    """

    error = "insufficient_authorization"
    message = "This action needs the user's approval of exactly this call"
    status_code = 403

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message)


class ApprovalMissingError(ApprovalRequiredError):
    """The token carries no approval of this type for this resource."""

    def __init__(self) -> None:
        super().__init__("no_approval", "This action needs an approval token; ask the user first")


class ApprovalMismatchError(ApprovalRequiredError):
    """The approval is for another tool (``wrong_tool``) or other arguments
    (``arguments_changed``)."""

    _MESSAGES: ClassVar[dict[str, str]] = {
        "wrong_tool": "The approval is for another action",
        "arguments_changed": "The call's arguments differ from the ones the user approved",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(reason, self._MESSAGES.get(reason))


class ApprovalUsedError(ApprovalRequiredError):
    """The approval was already used once (its ``jti`` is redeemed at authgate)."""

    def __init__(self) -> None:
        super().__init__("already_used", "This approval was already used; ask the user again")
