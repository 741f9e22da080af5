"""Rate limits over real HTTP: groups, failed-attempt counting, account lock, headers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, lifespan
from tests.conftest import PASSWORD, bearer
from tests.helpers import audit_events

EMAIL = "ada@example.com"


@asynccontextmanager
async def limited_app(
    settings_factory: Callable[..., Any], clock: FrozenClock, **overrides: Any
) -> AsyncIterator[FastAPI]:
    app = create_app(settings_factory(rate_limit_enabled=True, **overrides), clock=clock)
    async with lifespan(app):
        yield app


def client_from(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _register(app: FastAPI, email: str = EMAIL) -> None:
    async with client_from(app, "198.51.100.250") as client:
        response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text


async def _login(client: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": password})


def _assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "Too many requests"
    assert isinstance(body["retryAfter"], int)
    assert 1 <= body["retryAfter"] <= 3600
    assert response.headers["Retry-After"] == str(body["retryAfter"])
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Limit"]) >= 1
    assert int(response.headers["RateLimit-Reset"]) == body["retryAfter"]


async def test_sixth_failed_login_is_refused_even_with_the_right_password(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock) as app:
        await _register(app)
        async with client_from(app) as client:
            for attempt in range(5):
                failed = await _login(client, password="wrong password!")
                assert failed.status_code == 401
                assert failed.headers["RateLimit-Remaining"] == str(4 - attempt)
            blocked = await _login(client)
        _assert_429(blocked)
        assert blocked.headers["RateLimit-Limit"] == "5"


async def test_successful_logins_do_not_count(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock) as app:
        await _register(app)
        async with client_from(app) as client:
            for _ in range(8):
                assert (await _login(client)).status_code == 200
            for _ in range(4):
                assert (await _login(client, password="wrong password!")).status_code == 401
            assert (await _login(client)).status_code == 200


async def test_login_failures_are_keyed_by_ip_and_email(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock) as app:
        await _register(app)
        await _register(app, "bob@example.com")
        async with client_from(app, "203.0.113.7") as client:
            for _ in range(5):
                await _login(client, password="wrong password!")
            assert (await _login(client)).status_code == 429
            assert (await _login(client, "bob@example.com")).status_code == 200
            # The email is normalised, so case and spaces do not open a new bucket.
            assert (await _login(client, "  ADA@Example.com")).status_code == 429
        async with client_from(app, "203.0.113.8") as other:
            assert (await _login(other)).status_code == 200


async def test_account_lock_stops_stuffing_from_many_ips(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, rate_limit_account="3 per 15 minutes") as app:
        await _register(app)
        for n in range(3):
            async with client_from(app, f"192.0.2.{n + 1}") as client:
                assert (await _login(client, password="wrong password!")).status_code == 401
        async with client_from(app, "192.0.2.99") as fresh:
            locked = await _login(fresh)
        _assert_429(locked)


async def test_account_lock_answers_the_same_for_unknown_accounts(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """No enumeration: a locked real account and a locked unknown email look alike."""
    async with limited_app(settings_factory, clock, rate_limit_account="2 per 15 minutes") as app:
        await _register(app)
        answers = {}
        for email in (EMAIL, "nobody@example.com"):
            for n in range(2):
                async with client_from(app, f"192.0.2.{n + 1}") as client:
                    response = await _login(client, email, "wrong password!")
                    assert response.status_code == 401
            async with client_from(app, "192.0.2.50") as client:
                response = await _login(client, email, "wrong password!")
            answers[email] = response
        real, unknown = answers.values()
        assert real.status_code == unknown.status_code == 429
        assert real.json().keys() == unknown.json().keys()
        assert real.json()["error"] == unknown.json()["error"]


async def test_account_lock_spares_a_client_that_signed_in_before(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """Bounded: an attacker's failures cannot lock the owner out of a known client."""
    async with limited_app(settings_factory, clock, rate_limit_account="2 per 15 minutes") as app:
        await _register(app)
        async with client_from(app, "198.51.100.10") as owner:
            assert (await _login(owner)).status_code == 200
        for n in range(3):
            async with client_from(app, f"192.0.2.{n + 1}") as attacker:
                await _login(attacker, password="wrong password!")
        async with client_from(app, "192.0.2.77") as attacker:
            assert (await _login(attacker)).status_code == 429
        async with client_from(app, "198.51.100.10") as owner:
            assert (await _login(owner)).status_code == 200


