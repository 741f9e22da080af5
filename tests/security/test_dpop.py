"""DPoP at a resource (RFC 9449 s4.3, s7.1): every check has a proof that fails it.

Each attack runs twice: over HTTP against ``POST /api/ai/chat`` (401 with a ``DPoP``
challenge, nothing echoed), and against the verifier directly, to show it failed for
the intended reason and not another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import OctKey
from starlette.requests import HTTPConnection

from authgate.errors import DPoPProofError
from authgate.http.sender import verify_dpop
from authgate.testing import FrozenClock
from tests.conftest import bearer
from tests.helpers import runtime_of
from tests.security.dpop_support import (
    ALGS,
    CHAT_URL,
    ProofKey,
    ath,
    b64,
    b64_json,
    bound_token,
    dpop,
    dpop_settings_factory,  # noqa: F401 - fixture
    sign,
    user_principal,
)

ALGS_PARAM = 'algs="ES256 EdDSA RS256 PS256"'


@dataclass
class Holder:
    """A client holding a DPoP key and an access token bound to it."""

    key: ProofKey
    token: str
    clock: FrozenClock

    def proof(self, **kwargs: object) -> str:
        return self.key.proof(iat=self.clock.now, token=self.token, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def holder(app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock) -> Holder:
    principal = await user_principal(app, client)
    key = ProofKey()
    return Holder(key=key, token=bound_token(app, principal, key.jkt), clock=clock)


async def chat(client: httpx.AsyncClient, headers: list[tuple[str, str]]) -> httpx.Response:
    return await client.post("/api/ai/chat", json={"message": "hi"}, headers=headers)


def _alg_none(h: Holder) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": h.key.public_jwk}
    claims = {"jti": "n1", "htm": "POST", "htu": CHAT_URL, "iat": int(h.clock.now)}
    return f"{b64_json(header)}.{b64_json(claims)}."


def _alg_hs256(h: Holder) -> str:
    secret = OctKey.generate_key(256)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": h.key.public_jwk}
    claims = {"jti": "h1", "htm": "POST", "htu": CHAT_URL, "iat": int(h.clock.now)}
    claims["ath"] = ath(h.token)
    return sign(header, claims, secret, "HS256")


def _bad_signature(h: Holder) -> str:
    proof = h.proof()
    head, _, signature = proof.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{flipped}"


def _signed_by_another_key(h: Holder) -> str:
    # The header names the holder's key, the signature is made with someone else's.
    other = ProofKey()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": h.key.public_jwk}
    claims = {"jti": "s1", "htm": "POST", "htu": CHAT_URL, "iat": int(h.clock.now)}
    claims["ath"] = ath(h.token)
    return sign(header, claims, other.key, "ES256")


def _deeply_nested(h: Holder) -> str:
    # Small enough for the size limit, deep enough to exhaust a recursive JSON parser.
    nested = b64(b"[" * 2500)
    return f"{nested}.{nested}.AAAA"


def _stolen_token(h: Holder) -> str:
    """A thief's own valid proof for the stolen token: right ath, wrong key (cnf.jkt)."""
    return ProofKey().proof(iat=h.clock.now, token=h.token)


