"""``authgate.resource.remote.RemoteVerifier`` against a real ``authgate serve`` process.

The verifier reads only the server's JWKS URL. Forged tokens are signed with the
server's own active key (read from its key store with its KEK), so that each refusal
below is about the one thing the case changes, not about a bad signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from authgate.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidSignatureError,
    InvalidTokenError,
    MalformedTokenError,
    RevokedTokenError,
)
from authgate.keys.encryption import KeyEncryptionKey
from authgate.keys.keyring import RingKey, generate_key
from authgate.keys.store import KeyStore
from authgate.resource.remote import RemoteVerifier
from authgate.storage.database import create_engine
from authgate.testing import FrozenClock
from tests.keys.process import AUDIENCE, ISSUER, Server, running_server

pytestmark = pytest.mark.e2e

ALGORITHMS = ["ES256", "EdDSA", "RS256"]
EMAIL = "ada@example.com"


@pytest.fixture(scope="module", params=ALGORITHMS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per algorithm for the module: starting a process costs seconds."""
    with running_server(tmp_path_factory.mktemp("verify"), alg=str(request.param)) as live:
        live.register(EMAIL)
        yield live


@pytest.fixture(scope="module")
def signer(server: Server) -> RingKey:
    """The server's active signing key, read from its database as the server does."""

    async def load() -> RingKey:
        engine = create_engine(server.database_url)
        try:
            store = KeyStore(
                engine,
                kek=KeyEncryptionKey.from_setting(server.env["AUTHGATE_ENCRYPTION_KEY"]),
                alg=server.env["AUTHGATE_SIGNING_ALG"],
                verify_window=900,
            )
            return (await store.key_ring()).signer
        finally:
            await engine.dispose()

    return asyncio.run(load())


