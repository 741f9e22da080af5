"""An in-process stand-in for authgate's side of an approval, for the resource tests.

It serves RFC 8414 metadata, the JWKS of a fresh EdDSA key and
``POST /oauth2/approvals/redeem`` with the contract's answers (200 the first time, 409
afterwards, 400 for a token that is no approval token of the caller's resource, 401 for
bad client credentials). Tokens are minted with the key's real header
(``token_header``) and verified on redemption by authgate's own ``ResourceTokens``.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authgate.authserver.tokens import ResourceTokens
from authgate.errors import InvalidTokenError
from authgate.keys.keyring import KeyRing, RingKey, generate_key
from authgate.tokens.claims import ACCESS_TYP
from authgate.tokens.issuer import token_header

ISSUER = "http://authgate.test"
RESOURCE = "http://pay.test/api"
CLIENT = ("rs_pay", "pay-secret-" + "x" * 32)


class Keys:
    def __init__(self) -> None:
        key = generate_key("EdDSA")
        signer = RingKey(kid="k1", alg="EdDSA", key=key, public_jwk=key.as_dict(private=False))
        self.ring = KeyRing.of(signer)
        self.refresh_key = signer


@dataclass
class StandIn:
    keys: Keys = field(default_factory=Keys)
    used: set[str] = field(default_factory=set)
    redemptions: int = 0
    status: int | None = None  # answer this instead, to test failures

    def mint(self, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": RESOURCE,
            "sub": "user-1",
            "client_id": "agent-1",
            "scope": "payments",
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "sessionId": "grant-1",
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        signer = self.keys.ring.signer
        return jwt.encode(token_header(signer, ACCESS_TYP), body, signer.key, [signer.alg])

    def app(self) -> Starlette:
        tokens = ResourceTokens(keys=self.keys, issuer=ISSUER, ttl=120, leeway=5)

        async def metadata(_request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": ISSUER,
                    "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
                    "token_endpoint": f"{ISSUER}/oauth2/token",
                }
            )

        async def jwks(_request: Request) -> Response:
            return JSONResponse(self.keys.ring.jwks())

        async def redeem(request: Request) -> Response:
            self.redemptions += 1
            if self.status is not None:
                return JSONResponse({"error": "server_error"}, status_code=self.status)
            if request.headers.get("authorization") != _basic(*CLIENT):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            token = str((await request.form()).get("token", ""))
            try:
                claims = tokens.verify(token)
            except InvalidTokenError:
                return JSONResponse({"error": "invalid_token"}, status_code=400)
            if claims.aud != RESOURCE:
                return JSONResponse({"error": "invalid_token"}, status_code=400)
            if claims.jti in self.used:
                body = {"error": "already_used", "error_description": "used"}
                return JSONResponse(body, status_code=409)
            self.used.add(claims.jti)
            return JSONResponse({"redeemed": True, "sub": claims.sub})

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/.well-known/jwks.json", jwks),
                Route("/oauth2/approvals/redeem", redeem, methods=["POST"]),
            ]
        )

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app()), base_url=ISSUER)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
