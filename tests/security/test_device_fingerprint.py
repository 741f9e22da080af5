"""The device fingerprint in tokens is keyed, so the IP cannot be recovered (issue 19 item 9).

Before the fix it was SHA-256("user agent|ip|accept-language"): anyone holding a token
could try every address of a network (or of the whole IPv4 space) offline and read the
user's IP. Now it is HMAC-SHA256 under a key derived from the server secret.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from authgate.devices import DeviceFingerprints, DeviceInfo, derive_fingerprint_key
from authgate.http.app import create_app
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.conftest import login, register

USER_AGENT = "pytest-agent/1.0"


def _fingerprint_of(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["deviceFingerprint"])


def _unkeyed_guesses(user_agent: str, network: str) -> dict[str, str]:
    """What an attacker computes offline: the unkeyed hash for every address."""
    return {
        hashlib.sha256(f"{user_agent}|{ip}|".encode()).hexdigest(): str(ip)
        for ip in ipaddress.ip_network(network)
    }


async def test_the_ip_cannot_be_recovered_from_a_token(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    guesses = _unkeyed_guesses(USER_AGENT, "127.0.0.0/24")
    for token in (pair["accessToken"], pair["refreshToken"]):
        assert _fingerprint_of(token) not in guesses


async def _login_fingerprint(settings: Any, clock: FrozenClock) -> str:
    app: FastAPI = create_app(settings, clock=clock)
    async with lifespan(app), client_for(app, headers={"user-agent": USER_AGENT}) as client:
        await register(client)
        return _fingerprint_of((await login(client))["accessToken"])


async def test_the_same_device_has_another_fingerprint_under_another_server_secret(
    clock: FrozenClock, tmp_path: Path
) -> None:
    first = await _login_fingerprint(make_settings(tmp_path / "a"), clock)
    second = await _login_fingerprint(make_settings(tmp_path / "b"), clock)
    assert first != second


def test_the_key_is_derived_under_its_own_label_not_the_secret_itself() -> None:
    secret = "s" * 64
    key = derive_fingerprint_key(secret)
    assert key != secret.encode()
    assert len(key) == 32
    device = DeviceInfo(user_agent=USER_AGENT, ip="203.0.113.7", accept_language="en")
    keyed = DeviceFingerprints(key=key, inputs=("user-agent", "ip", "accept-language"))
    unkeyed = hashlib.sha256(f"{USER_AGENT}|203.0.113.7|en".encode()).hexdigest()
    assert keyed.of(device) != unkeyed
    assert keyed.of(device) == DeviceFingerprints.from_secret(secret).of(device)


@pytest.mark.parametrize(
    "key",
    [pytest.param(b"", id="empty-key"), pytest.param(b"k" * 16, id="short-key")],
)
def test_a_short_key_is_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DeviceFingerprints(key=key)


def test_device_check_without_a_key_is_refused_at_construction() -> None:
    from authgate.sessions.authenticator import Authenticator
    from authgate.storage.revocations import RevocationList

    with pytest.raises(ValueError, match="DeviceFingerprints"):
        Authenticator(verifier=None, revocations=RevocationList(), device_check=True)  # type: ignore[arg-type]
