"""Verification in a resource server elsewhere: ``authgate.resource`` vs PyJWT by hand.

authgate runs in process (EdDSA key store) behind an ASGI transport; the resource server
discovers it, loads its JWKS and follows its revocation feed, which keeps running (long
polls) during the measurement. The PyJWT baseline is what a team writes by hand: a
``PyJWKSet`` from the same JWKS, ``decode`` with the key of the header's ``kid``,
``EdDSA`` only, ``iss``/``aud``/``exp``/``iat`` and the required claims, ``typ``, and a
set lookup of revoked sessions. Both verify tokens issued for the resource (RFC 8707).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt

from authgate.http.app import create_app
from authgate.keys.encryption import generate_kek
from authgate.resource import ResourceServer
from authgate.testing import lifespan
from bench.common import bench_settings, median

ISSUER = "http://authgate.bench"
RESOURCE = "http://notes.bench/api"
ROUNDS = 5
FRESH = 2_000
REPEATED = 10_000
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId"]


def pyjwt_verifier(jwks: dict[str, Any], revoked: set[str]) -> Callable[[str], Any]:
    keys = {jwk.key_id: jwk for jwk in pyjwt.PyJWKSet.from_dict(jwks).keys}

    def verify(token: str) -> dict[str, Any]:
        header = pyjwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise ValueError("typ")
        claims: dict[str, Any] = pyjwt.decode(
            token,
            keys[header["kid"]].key,
            algorithms=["EdDSA"],
            audience=RESOURCE,
            issuer=ISSUER,
            leeway=10,
            options={"require": REQUIRED},
        )
        if claims["sessionId"] in revoked:
            raise ValueError("revoked")
        return claims

    return verify


async def per_op_async(fn: Callable[[], Awaitable[object]], n: int) -> float:
    """CPU seconds per call; yields to the loop every 50 calls, as a server between
    requests does, so the revocation feed keeps running (its work is counted too)."""
    start = time.thread_time()
    for done in range(n):
        await fn()
        if done % 50 == 0:
            await asyncio.sleep(0)
    return (time.thread_time() - start) / n


async def per_op_sync(fn: Callable[[], object], n: int) -> float:
    """The same for a plain function, yielding as often (the feed runs meanwhile)."""
    start = time.thread_time()
    for done in range(n):
        fn()
        if done % 50 == 0:
            await asyncio.sleep(0)
    return (time.thread_time() - start) / n


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            signing_alg="EdDSA",
            encryption_key=generate_kek(),
            resources=[RESOURCE],
            public_url=ISSUER,
        )
        app = create_app(settings)
        async with lifespan(app):
            return await _with_app(app)


async def _with_app(app: Any) -> dict[str, Any]:
    runtime = app.state.authgate
    client = await runtime.clients.create(name="bench", kind="resource_server", scopes=[])

    def issue() -> str:
        return str(
            runtime.issuer.issue_access(
                user_id="agent:bench",
                email=None,
                roles=[],
                permissions=["notes:read"],
                session_id="bench-session",
                device_fingerprint="bench",
                client_id="agent-bench",
                resource=(ISSUER, RESOURCE),
            ).token
        )

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        rs = ResourceServer(
            issuer=ISSUER,
            resource=RESOURCE,
            client_id=client.client.client_id,
            client_secret=client.secret,
            http=http,
        )
        await rs.start()
        jwks = (await http.get("/.well-known/jwks.json")).json()
        baseline = pyjwt_verifier(jwks, {f"other-{n}" for n in range(1_000)})
        token = issue()
        await rs.verify(token, scopes=["notes:read"])
        baseline(token)
        samples: dict[str, dict[str, list[float]]] = {
            "authgate.resource": {"fresh": [], "repeated": []},
            "PyJWT + JWKS by hand": {"fresh": [], "repeated": []},
        }
        for _ in range(ROUNDS):
            fresh = [issue() for _ in range(FRESH)]
            mine = iter(fresh)
            samples["authgate.resource"]["fresh"].append(
                await per_op_async(
                    lambda i=mine: rs.verify(next(i), scopes=["notes:read"]),  # type: ignore[misc]
                    FRESH,
                )
            )
            samples["authgate.resource"]["repeated"].append(
                await per_op_async(lambda: rs.verify(token, scopes=["notes:read"]), REPEATED)
            )
            theirs = iter(fresh)
            samples["PyJWT + JWKS by hand"]["fresh"].append(
                await per_op_sync(lambda i=theirs: baseline(next(i)), FRESH)  # type: ignore[misc]
            )
            samples["PyJWT + JWKS by hand"]["repeated"].append(
                await per_op_sync(lambda: baseline(token), REPEATED)
            )
        feed_running = rs.follower is not None and rs.follower.synced.is_set()
        await rs.aclose()
    rows = [
        {"name": name, "fresh_s": median(k["fresh"]), "repeated_s": median(k["repeated"])}
        for name, k in samples.items()
    ]
    base = rows[1]
    for row in rows:
        row["x_fresh"] = base["fresh_s"] / row["fresh_s"]
        row["x_repeated"] = base["repeated_s"] / row["repeated_s"]
    return {"rows": rows, "rounds": ROUNDS, "feed_running": feed_running}


def run() -> dict[str, Any]:
    return asyncio.run(_measure())
