"""In-process costs of the parts on a request's path (issue 18), CPU time per operation.

- the rate limiter per hit, in memory, with few and with 500,000 clients in the window
  (GCRA keeps one number per client: the cost must not grow);
- a user's route added to ``create_app()`` against the same route on a bare FastAPI app
  with the same middleware (authgate's routes sit behind one prefix gate);
- the access log at info (authgate's JSON handler writing to ``/dev/null``) against the
  same outer layer (``http/edge.py``) with it off;
- ``AuthMiddleware`` on a raw ASGI app against the raw app, with a valid bearer token;
- EdDSA and ES256 fresh-token verification against PyJWT with the same checks.

ASGI apps are called directly with a prepared scope (no server, no sockets), so each
figure is the difference the part makes. Medians of interleaved rounds.

Issue 18 set these targets in µs on the machine of the day it was filed. Every round
also times a yardstick whose figure the issue gives, PyJWT's HS256 verify of a fresh
token with the verify section's checks (36 µs then: authgate's 14 µs at 2.6x PyJWT), so
each cost is also reported at that day's speed: the median of the per-round costs, each
divided by how much slower the yardstick ran in its round.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import uvloop
from fastapi import FastAPI

from authgate.devices import DeviceInfo
from authgate.http.app import create_app
from authgate.http.edge import EdgeMiddleware
from authgate.http.middleware import AuthMiddleware
from authgate.keys.keyring import KeyRing, RingKey, generate_key, hmac_key
from authgate.logconfig import JsonFormatter, RedactingFilter
from authgate.ratelimit import RateLimits
from authgate.runtime import Runtime
from authgate.testing import lifespan, make_settings
from authgate.tokens import TokenIssuer, TokenVerifier
from bench.common import PASSWORD, median, per_op
from bench.verify import pyjwt_verifier

ISS, AUD = "ai-agent-system", "ai-agent-users"
ROUNDS = 5
PAIRED_ROUNDS = 15
Call = Callable[[], Awaitable[None]]
#: PyJWT's fresh HS256 verify when issue 18 was filed (its authgate 14 µs at 2.6x PyJWT).
ISSUE_PYJWT_FRESH_S = 36e-6


class _Yardstick:
    """PyJWT's verify of authgate's HS256 access tokens, timed beside each round."""

    def __init__(self, n: int = 400) -> None:
        secret = "y" * 64
        issuer = TokenIssuer(
            access_secret=secret, refresh_secret="r" * 64, issuer=ISS, audience=AUD,
            access_ttl=900, refresh_ttl=3600,
        )  # fmt: skip
        self._tokens = [
            issuer.issue_access(
                user_id=f"user-{i}", email="a@example.com", roles=["user"],
                permissions=["use_agent"], session_id=f"s-{i}", device_fingerprint="bench",
            ).token
            for i in range(n)
        ]  # fmt: skip
        revoked = {f"other-{i}" for i in range(1_000)}
        self._verify = pyjwt_verifier(secret, ISS, AUD, 10, revoked)

    def slowdown(self) -> float:
        """How many times slower than on the issue's machine the yardstick runs now."""
        tokens = iter(self._tokens)
        per_token = per_op(lambda: self._verify(next(tokens)), len(self._tokens))
        return per_token / ISSUE_PYJWT_FRESH_S


@functools.cache
def _yardstick() -> _Yardstick:
    return _Yardstick()