class JwksFetches:
    """Counts the requests a verifier's HTTP client makes for the JWKS."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("jwks.json"):
            self.count += 1


@pytest.fixture
def fetches() -> JwksFetches:
    return JwksFetches()


@pytest.fixture
async def http(fetches: JwksFetches) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [fetches]}) as client:
        yield client


def verifier_for(server: Server, http: httpx.AsyncClient, **options: Any) -> RemoteVerifier:
    values: dict[str, Any] = {
        "jwks_url": server.jwks_url,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "http": http,
        **options,
    }
    return RemoteVerifier(**values)


def claims_of(token: str) -> dict[str, Any]:
    return dict(pyjwt.decode(token, options={"verify_signature": False}))


def sign(key: RingKey, claims: dict[str, Any], **header: Any) -> str:
    head = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **header}
    head = {name: value for name, value in head.items() if value is not None}
    return jwt.encode(head, claims, key.key, algorithms=[key.alg])


async def test_verifies_a_token_through_the_jwks_url(
    server: Server, http: httpx.AsyncClient, fetches: JwksFetches
) -> None:
    pair = server.login(EMAIL)
    claims = await verifier_for(server, http).verify(pair["accessToken"])
    assert claims["sub"] == claims_of(pair["accessToken"])["sub"]
    assert claims["email"] == EMAIL
    assert claims["sessionId"] == pair["sessionId"]
    assert fetches.count == 1


async def test_token_forged_with_the_real_key_and_true_claims_verifies(
    server: Server, signer: RingKey, http: httpx.AsyncClient
) -> None:
    """The control for the table below: the forging path itself yields valid tokens."""
    claims = claims_of(server.login(EMAIL)["accessToken"])
    assert (await verifier_for(server, http).verify(sign(signer, claims)))["sub"] == claims["sub"]


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "header", "error"),
    [
        pytest.param({"iss": "https://evil.example"}, {}, InvalidClaimError, id="other-iss"),
        pytest.param({"iss": ISSUER + "/"}, {}, InvalidClaimError, id="iss-with-suffix"),
        pytest.param({"aud": "another-api"}, {}, InvalidClaimError, id="other-aud"),
        pytest.param({"aud": ["another-api"]}, {}, InvalidClaimError, id="aud-list-without-ours"),
        pytest.param({"tokenType": "refresh"}, {}, InvalidClaimError, id="refresh-token-type"),
        pytest.param({"exp": NOW - 3600}, {}, ExpiredTokenError, id="expired"),
        pytest.param({"iat": NOW + 3600}, {}, InvalidClaimError, id="issued-in-future"),
        pytest.param({}, {"typ": "JWT"}, MalformedTokenError, id="typ-JWT"),
        pytest.param({}, {"typ": "rt+jwt"}, MalformedTokenError, id="typ-refresh"),
        pytest.param({}, {"typ": None}, MalformedTokenError, id="typ-missing"),
        pytest.param({}, {"kid": None}, MalformedTokenError, id="kid-missing"),
        # Issue 19 item 8: as strict as the server (RFC 7515 s4.1.11: crit never empty).
        pytest.param({}, {"crit": []}, MalformedTokenError, id="crit-empty"),
    ],
)
async def test_refuses_real_key_signed_token_with_wrong(
    server: Server,
    signer: RingKey,
    http: httpx.AsyncClient,
    claims: dict[str, Any],
    header: dict[str, Any],
    error: type[Exception],
) -> None:
    forged = sign(signer, {**claims_of(server.login(EMAIL)["accessToken"]), **claims}, **header)
    with pytest.raises(error):
        await verifier_for(server, http).verify(forged)


@pytest.mark.parametrize(
    ("options", "claim"),
    [
        pytest.param({"issuer": "https://evil.example"}, "iss", id="expects-other-issuer"),
        pytest.param({"issuer": ISSUER[:-1]}, "iss", id="expects-issuer-prefix"),
        pytest.param({"audience": "another-api"}, "aud", id="expects-other-audience"),
    ],
)
async def test_refuses_a_genuine_token_for_another_issuer_or_audience(
    server: Server, http: httpx.AsyncClient, options: dict[str, str], claim: str
) -> None:
    token = server.login(EMAIL)["accessToken"]
    with pytest.raises(InvalidClaimError) as raised:
        await verifier_for(server, http, **options).verify(token)
    assert raised.value.claim == claim


async def test_refuses_authgates_own_hs256_refresh_token(
    server: Server, http: httpx.AsyncClient
) -> None:
    refresh = server.login(EMAIL)["refreshToken"]
    assert pyjwt.get_unverified_header(refresh)["alg"] == "HS256"
    with pytest.raises(MalformedTokenError):
        await verifier_for(server, http).verify(refresh)


async def test_refuses_hs256_signed_with_the_public_key_of_a_published_kid(
    server: Server, signer: RingKey, http: httpx.AsyncClient
) -> None:
    """Algorithm confusion (RFC 8725 s2.1): the public JWK used as an HMAC secret."""
    assert signer.public_jwk is not None
    confused = RingKey(
        kid=signer.kid,
        alg="HS256",
        key=OctKey.import_key(json.dumps(signer.public_jwk).encode()),
    )
    forged = sign(confused, claims_of(server.login(EMAIL)["accessToken"]))
    with pytest.raises(MalformedTokenError):
        await verifier_for(server, http).verify(forged)


def test_hs256_cannot_be_allowed_in_a_remote_verifier() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        RemoteVerifier(
            jwks_url="http://127.0.0.1:1/jwks",
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["ES256", "HS256"],
        )


async def test_refuses_a_kid_that_is_not_published(
    server: Server, signer: RingKey, http: httpx.AsyncClient
) -> None:
    stranger = RingKey(kid="not-published", alg=signer.alg, key=generate_key(signer.alg))
    forged = sign(stranger, claims_of(server.login(EMAIL)["accessToken"]))
    with pytest.raises(InvalidSignatureError):
        await verifier_for(server, http).verify(forged)


async def test_refuses_a_published_kid_with_a_signature_by_another_key(
    server: Server, signer: RingKey, http: httpx.AsyncClient
) -> None:
    impostor = RingKey(kid=signer.kid, alg=signer.alg, key=generate_key(signer.alg))
    forged = sign(impostor, claims_of(server.login(EMAIL)["accessToken"]))
    with pytest.raises(InvalidSignatureError):
        await verifier_for(server, http).verify(forged)


def unknown_kid_tokens(signer: RingKey, claims: dict[str, Any], count: int) -> list[str]:
    key = generate_key(signer.alg)
    return [sign(RingKey(f"forged-{n}", signer.alg, key), claims) for n in range(count)]


async def refused(verifier: RemoteVerifier, token: str) -> bool:
    try:
        await verifier.verify(token)
    except InvalidTokenError:
        return True
    return False


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
    server: Server, signer: RingKey, http: httpx.AsyncClient, fetches: JwksFetches
) -> None:
    pair = server.login(EMAIL)
    clock = FrozenClock(time.time())
    verifier = verifier_for(server, http, clock=clock, min_refetch_interval=30.0)
    forged = unknown_kid_tokens(signer, claims_of(pair["accessToken"]), 20)
    await verifier.verify(pair["accessToken"])
    assert fetches.count == 1
    for token in forged[:10]:
        assert await refused(verifier, token)
    assert all(await asyncio.gather(*(refused(verifier, t) for t in forged[10:])))
    assert fetches.count == 1, "no refetch within min_refetch_interval"
    clock.advance(31)
    assert all(await asyncio.gather(*(refused(verifier, t) for t in forged)))
    assert fetches.count == 2, "one refetch once the interval has passed, however many ask"
    await verifier.verify(pair["accessToken"])
    assert fetches.count == 2


async def test_a_cold_verifier_under_a_burst_of_unknown_kids_fetches_once(
    server: Server, signer: RingKey, http: httpx.AsyncClient, fetches: JwksFetches
) -> None:
    claims = claims_of(server.login(EMAIL)["accessToken"])
    verifier = verifier_for(server, http, clock=FrozenClock(time.time()))
    forged = unknown_kid_tokens(signer, claims, 25)
    assert all(await asyncio.gather(*(refused(verifier, t) for t in forged)))
    assert fetches.count == 1


async def test_an_unreachable_jwks_is_not_fetched_on_every_request(
    server: Server, http: httpx.AsyncClient, fetches: JwksFetches
) -> None:
    """A failing JWKS endpoint gets one attempt per interval, and tokens are refused."""
    token = server.login(EMAIL)["accessToken"]
    clock = FrozenClock(time.time())
    verifier = verifier_for(
        server,
        http,
        jwks_url=f"{server.url}/.well-known/missing/jwks.json",
        clock=clock,
        min_refetch_interval=30.0,
    )
    for _ in range(5):
        with pytest.raises(InvalidSignatureError):
            await verifier.verify(token)
    assert fetches.count == 1
    clock.advance(31)
    with pytest.raises(InvalidSignatureError):
        await verifier.verify(token)
    assert fetches.count == 2


def create_client(server: Server) -> tuple[str, str]:
    output = server.cli("clients", "create", "--name", "tool server").stdout
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return values["client_id"], values["client_secret"]


@pytest.fixture(scope="module")
def introspection_client(server: Server) -> tuple[str, str]:
    return create_client(server)


async def test_introspection_refuses_a_token_after_logout(
    server: Server, http: httpx.AsyncClient, introspection_client: tuple[str, str]
) -> None:
    client_id, client_secret = introspection_client
    verifier = verifier_for(
        server,
        http,
        introspection_url=f"{server.url}/oauth2/introspect",
        client_id=client_id,
        client_secret=client_secret,
    )
    token = server.login(EMAIL)["accessToken"]
    assert (await verifier.verify(token, introspect=True))["email"] == EMAIL
    logout = await http.post(
        f"{server.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert logout.status_code == 200, logout.text
    # Offline verification cannot know about the logout until the token expires...
    assert (await verifier.verify(token))["email"] == EMAIL
    # ...which is what introspection is for.
    with pytest.raises(RevokedTokenError):
        await verifier.verify(token, introspect=True)


async def test_introspection_with_a_wrong_client_secret_fails_closed(
    server: Server, http: httpx.AsyncClient, introspection_client: tuple[str, str]
) -> None:
    verifier = verifier_for(
        server,
        http,
        introspection_url=f"{server.url}/oauth2/introspect",
        client_id=introspection_client[0],
        client_secret="not-the-secret",
    )
    token = server.login(EMAIL)["accessToken"]
    with pytest.raises(RevokedTokenError):
        await verifier.verify(token, introspect=True)


async def test_introspect_without_client_credentials_is_a_usage_error(
    server: Server, http: httpx.AsyncClient
) -> None:
    token = server.login(EMAIL)["accessToken"]
    with pytest.raises(ValueError, match="introspection"):
        await verifier_for(server, http).verify(token, introspect=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign_exact(key: RingKey, header: str, payload: str) -> str:
    """A token with exactly this header and payload text, validly signed by ``key``."""
    signing_input = f"{_b64(header.encode())}.{_b64(payload.encode())}"
    signature = JWSRegistry.algorithms[key.alg].sign(signing_input.encode(), key.key)
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize(
    ("header_extra", "payload_extra"),
    [
        pytest.param("", "", id="control-no-duplicates"),
        pytest.param(', "kid": "{kid}"', "", id="duplicate-header-member"),
        pytest.param("", ', "sub": "someone-else"', id="duplicate-claim"),
    ],
)
async def test_refuses_duplicate_member_names(
    server: Server,
    signer: RingKey,
    http: httpx.AsyncClient,
    header_extra: str,
    payload_extra: str,
) -> None:
    """Issue 19 item 8, RFC 7515 s4 / RFC 7519 s4: another parser could read the first."""
    claims = claims_of(server.login(EMAIL)["accessToken"])
    header = json.dumps({"alg": signer.alg, "typ": "at+jwt", "kid": signer.kid})
    header = header[:-1] + header_extra.replace("{kid}", signer.kid) + "}"
    payload = json.dumps(claims)[:-1] + payload_extra + "}"
    token = _sign_exact(signer, header, payload)
    verifier = verifier_for(server, http)
    if not header_extra and not payload_extra:
        await verifier.verify(token)
        return
    with pytest.raises(MalformedTokenError):
        await verifier.verify(token)
