"""``authgate.resource`` with authgate and the service in separate processes, over HTTP.

authgate signs with EdDSA and registers the service as a resource (``AUTHGATE_RESOURCES``);
the service is ``examples/service.py`` as a user runs it. Agents get tokens for it with
client credentials and the RFC 8707 ``resource`` parameter. Forged tokens are signed with
authgate's own active key (read from its key store), so each refusal is about the one
thing the case changes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from authgate.keys.encryption import KeyEncryptionKey
from authgate.keys.keyring import RingKey, generate_key
from authgate.keys.store import KeyStore
from authgate.resource import ResourceServer
from authgate.sdk.agent import DPoPKey
from authgate.storage.database import create_engine
from tests.resource.stack import Authgate, Service, authgate, service, until

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
OTHER = "http://127.0.0.1:1/other-service"


class Stack:
    def __init__(self, server: Authgate, svc: Service, resource: str) -> None:
        self.server = server
        self.service = svc
        self.resource = resource
        self.agent = server.agent(EMAIL, "notes:read,notes:write")

    def token(self, **options: Any) -> str:
        return self.server.token(self.agent, self.resource, **options)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("resource")
    from tests.processes import free_port

    port = free_port()
    resource = f"http://127.0.0.1:{port}"
    with authgate(workdir, resources=[resource, OTHER]) as server:
        server.register(EMAIL)
        client = server.resource_client()
        with service(workdir, server, client, port=port) as svc:
            yield Stack(server, svc, resource)


@pytest.fixture(scope="module")
def signer(stack: Stack) -> RingKey:
    async def load() -> RingKey:
        state = Path(stack.server.env["AUTHGATE_STATE_DIR"])
        engine = create_engine(f"sqlite+aiosqlite:///{state / 'authgate.db'}")
        try:
            store = KeyStore(
                engine,
                kek=KeyEncryptionKey.from_setting(stack.server.env["AUTHGATE_ENCRYPTION_KEY"]),
                alg="EdDSA",
                verify_window=900,
            )
            return (await store.key_ring()).signer
        finally:
            await engine.dispose()

    return asyncio.run(load())


def claims_of(token: str) -> dict[str, Any]:
    return dict(pyjwt.decode(token, options={"verify_signature": False}))


def sign(key: RingKey, claims: dict[str, Any], **header: Any) -> str:
    head = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(head, claims, key.key, algorithms=[key.alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(key: RingKey, header_json: str, payload_json: str) -> str:
    """A token with exactly this header and payload text, validly signed by ``key``."""
    signing_input = f"{b64(header_json.encode())}.{b64(payload_json.encode())}"
    signature = key.key.private_key.sign(signing_input.encode())  # type: ignore[union-attr]
    return f"{signing_input}.{b64(signature)}"


def test_valid_token_is_accepted(stack: Stack) -> None:
    response = stack.service.get("/notes", stack.token())
    assert response.status_code == 200, response.text
    assert response.json()["for"] == f"agent:{stack.agent[0]}"
    assert response.json()["client"] == stack.agent[0]


def test_serves_protected_resource_metadata(stack: Stack) -> None:
    """RFC 9728 s3: the resource, its authorization server, the scopes."""
    body = stack.service.get("/.well-known/oauth-protected-resource").json()
    assert body["resource"] == stack.resource
    assert body["authorization_servers"] == [stack.server.url]
    assert "notes:read" in body["scopes_supported"]


def test_no_token_answers_401_pointing_at_the_metadata(stack: Stack) -> None:
    response = stack.service.get("/notes")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{stack.resource}/.well-known/oauth-protected-resource"'
    )


def test_missing_scope_answers_403_insufficient_scope(stack: Stack) -> None:
    """RFC 6750 s3.1: the client learns which scope to ask for."""
    token = stack.token(scope="notes:read")
    response = httpx.post(
        f"{stack.service.url}/notes", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="notes:write"' in challenge


def test_token_for_another_resource_is_refused(stack: Stack) -> None:
    token = stack.server.token(stack.agent, OTHER)
    response = stack.service.get("/notes", token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert token not in response.text


def test_authgates_own_audience_token_is_refused(stack: Stack) -> None:
    assert stack.service.get("/notes", stack.server.token(stack.agent, None)).status_code == 401


def test_unregistered_resource_gets_no_token(stack: Stack) -> None:
    """RFC 8707 s2: invalid_target."""
    response = httpx.post(
        f"{stack.server.url}/oauth2/token",
        data={"grant_type": "client_credentials", "resource": "http://evil.example/"},
        auth=stack.agent,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        pytest.param({"iss": "https://evil.example"}, {}, id="wrong-iss"),
        pytest.param({"aud": [OTHER]}, {}, id="aud-list-without-ours"),
        pytest.param({"exp": NOW - 3600, "iat": NOW - 4000}, {}, id="expired"),
        pytest.param({"nbf": NOW + 3600}, {}, id="not-yet-valid"),
        pytest.param({}, {"typ": "JWT"}, id="typ-JWT"),
        pytest.param({}, {"crit": []}, id="crit-empty"),
        pytest.param({}, {"jku": "http://evil.example/jwks"}, id="jku"),
    ],
)
def test_refuses_a_real_key_signed_token_with_wrong(
    stack: Stack, signer: RingKey, claims: dict[str, Any], header: dict[str, Any]
) -> None:
    forged = sign(signer, {**claims_of(stack.token()), **claims}, **header)
    assert stack.service.get("/notes", forged).status_code == 401


def test_forging_control_token_is_accepted(stack: Stack, signer: RingKey) -> None:
    """The control for the table: re-signing true claims yields an accepted token."""
    assert stack.service.get("/notes", sign(signer, claims_of(stack.token()))).status_code == 200


def test_resigning_control_token_is_accepted(stack: Stack, signer: RingKey) -> None:
    header = json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": signer.kid})
    token = resign(signer, header, json.dumps(claims_of(stack.token())))
    assert stack.service.get("/notes", token).status_code == 200


def test_refuses_duplicate_claim_names(stack: Stack, signer: RingKey) -> None:
    """RFC 7519 s4: the first ``sub`` could be read by another parser."""
    claims = claims_of(stack.token())
    header = json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": signer.kid})
    payload = json.dumps(claims)[:-1] + ', "sub": "agent:someone-else"}'
    assert stack.service.get("/notes", resign(signer, header, payload)).status_code == 401


def test_refuses_hs256_tokens(stack: Stack) -> None:
    """HS256 tokens cannot be verified remotely: refused, whatever the secret."""
    key = RingKey(kid="access-abc", alg="HS256", key=OctKey.generate_key(256))
    assert stack.service.get("/notes", sign(key, claims_of(stack.token()))).status_code == 401


def test_refuses_alg_swapped_to_hs256_with_the_public_key(stack: Stack, signer: RingKey) -> None:
    """Algorithm confusion (RFC 8725 s2.1): the public JWK used as an HMAC secret."""
    assert signer.public_jwk is not None
    confused = RingKey(
        kid=signer.kid, alg="HS256", key=OctKey.import_key(json.dumps(signer.public_jwk).encode())
    )
    assert stack.service.get("/notes", sign(confused, claims_of(stack.token()))).status_code == 401


def test_refuses_a_published_kid_signed_by_another_key(stack: Stack, signer: RingKey) -> None:
    impostor = RingKey(kid=signer.kid, alg=signer.alg, key=generate_key(signer.alg))
    assert stack.service.get("/notes", sign(impostor, claims_of(stack.token()))).status_code == 401


class Counting:
    def __init__(self) -> None:
        self.jwks = 0

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("jwks.json"):
            self.jwks += 1


async def test_a_burst_of_unknown_kids_refetches_the_jwks_once(
    stack: Stack, signer: RingKey
) -> None:
    counting = Counting()
    async with httpx.AsyncClient(event_hooks={"request": [counting]}) as http:
        rs = ResourceServer(
            issuer=stack.server.url, resource=stack.resource, follow_revocations=False, http=http
        )
        await rs.start()
        claims = claims_of(stack.token())
        stranger = generate_key("EdDSA")
        forged = [sign(RingKey(f"forged-{n}", "EdDSA", stranger), claims) for n in range(30)]
        results = await asyncio.gather(
            *(rs.verify(token) for token in forged), return_exceptions=True
        )
        assert all(isinstance(result, Exception) for result in results)
        assert counting.jwks == 1, "the first unknown kid may refetch only after the interval"
        await rs.aclose()


def test_revoked_grant_is_refused(stack: Stack) -> None:
    token = stack.token()
    assert stack.service.get("/notes", token).status_code == 200
    stack.server.revoke(stack.agent, token)
    until(lambda: stack.service.get("/notes", token).status_code == 401)


@pytest.mark.parametrize("command", ["disable", "rotate-secret"])
def test_agent_revoked_from_the_cli_is_refused(stack: Stack, command: str) -> None:
    agent = stack.server.agent(EMAIL, "notes:read")
    token = stack.server.token(agent, stack.resource)
    assert stack.service.get("/notes", token).status_code == 200
    stack.server.cli("agents", command, agent[0])
    until(lambda: stack.service.get("/notes", token).status_code == 401)


def test_key_rotation_is_followed_and_a_retired_key_refused(stack: Stack) -> None:
    before = stack.token()
    old_kid = pyjwt.get_unverified_header(before)["kid"]
    stack.server.cli("keys", "rotate")
    until(lambda: pyjwt.get_unverified_header(stack.token())["kid"] != old_kid, timeout=15)
    after = stack.token()
    assert stack.service.get("/notes", after).status_code == 200
    assert stack.service.get("/notes", before).status_code == 200  # still verifying
    stack.server.cli("keys", "retire", old_kid)
    until(lambda: stack.service.get("/notes", before).status_code == 401)
    assert stack.service.get("/notes", after).status_code == 200


def dpop_call(stack: Stack, token: str, proof: str | None) -> httpx.Response:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return httpx.get(f"{stack.service.url}/notes", headers=headers)


@pytest.fixture(scope="module")
def bound(stack: Stack) -> tuple[DPoPKey, str]:
    agent = stack.server.agent(EMAIL, "notes:read", dpop=True)
    key = DPoPKey()
    return key, stack.server.token(agent, stack.resource, dpop=key)


def test_dpop_bound_token_with_a_valid_proof_is_accepted(
    stack: Stack, bound: tuple[DPoPKey, str]
) -> None:
    key, token = bound
    url = f"{stack.resource}/notes"
    assert dpop_call(stack, token, key.proof("GET", url, token)).status_code == 200


@pytest.mark.parametrize(
    "case", ["missing", "replayed", "wrong-key", "bearer-downgrade", "other-url"]
)
def test_dpop_bound_token_is_refused_with(
    stack: Stack, bound: tuple[DPoPKey, str], case: str
) -> None:
    key, token = bound
    url = f"{stack.resource}/notes"
    if case == "missing":
        response = dpop_call(stack, token, None)
    elif case == "replayed":
        proof = key.proof("GET", url, token)
        assert dpop_call(stack, token, proof).status_code == 200
        response = dpop_call(stack, token, proof)
    elif case == "wrong-key":
        response = dpop_call(stack, token, DPoPKey().proof("GET", url, token))
    elif case == "bearer-downgrade":
        response = stack.service.get("/notes", token)
    else:
        response = dpop_call(stack, token, key.proof("GET", f"{OTHER}/notes", token))
    assert response.status_code == 401


def test_revocation_latency_over_100_revocations(stack: Stack) -> None:
    """Measured and printed (issue 15 target: p99 within 1 s), never asserted.

    From sending ``/oauth2/revoke`` to the first refusal by the service; also from the
    revoke's answer, which leaves out the revoke request's own cost.
    """
    total, after_answer = [], []
    for _ in range(100):
        token = stack.token()
        assert stack.service.get("/notes", token).status_code == 200
        started = time.monotonic()
        stack.server.revoke(stack.agent, token)
        answered = time.monotonic()
        until(lambda t=token: stack.service.get("/notes", t).status_code == 401)
        total.append(time.monotonic() - started)
        after_answer.append(time.monotonic() - answered)
    for name, values in (("from the revoke request", total), ("from its answer", after_answer)):
        values.sort()
        print(
            f"\nrevocation refused by the remote service ({name}, 100 revocations): "
            f"p50 {values[49] * 1000:.0f} ms, p99 {values[98] * 1000:.0f} ms, "
            f"max {values[-1] * 1000:.0f} ms"
        )