async def test_api_limit_counts_every_request(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, rate_limit_api="3 per 15 minutes") as app:
        async with client_from(app) as client:
            for remaining in (2, 1, 0):
                response = await client.post("/api/ai/chat", json={"message": "hi"})
                assert response.status_code == 401
                assert response.headers["RateLimit-Remaining"] == str(remaining)
            _assert_429(await client.post("/api/ai/chat", json={"message": "hi"}))
            # Unlimited paths stay open.
            assert (await client.get("/healthz")).status_code == 200
        async with client_from(app, "203.0.113.99") as other:
            assert (await other.post("/api/ai/chat", json={"message": "hi"})).status_code == 401


@pytest.mark.parametrize(
    ("path", "setting", "body"),
    [
        pytest.param("/auth/refresh", "rate_limit_refresh", {"refreshToken": "x"}, id="refresh"),
        pytest.param(
            "/auth/register",
            "rate_limit_register",
            {"email": "a@b.co", "password": "p"},
            id="register",
        ),
    ],
)
async def test_refresh_and_register_have_their_own_limits(
    settings_factory: Callable[..., Any],
    clock: FrozenClock,
    path: str,
    setting: str,
    body: dict[str, Any],
) -> None:
    async with (
        limited_app(settings_factory, clock, **{setting: "2 per hour"}) as app,
        client_from(app) as client,
    ):
        for _ in range(2):
            assert (await client.post(path, json=body)).status_code != 429
        _assert_429(await client.post(path, json=body))
        # The other groups are unaffected.
        assert (await _login(client, password="wrong password!")).status_code == 401


async def test_the_window_frees_up_after_its_duration(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, rate_limit_login="2 per 1 second") as app:
        await _register(app)
        async with client_from(app) as client:
            for _ in range(2):
                await _login(client, password="wrong password!")
            assert (await _login(client)).status_code == 429
            clock.advance(0.5)  # GCRA: one more attempt every window / amount
            assert (await _login(client)).status_code == 200


async def test_blocking_is_audited_once_per_client_and_group(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, rate_limit_api="1 per hour") as app:
        async with client_from(app, "203.0.113.5") as client:
            for _ in range(4):
                await client.post("/api/ai/chat", json={"message": "hi"})
        events = await audit_events(app, "ratelimit.blocked")
        assert len(events) == 1
        assert events[0].ip == "203.0.113.5"
        assert events[0].detail == {"group": "api", "path": "/api/ai/chat"}
        metrics = await _metrics(app)
        assert 'authgate_ratelimit_rejections_total{group="api"} 3.0' in metrics


async def _metrics(app: FastAPI) -> str:
    async with client_from(app) as client:
        return (await client.get("/metrics")).text


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, trusted_proxies="10.0.0.0/8") as app:
        await _register(app)
        async with client_from(app, "203.0.113.7") as client:
            for n in range(5):
                headers = {"X-Forwarded-For": f"198.51.100.{n}"}
                await client.post(
                    "/auth/login",
                    json={"email": EMAIL, "password": "wrong password!"},
                    headers=headers,
                )
            response = await client.post(
                "/auth/login",
                json={"email": EMAIL, "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.200"},
            )
        assert response.status_code == 429


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock, trusted_proxies="10.0.0.0/8") as app:
        await _register(app)
        async with client_from(app, "10.1.2.3") as proxy:
            for n in range(5):
                # The client prepends junk; the proxy appends the real address.
                headers = {"X-Forwarded-For": f"1.2.3.{n}, 198.51.100.9"}
                await proxy.post(
                    "/auth/login",
                    json={"email": EMAIL, "password": "wrong password!"},
                    headers=headers,
                )
            same = await proxy.post(
                "/auth/login",
                json={"email": EMAIL, "password": PASSWORD},
                headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.9"},
            )
            other = await proxy.post(
                "/auth/login",
                json={"email": EMAIL, "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.10"},
            )
        assert same.status_code == 429
        assert other.status_code == 200
        sessions = await audit_events(app, "login.success")
        assert sessions[0].ip == "198.51.100.10"


