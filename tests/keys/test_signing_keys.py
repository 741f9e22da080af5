"""Asymmetric signing keys: each algorithm, rotation overlap, retirement, JWKS, backups."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.keys.encryption import DecryptionError, KeyEncryptionKey, generate_kek
from authgate.keys.keyring import hmac_kid
from authgate.keys.manager import KeyManager
from authgate.testing import FrozenClock, client_for, lifespan
from tests.conftest import bearer, login, register

ALGORITHMS = ["EdDSA", "ES256", "RS256"]


@pytest.fixture(params=ALGORITHMS)
def alg(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def asym_app(settings_factory: Any, clock: FrozenClock, alg: str) -> AsyncIterator[FastAPI]:
    settings = settings_factory(signing_alg=alg, encryption_key=generate_kek())
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def asym_client(asym_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(asym_app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


def keys_of(app: FastAPI) -> KeyManager:
    manager: KeyManager = app.state.authgate.keys
    return manager


def header(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def pyjwt_verify(token: str, jwks: dict[str, Any], alg: str) -> dict[str, Any]:
    kid = header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = jwt.PyJWK(jwk)
    return dict(
        jwt.decode(
            token, key, algorithms=[alg], audience="ai-agent-users", issuer="ai-agent-system"
        )
    )


async def test_each_algorithm_signs_and_verifies(asym_client: httpx.AsyncClient, alg: str) -> None:
    await register(asym_client)
    pair = await login(asym_client)
    assert header(pair["accessToken"])["alg"] == alg
    chat = await asym_client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(pair["accessToken"])
    )
    assert chat.status_code == 200
    jwks = (await asym_client.get("/.well-known/jwks.json")).json()
    claims = pyjwt_verify(pair["accessToken"], jwks, alg)
    assert claims["email"] == "ada@example.com"


async def test_jwks_publishes_public_keys_only_with_cache_headers(
    asym_client: httpx.AsyncClient,
) -> None:
    response = await asym_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert len(keys) == 2  # the active key and the published next key
    for jwk in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & jwk.keys()
        assert jwk["use"] == "sig"


async def test_hs_secrets_never_appear_in_jwks(client: httpx.AsyncClient, settings: Any) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.json() == {"keys": []}
    body = response.text
    assert settings.access_secret() not in body
    assert settings.refresh_secret() not in body


async def test_rotation_keeps_old_tokens_valid_then_retirement_refuses_them(
    asym_app: FastAPI, asym_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    manager = keys_of(asym_app)
    assert manager.store is not None
    await register(asym_client)
    before = await login(asym_client)
    old_kid = header(before["accessToken"])["kid"]
    await manager.store.rotate()
    await manager.reload()
    after = await login(asym_client)
    assert header(after["accessToken"])["kid"] != old_kid
    # Across the overlap both verify: no failed verification during rotation.
    for pair in (before, after):
        ok = await asym_client.post(
            "/api/ai/chat", json={"message": "x"}, headers=bearer(pair["accessToken"])
        )
        assert ok.status_code == 200
    jwks_kids = {k["kid"] for k in (await asym_client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid in jwks_kids
    # Retire explicitly (as `authgate keys retire KID` does): its tokens are refused at once.
    await manager.store.retire(old_kid)
    await manager.reload()
    refused = await asym_client.post(
        "/api/ai/chat", json={"message": "x"}, headers=bearer(before["accessToken"])
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "Authentication failed"
    jwks_kids = {k["kid"] for k in (await asym_client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid not in jwks_kids


async def test_retiring_key_retires_only_after_its_last_token_expired(
    asym_app: FastAPI, clock: FrozenClock
) -> None:
    manager = keys_of(asym_app)
    assert manager.store is not None
    active = next(k for k in await manager.store.keys() if k.state == "active")
    await manager.store.rotate()
    clock.advance(60)
    assert await manager.store.retire_due() == []
    clock.advance(15 * 60 + 10)
    assert await manager.store.retire_due() == [active.kid]


async def test_hs_header_with_asymmetric_kid_is_refused(
    asym_app: FastAPI, asym_client: httpx.AsyncClient, settings: Any
) -> None:
    """Algorithm confusion: HS256 'signed' with the public key of an asymmetric kid."""
    await register(asym_client)
    pair = await login(asym_client)
    kid = header(pair["accessToken"])["kid"]
    jwk = keys_of(asym_app).ring.get(kid)
    assert jwk is not None
    assert jwk.public_jwk is not None
    public_bytes = json.dumps(jwk.public_jwk).encode()
    claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
    forged = _hs256(claims, public_bytes, {"alg": "HS256", "typ": "at+jwt", "kid": kid})
    response = await asym_client.post("/api/ai/chat", json={"message": "x"}, headers=bearer(forged))
    assert response.status_code == 401


async def test_asymmetric_kid_with_another_asymmetric_alg_is_refused(
    asym_client: httpx.AsyncClient, alg: str
) -> None:
    await register(asym_client)
    pair = await login(asym_client)
    head, payload, sig = pair["accessToken"].split(".")
    other = "ES256" if alg != "ES256" else "RS256"
    new_head = json.loads(base64.urlsafe_b64decode(head + "=="))
    new_head["alg"] = other
    forged = ".".join([_b64(json.dumps(new_head).encode()), payload, sig])
    response = await asym_client.post("/api/ai/chat", json={"message": "x"}, headers=bearer(forged))
    assert response.status_code == 401


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes, head: dict[str, Any]) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


async def test_backup_and_restore_round_trip(
    asym_app: FastAPI, settings_factory: Any, clock: FrozenClock, alg: str, tmp_path: Any
) -> None:
    store = keys_of(asym_app).store
    assert store is not None
    backup_kek = KeyEncryptionKey.from_setting(generate_kek())
    backup = await store.export(backup_kek)
    text = json.dumps(backup)
    for row in await store.keys():
        ring_key = keys_of(asym_app).ring.get(row.kid)
        assert ring_key is not None
        private = ring_key.key.as_dict(private=True)
        assert private["d"] not in text  # the backup holds no private key in clear
    # Restore into a fresh database with another KEK.
    other = settings_factory(
        signing_alg=alg,
        encryption_key=generate_kek(),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}",
    )
    restored_app = create_app(other, clock=clock)
    async with lifespan(restored_app):
        restored = keys_of(restored_app).store
        assert restored is not None
        assert await restored.import_(backup, backup_kek) == len(backup["keys"])
        kids = {row.kid for row in await restored.keys()}
        assert {item["kid"] for item in backup["keys"]} <= kids
    with pytest.raises(DecryptionError):
        await store.import_(backup, KeyEncryptionKey.from_setting(generate_kek()))


def test_hmac_kid_does_not_reveal_the_secret() -> None:
    secret = "x" * 20 + "abcdefghijklmnop"
    kid = hmac_kid("access", secret)
    assert secret not in kid
    assert kid.startswith("access-")
    assert kid == hmac_kid("access", secret)
    assert kid != hmac_kid("refresh", secret)


def test_asymmetric_alg_requires_an_encryption_key(settings_factory: Any) -> None:
    from authgate.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="AUTHGATE_ENCRYPTION_KEY"):
        create_app(settings_factory(signing_alg="ES256"))
