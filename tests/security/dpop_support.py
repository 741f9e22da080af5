"""Building DPoP proofs (RFC 9449 s4.2) the way a client would, and bound tokens to test with.

Proofs are signed here with joserfc's algorithm objects directly, so a test can write any
header or claims, including ones a well-behaved library would refuse to produce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from authgate.config import Settings
from authgate.principal import Principal
from authgate.testing import make_settings
from tests.conftest import login, register
from tests.helpers import runtime_of

CHAT_URL = "http://testserver/api/ai/chat"
ALGS = ("ES256", "EdDSA", "RS256", "PS256")
#: Another URL the test server is configured to answer at (AUTHGATE_ADDITIONAL_PUBLIC_URLS).
OTHER_PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture(name="settings_factory")
def dpop_settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings whose public URL is the test client's: DPoP proofs name the configured
    public URL(s), never the Host header (RFC 9449 s4.3 step 9). Import it into a module
    to use it there."""

    def factory(**overrides: Any) -> Settings:
        values = {"public_url": "http://testserver", "additional_public_urls": [OTHER_PUBLIC_URL]}
        return make_settings(tmp_path, **{**values, **overrides})

    return factory


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def ath(token: str) -> str:
    return b64(hashlib.sha256(token.encode()).digest())


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    signing_input = f"{b64_json(header)}.{b64_json(claims)}"
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def generate(alg: str) -> ECKey | OKPKey | RSAKey:
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


class ProofKey:
    """A client's DPoP key pair that writes proofs for requests."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.key = generate(alg)
        self.jkt = self.key.thumbprint()

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def proof(
        self,
        *,
        iat: float,
        htm: str = "POST",
        htu: str = CHAT_URL,
        token: str | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        drop_header: tuple[str, ...] = (),
    ) -> str:
        """A proof; ``header``/``claims`` override members, ``drop``/``drop_header`` remove."""
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk}
        body: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": htm,
            "htu": htu,
            "iat": int(iat),
        }
        if token is not None:
            body["ath"] = ath(token)
        if nonce is not None:
            body["nonce"] = nonce
        head.update(header or {})
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        for name in drop_header:
            head.pop(name, None)
        return sign(head, body, self.key, self.alg)


def dpop(token: str, proof: str | None) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


async def user_principal(
    app: FastAPI, client: httpx.AsyncClient, email: str = "ada@example.com"
) -> Principal:
    """A registered, logged-in user's principal (its session is live)."""
    await register(client, email)
    pair = await login(client, email)
    return runtime_of(app).authenticator.authenticate(pair["accessToken"])


def bound_token(app: FastAPI, principal: Principal, jkt: str | None) -> str:
    """An access token for the user's live session, bound to ``jkt`` (RFC 9449 s6.1)."""
    return (
        runtime_of(app)
        .issuer.issue_access(
            user_id=principal.id,
            email=principal.email,
            roles=list(principal.roles),
            permissions=sorted(principal.permissions),
            session_id=principal.session_id,
            device_fingerprint=principal.device_fingerprint,
            jkt=jkt,
        )
        .token
    )
