"""The OAuth attack suite: each attack is its own test, and each leaves nothing behind."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from authgate.federation import pkce
from tests.conftest import PASSWORD
from tests.federation.conftest import (
    CLIENTS,
    AppFactory,
    MockProvider,
    authorize,
    google_settings,
    login,
    query,
    start,
)


async def user_count(app: FastAPI) -> int:
    return len(await app.state.authgate.store.list_users(limit=100, offset=0))


def assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    # The state cookie is cleared whatever went wrong.
    assert "oauth_state=" in response.headers.get("set-cookie", "")
    assert "Max-Age=0" in response.headers["set-cookie"]


@pytest.fixture
async def google(oauth_app: AppFactory, oidc: MockProvider) -> tuple[FastAPI, httpx.AsyncClient]:
    app, client = await oauth_app(**google_settings(oidc))
    return app, client


# State, cookie and replay (RFC 9700 s4.7)


async def test_state_mismatch_is_refused(google: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = google
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    forged = callback.replace(f"state={query(callback)['state']}", "state=attacker-state")
    response = await client.get(forged)
    assert_refused(response, 400, "Invalid OAuth state")
    assert await user_count(app) == 0


async def test_missing_state_cookie_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """A callback in a browser that never started the login (login CSRF)."""
    app, client = google
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    client.cookies.clear()
    response = await client.get(callback)
    assert_refused(response, 400, "Invalid OAuth state")
    assert await user_count(app) == 0


async def test_expired_state_cookie_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient], clock: Any
) -> None:
    app, client = google
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    clock.advance(601)
    response = await client.get(callback)
    assert_refused(response, 400, "Invalid OAuth state")
    assert await user_count(app) == 0


async def test_replayed_state_is_refused(google: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = google
    started = await start(client, "google")
    cookie = client.cookies.get("oauth_state")
    callback = await authorize(started["authUrl"])
    assert (await client.get(callback)).status_code == 200
    client.cookies.set("oauth_state", cookie, path="/auth/oauth")
    response = await client.get(callback)
    assert_refused(response, 400, "Invalid OAuth state")
    audits = await app.state.authgate.store.recent_audit(limit=5, event="oauth.failure")
    assert audits[0].detail["reason"] == "replayed"


async def test_cookie_of_another_provider_is_refused(
    oauth_app: AppFactory, oidc: MockProvider, oidc_post: MockProvider
) -> None:
    from tests.federation.conftest import auth0_settings

    _, client = await oauth_app(**google_settings(oidc), **auth0_settings(oidc_post))
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    response = await client.get(callback.replace("/google/", "/auth0/"))
    assert_refused(response, 400, "Invalid OAuth state")


async def test_concurrent_callbacks_with_one_state_sign_in_once(
    google: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = google
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    first, second = await asyncio.gather(client.get(callback), client.get(callback))
    assert sorted([first.status_code, second.status_code]) == [200, 400]
    assert await user_count(app) == 1


async def test_repeated_callback_parameter_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = google
    started = await start(client, "google")
    callback = await authorize(started["authUrl"])
    response = await client.get(callback + "&state=attacker-state")
    assert_refused(response, 400, "OAuth login failed")
    assert await user_count(app) == 0


# PKCE (RFC 7636): a stolen code is useless without the verifier


async def test_code_exchanged_without_verifier_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    """An attacker who read the code (logs, referrer) redeems it without the verifier."""
    _, client = google
    started = await start(client, "google")
    code = query(await authorize(started["authUrl"]))["code"]
    async with httpx.AsyncClient() as attacker:
        response = await attacker.post(
            f"{oidc.base}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": query(started["authUrl"])["redirect_uri"],
            },
            auth=("google-client", CLIENTS["google-client"]),
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "code_verifier required",
    }


async def test_code_exchanged_with_wrong_verifier_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    _, client = google
    started = await start(client, "google")
    code = query(await authorize(started["authUrl"]))["code"]
    async with httpx.AsyncClient() as attacker:
        response = await attacker.post(
            f"{oidc.base}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": query(started["authUrl"])["redirect_uri"],
                "code_verifier": pkce.make_verifier(),
            },
            auth=("google-client", CLIENTS["google-client"]),
        )
    assert response.status_code == 400
    assert "code_verifier" in response.json()["error_description"]


async def test_injected_code_fails_with_the_victims_verifier(
    google: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Code injection: the attacker's code, the victim's state; the exchange must fail."""
    app, client = google
    attacker = await start(client, "google")
    attacker_code = query(await authorize(attacker["authUrl"]))["code"]
    victim = await start(client, "google")  # the victim's cookie replaces the attacker's
    victim_callback = await authorize(victim["authUrl"])
    injected = victim_callback.replace(query(victim_callback)["code"], attacker_code)
    response = await client.get(injected)
    assert_refused(response, 400, "Code exchange failed")
    assert await user_count(app) == 0


