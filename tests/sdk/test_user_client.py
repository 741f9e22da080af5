"""``authgate.sdk.user.AuthgateAuth`` against the real authgate app.

The async tests route the token endpoint and the API through ``httpx.ASGITransport``;
the sync tests start the app with uvicorn on a loopback port in a thread, since httpx
has no sync ASGI transport. Two clocks: ``clock`` is the server's, ``agent_clock`` the
client's, so a test can let one run ahead of the other.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.sdk.user import AuthgateAuth, AuthgateClientError
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import PASSWORD, bearer, login, register

EMAIL = "ada@example.com"
BASE_URL = "http://localhost"
ACCESS_TTL = 900
LEEWAY = 10
CHAT = {"message": "hi"}


class PathLog:
    """An httpx request event hook that records the paths the token client asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def record(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)

    async def arecord(self, request: httpx.Request) -> None:
        self.record(request)

    @property
    def refreshes(self) -> int:
        return self.paths.count("/auth/refresh")


@pytest.fixture
def agent_clock(clock: FrozenClock) -> FrozenClock:
    return FrozenClock(clock.now)


@pytest.fixture
def path_log() -> PathLog:
    return PathLog()


@pytest.fixture
async def account(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register(client, EMAIL)


@pytest.fixture
async def token_client(app: FastAPI, path_log: PathLog) -> AsyncIterator[httpx.AsyncClient]:
    """The client ``AuthgateAuth`` talks to /auth/* through; same user agent as ``client``."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        headers={"user-agent": "pytest-agent/1.0"},
        event_hooks={"request": [path_log.arecord]},
    ) as token_http:
        yield token_http


@pytest.fixture
def agent_auth(
    account: dict[str, Any], token_client: httpx.AsyncClient, agent_clock: FrozenClock
) -> AuthgateAuth:
    return AuthgateAuth(
        base_url=BASE_URL,
        email=EMAIL,
        password=PASSWORD,
        clock=agent_clock,
        async_http_client=token_client,
    )


@pytest.fixture
async def agent(app: FastAPI, agent_auth: AuthgateAuth) -> AsyncIterator[httpx.AsyncClient]:
    """The API client an AI agent would hold: every request goes through ``AuthgateAuth``."""
    async with client_for(app, auth=agent_auth) as api:
        yield api


@asynccontextmanager
async def running_app(settings: Any, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    """An app with non-default settings, started, with the test account registered."""
    app = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app) as raw:
        await register(raw, EMAIL)
        yield app


async def chat_ok(agent: httpx.AsyncClient) -> httpx.Response:
    response = await agent.post("/api/ai/chat", json=CHAT)
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == "Echo: hi"
    return response


# -- logging in and calling the API --------------------------------------------------


async def test_logs_in_and_calls_chat(
    agent: httpx.AsyncClient, agent_auth: AuthgateAuth, path_log: PathLog
) -> None:
    assert agent_auth.access_token is None
    response = await chat_ok(agent)
    assert path_log.paths == ["/auth/login"]
    assert response.history == []
    assert response.json()["sessionId"] == agent_auth.session_id
    assert response.request.headers["authorization"] == f"Bearer {agent_auth.access_token}"


async def test_reuses_the_token_while_it_is_fresh(
    agent: httpx.AsyncClient, path_log: PathLog, clock: FrozenClock, agent_clock: FrozenClock
) -> None:
    await chat_ok(agent)
    for _ in range(3):
        clock.advance(60)
        agent_clock.advance(60)
        await chat_ok(agent)
    assert path_log.paths == ["/auth/login"]


# -- refreshing ----------------------------------------------------------------------


async def test_refreshes_on_its_own_shortly_before_expiry(
    agent: httpx.AsyncClient,
    agent_auth: AuthgateAuth,
    client: httpx.AsyncClient,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    """Inside the 60 s margin the client refreshes before sending, so no request sees 401."""
    await chat_ok(agent)
    first_access, first_refresh = agent_auth.access_token, agent_auth.refresh_token
    clock.advance(ACCESS_TTL - 30)
    agent_clock.advance(ACCESS_TTL - 30)

    response = await chat_ok(agent)

    assert response.history == []
    assert path_log.paths == ["/auth/login", "/auth/refresh"]
    assert agent_auth.refresh_token not in (None, first_refresh)
    assert agent_auth.access_token not in (None, first_access)
    stale = await client.post("/auth/refresh", json={"refreshToken": first_refresh})
    assert stale.status_code == 401


async def test_refreshes_once_on_401_and_retries(
    agent: httpx.AsyncClient, agent_auth: AuthgateAuth, path_log: PathLog, clock: FrozenClock
) -> None:
    """The server's clock ran past expiry while the agent's did not: 401, refresh, retry."""
    await chat_ok(agent)
    session = agent_auth.session_id
    clock.advance(ACCESS_TTL + LEEWAY + 1)

    response = await chat_ok(agent)

    assert [r.status_code for r in response.history] == [401]
    assert path_log.paths == ["/auth/login", "/auth/refresh"]
    assert agent_auth.session_id == session


async def test_retries_at_most_once(
    settings_factory: Callable[..., Any], clock: FrozenClock, path_log: PathLog
) -> None:
    """With device binding on access, a different user agent is refused even when fresh:
    the client refreshes once, retries once, then hands back the second 401."""
    settings = settings_factory(device_check_on_access=True)
    async with (
        running_app(settings, clock) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            headers={"user-agent": "token-client/1.0"},
            event_hooks={"request": [path_log.arecord]},
        ) as token_http,
    ):
        auth = AuthgateAuth(
            base_url=BASE_URL, email=EMAIL, password=PASSWORD, async_http_client=token_http
        )
        async with client_for(app, auth=auth, headers={"user-agent": "other/2.0"}) as api:
            response = await api.post("/api/ai/chat", json=CHAT)
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401]
    assert path_log.paths == ["/auth/login", "/auth/refresh"]


async def test_retry_resends_a_streamed_body(agent: httpx.AsyncClient, clock: FrozenClock) -> None:
    """httpx buffers the body for us (``requires_request_body``), so the retry is complete."""
    await chat_ok(agent)
    clock.advance(ACCESS_TTL + LEEWAY + 1)

    async def body() -> AsyncIterator[bytes]:
        yield b'{"message":'
        yield b' "hi"}'

    response = await agent.post(
        "/api/ai/chat", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == "Echo: hi"
    assert [r.status_code for r in response.history] == [401]


async def test_short_lived_tokens_are_not_refreshed_before_every_request(
    settings_factory: Callable[..., Any],
    clock: FrozenClock,
    agent_clock: FrozenClock,
    path_log: PathLog,
) -> None:
    """A 60 s token with the default 60 s margin refreshes at half its life, not at once."""
    async with (
        running_app(settings_factory(access_token_ttl=60), clock) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), event_hooks={"request": [path_log.arecord]}
        ) as token_http,
    ):
        auth = AuthgateAuth(
            base_url=BASE_URL,
            email=EMAIL,
            password=PASSWORD,
            clock=agent_clock,
            async_http_client=token_http,
        )
        async with client_for(app, auth=auth) as api:
            await chat_ok(api)
            await chat_ok(api)
            assert path_log.paths == ["/auth/login"]
            clock.advance(31)
            agent_clock.advance(31)
            await chat_ok(api)
    assert path_log.paths == ["/auth/login", "/auth/refresh"]


async def test_concurrent_requests_cause_exactly_one_refresh(
    agent: httpx.AsyncClient,
    agent_auth: AuthgateAuth,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    await chat_ok(agent)
    clock.advance(ACCESS_TTL - 30)
    agent_clock.advance(ACCESS_TTL - 30)

    responses = await asyncio.gather(*(agent.post("/api/ai/chat", json=CHAT) for _ in range(8)))

    assert [r.status_code for r in responses] == [200] * 8
    assert path_log.refreshes == 1
    assert {r.json()["sessionId"] for r in responses} == {agent_auth.session_id}


async def test_concurrent_401s_cause_exactly_one_refresh(
    agent: httpx.AsyncClient, path_log: PathLog, clock: FrozenClock
) -> None:
    """All eight go out with the expired token; the seven that wait reuse the one refresh."""
    await chat_ok(agent)
    clock.advance(ACCESS_TTL + LEEWAY + 1)

    responses = await asyncio.gather(*(agent.post("/api/ai/chat", json=CHAT) for _ in range(8)))

    assert [r.status_code for r in responses] == [200] * 8
    assert path_log.refreshes == 1


async def test_logs_in_again_when_the_session_is_gone(
    agent: httpx.AsyncClient, agent_auth: AuthgateAuth, client: httpx.AsyncClient, path_log: PathLog
) -> None:
    """The session was revoked elsewhere: refresh is refused, credentials start a new one."""
    await chat_ok(agent)
    old_session = agent_auth.session_id
    assert agent_auth.access_token is not None
    revoked = await client.post("/auth/logout", headers=bearer(agent_auth.access_token))
    assert revoked.status_code == 200

    response = await chat_ok(agent)

    assert [r.status_code for r in response.history] == [401]
    assert path_log.paths == ["/auth/login", "/auth/refresh", "/auth/login"]
    assert agent_auth.session_id not in (None, old_session)


# -- starting from a refresh token ---------------------------------------------------


async def test_starts_from_a_refresh_token(
    app: FastAPI,
    account: dict[str, Any],
    client: httpx.AsyncClient,
    token_client: httpx.AsyncClient,
    path_log: PathLog,
) -> None:
    pair = await login(client, EMAIL)
    auth = AuthgateAuth(
        base_url=BASE_URL, refresh_token=pair["refreshToken"], async_http_client=token_client
    )
    async with client_for(app, auth=auth) as api:
        response = await chat_ok(api)
    assert path_log.paths == ["/auth/refresh"]
    assert auth.session_id == pair["sessionId"] == response.json()["sessionId"]
    assert auth.refresh_token not in (None, pair["refreshToken"])


async def test_refresh_token_only_raises_when_the_session_is_gone(
    app: FastAPI,
    account: dict[str, Any],
    client: httpx.AsyncClient,
    token_client: httpx.AsyncClient,
) -> None:
    pair = await login(client, EMAIL)
    assert (await client.post("/auth/logout", headers=bearer(pair["accessToken"]))).is_success
    auth = AuthgateAuth(
        base_url=BASE_URL, refresh_token=pair["refreshToken"], async_http_client=token_client
    )
    async with client_for(app, auth=auth) as api:
        with pytest.raises(AuthgateClientError) as caught:
            await api.post("/api/ai/chat", json=CHAT)
    assert caught.value.status_code == 401
    assert caught.value.error == "Invalid refresh token"
    assert pair["refreshToken"] not in f"{caught.value} {caught.value!r}"


# -- errors and secrecy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param(EMAIL, "wrong password 123", id="wrong-password"),
        pytest.param("nobody@example.com", "wrong password 123", id="unknown-email"),
    ],
)
async def test_bad_credentials_raise_without_the_password(
    app: FastAPI,
    account: dict[str, Any],
    token_client: httpx.AsyncClient,
    email: str,
    password: str,
) -> None:
    auth = AuthgateAuth(
        base_url=BASE_URL, email=email, password=password, async_http_client=token_client
    )
    async with client_for(app, auth=auth) as api:
        with pytest.raises(AuthgateClientError) as caught:
            await api.post("/api/ai/chat", json=CHAT)
    error = caught.value
    assert error.status_code == 401
    assert error.error == "Invalid credentials"
    assert password not in f"{error} {error!r} {error.args}"
    assert auth.access_token is None


async def test_repr_shows_no_secrets(agent: httpx.AsyncClient, agent_auth: AuthgateAuth) -> None:
    await chat_ok(agent)
    text = repr(agent_auth)
    assert agent_auth.session_id is not None
    assert agent_auth.session_id in text
    for secret in (PASSWORD, agent_auth.access_token, agent_auth.refresh_token):
        assert secret is not None
        assert secret not in text


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param({"email": EMAIL}, id="email-without-password"),
        pytest.param({"password": PASSWORD}, id="password-without-email"),
        pytest.param({"refresh_token": "x", "refresh_margin": -1}, id="negative-margin"),
        pytest.param({"refresh_token": "x", "base_url": "ftp://localhost"}, id="not-http"),
        pytest.param({"refresh_token": "x", "base_url": "/auth"}, id="relative-url"),
        pytest.param(
            {"refresh_token": "x", "base_url": "http://auth.example.com"}, id="plain-http-remote"
        ),
    ],
)
def test_constructor_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        AuthgateAuth(**{"base_url": BASE_URL, **kwargs})


def test_plain_http_off_loopback_needs_an_explicit_opt_in() -> None:
    auth = AuthgateAuth(
        base_url="http://authgate.internal:8000/", refresh_token="x", allow_insecure_http=True
    )
    assert "http://authgate.internal:8000" in repr(auth)


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        pytest.param(200, b"<html>ok</html>", "Malformed token response", id="200-not-json"),
        pytest.param(200, b'{"accessToken": "a"}', "Malformed token response", id="200-missing"),
        pytest.param(
            200,
            b'{"accessToken": "a", "refreshToken": "r", "sessionId": "s", "expiresIn": true}',
            "Malformed token response",
            id="200-expires-bool",
        ),
        pytest.param(
            200,
            b'{"accessToken": "a", "refreshToken": "r", "sessionId": "s", "expiresIn": 0}',
            "Malformed token response",
            id="200-expires-zero",
        ),
        pytest.param(502, b"<html>Bad Gateway</html>", "Bad Gateway", id="502-proxy-page"),
    ],
)
async def test_unusable_token_responses_raise(status: int, content: bytes, error: str) -> None:
    """The real server never answers like this, so a MockTransport stands in for a broken
    proxy or a wrong base_url."""
    transport = httpx.MockTransport(lambda _request: httpx.Response(status, content=content))
    auth = AuthgateAuth(base_url=BASE_URL, refresh_token="r0", async_transport=transport)
    async with httpx.AsyncClient(transport=transport, auth=auth) as api:
        with pytest.raises(AuthgateClientError) as caught:
            await api.get(f"{BASE_URL}/api/ai/chat")
    assert (caught.value.status_code, caught.value.error) == (status, error)
    assert "r0" not in str(caught.value)
    await auth.aclose()


async def test_non_401_server_errors_carry_status_and_title(
    app: FastAPI, account: dict[str, Any]
) -> None:
    """A wrong base_url path reaches authgate's 404 handler: status and title, no retry login."""
    auth = AuthgateAuth(
        base_url=f"{BASE_URL}/wrong", refresh_token="r0", async_transport=httpx.ASGITransport(app)
    )
    async with client_for(app, auth=auth) as api:
        with pytest.raises(AuthgateClientError) as caught:
            await api.post("/api/ai/chat", json=CHAT)
    assert (caught.value.status_code, caught.value.error) == (404, "Not found")
    await auth.aclose()


# -- logout --------------------------------------------------------------------------


async def test_alogout_ends_the_session(
    agent: httpx.AsyncClient, agent_auth: AuthgateAuth, client: httpx.AsyncClient
) -> None:
    await chat_ok(agent)
    access = agent_auth.access_token
    assert access is not None

    await agent_auth.alogout()

    assert (agent_auth.access_token, agent_auth.refresh_token, agent_auth.session_id) == (
        None,
        None,
        None,
    )
    after = await client.post("/api/ai/chat", json=CHAT, headers=bearer(access))
    assert after.status_code == 401


async def test_alogout_refreshes_an_expiring_token_first(
    agent: httpx.AsyncClient,
    agent_auth: AuthgateAuth,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    """Logging out with an expired access token would be refused and leave the session alive."""
    await chat_ok(agent)
    clock.advance(ACCESS_TTL + LEEWAY + 1)
    agent_clock.advance(ACCESS_TTL + LEEWAY + 1)
    refresh = agent_auth.refresh_token

    await agent_auth.alogout()

    assert path_log.paths == ["/auth/login", "/auth/refresh", "/auth/logout"]
    assert agent_auth.refresh_token is None
    stale = await agent.post("/auth/refresh", json={"refreshToken": refresh}, auth=_no_auth())
    assert stale.status_code == 401


async def test_alogout_of_a_session_already_ended_is_quiet(
    agent: httpx.AsyncClient,
    agent_auth: AuthgateAuth,
    client: httpx.AsyncClient,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    """The refresh before logout is refused: nothing left to revoke, and no new login."""
    await chat_ok(agent)
    assert agent_auth.access_token is not None
    assert (await client.post("/auth/logout", headers=bearer(agent_auth.access_token))).is_success
    clock.advance(ACCESS_TTL)
    agent_clock.advance(ACCESS_TTL)

    await agent_auth.alogout()

    assert path_log.paths == ["/auth/login", "/auth/refresh"]
    assert agent_auth.access_token is None


async def test_refresh_token_only_client_cannot_continue_after_logout(
    app: FastAPI,
    account: dict[str, Any],
) -> None:
    """Also covers ``async_transport=``: the auth builds and closes its own token client
    (default user agent, so the login is made with the same one: refresh is device-bound)."""
    async with client_for(app) as same_device:
        pair = await login(same_device, EMAIL)
    auth = AuthgateAuth(
        base_url=BASE_URL,
        refresh_token=pair["refreshToken"],
        async_transport=httpx.ASGITransport(app=app),
    )
    async with client_for(app, auth=auth) as api:
        await chat_ok(api)
        await auth.alogout()
        with pytest.raises(AuthgateClientError, match="Not authenticated"):
            await api.post("/api/ai/chat", json=CHAT)
    await auth.aclose()


def _no_auth() -> httpx.Auth:
    return httpx.Auth()


async def test_logout_before_login_does_nothing(
    agent_auth: AuthgateAuth, path_log: PathLog
) -> None:
    await agent_auth.alogout()
    assert path_log.paths == []


# -- the sync flow, against uvicorn on loopback ---------------------------------------


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live_server(settings: Any, clock: FrozenClock) -> Iterator[str]:
    with serve(create_app(settings, clock=clock)) as url:
        with httpx.Client(base_url=url) as raw:
            response = raw.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
            assert response.status_code == 201, response.text
        yield url


@pytest.fixture
def sync_auth(
    live_server: str, agent_clock: FrozenClock, path_log: PathLog
) -> Iterator[AuthgateAuth]:
    token_http = httpx.Client(event_hooks={"request": [path_log.record]})
    auth = AuthgateAuth(
        base_url=live_server,
        email=EMAIL,
        password=PASSWORD,
        clock=agent_clock,
        http_client=token_http,
    )
    yield auth
    token_http.close()


def test_sync_client_logs_in_refreshes_and_logs_out(
    live_server: str,
    sync_auth: AuthgateAuth,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    with httpx.Client(base_url=live_server, auth=sync_auth) as api:
        assert api.post("/api/ai/chat", json=CHAT).status_code == 200
        first_refresh = sync_auth.refresh_token
        clock.advance(ACCESS_TTL - 30)
        agent_clock.advance(ACCESS_TTL - 30)
        assert api.post("/api/ai/chat", json=CHAT).status_code == 200
        assert sync_auth.refresh_token not in (None, first_refresh)
        clock.advance(ACCESS_TTL + LEEWAY + 1)
        retried = api.post("/api/ai/chat", json=CHAT)
        assert retried.status_code == 200
        assert [r.status_code for r in retried.history] == [401]
        access = sync_auth.access_token
        sync_auth.logout()
    after = httpx.post(f"{live_server}/api/ai/chat", json=CHAT, headers=bearer(access or ""))
    assert after.status_code == 401
    assert path_log.paths == [
        "/auth/login",
        "/auth/refresh",
        "/auth/refresh",
        "/auth/logout",
    ]


def test_sync_transport_option_and_close(live_server: str) -> None:
    auth = AuthgateAuth(
        base_url=live_server, email=EMAIL, password=PASSWORD, transport=httpx.HTTPTransport()
    )
    with httpx.Client(base_url=live_server, auth=auth) as api:
        assert api.post("/api/ai/chat", json=CHAT).status_code == 200
    auth.logout()
    auth.close()
    assert auth.access_token is None


def test_sync_concurrent_requests_cause_exactly_one_refresh(
    live_server: str,
    sync_auth: AuthgateAuth,
    path_log: PathLog,
    clock: FrozenClock,
    agent_clock: FrozenClock,
) -> None:
    with httpx.Client(base_url=live_server, auth=sync_auth) as api:
        assert api.post("/api/ai/chat", json=CHAT).status_code == 200
        clock.advance(ACCESS_TTL - 30)
        agent_clock.advance(ACCESS_TTL - 30)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda _: api.post("/api/ai/chat", json=CHAT).status_code, range(8))
            )
    assert statuses == [200] * 8
    assert path_log.refreshes == 1