Case = Callable[[Holder], list[str]]
FAILING: list[object] = [
    pytest.param(lambda h: [], "missing", id="no-dpop-header"),
    pytest.param(lambda h: [h.proof(), h.proof()], "multiple", id="two-dpop-headers"),
    pytest.param(lambda h: ["not-a-jwt"], "malformed", id="not-a-jwt"),
    pytest.param(lambda h: ["e30.e30.@@"], "malformed", id="bad-base64"),
    pytest.param(lambda h: [h.proof(header={"typ": "JWT"})], "typ", id="typ-jwt"),
    pytest.param(lambda h: [h.proof(drop_header=("typ",))], "typ", id="typ-missing"),
    pytest.param(lambda h: [_alg_none(h)], "alg", id="alg-none"),
    pytest.param(lambda h: [_alg_hs256(h)], "alg", id="alg-hs256"),
    pytest.param(lambda h: [h.proof(header={"alg": "ES384"})], "alg", id="alg-not-allowed"),
    pytest.param(lambda h: [h.proof(header={"alg": "RS256"})], "jwk", id="alg-key-mismatch"),
    pytest.param(lambda h: [h.proof(header={"crit": ["exp"]})], "crit", id="crit-header"),
    pytest.param(lambda h: [_bad_signature(h)], "signature", id="bad-signature"),
    pytest.param(lambda h: [_signed_by_another_key(h)], "signature", id="signed-by-other-key"),
    pytest.param(
        lambda h: [h.proof(header={"jwk": h.key.key.as_dict(private=True)})],
        "private_key",
        id="private-key-in-jwk",
    ),
    pytest.param(lambda h: [h.proof(drop_header=("jwk",))], "jwk", id="jwk-missing"),
    pytest.param(
        lambda h: [h.proof(header={"jwk": {**h.key.public_jwk, "kty": "RSA"}})],
        "jwk",
        id="jwk-kty-not-of-alg",
    ),
    pytest.param(lambda h: [_deeply_nested(h)], "malformed", id="deeply-nested-json"),
    pytest.param(lambda h: [h.proof(htm="GET")], "htm", id="htm-other-method"),
    pytest.param(lambda h: [h.proof(htm="post")], "htm", id="htm-lowercase"),
    pytest.param(lambda h: [h.proof(drop=("htm",))], "htm", id="htm-missing"),
    pytest.param(
        lambda h: [h.proof(htu="http://testserver/api/admin/users")], "htu", id="htu-other-path"
    ),
    pytest.param(
        lambda h: [h.proof(htu="http://testserver/api/ai/chat/")], "htu", id="htu-trailing-slash"
    ),
    pytest.param(
        lambda h: [h.proof(htu="http://evil.example/api/ai/chat")], "htu", id="htu-other-host"
    ),
    pytest.param(
        lambda h: [h.proof(htu="https://testserver/api/ai/chat")], "htu", id="htu-other-scheme"
    ),
    pytest.param(
        lambda h: [h.proof(htu="http://testserver:8080/api/ai/chat")], "htu", id="htu-other-port"
    ),
    pytest.param(lambda h: [h.proof(htu="/api/ai/chat")], "htu", id="htu-relative"),
    pytest.param(lambda h: [h.proof(drop=("htu",))], "htu", id="htu-missing"),
    pytest.param(
        lambda h: [h.proof(claims={"iat": h.clock.now - 61})], "iat_expired", id="iat-too-old"
    ),
    pytest.param(
        lambda h: [h.proof(claims={"iat": h.clock.now + 30})], "iat_future", id="iat-in-future"
    ),
    pytest.param(lambda h: [h.proof(drop=("iat",))], "iat", id="iat-missing"),
    pytest.param(lambda h: [h.proof(claims={"iat": "now"})], "iat", id="iat-not-a-number"),
    pytest.param(lambda h: [h.proof(claims={"iat": 10**400})], "iat", id="iat-huge"),
    pytest.param(lambda h: [h.proof(drop=("jti",))], "jti", id="jti-missing"),
    pytest.param(lambda h: [h.proof(claims={"jti": "x" * 257})], "jti", id="jti-too-long"),
    pytest.param(lambda h: [h.proof(drop=("ath",))], "ath", id="ath-missing"),
    pytest.param(lambda h: [h.proof(claims={"ath": ath("another")})], "ath", id="ath-wrong"),
    pytest.param(lambda h: [_stolen_token(h)], "jkt", id="stolen-token-other-key"),
]


@pytest.mark.parametrize(("make", "reason"), FAILING)
async def test_failing_proof_is_refused_over_http(
    client: httpx.AsyncClient, holder: Holder, make: Case, reason: str
) -> None:
    proofs = make(holder)
    headers = [("Authorization", f"DPoP {holder.token}")] + [("DPoP", p) for p in proofs]
    response = await chat(client, headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid DPoP proof",
        "message": "The DPoP proof is missing or invalid",
    }
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="authgate", error="invalid_dpop_proof"')
    assert ALGS_PARAM in challenge
    assert "dpop-nonce" not in response.headers  # nonces are off by default
    for secret in [holder.token, *proofs]:
        assert secret not in response.text
        assert secret not in challenge


@pytest.mark.parametrize(("make", "reason"), FAILING)
async def test_failing_proof_fails_for_its_own_reason(
    app: FastAPI, holder: Holder, make: Case, reason: str
) -> None:
    headers = [(b"host", b"testserver")] + [(b"dpop", p.encode()) for p in make(holder)]
    conn = HTTPConnection(_scope("POST", "/api/ai/chat", headers))
    with pytest.raises(DPoPProofError) as caught:
        await verify_dpop(
            runtime_of(app).dpop, conn, access_token=holder.token, expected_jkt=holder.key.jkt
        )
    assert caught.value.reason == reason


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("testserver", 80),
    }


