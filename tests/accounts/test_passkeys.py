"""Passkeys over the JSON API with a software authenticator: registration, password-less
and second-factor sign-in, and each forged, replayed or cloned assertion refused."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.testing import FrozenClock
from tests.accounts.softkey import SoftKey, b64, unb64
from tests.accounts.test_verification import _claims
from tests.conftest import PASSWORD, bearer, login, register

ORIGIN = "https://auth.example.com"


async def _enrol(client: httpx.AsyncClient, token: str, name: str = "Laptop") -> SoftKey:
    key = SoftKey(rp_id="auth.example.com", origin=ORIGIN)
    auth = bearer(token)
    options = (await client.post("/auth/passkeys/options", headers=auth)).json()
    assert options["authenticatorSelection"]["residentKey"] == "required"
    created = await client.post(
        "/auth/passkeys", json={"credential": key.register(options), "name": name}, headers=auth
    )
    assert created.status_code == 201, created.text
    return key


@pytest.fixture
async def enrolled(client: httpx.AsyncClient) -> tuple[SoftKey, dict[str, Any]]:
    await register(client)
    pair = await login(client)
    return await _enrol(client, pair["accessToken"]), pair


async def _options(client: httpx.AsyncClient, mfa_token: str = "") -> dict[str, Any]:
    response = await client.post("/auth/passkeys/login/options", json={"mfaToken": mfa_token})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _login(
    client: httpx.AsyncClient, ceremony: str, credential: dict[str, Any], mfa_token: str = ""
) -> httpx.Response:
    body = {"ceremony": ceremony, "credential": credential, "mfaToken": mfa_token}
    return await client.post("/auth/passkeys/login", json=body)


async def test_password_less_sign_in_is_two_factors_in_one(
    app: FastAPI, client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]]
) -> None:
    key, _ = enrolled
    started = await _options(client)
    assert started["options"]["userVerification"] == "required"
    assert started["options"].get("allowCredentials", []) == []
    response = await _login(client, started["ceremony"], key.sign_in(started["options"]))
    assert response.status_code == 200, response.text
    claims = _claims(app, response.json()["accessToken"])
    assert (claims["amr"], claims["acr"]) == (["hwk", "mfa"], "aal2")


async def test_a_passkey_completes_the_password_step(
    app: FastAPI, client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]]
) -> None:
    key, _ = enrolled
    step = await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert step.json()["methods"] == ["passkey"]
    token = step.json()["mfaToken"]
    started = await _options(client, token)
    [allowed] = started["options"]["allowCredentials"]
    assert unb64(allowed["id"]) == key.credential_id
    response = await _login(client, started["ceremony"], key.sign_in(started["options"]), token)
    assert response.status_code == 200, response.text
    assert _claims(app, response.json()["accessToken"])["amr"] == ["hwk", "pwd"]


def _altered_signature(credential: dict[str, Any]) -> dict[str, Any]:
    forged = copy.deepcopy(credential)
    signature = bytearray(unb64(forged["response"]["signature"]))
    signature[-1] ^= 0x01
    forged["response"]["signature"] = b64(bytes(signature))
    return forged


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("replayed-ceremony", id="replayed-ceremony"),
        pytest.param("altered-signature", id="altered-signature"),
        pytest.param("other-origin", id="phishing-origin"),
        pytest.param("no-user-verification", id="password-less-without-uv"),
        pytest.param("cloned-counter", id="cloned-authenticator"),
        pytest.param("expired-ceremony", id="expired-ceremony"),
        pytest.param("unknown-key", id="unregistered-key"),
    ],
)
async def test_a_bad_assertion_is_refused(
    client: httpx.AsyncClient,
    enrolled: tuple[SoftKey, dict[str, Any]],
    clock: FrozenClock,
    attack: str,
) -> None:
    key, _ = enrolled
    started = await _options(client)
    options, ceremony = started["options"], started["ceremony"]
    credential = key.sign_in(options)
    if attack == "replayed-ceremony":
        assert (await _login(client, ceremony, credential)).status_code == 200
    elif attack == "altered-signature":
        credential = _altered_signature(credential)
    elif attack == "other-origin":
        credential = key.sign_in(options, origin="https://auth.example.com.evil.test")
    elif attack == "no-user-verification":
        credential = key.sign_in(options, user_verified=False)
    elif attack == "cloned-counter":
        assert (await _login(client, ceremony, credential)).status_code == 200
        started = await _options(client)
        ceremony = started["ceremony"]
        key.counter -= 1  # a copy of the key whose counter lags behind
        credential = key.sign_in(started["options"])
    elif attack == "expired-ceremony":
        clock.advance(301)
    else:
        credential = SoftKey(rp_id="auth.example.com", origin=ORIGIN).sign_in(options)
    response = await _login(client, ceremony, credential)
    assert response.status_code == 401
    assert "accessToken" not in response.text


async def test_someone_elses_passkey_is_not_my_second_factor(
    client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]]
) -> None:
    await register(client, "bob@example.com")
    bob_key = await _enrol(client, (await login(client, "bob@example.com"))["accessToken"])
    step = await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    token = step.json()["mfaToken"]
    started = await _options(client, token)
    response = await _login(client, started["ceremony"], bob_key.sign_in(started["options"]), token)
    assert response.status_code == 401


async def test_list_rename_remove(
    client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]]
) -> None:
    key, _ = enrolled
    started = await _options(client)
    fresh = await _login(client, started["ceremony"], key.sign_in(started["options"]))
    auth = bearer(fresh.json()["accessToken"])
    [listed] = (await client.get("/auth/passkeys", headers=auth)).json()["passkeys"]
    assert listed["name"] == "Laptop"
    renamed = await client.patch(
        f"/auth/passkeys/{listed['id']}", json={"name": "Work laptop"}, headers=auth
    )
    assert renamed.status_code == 200
    assert (await client.get("/auth/passkeys", headers=auth)).json()["passkeys"][0]["name"] == (
        "Work laptop"
    )
    assert (await client.delete(f"/auth/passkeys/{listed['id']}", headers=auth)).status_code == 200
    assert (await client.get("/auth/passkeys", headers=auth)).json()["passkeys"] == []


async def test_removing_a_passkey_needs_a_recent_second_factor(
    client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]], clock: FrozenClock
) -> None:
    _key, pair = enrolled  # signed in with the password only (aal1)
    auth = bearer(pair["accessToken"])
    [listed] = (await client.get("/auth/passkeys", headers=auth)).json()["passkeys"]
    refused = await client.delete(f"/auth/passkeys/{listed['id']}", headers=auth)
    assert refused.status_code == 401
    assert "insufficient_user_authentication" in refused.headers["www-authenticate"]


async def test_a_passkey_steps_up_an_old_session(
    app: FastAPI, client: httpx.AsyncClient, enrolled: tuple[SoftKey, dict[str, Any]]
) -> None:
    key, pair = enrolled
    auth = bearer(pair["accessToken"])
    started = (await client.post("/auth/passkeys/verify/options", headers=auth)).json()
    body = {"ceremony": started["ceremony"], "credential": key.sign_in(started["options"])}
    stepped = await client.post("/auth/passkeys/verify", json=body, headers=auth)
    assert stepped.status_code == 200, stepped.text
    claims = _claims(app, stepped.json()["accessToken"])
    assert (claims["acr"], claims["amr"]) == ("aal2", ["hwk", "pwd"])
    fresh = bearer(stepped.json()["accessToken"])
    [listed] = (await client.get("/auth/passkeys", headers=fresh)).json()["passkeys"]
    assert (await client.delete(f"/auth/passkeys/{listed['id']}", headers=fresh)).status_code == 200
