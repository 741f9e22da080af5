"""``AuthMiddleware`` matches its rules on the normalised path (issue 19 item 13).

Before the fix, ``/api//admin/users`` and ``/API/admin/users`` were checked against the
``/api`` rule only (``use_agent``) while a lenient router served ``/api/admin/users``.
The app below is such a router: it merges slashes, resolves dot segments and ignores
case, as many frameworks and proxies do, so a path that slips past the rule reaches the
admin handler.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from authgate import AuthMiddleware
from tests.conftest import login, register
from tests.helpers import runtime_of


async def lenient_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Routes on a forgiving reading of the path, as the apps the middleware protects may."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = unquote(raw.decode("latin-1").split("?", 1)[0]).replace("\\", "/").lower()
    path = posixpath.normpath(re.sub(r"/{2,}", "/", path))
    served = "admin" if path.startswith("/api/admin") else "other"
    await JSONResponse({"served": served})(scope, receive, send)


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body


class Guarded:
    """Calls the middleware with the exact bytes a server would pass (httpx would
    normalise some of these paths before sending them)."""

    def __init__(self, middleware: AuthMiddleware) -> None:
        self._middleware = middleware

    async def get(self, raw_path: str, token: str) -> Answer:
        raw = raw_path.encode("ascii")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 5000),
            "root_path": "",
            # As uvicorn does: the path percent-decoded once, raw_path as received.
            "path": unquote(raw_path),
            "raw_path": raw,
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await self._middleware(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Answer(sent[0]["status"], json.loads(body))


@pytest.fixture
def guarded(app: FastAPI) -> Guarded:
    return Guarded(
        AuthMiddleware(
            lenient_app,
            authenticator=runtime_of(app).authenticator,
            rules={"/api": ["use_agent"], "/api/admin": ["manage_agent"]},
            secure_cookies=False,
        )
    )


@pytest.fixture
async def user_token(client: httpx.AsyncClient) -> str:
    """A token with ``use_agent`` only: it must never reach the admin handler."""
    await register(client)
    pair: dict[str, Any] = await login(client)
    return str(pair["accessToken"])


async def test_the_admin_path_itself_needs_the_admin_permission(
    guarded: Guarded, user_token: str
) -> None:
    response = await guarded.get("/api/admin/users", user_token)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("raw_path", "status"),
    [
        pytest.param("/API/admin/users", 403, id="upper-case"),
        pytest.param("/Api/Admin/users", 403, id="mixed-case"),
        pytest.param("/api//admin/users", 400, id="double-slash"),
        pytest.param("//api/admin/users", 400, id="leading-double-slash"),
        pytest.param("/api/./admin/users", 400, id="dot-segment"),
        pytest.param("/api/x/../admin/users", 400, id="dot-dot-segment"),
        pytest.param("/public/../api/admin/users", 400, id="dot-dot-from-unprotected"),
        pytest.param("/api/%2e%2e/api/admin/users", 400, id="encoded-dot-dot"),
        pytest.param("/api%2fadmin/users", 400, id="encoded-slash"),
        pytest.param("/api/admin%2Fusers", 400, id="encoded-slash-upper"),
        pytest.param("/api%5cadmin/users", 400, id="encoded-backslash"),
        pytest.param("/api/%2561dmin/users", 400, id="double-encoded"),
        pytest.param("/api\\admin/users", 400, id="backslash"),
    ],
)
async def test_a_respelled_admin_path_never_passes_with_use_agent_only(
    guarded: Guarded, user_token: str, raw_path: str, status: int
) -> None:
    response = await guarded.get(raw_path, user_token)
    assert response.status_code == status, response.text
    assert response.json().get("served") is None
    if status == 400:
        assert response.json()["error"] == "Invalid request"


async def test_plain_paths_under_a_rule_still_work(guarded: Guarded, user_token: str) -> None:
    response = await guarded.get("/api/thing", user_token)
    assert response.json() == {"served": "other"}


async def test_ambiguous_paths_outside_every_rule_pass_untouched(
    guarded: Guarded, user_token: str
) -> None:
    response = await guarded.get("/static//x/./y", user_token)
    assert response.json() == {"served": "other"}
