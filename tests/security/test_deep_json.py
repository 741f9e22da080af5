"""Deeply nested JSON at every untrusted entry point is a 4xx, never a 500 (issue 19 item 6).

Python's JSON parsers recurse once per level, so a few kilobytes of ``[[[[`` raised
RecursionError in the login limiter, in joserfc (tokens, client assertions, ID tokens)
and in Authlib (token responses). ``authgate.jsonlimits`` bounds depth and size before
any parser runs (RFC 8259 s9); each entry point is checked here over HTTP.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jws
from joserfc.jwk import ECKey

from authgate import jsonlimits
from authgate.errors import InvalidTokenError
from authgate.http.app import create_app
from authgate.keys.encryption import generate_kek
from authgate.keys.keyring import RingKey
from authgate.resource.remote import RemoteVerifier
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import PASSWORD, bearer, login, register
from tests.helpers import runtime_of
from tests.security.dpop_support import CHAT_URL, ProofKey, b64, dpop

LEVELS = 5000  # far past the interpreter's recursion limit
# Tokens are at most 8 KiB (AUTHGATE_MAX_TOKEN_BYTES): 1,500 levels fit, base64url and all.
TOKEN_LEVELS = 1500
INVALID_BODY = {"error": "Invalid request", "message": "The JSON body is nested too deeply"}


def nested(levels: int = LEVELS) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int = LEVELS, **members: Any) -> bytes:
    """A JSON object with ``members`` and a ``deep`` member nested ``levels`` deep."""
    head = json.dumps(members, separators=(",", ":")).encode()[:-1]
    return head + (b"," if members else b"") + b'"deep":' + nested(levels) + b"}"


def deep_token_part(**members: Any) -> bytes:
    return deep_object(TOKEN_LEVELS, **members)


def sign_raw(alg: str, key: Any, header: bytes, payload: bytes) -> str:
    """A compact JWS over exactly these header and payload bytes, validly signed."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = jws.JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def signed(key: RingKey, typ: str, payload: bytes) -> str:
    """A token with the server's own header and key over ``payload``."""
    header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": typ}).encode()
    return sign_raw(key.alg, key.key, header, payload)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "user-1", "iat": now, "exp": now + 600, "jti": "j", **changes}


# Request bodies


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    # The limiter reads the login email from the body: keep it on for these tests.
    return settings_factory(rate_limit_enabled=True)


