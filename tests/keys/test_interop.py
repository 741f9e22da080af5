"""Interoperability: authgate's tokens verified through its JWKS URL by other libraries.

PyJWT's ``PyJWKClient``, the npm ``jose`` package (``tests/keys/interop/verify.mjs``,
installed by ``make install-test`` from its lock) and ``authgate.resource.remote.RemoteVerifier``
each keep one JWKS cache across two rotations done with ``authgate keys rotate`` on a
live server: no verification fails, the first rotation needs no refetch (its key was
published as ``next`` before it signed), the second needs exactly one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from authgate.resource.remote import RemoteVerifier
from tests.keys.process import AUDIENCE, ISSUER, Server, running_server

pytestmark = pytest.mark.e2e

INTEROP_DIR = Path(__file__).with_name("interop")
EMAIL = "ada@example.com"


@pytest.fixture(scope="module", params=["EdDSA", "ES256", "RS256"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("interop"), alg=str(request.param)) as live:
        live.register(EMAIL)
        yield live


class CountingJWKClient(jwt.PyJWKClient):
    """PyJWT's client, counting the JWKS downloads it makes."""

    fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        return super().fetch_data()


class PyJWTVerifier:
    def __init__(self, server: Server) -> None:
        self.alg = server.env["AUTHGATE_SIGNING_ALG"]
        # No cooldown: the refetch for the second rotation's kid happens at once.
        self.client = CountingJWKClient(server.jwks_url, cooldown_duration=0)

    def verify(self, token: str) -> dict[str, Any]:
        key = self.client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[self.alg], audience=AUDIENCE, issuer=ISSUER
        )
        # PyJWT does not check the JOSE type; a resource server should (RFC 8725 s3.11).
        if jwt.get_unverified_header(token).get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("not an access token")
        return claims


class JoseVerifier:
    """One long-lived node process holding one ``createRemoteJWKSet``."""

    def __init__(self, server: Server) -> None:
        node = shutil.which("node")
        if node is None or not (INTEROP_DIR / "node_modules" / "jose").is_dir():
            pytest.fail("node and jose are not installed: run `make install-test` (npm ci)")
        options = {
            "jwksUrl": server.jwks_url,
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "algorithms": [server.env["AUTHGATE_SIGNING_ALG"]],
            "cooldownMs": 0,
        }
        self.process = subprocess.Popen(
            [node, "verify.mjs", json.dumps(options)],
            cwd=INTEROP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.fetches = 0

    def verify(self, token: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(token + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the jose verifier exited: {stderr}")
        answer: dict[str, Any] = json.loads(line)
        self.fetches = int(answer["fetches"])
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def pyjwt_verifier(server: Server) -> PyJWTVerifier:
    return PyJWTVerifier(server)


@pytest.fixture
def jose_verifier(server: Server) -> Iterator[JoseVerifier]:
    verifier = JoseVerifier(server)
    yield verifier
    verifier.close()


class RemoteFetches:
    count = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.count += 1


@pytest.fixture
async def remote(server: Server) -> AsyncIterator[tuple[RemoteVerifier, RemoteFetches]]:
    fetches = RemoteFetches()
    async with httpx.AsyncClient(event_hooks={"request": [fetches]}) as http:
        verifier = RemoteVerifier(
            jwks_url=server.jwks_url,
            issuer=ISSUER,
            audience=AUDIENCE,
            min_refetch_interval=0.0,
            http=http,
        )
        yield verifier, fetches


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def rotate(server: Server) -> str:
    """``authgate keys rotate``, then wait until the server signs with the promoted key."""
    published = server.jwks_kids()
    promoted = server.cli("keys", "rotate").stdout.split()[0]
    # The rotation's new next key is published once the server has reloaded its ring.
    server.wait_for_new_kid(published)
    return promoted


async def test_pyjwt_and_jose_verify_across_two_rotations(
    server: Server,
    pyjwt_verifier: PyJWTVerifier,
    jose_verifier: JoseVerifier,
    remote: tuple[RemoteVerifier, RemoteFetches],
) -> None:
    remote_verifier, remote_fetches = remote

    async def verify_everywhere(token: str) -> None:
        sub = jwt.decode(token, options={"verify_signature": False})["sub"]
        assert pyjwt_verifier.verify(token)["sub"] == sub
        answer = jose_verifier.verify(token)
        assert answer == {**answer, "ok": True, "kid": kid_of(token), "sub": sub}
        assert (await remote_verifier.verify(token))["sub"] == sub

    def fetch_counts() -> tuple[int, int, int]:
        return pyjwt_verifier.client.fetches, jose_verifier.fetches, remote_fetches.count

    first = server.login(EMAIL)["accessToken"]
    await verify_everywhere(first)
    assert fetch_counts() == (1, 1, 1)

    promoted = rotate(server)
    second = server.login(EMAIL)["accessToken"]
    assert kid_of(second) == promoted != kid_of(first)
    for token in (first, second):
        await verify_everywhere(token)
    assert fetch_counts() == (1, 1, 1), "the next key was published before it signed"

    promoted_again = rotate(server)
    third = server.login(EMAIL)["accessToken"]
    assert kid_of(third) == promoted_again
    for token in (first, second, third):
        await verify_everywhere(token)
    assert fetch_counts() == (2, 2, 2), "one refetch for the kid published after the cache"
    assert {kid_of(first), kid_of(second), kid_of(third)} <= server.jwks_kids()


async def test_pyjwt_and_jose_refuse_authgates_hs256_refresh_token(
    server: Server, pyjwt_verifier: PyJWTVerifier, jose_verifier: JoseVerifier
) -> None:
    refresh = server.login(EMAIL)["refreshToken"]
    with pytest.raises(jwt.PyJWTError):
        pyjwt_verifier.verify(refresh)
    answer = jose_verifier.verify(refresh)
    assert answer["ok"] is False
    assert answer["code"].startswith("ERR_J")
