"""DPoP and private_key_jwt hardening (issue 19 item 7).

- ``htu`` is compared with the configured public URL(s), never with the request's Host
  header: before the fix, a proof made for another server was accepted here when it was
  replayed with that server's name in ``Host`` (RFC 9449 s4.3 step 9, s11.1).
- Small-order (and non-canonical, and non-signing) Edwards keys are refused: with the
  identity point as public key, R = identity and S = 0 verify for every message, so a
  proof or client assertion "signed" without any private key was accepted.
- A non-ASCII ``ath`` or ``nonce`` is a bad proof (401), not a crash (500).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from authgate.agents.okp import weak_okp_key
from authgate.errors import DPoPProofError
from authgate.http.app import create_app
from authgate.http.sender import verify_dpop
from authgate.testing import FrozenClock, client_for, lifespan
from tests.agents.test_agent_grants import make_agent
from tests.conftest import login, register
from tests.helpers import runtime_of
from tests.security.dpop_support import (
    CHAT_URL,
    OTHER_PUBLIC_URL,
    ProofKey,
    ath,
    b64,
    b64_json,
    bound_token,
    dpop,
    dpop_settings_factory,  # noqa: F401 - fixture: public URL http://testserver
    user_principal,
)

P = 2**255 - 19
Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022


def _encode(y: int, sign: int = 0) -> bytes:
    return (y | (sign << 255)).to_bytes(32, "little")


IDENTITY = _encode(1)
WEAK_KEYS: list[Any] = [
    pytest.param(IDENTITY, id="identity"),
    pytest.param(_encode(P - 1), id="order-2"),
    pytest.param(_encode(0), id="order-4"),
    pytest.param(_encode(0, sign=1), id="order-4-other-sign"),
    pytest.param(_encode(Y8), id="order-8"),
    pytest.param(_encode(Y8, sign=1), id="order-8-other-sign"),
    pytest.param(_encode(P - Y8), id="order-8-negated"),
    pytest.param(_encode(1, sign=1), id="identity-non-canonical-sign"),
    pytest.param(_encode(P + 1), id="identity-non-canonical-y"),
    pytest.param(_encode(P), id="y-equals-p"),
    pytest.param(_encode(2**255 - 1), id="y-all-ones"),
]


def _keyless_proof(x: bytes, claims: dict[str, Any], crv: str = "Ed25519") -> str:
    """A proof "signed" with no private key: R = the identity point, S = 0."""
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": crv, "x": b64(x)}}
    signature = IDENTITY + bytes(32)
    return f"{b64_json(header)}.{b64_json(claims)}.{b64(signature)}"


def _jkt(x: bytes) -> str:
    from joserfc.jwk import OKPKey

    return OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}).thumbprint()


def _edwards_torsion_ys() -> set[int]:
    """Every y of edwards25519's 8-torsion, derived here from the curve equation."""
    d = (-121665 * pow(121666, -1, P)) % P

    def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        t = d * a[0] * b[0] * a[1] * b[1] % P
        x = (a[0] * b[1] + a[1] * b[0]) * pow(1 + t, -1, P) % P
        y = (a[1] * b[1] + a[0] * b[0]) * pow(1 - t, -1, P) % P
        return x, y

    xx = (Y8 * Y8 - 1) * pow(d * Y8 * Y8 + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    point, ys = (x, Y8), set()
    current = point
    for _ in range(8):
        ys.add(current[1])
        current = add(current, point)
    assert current == point  # 8P + P = P: the order divides 8
    return ys


def test_the_blocklist_is_the_whole_torsion_subgroup() -> None:
    ys = _edwards_torsion_ys()
    assert ys == {0, 1, P - 1, Y8, P - Y8}
    for y in ys:
        assert weak_okp_key({"kty": "OKP", "crv": "Ed25519", "x": b64(_encode(y))})


def test_an_ordinary_key_is_not_weak() -> None:
    assert not weak_okp_key(ProofKey("EdDSA").public_jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "OKP", "crv": "X25519", "x": b64(bytes(range(32)))}, id="x25519"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(31))}, id="short"),
        pytest.param(
            {"kty": "OKP", "crv": "Ed448", "x": b64((1).to_bytes(57, "little"))},
            id="ed448-identity",
        ),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "@@"}, id="not-base64url"),
    ],
)
def test_other_unusable_okp_keys_are_weak(jwk: dict[str, Any]) -> None:
    assert weak_okp_key(jwk)


@pytest.fixture
async def user(app: FastAPI, client: httpx.AsyncClient) -> Any:
    return await user_principal(app, client)


async def test_a_keyless_proof_with_the_identity_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, user: Any
) -> None:
    token = bound_token(app, user, _jkt(IDENTITY))
    claims = {"jti": "k1", "htm": "POST", "htu": CHAT_URL, "iat": int(clock.now), "ath": ath(token)}
    response = await client.post(
        "/api/ai/chat",
        json={"message": "hi"},
        headers=dpop(token, _keyless_proof(IDENTITY, claims)),
    )
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("x", WEAK_KEYS)
async def test_weak_ed25519_keys_are_refused_in_dpop_proofs(
    app: FastAPI, clock: FrozenClock, user: Any, x: bytes
) -> None:
    claims = {
        "jti": secrets.token_urlsafe(8),
        "htm": "POST",
        "htu": CHAT_URL,
        "iat": int(clock.now),
    }
    with pytest.raises(DPoPProofError) as caught:
        await runtime_of(app).dpop.verify(_keyless_proof(x, claims), method="POST", url=CHAT_URL)
    assert caught.value.reason == "weak_key"