@pytest.mark.parametrize("alg", ALGS)
async def test_valid_proof_is_accepted_for_each_algorithm(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, alg: str
) -> None:
    principal = await user_principal(app, client)
    key = ProofKey(alg)
    token = bound_token(app, principal, key.jkt)
    response = await client.post(
        "/api/ai/chat",
        json={"message": "hi"},
        headers=dpop(token, key.proof(iat=clock.now, token=token)),
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == principal.id


@pytest.mark.parametrize(
    "htu",
    [
        pytest.param(CHAT_URL + "?debug=1#frag", id="query-and-fragment-ignored"),
        pytest.param("HTTP://TestServer:80/api/ai/chat", id="scheme-host-case-default-port"),
        pytest.param("http://testserver/api/%61i/./chat", id="percent-and-dot-segments"),
        pytest.param("http://127.0.0.1:8000/api/ai/chat", id="public-url-origin"),
    ],
)
async def test_htu_is_compared_after_normalisation(
    client: httpx.AsyncClient, holder: Holder, htu: str
) -> None:
    """s4.3 step 9: RFC 3986 s6.2.2/s6.2.3 normalisation; the query and fragment are ignored."""
    response = await chat(client, list(dpop(holder.token, holder.proof(htu=htu)).items()))
    assert response.status_code == 200, response.text


async def test_request_query_is_ignored(client: httpx.AsyncClient, holder: Holder) -> None:
    response = await client.post(
        "/api/ai/chat?trace=1",
        json={"message": "hi"},
        headers=dpop(holder.token, holder.proof()),
    )
    assert response.status_code == 200, response.text


async def test_iat_at_the_window_edges_is_accepted(
    client: httpx.AsyncClient, holder: Holder
) -> None:
    for iat in (holder.clock.now - 60, holder.clock.now + 10):
        proof = holder.proof(claims={"iat": iat})
        response = await chat(client, list(dpop(holder.token, proof).items()))
        assert response.status_code == 200, (iat, response.text)


async def test_a_new_proof_is_needed_for_every_request(
    client: httpx.AsyncClient, holder: Holder
) -> None:
    """s11.1: the same proof twice is a replay, even seconds later."""
    proof = holder.proof()
    first = await chat(client, list(dpop(holder.token, proof).items()))
    holder.clock.advance(5)
    replayed = await chat(client, list(dpop(holder.token, proof).items()))
    fresh = await chat(client, list(dpop(holder.token, holder.proof()).items()))
    assert first.status_code == 200
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
    assert fresh.status_code == 200


async def test_bound_token_as_bearer_is_refused(client: httpx.AsyncClient, holder: Holder) -> None:
    """s7.1: a DPoP-bound token presented with the Bearer scheme is refused."""
    response = await chat(client, list(bearer(holder.token).items()))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="authgate", error="invalid_token"')
    assert ALGS_PARAM in challenge


async def test_bound_token_as_bearer_with_a_valid_proof_is_still_refused(
    client: httpx.AsyncClient, holder: Holder
) -> None:
    headers = {**bearer(holder.token), "DPoP": holder.proof()}
    response = await chat(client, list(headers.items()))
    assert response.status_code == 401


async def test_bound_token_in_a_cookie_is_refused(
    client: httpx.AsyncClient, holder: Holder
) -> None:
    client.cookies.set("access_token", holder.token)
    proof = holder.proof(htm="GET", htu="http://testserver/auth/me")
    response = await client.get("/auth/me", headers={"DPoP": proof})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unbound_token_with_the_dpop_scheme_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    principal = await user_principal(app, client)
    key = ProofKey()
    token = bound_token(app, principal, None)
    response = await chat(client, list(dpop(token, key.proof(iat=clock.now, token=token)).items()))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unbound_token_as_bearer_still_works(app: FastAPI, client: httpx.AsyncClient) -> None:
    principal = await user_principal(app, client)
    token = bound_token(app, principal, None)
    response = await chat(client, list(bearer(token).items()))
    assert response.status_code == 200


async def test_dpop_scheme_is_case_insensitive(client: httpx.AsyncClient, holder: Holder) -> None:
    headers = [("Authorization", f"dpop {holder.token}"), ("DPoP", holder.proof())]
    assert (await chat(client, headers)).status_code == 200


async def test_logout_with_a_bound_token_ends_it(client: httpx.AsyncClient, holder: Holder) -> None:
    """The proof proves the key, not the session: after logout a fresh proof is not enough."""
    logout = await client.post(
        "/auth/logout",
        headers=dpop(holder.token, holder.proof(htu="http://testserver/auth/logout")),
    )
    assert logout.status_code == 200, logout.text
    response = await chat(client, list(dpop(holder.token, holder.proof()).items()))
    assert response.status_code == 401
