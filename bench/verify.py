"""Verification in process: authgate vs PyJWT vs joserfc on the same HS256 access token.

Every implementation makes the same checks: HS256 only, signature, ``typ`` at+jwt,
``iss`` and ``aud`` exact, ``exp`` and ``iat`` with the same leeway, the required
claims present, ``tokenType`` access, and the session not revoked (a set lookup for
the libraries, authgate's revocation list for authgate). "Fresh" verifies each token
once (as when every request carries a new token); "repeated" verifies one token over
and over (an agent reusing its access token for its 15 minutes).
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from authgate.devices import DeviceInfo
from authgate.errors import RevokedTokenError
from authgate.runtime import Runtime
from authgate.sessions.authenticator import Authenticator
from authgate.tokens.verifier import TokenVerifier
from bench.common import PASSWORD, bench_settings, median, per_op, started

ROUNDS = 5
FRESH = 5_000
REPEATED = 20_000
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId", "tokenType"]


class Rejected(Exception):
    pass


def pyjwt_verifier(secret: str, issuer: str, audience: str, leeway: int, revoked: set[str]) -> Any:
    def verify(token: str) -> dict[str, Any]:
        decoded = pyjwt.decode_complete(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": REQUIRED},
        )
        claims: dict[str, Any] = decoded["payload"]
        if decoded["header"].get("typ") != "at+jwt" or claims["tokenType"] != "access":
            raise Rejected("typ")
        if claims["sessionId"] in revoked:
            raise Rejected("revoked")
        return claims

    return verify


def joserfc_verifier(
    secret: str, issuer: str, audience: str, leeway: int, revoked: set[str]
) -> Any:
    key = OctKey.import_key(secret)
    registry = JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        tokenType={"essential": True, "value": "access"},
        **{name: {"essential": True} for name in ("exp", "iat", "sub", "jti", "sessionId")},
    )

    def verify(token: str) -> dict[str, Any]:
        decoded = jose_jwt.decode(token, key, algorithms=["HS256"])
        if decoded.header.get("typ") != "at+jwt":
            raise Rejected("typ")
        registry.validate(decoded.claims)
        if decoded.claims["sessionId"] in revoked:
            raise Rejected("revoked")
        return decoded.claims

    return verify


def authgate_variant(runtime: Runtime, **options: Any) -> Callable[[str], Any]:
    settings = runtime.settings
    verifier = TokenVerifier(
        access_secret=settings.access_secret(),
        refresh_secret=settings.refresh_secret(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.clock_leeway,
        max_token_bytes=settings.max_token_bytes,
        **options,
    )
    authenticator = Authenticator(verifier=verifier, revocations=runtime.revocations)
    return authenticator.authenticate


async def _setup(runtime: Runtime) -> tuple[list[list[str]], str, set[str]]:
    user = await runtime.users.register("bench@example.com", PASSWORD)
    device = DeviceInfo(user_agent="bench/1.0", ip="127.0.0.1", accept_language="")
    pair = await runtime.auth.start_session(user, device)
    # Other users' recent logouts, so the revocation list is not empty.
    others = [secrets.token_hex(16) for _ in range(1_000)]
    runtime.revocations.revoke(others, runtime.clock() + 3600)

    def issue() -> str:
        return runtime.issuer.issue_access(
            user_id=user.id,
            email=user.email,
            roles=list(user.roles),
            permissions=runtime.settings.permissions_for(list(user.roles)),
            session_id=pair.session_id,
            device_fingerprint="bench",
        ).token

    fresh = [[issue() for _ in range(FRESH)] for _ in range(ROUNDS)]
    return fresh, pair.access.token, set(others)


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp))
        async with started(settings) as runtime:
            fresh, token, revoked = await _setup(runtime)
            args = (
                settings.access_secret(),
                settings.jwt_issuer,
                settings.jwt_audience,
                settings.clock_leeway,
                revoked,
            )
            impls: dict[str, Callable[[str], Any]] = {
                "authgate": runtime.authenticator.authenticate,
                "authgate, cache off": authgate_variant(runtime, cache_size=0),
                "authgate, joserfc path only": authgate_variant(
                    runtime, cache_size=0, fast_path=False
                ),
                "PyJWT": pyjwt_verifier(*args),
                "joserfc": joserfc_verifier(*args),
            }
            _check_agreement(impls, token, runtime, revoked)
            samples: dict[str, dict[str, list[float]]] = {
                name: {"fresh": [], "repeated": []} for name in impls
            }
            for round_tokens in fresh:
                for name, verify in impls.items():
                    it = iter(round_tokens)
                    samples[name]["fresh"].append(per_op(lambda v=verify, i=it: v(next(i)), FRESH))
                    samples[name]["repeated"].append(per_op(lambda v=verify: v(token), REPEATED))
    return _summarise(samples)


def _check_agreement(
    impls: dict[str, Callable[[str], Any]], token: str, runtime: Runtime, revoked: set[str]
) -> None:
    """Every implementation accepts the token, and refuses it once its session is revoked."""
    for verify in impls.values():
        verify(token)
    session_id = runtime.authenticator.authenticate(token).session_id
    runtime.revocations.revoke([session_id], runtime.clock() + 3600)
    revoked.add(session_id)
    for name, verify in impls.items():
        try:
            verify(token)
        except (RevokedTokenError, Rejected):
            continue
        raise AssertionError(f"{name} accepted a revoked session")
    revoked.discard(session_id)
    runtime.revocations.purge(runtime.clock() + 7200)
    runtime.revocations.revoke(sorted(revoked), runtime.clock() + 3600)


def _summarise(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    rows = []
    for name, kinds in samples.items():
        rows.append(
            {
                "name": name,
                "fresh_s": median(kinds["fresh"]),
                "repeated_s": median(kinds["repeated"]),
            }
        )
    base = {row["name"]: row for row in rows}
    for row in rows:
        for ref in ("PyJWT", "joserfc"):
            for kind in ("fresh", "repeated"):
                row[f"x_{ref}_{kind}"] = base[ref][f"{kind}_s"] / row[f"{kind}_s"]
    return {"rows": rows, "rounds": ROUNDS, "fresh_n": FRESH, "repeated_n": REPEATED}


def run() -> dict[str, Any]:
    return asyncio.run(_measure())