# ID token checks (OIDC Core s3.1.3.7)


def _past() -> int:
    return int(time.time()) - 3600


@pytest.mark.parametrize(
    ("overrides", "claim"),
    [
        pytest.param({"idTokenSignature": "rogue"}, "signature", id="bad-signature"),
        pytest.param({"idTokenClaims": {"aud": "someone-else"}}, "aud", id="wrong-audience"),
        pytest.param(
            {"idTokenClaims": {"aud": ["google-client", "other"]}}, "azp", id="several-aud-no-azp"
        ),
        pytest.param({"idTokenClaims": {"azp": "other-client"}}, "azp", id="azp-of-another-client"),
        pytest.param({"idTokenClaims": {"iss": "https://evil.example"}}, "iss", id="wrong-issuer"),
        pytest.param({"idTokenClaims": {"nonce": "attacker-nonce"}}, "nonce", id="wrong-nonce"),
        pytest.param({"idTokenClaims": {"nonce": None}}, "nonce", id="missing-nonce"),
        pytest.param({"idTokenClaims": {"exp": "PAST"}}, "exp", id="expired"),
        pytest.param({"idTokenClaims": {"iat": "FUTURE"}}, "iat", id="issued-in-the-future"),
        pytest.param({"idTokenClaims": {"iat": "PAST"}}, "iat", id="issued-long-ago"),
        pytest.param({"idTokenClaims": {"sub": None}}, "sub", id="no-subject"),
    ],
)
async def test_bad_id_token_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient],
    oidc: MockProvider,
    overrides: dict[str, Any],
    claim: str,
) -> None:
    app, client = google
    claims = overrides.get("idTokenClaims", {})
    times = {"PAST": _past(), "FUTURE": int(time.time()) + 3600}
    claims = {k: times.get(v, v) if isinstance(v, str) else v for k, v in claims.items()}
    oidc.configure(**{**overrides, "idTokenClaims": claims})
    response = await login(client, "google")
    assert_refused(response, 400, "Invalid ID token")
    assert f"({claim})" in response.json()["message"]
    assert await user_count(app) == 0


async def test_unknown_kid_refetches_the_key_set_at_most_every_ten_seconds(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider, clock: Any
) -> None:
    """RFC 8725 s3.10: `kid` is only a lookup key; made-up ones cannot hammer the provider."""
    _, client = google
    assert (await login(client, "google")).status_code == 200
    fetches = oidc.last()["jwksFetches"]
    oidc.configure(idTokenKid="made-up-kid")
    for _ in range(3):
        response = await login(client, "google")
        assert_refused(response, 400, "Invalid ID token")
        assert "(kid)" in response.json()["message"]
    assert oidc.last()["jwksFetches"] == fetches
    clock.advance(11)
    assert_refused(await login(client, "google"), 400, "Invalid ID token")
    assert oidc.last()["jwksFetches"] == fetches + 1


# Mix-up (RFC 9207), provider errors, provider outage


