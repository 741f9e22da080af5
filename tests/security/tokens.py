"""Hand-built JWS compact tokens for the attack suite: exact bytes, real HMAC signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from authgate.keys.keyring import hmac_kid
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock
from authgate.tokens import TokenIssuer, TokenVerifier

ISSUER = "ai-agent-system"
AUDIENCE = "ai-agent-users"
NOW = 1_700_000_000
ACCESS_SECRET = generate_secret()
REFRESH_SECRET = generate_secret()
ACCESS_KID = hmac_kid("access", ACCESS_SECRET)
REFRESH_KID = hmac_kid("refresh", REFRESH_SECRET)


def b64(data: bytes | dict[str, Any] | list[Any] | str | int | None) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256(signing_input: str, secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return b64(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def sign(header: Any, payload: Any, secret: str | bytes = ACCESS_SECRET) -> str:
    """A compact token over exactly these header and payload values (bytes kept as is)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{hs256(signing_input, secret)}"


def access_header(**changes: Any) -> dict[str, Any]:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": ACCESS_KID}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not ...}


def access_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "user-1",
        "email": "ada@example.com",
        "roles": ["user"],
        "permissions": ["use_agent"],
        "sessionId": "session-1",
        "deviceFingerprint": "f" * 64,
        "tokenType": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


def make_verifier(clock: FrozenClock | None = None) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        access_secret=ACCESS_SECRET,
        refresh_secret=REFRESH_SECRET,
        leeway=10,
        clock=clock or FrozenClock(NOW),
    )


def make_issuer(clock: FrozenClock | None = None) -> TokenIssuer:
    return TokenIssuer(
        issuer=ISSUER,
        audience=AUDIENCE,
        access_ttl=900,
        refresh_ttl=7 * 86400,
        access_secret=ACCESS_SECRET,
        refresh_secret=REFRESH_SECRET,
        clock=clock or FrozenClock(NOW),
    )