async def _per_call(call: Call, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.thread_time()
        for _ in range(n):
            await call()
        return (time.thread_time() - start) / n
    finally:
        gc.enable()


async def _compare(calls: dict[str, Call], n: int) -> dict[str, float]:
    """Per call of each, and ``slowdown``: the yardstick's median across the rounds."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    slowdowns = []
    for call in calls.values():
        await _per_call(call, n // 10)  # warm up
    for _ in range(ROUNDS):
        for name, call in calls.items():
            samples[name].append(await _per_call(call, n))
        slowdowns.append(_yardstick().slowdown())
    return {
        **{name: median(values) for name, values in samples.items()},
        "slowdown": median(slowdowns),
    }


async def _cost(with_part: Call, without: Call, n: int) -> dict[str, float]:
    """What a part costs: per call with and without it, and the median of the per-round
    differences. Each round measures both back to back, in alternating order, so a
    drift of the machine's speed (seen here within minutes) falls on both sides; the
    difference of the two medians would carry each side's noise on its own. The
    yardstick runs in each round too, for the cost at the issue's speed.
    """
    await _per_call(with_part, n // 10)  # warm up
    await _per_call(without, n // 10)
    withs, withouts, extras, scaled, slowdowns = [], [], [], [], []
    for i in range(PAIRED_ROUNDS):
        order = (with_part, without) if i % 2 == 0 else (without, with_part)
        first, second = await _per_call(order[0], n), await _per_call(order[1], n)
        with_s, without_s = (first, second) if i % 2 == 0 else (second, first)
        slowdown = _yardstick().slowdown()
        withs.append(with_s)
        withouts.append(without_s)
        extras.append(with_s - without_s)
        scaled.append((with_s - without_s) / slowdown)
        slowdowns.append(slowdown)
    return {
        "with_s": median(withs),
        "without_s": median(withouts),
        "extra_s": median(extras),
        "extra_at_issue_s": median(scaled),
        "slowdown": median(slowdowns),
    }


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"bench"), *(headers or [])],
        "client": ("127.0.0.1", 5000), "server": ("bench", 80),
    }  # fmt: skip


def _caller(app: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Call:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def call() -> None:
        await app(_scope(path, headers), receive, send)

    return call


async def limiter() -> dict[str, float]:
    limits = RateLimits(rules={"api": "1000000000 per 15 minutes"})
    await limits.start()
    few = await _compare({"few": lambda: _hit(limits, "client-1")}, 20000)
    for n in range(500_000):
        await limits.hit("api", "ip", str(n))
    many = await _compare({"many": lambda: _hit(limits, "client-1")}, 20000)
    await limits.close()
    return {
        "hit_few_s": few["few"],
        "hit_500k_s": many["many"],
        "slowdown": median([few["slowdown"], many["slowdown"]]),
    }


async def _hit(limits: RateLimits, key: str) -> None:
    await limits.hit("api", "principal", key)


async def routing(state: Path) -> dict[str, float]:
    settings = make_settings(state, access_log=False)
    with_user_route = create_app(settings)
    bare = create_app(settings)  # the same middleware; only FastAPI's own routes kept
    bare.router.routes[:] = [
        r for r in bare.router.routes if getattr(r, "path", "") in _FASTAPI_OWN
    ]
    for app in (with_user_route, bare):
        _hello(app)
    async with lifespan(with_user_route), lifespan(bare):
        cost = await _cost(_caller(with_user_route, "/hello"), _caller(bare, "/hello"), 2000)
    return {"user_route_s": cost["with_s"], "bare_s": cost["without_s"], **_extra(cost)}


async def access_log() -> dict[str, float]:
    """The access log at info, into authgate's JSON handler on /dev/null, against off."""
    handler = logging.FileHandler("/dev/null")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("authgate")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    # As create_app runs it: inside the one outer layer (http/edge.py), whose send
    # wrapper the log shares with metrics, headers and the outage check; the figure is
    # what turning the log on adds to that layer.
    unlogged = EdgeMiddleware(_raw, access_log=False)
    logged = EdgeMiddleware(_raw, access_log=True)
    calls = {"raw": _caller(unlogged, "/api/ai/chat"), "logged": _caller(logged, "/api/ai/chat")}

    async def yielding(call: Call) -> Call:
        async def run() -> None:
            await call()
            await asyncio.sleep(0)  # let the batched lines be written, as a server would

        return run

    try:
        cost = await _cost(await yielding(calls["logged"]), await yielding(calls["raw"]), 7000)
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
    return {"raw_s": cost["without_s"], "logged_s": cost["with_s"], **_extra(cost)}


async def _raw(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


_FASTAPI_OWN = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def _hello(app: FastAPI) -> None:
    @app.get("/hello")
    async def hello() -> dict[str, bool]:
        return {"ok": True}


async def middleware(state: Path) -> dict[str, float]:
    runtime = Runtime(make_settings(state, auto_migrate=True))
    await runtime.start()
    user = await runtime.users.create("mw@example.com", PASSWORD, roles=["user"])
    device = DeviceInfo(user_agent="bench", ip="127.0.0.1", accept_language="")
    token = (await runtime.auth.start_session(user, device)).access.token

    raw = _raw
    protected = AuthMiddleware(
        raw, authenticator=runtime.authenticator, rules={"/api": ["use_agent"]}, dpop=runtime.dpop
    )
    headers = [(b"authorization", b"Bearer " + token.encode())]
    cost = await _cost(_caller(protected, "/api/x", headers), _caller(raw, "/api/x", headers), 7000)
    await runtime.close()
    return {"raw_s": cost["without_s"], "auth_s": cost["with_s"], **_extra(cost)}


def _extra(cost: dict[str, float]) -> dict[str, float]:
    return {name: cost[name] for name in ("extra_s", "extra_at_issue_s", "slowdown")}


class _Keys:
    def __init__(self, alg: str) -> None:
        self.key = RingKey(kid=f"{alg}-bench", alg=alg, key=generate_key(alg))
        self.ring = KeyRing.of(self.key)
        self.refresh_key = hmac_key("refresh", "r" * 64)


def asymmetric(alg: str, n: int = 700) -> dict[str, float]:
    keys = _Keys(alg)
    issuer = TokenIssuer(keys=keys, issuer=ISS, audience=AUD, access_ttl=900, refresh_ttl=3600)
    tokens = [
        issuer.issue_access(
            user_id=f"user-{i}", email="a@example.com", roles=["user"],
            permissions=["use_agent"], session_id=f"s-{i}", device_fingerprint="f" * 64,
        ).token
        for i in range(n)
    ]  # fmt: skip
    ours = TokenVerifier(keys=keys, issuer=ISS, audience=AUD, cache_size=0)
    public = keys.key.key.get_op_key("verify")

    def pyjwt(token: str) -> None:
        jwt.decode_complete(
            token, public, algorithms=[alg], audience=AUD, issuer=ISS, leeway=10,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId"]},
        )  # fmt: skip

    def per_token(verify: Callable[[str], object]) -> float:
        gc.collect()
        start = time.thread_time()
        for token in tokens:
            verify(token)
        return (time.thread_time() - start) / n

    # As _cost: both back to back in alternating order, and the median of the per-round
    # ratios, so a drift of the machine's speed falls on both sides.
    ours_s, theirs_s, ratios = [], [], []
    for i in range(PAIRED_ROUNDS):
        if i % 2 == 0:
            authgate, pyjwt_s = per_token(ours.verify_access), per_token(pyjwt)
        else:
            pyjwt_s, authgate = per_token(pyjwt), per_token(ours.verify_access)
        ours_s.append(authgate)
        theirs_s.append(pyjwt_s)
        ratios.append(pyjwt_s / authgate)
    return {"authgate_s": median(ours_s), "pyjwt_s": median(theirs_s), "x_pyjwt": median(ratios)}


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        return {
            "limiter": await limiter(),
            "routing": await routing(state / "a"),
            "access_log": await access_log(),
            "middleware": await middleware(state / "b"),
            "eddsa": asymmetric("EdDSA"),
            "es256": asymmetric("ES256"),
        }


def run() -> dict[str, Any]:
    # On uvloop, the event loop ``authgate serve`` runs on (uvicorn[standard] brings it).
    return uvloop.run(_measure())
