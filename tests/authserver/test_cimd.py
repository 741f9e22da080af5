"""Client ID Metadata Documents, with their SSRF defences (MCP authorization 2025-11-25).

Documents are served on loopback by a thread in the test; that needs the test-only
``cimd_allow_loopback`` setting, which production refuses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.authserver.conftest import (
    EMAIL,
    REDIRECT,
    RESOURCE,
    Registered,
    exchange,
    make_resource,
    request_for,
)
from tests.authserver.flow import PASSWORD, Browser
from tests.processes import free_port


class _Documents(BaseHTTPRequestHandler):
    base = ""

    def do_GET(self) -> None:
        url = f"{self.base}{self.path}"
        if self.path == "/redirect/client.json":
            self._send(302, b"", {"Location": f"{self.base}/good/client.json"})
        elif self.path == "/to-private/client.json":
            self._send(302, b"", {"Location": "http://10.0.0.1/client.json"})
        elif self.path == "/huge/client.json":
            self._send(200, b'{"client_id": "' + b"x" * 100_000 + b'"}')
        elif self.path == "/slow/client.json":
            time.sleep(3)  # the server is slow; the test does not wait on a clock
            self._send(200, json.dumps(_document(url)).encode())
        elif self.path == "/wrong-name/client.json":
            self._send(200, json.dumps(_document(f"{self.base}/good/client.json")).encode())
        elif self.path == "/bad-redirect/client.json":
            body = _document(url, redirect_uris=["http://evil.example/cb"])
            self._send(200, json.dumps(body).encode())
        elif self.path == "/secret/client.json":
            self._send(200, json.dumps(_document(url, client_secret="s")).encode())
        else:
            self._send(200, json.dumps(_document(url)).encode())

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _document(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_name": "Doc Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        **extra,
    }


@pytest.fixture(scope="module")
def documents() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Documents.base = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


@pytest.fixture
async def cimd_app(tmp_path: Any, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, cimd_allow_loopback=True, cimd_timeout=0.5)
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        await make_resource(application)
        yield application


@pytest.fixture
async def cimd_browser(cimd_app: FastAPI) -> AsyncIterator[Browser]:
    async with client_for(cimd_app) as c:
        response = await c.post("/auth/register", json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 201
        yield Browser(c, email=EMAIL)


async def test_document_client_completes_the_flow(
    cimd_app: FastAPI, cimd_browser: Browser, documents: str
) -> None:
    client_id = f"{documents}/good/client.json"
    registered = Registered(client_id)
    await cimd_browser.authorize(request_for(registered, scope="mcp:read").url, decision="deny")
    page = await cimd_browser.client.get(request_for(registered).url)
    assert "Doc Client" in page.text
    assert "Unverified application" in page.text
    assert documents.removeprefix("http://") in page.text  # the document's host
    pending = request_for(registered)
    outcome = await cimd_browser.authorize(pending.url)
    async with client_for(cimd_app) as app_client:  # the client app, not the browser
        response = await exchange(app_client, registered, outcome.code, pending.verifier)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    assert claims["aud"] == RESOURCE


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/redirect/client.json", id="redirect"),
        pytest.param("/to-private/client.json", id="redirect-to-private"),
        pytest.param("/huge/client.json", id="huge"),
        pytest.param("/slow/client.json", id="slow"),
        pytest.param("/wrong-name/client.json", id="does-not-name-itself"),
        pytest.param("/bad-redirect/client.json", id="bad-redirect-uri"),
        pytest.param("/secret/client.json", id="carries-a-secret"),
    ],
)
async def test_unusable_documents_get_a_page(
    cimd_browser: Browser, documents: str, path: str
) -> None:
    pending = request_for(Registered(f"{documents}{path}"))
    response = await cimd_browser.client.get(pending.url)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param("https://10.0.0.1/client.json", id="private-10"),
        pytest.param("https://192.168.1.1/client.json", id="private-192"),
        pytest.param("https://169.254.169.254/latest/meta-data", id="link-local-metadata"),
        pytest.param("https://[fd00::1]/client.json", id="unique-local-v6"),
        pytest.param("https://[::ffff:10.0.0.1]/client.json", id="v4-mapped-private"),
        pytest.param("https://0.0.0.0/client.json", id="unspecified"),
        pytest.param("https://224.0.0.1/client.json", id="multicast"),
        pytest.param("https://127.0.0.1/client.json", id="loopback"),
        pytest.param("https://localhost/client.json", id="localhost-by-dns"),
        pytest.param("https://[::1]/client.json", id="loopback-v6"),
        pytest.param("https://example.com/", id="no-path"),
        pytest.param("https://user@example.com/client.json", id="userinfo"),
    ],
)
async def test_document_urls_to_private_places_are_refused(
    app: FastAPI, client: httpx.AsyncClient, client_id: str
) -> None:
    """OWASP SSRF: checked after DNS, before any connection (production settings)."""
    await make_resource(app)
    response = await client.get(request_for(Registered(client_id)).url)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_trusted_hosts_only_when_listed(tmp_path: Any, documents: str, clock: Any) -> None:
    settings = make_settings(
        tmp_path, cimd_allow_loopback=True, cimd_trusted_hosts=["apps.example.com"]
    )
    application = create_app(settings, clock=clock)
    async with lifespan(application), client_for(application) as c:
        await make_resource(application)
        response = await c.get(request_for(Registered(f"{documents}/good/client.json")).url)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param(f"http://127.0.0.1:{free_port()}/client.json", id="connection-refused"),
        pytest.param("http://127.0.0.1:99999/client.json", id="port-out-of-range"),
        pytest.param("https://127.0.0.1:1/client.json", id="tls-to-nothing"),
    ],
)
async def test_unreachable_documents_get_a_page_not_a_500(
    cimd_browser: Browser, client_id: str
) -> None:
    response = await cimd_browser.client.get(request_for(Registered(client_id)).url)
    assert response.status_code == 400


def test_production_refuses_loopback_documents(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="cimd_allow_loopback"):
        make_settings(tmp_path, env="production", cimd_allow_loopback=True)
