"""The page for sign-ins through a provider that did not complete."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from authgate.errors import (
    AccountDisabledError,
    AuthgateError,
    CodeExchangeError,
    IdTokenError,
    IssuerMismatchError,
    OAuthLoginError,
    OAuthStateError,
    ProviderDeniedError,
    ProviderUnavailableError,
    RedirectNotAllowedError,
    RegistrationClosedError,
    UnknownProviderError,
)
from authgate.http.pages.failures import failure_message, failure_reason, failure_redirect


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(ProviderDeniedError("corp", "access_denied"), "access_denied", id="denied"),
        pytest.param(ProviderDeniedError("corp", "login_required"), "provider_error", id="other"),
        pytest.param(OAuthStateError("corp", "mismatch"), "invalid_state", id="state"),
        pytest.param(IssuerMismatchError("corp"), "invalid_token", id="issuer"),
        pytest.param(IdTokenError("corp", "nonce"), "invalid_token", id="id-token"),
        pytest.param(CodeExchangeError("corp"), "invalid_grant", id="code"),
        pytest.param(AccountDisabledError("corp"), "account_disabled", id="disabled"),
        pytest.param(ProviderUnavailableError("corp"), "temporarily_unavailable", id="down"),
        pytest.param(UnknownProviderError("corp"), "unknown_provider", id="unknown"),
        pytest.param(RedirectNotAllowedError("corp"), "invalid_request", id="redirect"),
        pytest.param(RegistrationClosedError(), "registration_closed", id="closed"),
        pytest.param(OAuthLoginError("corp"), "oauth_failed", id="generic"),
    ],
)
def test_each_failure_has_a_reason_with_its_own_message(error: AuthgateError, reason: str) -> None:
    assert failure_reason(error) == reason
    assert failure_message(reason, "Corp")


def _request(accept: str) -> Request:
    return Request({"type": "http", "headers": [(b"accept", accept.encode())], "method": "GET"})


def test_browsers_are_redirected_to_the_error_page() -> None:
    response = failure_redirect(_request("text/html,*/*"), OAuthStateError("corp", "x"), "corp")
    assert response is not None
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/error?reason=invalid_state&provider=corp"


def test_api_clients_keep_the_json_error() -> None:
    assert failure_redirect(_request("application/json"), OAuthLoginError("corp"), "corp") is None


async def test_error_page_says_what_happened_and_links_back(client: httpx.AsyncClient) -> None:
    page = await client.get("/auth/error", params={"reason": "access_denied"})
    assert page.status_code == 400
    assert "cancelled or refused" in page.text
    assert 'href="/login"' in page.text


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"reason": "<script>alert(1)</script>"}, id="unknown-reason"),
        pytest.param({"reason": "access_denied", "provider": "Evil Corp <b>"}, id="provider"),
        pytest.param({"error": "access_denied", "provider": "Evil Corp <b>"}, id="login-error"),
    ],
)
async def test_error_messages_never_echo_the_query(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    path = "/login" if "error" in params else "/auth/error"
    page = await client.get(path, params=params)
    assert "alert(1)" not in page.text
    assert "Evil Corp" not in page.text
    assert "the provider" in page.text
