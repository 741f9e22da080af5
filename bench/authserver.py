"""Authorization server: complete code flows and code-for-token exchanges per CPU-second.

Run alone: ``.venv/bin/python -m bench.authserver`` (not yet part of ``make bench``).

In process, through httpx's ASGI transport, so the CPU counted is authgate's plus the
client's (httpx building and parsing the requests): an upper bound on authgate's cost.
A *flow* is the part a returning user repeats: ``GET /oauth2/authorize`` with a signed-in
browser and remembered consent (303 with the code) and the ``authorization_code`` grant
(PKCE, resource, a grant session, refresh and access tokens). An *exchange* is the grant
alone. Sign-in (argon2) and the consent click are not in either: they are a person's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from authgate.http.app import create_app
from authgate.testing import client_for, lifespan
from bench.common import PASSWORD, bench_settings
from bench.issuing import postgres_and_redis

RESOURCE = "https://mcp.example.com/mcp"
REDIRECT = "http://127.0.0.1:8765/callback"
N = 300


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _Flow:
    def __init__(self, api: httpx.AsyncClient, browser: httpx.AsyncClient, client_id: str):
        self.api, self.browser, self.client_id = api, browser, client_id

    async def code(self) -> tuple[str, str]:
        verifier, challenge = _pkce()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": RESOURCE,
            "scope": "mcp:tools",
        }
        response = await self.browser.get(f"/oauth2/authorize?{urlencode(query)}")
        location = response.headers["location"]
        return parse_qs(urlsplit(location).query)["code"][0], verifier

    async def exchange(self, code: str, verifier: str) -> None:
        response = await self.api.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                "client_id": self.client_id,
                "resource": RESOURCE,
            },
        )
        assert response.status_code == 200, response.text


async def _consent_once(browser: httpx.AsyncClient, flow: _Flow) -> None:
    login = await browser.get("/login")
    token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    origin = {"Origin": "http://testserver"}
    data = {"csrf_token": token, "email": "bench@example.com", "password": PASSWORD}
    await browser.post("/login", data=data, headers=origin)
    _verifier, challenge = _pkce()
    query = urlencode(
        {
            "response_type": "code", "client_id": flow.client_id, "redirect_uri": REDIRECT,
            "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
            "resource": RESOURCE, "scope": "mcp:tools",
        }
    )  # fmt: skip
    await browser.post(
        "/oauth2/consent",
        data={"csrf_token": token, "request": query, "decision": "allow"},
        headers=origin,
    )


async def _measure(overrides: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(bench_settings(Path(tmp), **overrides))
        async with lifespan(app), client_for(app) as api, client_for(app) as browser:
            runtime = app.state.authgate
            await runtime.users.register("bench@example.com", PASSWORD)
            await runtime.authserver.resources.create(
                name="bench", url=RESOURCE, scopes=["mcp:tools"]
            )
            registered = await api.post(
                "/oauth2/register",
                json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"},
            )
            flow = _Flow(api, browser, registered.json()["client_id"])
            await _consent_once(browser, flow)
            for _ in range(20):  # warm up
                await flow.exchange(*await flow.code())
            return {"flows": await _flows(flow), "exchanges": await _exchanges(flow)}


async def _flows(flow: _Flow) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(N):
        await flow.exchange(*await flow.code())
    return _rates(N, time.process_time() - cpu, time.perf_counter() - wall)


async def _exchanges(flow: _Flow) -> dict[str, float]:
    codes = [await flow.code() for _ in range(N)]
    cpu, wall = time.process_time(), time.perf_counter()
    for code in codes:
        await flow.exchange(*code)
    return _rates(N, time.process_time() - cpu, time.perf_counter() - wall)


def _rates(n: int, cpu: float, wall: float) -> dict[str, float]:
    return {"n": n, "per_cpu_s": n / cpu, "per_s": n / wall, "cpu_ms_each": 1000 * cpu / n}


async def _run() -> dict[str, Any]:
    result: dict[str, Any] = {"sqlite": await _measure({})}
    async with postgres_and_redis() as overrides:
        result["postgres_redis"] = None if overrides is None else await _measure(overrides)
    return result


def run() -> dict[str, Any]:
    """The ``authserver`` section of ``make bench``."""
    return asyncio.run(_run())


def main() -> None:
    result = run()
    print("| Backend | What | per CPU-second | CPU each | per second (wall) |")
    print("|---|---|---:|---:|---:|")
    for backend, figures in result.items():
        if figures is None:
            print(f"| {backend} | not measured | | | |")
            continue
        for what in ("flows", "exchanges"):
            f = figures[what]
            print(
                f"| {backend} | {what} | {f['per_cpu_s']:,.0f} | {f['cpu_ms_each']:.2f} ms"
                f" | {f['per_s']:,.0f} |"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
