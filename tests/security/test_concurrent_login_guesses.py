"""Issue 19.1: concurrent password guesses must not bypass the failed-login limits.

Before the fix the limits were checked before the attempt and counted when the answer
started, so 100 wrong passwords sent at once all passed the check and all reached
argon2. Now each attempt is reserved first (and given back when it succeeds): at most
the limit reach the password hash, the rest get 429, on one instance and on two
instances sharing Redis, for the JSON API and the HTML sign-in form.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, lifespan
from tests.conftest import PASSWORD
from tests.helpers import runtime_of
from tests.http.pages.forms import sign_in
from tests.scaleout.infra import REDIS_URL, redis_prefix

EMAIL = "ada@example.com"
GUESSES = 100
LIMIT = 5  # failed logins per IP + email (the default)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    with _backend(request.param) as values:
        yield values


@contextmanager
def _backend(name: str) -> Iterator[dict[str, Any]]:
    if name == "memory":
        yield {}
        return
    with redis_prefix() as prefix:
        # A hundred requests open connections at once; a loaded machine needs time.
        yield {"redis_url": REDIS_URL, "redis_key_prefix": prefix, "redis_timeout": 15}


class HashCalls:
    """Counts the password checks that reached argon2, on every instance."""

    def __init__(self) -> None:
        self.count = 0

    def watch(self, app: FastAPI) -> None:
        hasher = runtime_of(app).hasher
        verify = hasher.verify

        def counted(stored: str | None, password: str) -> bool:
            self.count += 1
            return verify(stored, password)

        hasher.verify = counted  # type: ignore[method-assign]


@asynccontextmanager
async def instances(
    settings_factory: Callable[..., Any], clock: FrozenClock, backend: dict[str, Any], n: int
) -> AsyncIterator[list[FastAPI]]:
    # One database for all: the instances of one deployment.
    settings = settings_factory(rate_limit_enabled=True, **backend)
    async with AsyncExitStack() as stack:
        apps = [create_app(settings, clock=clock) for _ in range(n)]
        for app in apps:
            await stack.enter_async_context(lifespan(app))
        yield apps


def client_of(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _register(app: FastAPI) -> None:
    await runtime_of(app).users.create(EMAIL, PASSWORD, roles=["user"])


async def _guess_json(client: httpx.AsyncClient) -> int:
    response = await client.post("/auth/login", json={"email": EMAIL, "password": "wrong guess!"})
    return response.status_code


async def _guess_form(client: httpx.AsyncClient) -> int:
    return (await sign_in(client, email=EMAIL, password="wrong guess!")).status_code


@pytest.mark.parametrize(
    ("store", "count", "guess"),
    [
        pytest.param("memory", 1, _guess_json, id="json-memory"),
        pytest.param("memory", 1, _guess_form, id="form-memory"),
        pytest.param("redis", 1, _guess_json, id="json-redis"),
        pytest.param("redis", 2, _guess_json, id="json-redis-two-instances"),
        pytest.param("redis", 2, _guess_form, id="form-redis-two-instances"),
    ],
)
async def test_concurrent_wrong_passwords_reach_argon2_at_most_the_limit(
    settings_factory: Callable[..., Any],
    clock: FrozenClock,
    store: str,
    count: int,
    guess: Callable[[httpx.AsyncClient], Any],
) -> None:
    calls = HashCalls()
    with _backend(store) as backend:
        statuses = await _guess_concurrently(settings_factory, clock, backend, count, guess, calls)
    assert calls.count <= LIMIT
    assert statuses.count(429) >= GUESSES - LIMIT
    assert set(statuses) <= {400, 401, 429}


async def _guess_concurrently(
    settings_factory: Callable[..., Any],
    clock: FrozenClock,
    backend: dict[str, Any],
    count: int,
    guess: Callable[[httpx.AsyncClient], Any],
    calls: HashCalls,
) -> list[int]:
    async with instances(settings_factory, clock, backend, count) as apps:
        await _register(apps[0])
        for app in apps:
            calls.watch(app)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(client_of(app)) for app in apps]
            return list(
                await asyncio.gather(*(guess(clients[n % len(clients)]) for n in range(GUESSES)))
            )


async def test_a_successful_login_gives_its_reservation_back(
    settings_factory: Callable[..., Any], clock: FrozenClock, backend: dict[str, Any]
) -> None:
    async with instances(settings_factory, clock, backend, 1) as (app,):
        await _register(app)
        async with client_of(app) as client:
            for _ in range(LIMIT * 3):
                ok = await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
                assert ok.status_code == 200
            failures = [await _guess_json(client) for _ in range(LIMIT + 1)]
    assert failures == [401] * LIMIT + [429]


async def test_a_successful_form_sign_in_gives_its_reservation_back(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    async with instances(settings_factory, clock, {}, 1) as (app,):
        await _register(app)
        async with client_of(app) as client:
            for _ in range(LIMIT * 3):
                client.cookies.clear()
                assert (await sign_in(client, email=EMAIL, password=PASSWORD)).status_code == 303
            client.cookies.clear()
            failures = [await _guess_form(client) for _ in range(LIMIT + 1)]
    assert failures == [400] * LIMIT + [429]