async def test_limits_are_shared_through_redis(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """Two instances on one Redis see one another's failures (the scale-out setup)."""
    shared = {
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_key_prefix": f"authgate-test-{uuid.uuid4().hex}:",
    }
    async with (
        limited_app(settings_factory, clock, **shared) as first,
        limited_app(settings_factory, clock, **shared) as second,
        client_from(first) as a,
        client_from(second) as b,
    ):
        for client in (a, b, a, b, a):
            failed = await _login(client, password="wrong password!")
            assert failed.status_code == 401
        _assert_429(await _login(b))


async def test_login_limit_fails_closed_when_redis_is_down(
    settings_factory: Callable[..., Any], clock: FrozenClock, unused_tcp_port: int
) -> None:
    down = {"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0"}
    async with limited_app(settings_factory, clock, **down) as app:
        async with client_from(app) as client:
            login = await _login(client)
            chat = await client.post("/api/ai/chat", json={"message": "hi"}, headers=bearer("x"))
        assert login.status_code == 503
        assert chat.status_code == 401  # the API limit fails open


async def test_failed_oauth_callbacks_count_per_ip(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with (
        limited_app(settings_factory, clock, rate_limit_oauth="2 per hour") as app,
        client_from(app) as client,
    ):
        for _ in range(2):
            failed = await client.get("/auth/oauth/nowhere/callback?code=c&state=s")
            assert 400 <= failed.status_code < 500
        _assert_429(await client.get("/auth/oauth/nowhere/callback?code=c&state=s"))
        # Login is a different budget.
        assert (await _login(client, password="wrong password!")).status_code == 401


async def test_api_limit_is_per_principal_when_authenticated(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """One user's loop spends only that user's budget; others on the same IP go on."""
    async with limited_app(settings_factory, clock, rate_limit_api="2 per 15 minutes") as app:
        await _register(app)
        await _register(app, "bob@example.com")
        async with client_from(app) as client:
            ada = (await _login(client)).json()["accessToken"]
            bob = (await _login(client, "bob@example.com")).json()["accessToken"]
            chat = {"message": "hi"}
            for _ in range(2):
                ok = await client.post("/api/ai/chat", json=chat, headers=bearer(ada))
                assert ok.status_code == 200
            _assert_429(await client.post("/api/ai/chat", json=chat, headers=bearer(ada)))
            assert (
                await client.post("/api/ai/chat", json=chat, headers=bearer(bob))
            ).status_code == 200
            # Anonymous and invalid-token requests from that IP have their own budget.
            assert (await client.post("/api/ai/chat", json=chat)).status_code == 401
            forged = await client.post("/api/ai/chat", json=chat, headers=bearer(ada + "x"))
            assert forged.status_code == 401
            _assert_429(await client.post("/api/ai/chat", json=chat))


async def test_keying_by_principal_does_not_count_a_refused_token_twice(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with limited_app(settings_factory, clock) as app, client_from(app) as client:
        response = await client.post(
            "/api/ai/chat", json={"message": "hi"}, headers=bearer("x.y.z")
        )
        assert response.status_code == 401
        failures = [
            line
            for line in (await _metrics(app)).splitlines()
            if line.startswith("authgate_token_verification_failures_total{")
        ]
    assert [float(line.rsplit(" ", 1)[1]) for line in failures] == [1.0]


async def test_the_principal_the_limiter_shares_is_what_the_route_would_find(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """The /api limiter verifies a plain Bearer token once and the route reuses it; every
    other presentation still gets the route's own checks (RFC 6750 s2, s5.3; RFC 9449
    s7.1), so the shortcut never lets through what the route would refuse."""
    from tests.security.dpop_support import ProofKey, bound_token

    async with limited_app(settings_factory, clock) as app:
        await _register(app)
        async with client_from(app) as client:
            ada = (await _login(client)).json()["accessToken"]
            chat = {"message": "hi"}
            ok = await client.post("/api/ai/chat", json=chat, headers=bearer(ada))
            assert ok.status_code == 200
            assert ok.json()["user"]["email"] == EMAIL
            assert ok.headers["RateLimit-Limit"] == "100"
            # A token in the URL, beside the header: refused.
            in_url = await client.post(
                f"/api/ai/chat?access_token={ada}", json=chat, headers=bearer(ada)
            )
            assert in_url.status_code == 400
            # The header and the access-token cookie together: one method per request.
            client.cookies.set("access_token", ada)
            both = await client.post("/api/ai/chat", json=chat, headers=bearer(ada))
            client.cookies.clear()
            assert both.status_code == 400
            # A DPoP-bound token presented as Bearer: refused (bearer downgrade).
            principal = app.state.authgate.authenticator.authenticate(ada)
            bound = bound_token(app, principal, ProofKey().jkt)
            downgrade = await client.post("/api/ai/chat", json=chat, headers=bearer(bound))
            assert downgrade.status_code == 401


async def test_a_rate_limit_header_the_route_set_is_replaced_not_repeated(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    app = create_app(settings_factory(rate_limit_enabled=True), clock=clock)

    @app.get("/api/own-limit")
    async def own_limit() -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"ok": True}, headers={"RateLimit-Limit": "7"})

    async with lifespan(app), client_from(app) as client:
        response = await client.get("/api/own-limit")
    assert response.headers.get_list("RateLimit-Limit") == ["100"]
    assert response.headers["RateLimit-Remaining"] == "99"
