"""Real providers on loopback: oauth2-mock-server (node) for OIDC, a Starlette app for GitHub.

The node server is installed from ``tests/federation/server/package-lock.json`` by
``make install-test`` (``npm ci``); one process per configuration per xdist worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.federation.github_server import GitHubServer

SERVER_DIR = Path(__file__).with_name("server")
CLIENTS = {
    "google-client": "google-secret-value",
    "auth0-client": "auth0-secret-value",
    "corp-client": "corp-secret-value",
}
CALLBACK = "http://testserver/auth/oauth/{name}/callback"


@dataclass
class MockProvider:
    """One oauth2-mock-server process and its control API."""

    process: subprocess.Popen[str]
    port: int
    issuer: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, **overrides: Any) -> None:
        response = httpx.post(f"{self.base}/__control/overrides", json=overrides, timeout=5)
        response.raise_for_status()

    def rotate_key(self) -> str:
        response = httpx.post(f"{self.base}/__control/rotate", timeout=5)
        return str(response.json()["kid"])

    def last(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/__control/last", timeout=5).json())


def _start(**options: Any) -> MockProvider:
    node = shutil.which("node")
    if node is None or not (SERVER_DIR / "node_modules" / "oauth2-mock-server").is_dir():
        pytest.fail("the OIDC test server is not installed: run `make install-test` (npm ci)")
    process = subprocess.Popen(
        [node, "server.mjs", json.dumps({"clients": CLIENTS, **options})],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the OIDC test server did not start")
    info = json.loads(line)
    return MockProvider(process, int(info["port"]), str(info["issuer"]))


def _stop(provider: MockProvider) -> None:
    provider.process.terminate()
    try:
        provider.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        provider.process.kill()
        provider.process.wait()
    if provider.process.stdout is not None:
        provider.process.stdout.close()


@pytest.fixture(scope="session")
def _oidc_basic() -> Iterator[MockProvider]:
    """Google-like: issuer without a trailing slash, client_secret_basic."""
    provider = _start(authMethod="client_secret_basic")
    yield provider
    _stop(provider)


@pytest.fixture(scope="session")
def _oidc_post() -> Iterator[MockProvider]:
    """Auth0-like: issuer with a trailing slash, client_secret_post, RFC 9207 `iss`."""
    provider = _start(authMethod="client_secret_post", trailingSlash=True, issParameter=True)
    yield provider
    _stop(provider)


@pytest.fixture
def oidc(_oidc_basic: MockProvider) -> MockProvider:
    _oidc_basic.configure()
    return _oidc_basic


@pytest.fixture
def oidc_post(_oidc_post: MockProvider) -> MockProvider:
    _oidc_post.configure()
    return _oidc_post


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    server = GitHubServer(client_id="github-client", client_secret="github-secret-value")
    server.start()
    yield server
    server.stop()


def google_settings(provider: MockProvider) -> dict[str, Any]:
    return {
        "google_client_id": "google-client",
        "google_client_secret": CLIENTS["google-client"],
        "google_redirect_uri": CALLBACK.format(name="google"),
        "google_issuer": provider.issuer,
    }


def auth0_settings(provider: MockProvider) -> dict[str, Any]:
    return {
        "auth0_domain": provider.base,
        "auth0_client_id": "auth0-client",
        "auth0_client_secret": CLIENTS["auth0-client"],
        "auth0_redirect_uri": CALLBACK.format(name="auth0"),
    }


def github_settings(server: GitHubServer) -> dict[str, Any]:
    return {
        "github_client_id": server.client_id,
        "github_client_secret": server.client_secret,
        "github_redirect_uri": CALLBACK.format(name="github"),
        "github_url": server.base,
    }


AppFactory = Callable[..., Any]


@pytest.fixture
async def oauth_app(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[AppFactory]:
    """Builds an app with the given settings (and a client for it) for this test."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
            values = {"oauth_http_timeout": 2.0, "rate_limit_enabled": False, **overrides}
            settings = make_settings(values.pop("state_dir", tmp_path), **values)
            app = create_app(settings, clock=clock)
            await stack.enter_async_context(lifespan(app))
            client = await stack.enter_async_context(
                client_for(app, headers={"user-agent": "pytest-agent/1.0"})
            )
            return app, client

        yield build


async def authorize(auth_url: str) -> str:
    """Visit the provider's authorization endpoint as a browser would; return the callback."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.get(auth_url)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


async def start(client: httpx.AsyncClient, provider: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/auth/oauth/{provider}", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def login(client: httpx.AsyncClient, provider: str) -> httpx.Response:
    """Start, let the provider approve, and call back: the callback's answer."""
    started = await start(client, provider)
    return await client.get(await authorize(started["authUrl"]))


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
