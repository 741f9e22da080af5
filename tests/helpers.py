"""Small helpers shared by the test modules (on top of the fixtures in conftest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from authgate.runtime import Runtime
from tests.conftest import PASSWORD, login

AUTH_FAILED = {"error": "Authentication failed", "message": "Invalid or expired token"}
AUTH_REQUIRED = {
    "error": "Authentication required",
    "message": "Provide Bearer token in Authorization header",
}
TOKEN_EXPIRED = {"error": "Token expired", "message": "Please refresh your token or login again"}


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.authgate
    return runtime


async def create_admin(
    app: FastAPI, client: httpx.AsyncClient, email: str = "root@example.com"
) -> dict[str, Any]:
    """An admin account created the way an operator would (not via /auth/register); logged in."""
    await runtime_of(app).users.create(email, PASSWORD, roles=["admin"])
    return await login(client, email)


async def audit_events(app: FastAPI, event: str) -> list[Any]:
    return list(await runtime_of(app).store.recent_audit(limit=100, event=event))


def decode(
    token: str, secret: str, *, audience: str = "ai-agent-users", issuer: str = "ai-agent-system"
) -> dict[str, Any]:
    """Decode and verify with PyJWT, an implementation independent of authgate's."""
    claims: dict[str, Any] = jwt.decode(
        token, secret, algorithms=["HS256"], audience=audience, issuer=issuer
    )
    return claims


def header(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


async def chat(client: httpx.AsyncClient, token: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers, **kwargs)


async def without_cookies(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """A request from ``client`` without its access-token cookie: an API client's call
    beside a signed-in browser's, since one request carries one credential (RFC 6750
    s2). Other cookies (such as a sign-in's state binding) are kept."""
    request = client.build_request(method, url, **kwargs)
    cookie = request.headers.pop("cookie", None)
    if cookie:
        kept = [
            part
            for part in cookie.split(";")
            if part.split("=", 1)[0].strip() not in ("access_token", "__Host-access_token")
        ]
        if kept:
            request.headers["cookie"] = ";".join(kept)
    return await client.send(request)


async def consent_to(
    client: httpx.AsyncClient,
    user_token: str,
    agent_id: str,
    scopes: Sequence[str] = ("use_agent",),
    max_ttl: int | None = None,
) -> dict[str, Any]:
    """The user lets this agent act for them (``POST /auth/delegations``), as token
    exchange requires."""
    body: dict[str, Any] = {"clientId": agent_id, "scopes": list(scopes)}
    if max_ttl is not None:
        body["maxTtl"] = max_ttl
    headers = {"Authorization": f"Bearer {user_token}"}
    response = await without_cookies(
        client, "POST", "/auth/delegations", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["consent"])
