"""DPoP server nonces at a resource (RFC 9449 s9), replay across instances, and the
pure ASGI middleware with DPoP-bound tokens."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate import AuthMiddleware
from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer
from tests.helpers import runtime_of
from tests.security.dpop_support import (
    ProofKey,
    bound_token,
    dpop,
    dpop_settings_factory,  # noqa: F401 - fixture
    user_principal,
)


async def chat(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)


@pytest.fixture
async def nonce_app(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    application = create_app(settings_factory(dpop_nonce_required=True), clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def nonce_client(nonce_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(nonce_app) as c:
        yield c


@pytest.fixture
async def bound(nonce_app: FastAPI, nonce_client: httpx.AsyncClient) -> tuple[ProofKey, str]:
    principal = await user_principal(nonce_app, nonce_client)
    key = ProofKey()
    return key, bound_token(nonce_app, principal, key.jkt)


async def _nonce(client: httpx.AsyncClient, key: ProofKey, token: str, now: float) -> str:
    """The server's current nonce, learned the way a client does: from a refusal."""
    refused = await chat(client, dpop(token, key.proof(iat=now, token=token)))
    assert refused.status_code == 401
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
    return refused.headers["dpop-nonce"]


async def test_missing_nonce_is_answered_with_one_and_the_retry_works(
    nonce_client: httpx.AsyncClient, clock: FrozenClock, bound: tuple[ProofKey, str]
) -> None:
    key, token = bound
    refused = await chat(nonce_client, dpop(token, key.proof(iat=clock.now, token=token)))
    assert refused.status_code == 401
    assert refused.json()["error"] == "DPoP nonce required"
    assert refused.headers["www-authenticate"].startswith(
        'DPoP realm="authgate", error="use_dpop_nonce"'
    )
    nonce = refused.headers["dpop-nonce"]
    ok = await chat(nonce_client, dpop(token, key.proof(iat=clock.now, token=token, nonce=nonce)))
    assert ok.status_code == 200, ok.text


async def test_made_up_nonce_is_refused(
    nonce_client: httpx.AsyncClient, clock: FrozenClock, bound: tuple[ProofKey, str]
) -> None:
    key, token = bound
    proof = key.proof(iat=clock.now, token=token, nonce="made-up-nonce")
    refused = await chat(nonce_client, dpop(token, proof))
    assert refused.status_code == 401
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
    assert refused.headers["dpop-nonce"] != "made-up-nonce"


async def test_nonce_survives_one_rotation_and_not_two(
    nonce_client: httpx.AsyncClient, clock: FrozenClock, bound: tuple[ProofKey, str]
) -> None:
    key, token = bound
    nonce = await _nonce(nonce_client, key, token, clock.now)
    clock.advance(60)  # the next bucket: still accepted
    ok = await chat(nonce_client, dpop(token, key.proof(iat=clock.now, token=token, nonce=nonce)))
    assert ok.status_code == 200, ok.text
    clock.advance(60)  # two buckets on: expired
    stale = await chat(
        nonce_client, dpop(token, key.proof(iat=clock.now, token=token, nonce=nonce))
    )
    assert stale.status_code == 401
    assert 'error="use_dpop_nonce"' in stale.headers["www-authenticate"]
    assert stale.headers["dpop-nonce"] != nonce


async def test_other_proof_errors_also_carry_a_fresh_nonce(
    nonce_client: httpx.AsyncClient, clock: FrozenClock, bound: tuple[ProofKey, str]
) -> None:
    key, token = bound
    nonce = await _nonce(nonce_client, key, token, clock.now)
    proof = key.proof(iat=clock.now, token=token, nonce=nonce, htm="GET")
    refused = await chat(nonce_client, dpop(token, proof))
    assert refused.status_code == 401
    assert 'error="invalid_dpop_proof"' in refused.headers["www-authenticate"]
    assert refused.headers["dpop-nonce"] == nonce


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not reachable at 127.0.0.1:6379")
async def test_replay_is_refused_by_another_instance_through_redis(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> None:
    """The jti replay cache is shared: a proof used on one instance fails on the next."""
    settings = settings_factory(
        redis_url="redis://127.0.0.1:6379/0",
        redis_key_prefix=f"authgate-test-{uuid.uuid4().hex}:",
    )
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    async with (
        lifespan(first),
        lifespan(second),
        client_for(first) as a,
        client_for(second) as b,
    ):
        principal = await user_principal(first, a)
        key = ProofKey()
        token = bound_token(first, principal, key.jkt)
        proof = key.proof(iat=clock.now, token=token)
        assert (await chat(a, dpop(token, proof))).status_code == 200
        replayed = await chat(b, dpop(token, proof))
        assert replayed.status_code == 401
        fresh = await chat(b, dpop(token, key.proof(iat=clock.now, token=token)))
        assert fresh.status_code == 200, fresh.text


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.state.principal.id})


def guarded(app: FastAPI, **options: Any) -> AuthMiddleware:
    inner = Starlette(routes=[Route("/api/thing", whoami)])
    authenticator = runtime_of(app).authenticator
    return AuthMiddleware(
        inner, authenticator=authenticator, rules={"/api": []}, secure_cookies=False, **options
    )


async def test_middleware_accepts_a_bound_token_with_its_proof(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    principal = await user_principal(app, client)
    key = ProofKey()
    token = bound_token(app, principal, key.jkt)
    htu = "http://testserver/api/thing"
    async with client_for(guarded(app, dpop=runtime_of(app).dpop)) as c:
        ok = await c.get(
            "/api/thing",
            headers=dpop(token, key.proof(iat=clock.now, htm="GET", htu=htu, token=token)),
        )
        downgraded = await c.get("/api/thing", headers=bearer(token))
        wrong_method = await c.get(
            "/api/thing", headers=dpop(token, key.proof(iat=clock.now, htu=htu, token=token))
        )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"id": principal.id}
    assert downgraded.status_code == 401
    assert downgraded.headers["www-authenticate"].startswith("DPoP ")
    assert wrong_method.status_code == 401
    assert 'error="invalid_dpop_proof"' in wrong_method.headers["www-authenticate"]


async def test_middleware_without_a_verifier_refuses_bound_tokens(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Fail closed: a bound token is never accepted where its proof cannot be checked."""
    principal = await user_principal(app, client)
    key = ProofKey()
    token = bound_token(app, principal, key.jkt)
    proof = key.proof(iat=clock.now, htm="GET", htu="http://testserver/api/thing", token=token)
    async with client_for(guarded(app)) as c:
        refused = await c.get("/api/thing", headers=dpop(token, proof))
        unbound = await c.get("/api/thing", headers=bearer(bound_token(app, principal, None)))
    assert refused.status_code == 401
    assert unbound.status_code == 200