BODIES = [
    pytest.param(nested(), id="nested-arrays"),
    pytest.param(b'{"a":' * LEVELS + b"1" + b"}" * LEVELS, id="nested-objects"),
    pytest.param(deep_object(email="ada@example.com", password=PASSWORD), id="deep-member"),
    pytest.param(nested(33), id="just-over-the-limit"),
]


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/refresh"])
@pytest.mark.parametrize("body", BODIES)
async def test_deep_json_body_is_400(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json() == INVALID_BODY


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="no-content-type"),
        pytest.param("application/json; charset=utf-8", id="with-charset"),
        pytest.param("application/merge-patch+json", id="plus-json"),
    ],
)
async def test_deep_json_body_is_400_whatever_json_type_it_declares(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post("/auth/login", content=nested(), headers=headers)
    assert response.status_code == 400, response.text


async def test_deep_json_body_is_400_on_an_authenticated_route(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    body = deep_object(message="hi")
    headers = {**bearer(pair["accessToken"]), "Content-Type": "application/json"}
    response = await client.post("/api/ai/chat", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == INVALID_BODY


async def test_json_at_the_depth_limit_still_works(client: httpx.AsyncClient) -> None:
    """32 levels pass the reader; the schema then refuses the shape (422), not the depth."""
    body = deep_object(email="ada@example.com", password=PASSWORD)
    body = body.replace(nested(), nested(jsonlimits.MAX_DEPTH - 1))
    response = await client.post(
        "/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_brackets_inside_strings_do_not_count(client: httpx.AsyncClient) -> None:
    await register(client)
    password = "[[[[" * 20 + PASSWORD
    response = await client.post(
        "/auth/register", json={"email": "bracket@example.com", "password": password}
    )
    assert response.status_code == 201, response.text


# Tokens: validly signed, deeply nested


@pytest.fixture(params=["HS256", "EdDSA", "ES256"])
async def keyed_app(
    request: pytest.FixtureRequest, settings_factory: Any, clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    extra = {} if request.param == "HS256" else {"encryption_key": generate_kek()}
    settings = settings_factory(signing_alg=request.param, **extra)
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def keyed_client(keyed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(keyed_app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


@pytest.mark.parametrize(
    "part",
    [
        pytest.param("payload", id="deep-claims"),
        pytest.param("header", id="deep-header"),
    ],
)
async def test_validly_signed_deep_access_token_is_401(
    keyed_app: FastAPI, keyed_client: httpx.AsyncClient, part: str
) -> None:
    key = runtime_of(keyed_app).keys.ring.signer
    if part == "payload":
        token = signed(key, "at+jwt", deep_token_part(**claims()))
    else:
        header = deep_token_part(alg=key.alg, kid=key.kid, typ="at+jwt")
        token = sign_raw(key.alg, key.key, header, json.dumps(claims()).encode())
    response = await keyed_client.get("/auth/me", headers=bearer(token))
    assert response.status_code == 401, response.text


async def test_validly_signed_deep_refresh_token_is_401(
    keyed_app: FastAPI, keyed_client: httpx.AsyncClient
) -> None:
    key = runtime_of(keyed_app).keys.refresh_key
    token = signed(key, "rt+jwt", deep_token_part(**claims(sessionId="s")))
    response = await keyed_client.post("/auth/refresh", json={"refreshToken": token})
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
async def test_remote_verifier_refuses_a_validly_signed_deep_token(
    settings_factory: Any, clock: FrozenClock, alg: str
) -> None:
    """A resource server's ``RemoteVerifier`` reads tokens with the same bounded reader."""
    settings = settings_factory(signing_alg=alg, encryption_key=generate_kek())
    application = create_app(settings, clock=clock)
    async with lifespan(application), client_for(application) as http:
        key = runtime_of(application).keys.ring.signer
        verifier = RemoteVerifier(
            jwks_url="http://testserver/.well-known/jwks.json",
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            http=http,
            clock=clock,
        )
        token = signed(key, "at+jwt", deep_token_part(**claims()))
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)


# private_key_jwt client assertions (RFC 7523) and DPoP proofs (RFC 9449)


async def keyed_agent(app: FastAPI, client: httpx.AsyncClient) -> tuple[str, ECKey]:
    await register(client)
    runtime = runtime_of(app)
    owner = await runtime.store.user_by_email("ada@example.com")
    created = await runtime.clients.create(
        name="deep bot", kind="agent", scopes=["use_agent"], owner_user_id=owner.id
    )
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": "k1", "alg": "ES256"}
    await runtime.clients.set_jwks(created.client.client_id, {"keys": [public]})
    return created.client.client_id, key


@pytest.mark.parametrize("part", ["payload", "header"])
async def test_deep_client_assertion_is_invalid_client(
    app: FastAPI, client: httpx.AsyncClient, part: str
) -> None:
    agent_id, key = await keyed_agent(app, client)
    body = {
        "iss": agent_id,
        "sub": agent_id,
        "aud": "http://127.0.0.1:8000/oauth2/token",
        **claims(jti=str(uuid.uuid4())),
    }
    header = {"alg": "ES256", "kid": "k1"}
    if part == "payload":
        raw_header, raw_payload = json.dumps(header).encode(), deep_token_part(**body)
    else:
        raw_header, raw_payload = deep_token_part(**header), json.dumps(body).encode()
    assertion = sign_raw("ES256", key, raw_header, raw_payload)
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("part", ["payload", "header"])
async def test_deep_dpop_proof_is_401(
    client: httpx.AsyncClient, clock: FrozenClock, part: str
) -> None:
    await register(client)
    pair = await login(client)
    key = ProofKey("ES256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk}
    body = {"htm": "POST", "htu": CHAT_URL, "iat": int(clock()), "jti": "x"}
    if part == "payload":
        raw_header, raw_payload = json.dumps(header).encode(), deep_token_part(**body)
    else:
        raw_header, raw_payload = deep_token_part(**header), json.dumps(body).encode()
    deep_proof = sign_raw("ES256", key.key, raw_header, raw_payload)
    headers = {**dpop(pair["accessToken"], deep_proof), "Content-Type": "application/json"}
    response = await client.post("/api/ai/chat", content=b'{"message":"hi"}', headers=headers)
    assert response.status_code == 401, response.text


# Unit: the reader itself


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        pytest.param(b"1", 0, id="scalar"),
        pytest.param(b"{}", 1, id="empty-object"),
        pytest.param(b'{"a": [1, {"b": []}]}', 4, id="mixed"),
        pytest.param(b'["[[[[[", "]]]"]', 1, id="brackets-in-strings"),
        pytest.param(b'["\\"[[[["]', 1, id="escaped-quote"),
        pytest.param(nested(40), 40, id="forty"),
        pytest.param('[[["é"]]]'.encode("utf-16"), 3, id="utf-16"),
    ],
)
def test_nesting_depth(text: bytes, depth: int) -> None:
    assert jsonlimits.nesting_depth(text) == depth


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(nested(100), jsonlimits.JSONTooDeepError, id="too-deep"),
        pytest.param(b'"' + b"x" * 2000 + b'"', jsonlimits.JSONTooLargeError, id="too-large"),
        pytest.param(b"{", ValueError, id="invalid"),
    ],
)
def test_loads_refuses_with_a_value_error(text: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        jsonlimits.loads(text, max_bytes=1024)


def test_loads_reads_json_within_the_limits() -> None:
    assert jsonlimits.loads(b'{"a": [[1]]}') == {"a": [[1]]}