async def test_iss_mix_up_is_refused(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    app, client = google
    oidc.configure(authorizeIss="https://attacker-idp.example")
    response = await login(client, "google")
    assert_refused(response, 400, "Issuer mismatch")
    assert await user_count(app) == 0


async def test_missing_iss_from_a_provider_that_promises_it_is_refused(
    oauth_app: AppFactory, oidc_post: MockProvider
) -> None:
    from tests.federation.conftest import auth0_settings

    _, client = await oauth_app(**auth0_settings(oidc_post))
    started = await start(client, "auth0")
    callback = await authorize(started["authUrl"])
    params = {k: v for k, v in query(callback).items() if k != "iss"}
    without_iss = callback.split("?")[0] + "?" + urlencode(params)
    response = await client.get(without_iss)
    assert_refused(response, 400, "Issuer mismatch")


async def test_provider_error_parameter_is_a_clear_400(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    app, client = google
    oidc.configure(authorizeError="access_denied")
    response = await login(client, "google")
    assert_refused(response, 400, "OAuth access denied")
    assert "access_denied" in response.json()["message"]
    assert await user_count(app) == 0


async def test_provider_timeout_is_502_and_leaves_nothing(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    app, client = await oauth_app(**google_settings(oidc), oauth_http_timeout=0.3)
    oidc.configure(tokenDelayMs=3000)
    started_at = time.monotonic()
    response = await login(client, "google")
    assert time.monotonic() - started_at < 2.5
    assert_refused(response, 502, "Provider unavailable")
    assert await user_count(app) == 0
    assert await app.state.authgate.store.recent_audit(limit=5, event="login.success") == []


async def test_unreachable_provider_is_502(oauth_app: AppFactory) -> None:
    import socket

    with socket.socket() as sock:  # a port that is surely closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, client = await oauth_app(
        google_client_id="google-client",
        google_client_secret="secret-value",
        google_redirect_uri="http://testserver/auth/oauth/google/callback",
        google_issuer=f"http://127.0.0.1:{port}",
    )
    response = await client.get("/auth/oauth/google")
    assert response.status_code == 502
    assert response.json()["error"] == "Provider unavailable"


# Accounts: never a takeover


async def test_verified_sign_in_does_not_link_into_an_unverified_account(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    """The pre-hijack: an attacker registers the victim's address with a password first;
    the victim's later verified sign-in at the provider must not link into that account,
    and the identity is not stored, so the squatting account never gains it."""
    app, client = google
    registered = await client.post(
        "/auth/register", json={"email": "victim@example.com", "password": PASSWORD}
    )
    squatter_id = registered.json()["user"]["id"]
    oidc.configure(
        idTokenClaims={"sub": "g-victim", "email": "victim@example.com", "email_verified": True}
    )
    response = await login(client, "google")
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "Account not verified"
    assert "accessToken" not in response.text
    assert list(await app.state.authgate.oauth.identities(squatter_id)) == []
    assert await user_count(app) == 1
    # Still refused on a later attempt: nothing was remembered for the squatter.
    again = await login(client, "google")
    assert again.status_code == 409
    assert list(await app.state.authgate.oauth.identities(squatter_id)) == []


async def test_unverified_email_is_not_linked_to_existing_account(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    app, client = google
    registered = await client.post(
        "/auth/register", json={"email": "victim@example.com", "password": PASSWORD}
    )
    victim_id = registered.json()["user"]["id"]
    oidc.configure(
        idTokenClaims={"sub": "attacker", "email": "victim@example.com", "email_verified": False}
    )
    response = await login(client, "google")
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["id"] != victim_id
    assert user["email"] != "victim@example.com"
    assert await user_count(app) == 2
    identities = await app.state.authgate.oauth.identities(victim_id)
    assert list(identities) == []


async def test_unverified_email_cannot_reserve_an_address(
    google: tuple[FastAPI, httpx.AsyncClient], oidc: MockProvider
) -> None:
    """Pre-hijacking: an unverified claim must not squat the address for a later owner."""
    _, client = google
    oidc.configure(
        idTokenClaims={"sub": "squatter", "email": "owner@example.com", "email_verified": False}
    )
    assert (await login(client, "google")).status_code == 200
    owner = await client.post(
        "/auth/register", json={"email": "owner@example.com", "password": PASSWORD}
    )
    assert owner.status_code == 201


# Redirects (RFC 9700 s4.11)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("https://evil.example/", id="foreign-origin"),
        pytest.param("//evil.example/path", id="protocol-relative"),
        pytest.param("/\\evil.example", id="backslash"),
        pytest.param("https://app.example.evil.example/", id="suffix-host"),
        pytest.param("https://app.example@evil.example/", id="userinfo"),
        pytest.param("http://app.example/welcome", id="downgraded-scheme"),
        pytest.param("https://app.example/other", id="outside-path"),
        pytest.param("javascript:alert(1)", id="javascript"),
    ],
)
async def test_redirect_target_outside_allow_list_is_refused(
    oauth_app: AppFactory, oidc: MockProvider, target: str
) -> None:
    _, client = await oauth_app(
        **google_settings(oidc), allowed_redirects=["https://app.example/welcome"]
    )
    response = await client.get(
        "/auth/oauth/google", params={"returnTo": target, "redirect": "true"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Redirect not allowed"
    assert "oauth_state" not in response.headers.get("set-cookie", "")


async def test_unknown_provider_is_404(google: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = google
    response = await client.get("/auth/oauth/myspace")
    assert response.status_code == 404
    assert response.json()["error"] == "Unknown provider"
