"""The revocation feed cut and restored, the ``mcp`` SDK adapter, the ASGI middleware,
introspection mode and the HS256 start-up message, each against a real authgate."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authgate.errors import InvalidClaimError, RevokedTokenError
from authgate.http.app import create_app
from authgate.resource import ResourceServer
from authgate.resource.web import ResourceMiddleware, install
from authgate.testing import lifespan, make_settings
from tests.processes import free_port
from tests.resource.stack import Authgate, authgate, service, until

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
MCP_OTHER = "http://127.0.0.1:1/other-mcp"


def test_feed_cut_fails_closed_then_recovers_by_itself(tmp_path: Any) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}"
    with authgate(tmp_path, resources=[resource]) as server:
        server.register(EMAIL)
        agent = server.agent(EMAIL, "notes:read")
        with service(
            tmp_path, server, server.resource_client(), port=port, SERVICE_MAX_STALENESS="2"
        ) as svc:
            token = server.token(agent, resource)
            assert svc.get("/notes", token).status_code == 200
            server.stop()
            until(lambda: svc.get("/notes", token).status_code == 503, timeout=15)
            response = svc.get("/notes", token)
            assert "revocations" in response.json()["message"]
            assert response.headers["retry-after"] == "1"
            server.start()
            until(lambda: svc.get("/notes", token).status_code == 200, timeout=20)


@pytest.fixture(scope="module")
def mcp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Authgate, str, Any]]:
    workdir = tmp_path_factory.mktemp("mcp")
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    with authgate(workdir, resources=[resource, MCP_OTHER]) as server:
        server.register(EMAIL)
        with service(
            workdir,
            server,
            server.resource_client(),
            script="mcp_server.py",
            prefix="MCP",
            path="/mcp",
            port=port,
        ) as svc:
            yield server, resource, svc


def mcp_call(url: str, token: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    return httpx.post(url, json=body, headers=headers, timeout=10.0)


def test_mcp_server_accepts_a_token_for_it(mcp_stack: tuple[Authgate, str, Any]) -> None:
    server, resource, _ = mcp_stack
    agent = server.agent(EMAIL, "mcp:tools")
    response = mcp_call(resource, server.token(agent, resource))
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "notes"


def test_mcp_server_refuses_a_token_for_another_resource(
    mcp_stack: tuple[Authgate, str, Any],
) -> None:
    server, resource, _ = mcp_stack
    agent = server.agent(EMAIL, "mcp:tools")
    response = mcp_call(resource, server.token(agent, MCP_OTHER))
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]


def test_mcp_server_refuses_a_token_without_the_scope(
    mcp_stack: tuple[Authgate, str, Any],
) -> None:
    server, resource, _ = mcp_stack
    agent = server.agent(EMAIL, "notes:read")
    assert mcp_call(resource, server.token(agent, resource)).status_code == 403


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Authgate, str]]:
    resource = "http://127.0.0.1:9/api"
    with authgate(tmp_path_factory.mktemp("plain"), resources=[resource]) as server:
        server.register(EMAIL)
        yield server, resource


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.state.access.subject})


async def open_(request: Request) -> JSONResponse:
    return JSONResponse({"open": True})


@pytest.fixture
async def middleware_app(plain: tuple[Authgate, str]) -> AsyncIterator[httpx.AsyncClient]:
    server, resource = plain
    rs = ResourceServer(
        issuer=server.url,
        resource=resource,
        client_id=(client := server.resource_client())[0],
        client_secret=client[1],
    )
    await rs.start()
    inner = Starlette(routes=[Route("/api/me", whoami), Route("/open", open_)])
    install(inner, rs)
    app = ResourceMiddleware(inner, resource_server=rs, rules={"/api": ["notes:read"]})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
        yield client
    await rs.aclose()


async def test_asgi_middleware_protects_its_prefix(
    plain: tuple[Authgate, str], middleware_app: httpx.AsyncClient
) -> None:
    server, resource = plain
    token = server.token(server.agent(EMAIL, "notes:read"), resource)
    assert (await middleware_app.get("/open")).status_code == 200
    assert (await middleware_app.get("/api/me")).status_code == 401
    ok = await middleware_app.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.json()["sub"].startswith("agent:")
    metadata = await middleware_app.get("/.well-known/oauth-protected-resource/api")
    assert metadata.json()["resource"] == resource


async def test_asgi_middleware_refuses_an_ambiguous_path(
    middleware_app: httpx.AsyncClient,
) -> None:
    """``//`` could match a rule differently from the router (issue 19 item 13's lesson)."""
    assert (await middleware_app.get("/api//me")).status_code == 400


async def test_introspection_mode_sees_a_revocation(plain: tuple[Authgate, str]) -> None:
    server, resource = plain
    agent = server.agent(EMAIL, "notes:read")
    client = server.resource_client()
    rs = ResourceServer(
        issuer=server.url,
        resource=resource,
        client_id=client[0],
        client_secret=client[1],
        introspection=True,
        introspection_ttl=0.0,
    )
    await rs.start()
    try:
        token = server.token(agent, resource)
        access = await rs.verify(token, scopes=["notes:read"])
        assert access.client_id == agent[0]
        server.revoke(agent, token)
        with pytest.raises(RevokedTokenError):
            await rs.verify(token)
        with pytest.raises(InvalidClaimError):
            await rs.verify(server.token(agent, None))
    finally:
        await rs.aclose()


async def test_an_hs256_issuer_is_named_at_start_up(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """HS256 tokens cannot be verified remotely: the resource server says so clearly."""
    settings = make_settings(tmp_path, public_url="http://authgate.test")
    app = create_app(settings)
    async with lifespan(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        rs = ResourceServer(
            issuer="http://authgate.test",
            resource="http://127.0.0.1:9/api",
            follow_revocations=False,
            http=http,
        )
        with caplog.at_level(logging.ERROR, logger="authgate.resource"):
            await rs.start()
        assert "HS256" in caplog.text
        assert "cannot be verified outside authgate" in caplog.text
        await http.aclose()


def test_with_postgres_and_redis_a_revocation_reaches_the_service(tmp_path: Any) -> None:
    """The scaled-out deployment: the feed is read from the database every instance
    shares, whatever carries revocations between the instances themselves."""
    from tests.scaleout.infra import REDIS_URL, postgres_database, redis_prefix

    port = free_port()
    resource = f"http://127.0.0.1:{port}"
    with postgres_database() as database, redis_prefix() as prefix:
        extra = {
            "AUTHGATE_DATABASE_URL": database,
            "AUTHGATE_AUTO_MIGRATE": "true",
            "AUTHGATE_REDIS_URL": REDIS_URL,
            "AUTHGATE_REDIS_KEY_PREFIX": prefix,
        }
        with authgate(tmp_path, resources=[resource], **extra) as server:
            server.register(EMAIL)
            agent = server.agent(EMAIL, "notes:read")
            with service(tmp_path, server, server.resource_client(), port=port) as svc:
                token = server.token(agent, resource)
                assert svc.get("/notes", token).status_code == 200
                server.revoke(agent, token)
                until(lambda: svc.get("/notes", token).status_code == 401)