def _chat_scope(host: bytes, dpop_header: str, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/api/ai/chat",
        "raw_path": b"/api/ai/chat",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", host),
            (b"dpop", dpop_header.encode()),
            (b"authorization", f"DPoP {token}".encode()),
        ],
        "server": ("10.0.0.5", 8000),
    }


@pytest.mark.parametrize(
    "other_server",
    [
        pytest.param("evil.example", id="another-host"),
        pytest.param("testserver:8443", id="another-port"),
        pytest.param("api.testserver", id="a-subdomain"),
    ],
)
async def test_a_proof_for_another_server_is_refused_whatever_the_host_header(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, user: Any, other_server: str
) -> None:
    key = ProofKey()
    token = bound_token(app, user, key.jkt)
    proof = key.proof(iat=clock.now, token=token, htu=f"http://{other_server}/api/ai/chat")
    conn = HTTPConnection(_chat_scope(other_server.encode(), proof, token))
    with pytest.raises(DPoPProofError) as caught:
        await verify_dpop(runtime_of(app).dpop, conn, access_token=token, expected_jkt=key.jkt)
    assert caught.value.reason == "htu"
    # Over HTTP too: the attacker sends the proof with the Host it was made for.
    again = key.proof(iat=clock.now, token=token, htu=f"http://{other_server}/api/ai/chat")
    response = await client.post(
        "/api/ai/chat",
        json={"message": "hi"},
        headers={**dpop(token, again), "Host": other_server},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "host",
    [pytest.param(b"testserver", id="public-url"), pytest.param(b"10.0.0.5:8000", id="internal")],
)
async def test_the_configured_public_urls_are_accepted_whatever_the_host_header(
    app: FastAPI, clock: FrozenClock, user: Any, host: bytes
) -> None:
    key = ProofKey()
    token = bound_token(app, user, key.jkt)
    for htu in (CHAT_URL, f"{OTHER_PUBLIC_URL}/api/ai/chat"):
        proof = key.proof(iat=clock.now, token=token, htu=htu)
        conn = HTTPConnection(_chat_scope(host, proof, token))
        assert await verify_dpop(
            runtime_of(app).dpop, conn, access_token=token, expected_jkt=key.jkt
        )


async def test_a_public_url_with_a_path_prefix(clock: FrozenClock, tmp_path: Any) -> None:
    """Behind a proxy that strips /auth, the client signs https://id.example/auth/..."""
    from authgate.agents.dpop import DPoPVerifier
    from authgate.storage.memory import MemorySingleUseStore

    verifier = DPoPVerifier(
        single_use=MemorySingleUseStore(clock=clock),
        nonce_secret=b"n" * 32,
        public_urls=["https://id.example/auth/"],
        clock=clock,
    )
    key = ProofKey()
    inside = "http://10.0.0.5:8000/oauth2/token"
    good = key.proof(iat=clock.now, htm="POST", htu="https://id.example/auth/oauth2/token")
    assert await verifier.verify(good, method="POST", url=inside) == key.jkt
    for htu in ("https://id.example/oauth2/token", "https://id.example/other/oauth2/token"):
        with pytest.raises(DPoPProofError):
            await verifier.verify(
                key.proof(iat=clock.now, htm="POST", htu=htu), method="POST", url=inside
            )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("é", id="latin-1"),
        pytest.param("☃" * 43, id="snowman"),
        pytest.param("\udcff", id="lone-surrogate"),
    ],
)
async def test_a_non_ascii_ath_is_a_bad_proof_not_a_crash(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, user: Any, value: str
) -> None:
    key = ProofKey()
    token = bound_token(app, user, key.jkt)
    proof = key.proof(iat=clock.now, claims={"ath": value})
    response = await client.post("/api/ai/chat", json={"message": "hi"}, headers=dpop(token, proof))
    assert response.status_code == 401


@pytest.fixture
async def nonce_app(
    settings_factory: Callable[..., Any], clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    application = create_app(settings_factory(dpop_nonce_required=True), clock=clock)
    async with lifespan(application):
        yield application


@pytest.mark.parametrize(
    "value", [pytest.param("é", id="latin-1"), pytest.param("\udcff", id="lone-surrogate")]
)
async def test_a_non_ascii_nonce_is_a_bad_proof_not_a_crash(
    nonce_app: FastAPI, clock: FrozenClock, value: str
) -> None:
    async with client_for(nonce_app) as client:
        principal = await user_principal(nonce_app, client)
        key = ProofKey()
        token = bound_token(nonce_app, principal, key.jkt)
        proof = key.proof(iat=clock.now, token=token, nonce=value)
        response = await client.post(
            "/api/ai/chat", json={"message": "hi"}, headers=dpop(token, proof)
        )
    assert response.status_code == 401
    assert response.headers["dpop-nonce"]


async def test_a_keyless_client_assertion_with_a_small_order_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await login(client)
    agent_id, _ = await make_agent(app, scopes=["use_agent"])
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(IDENTITY), "kid": "k", "alg": "EdDSA"}
    await runtime_of(app).clients.set_jwks(agent_id, {"keys": [jwk]})
    now = int(time.time())
    claims = {
        "iss": agent_id,
        "sub": agent_id,
        "aud": "http://testserver/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "EdDSA", "kid": "k"}
    assertion = f"{b64_json(header)}.{b64_json(claims)}.{b64(IDENTITY + bytes(32))}"
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
