"""Email verification and email change by mailed links, through a real SMTP server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey

from authgate.testing import FrozenClock
from tests.accounts.conftest import delivered, runtime_of
from tests.accounts.mailbox import Mailbox, key_of
from tests.conftest import PASSWORD, bearer, login, register


def _claims(app: FastAPI, token: str) -> dict[str, Any]:
    secret = runtime_of(app).settings.access_secret()
    return dict(jwt.decode(token, OctKey.import_key(secret.encode())).claims)


async def _verify(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/auth/email/verify", json={"token": key})


async def test_registration_mails_a_link_that_verifies_the_address(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await register(client)
    assert user["emailVerified"] is False
    await delivered(app)
    link = mailbox.last_link("ada@example.com")
    assert link.startswith("https://auth.example.com/verify-email?key=")
    response = await _verify(client, key_of(link))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["emailVerified"] is True
    pair = await login(client)
    me = await client.get("/auth/me", headers=bearer(pair["accessToken"]))
    assert me.json()["emailVerified"] is True
    assert _claims(app, pair["accessToken"])["email_verified"] is True


async def test_the_database_holds_only_a_hash_of_the_link(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    await delivered(app)
    key = key_of(mailbox.last_link("ada@example.com"))
    db = (runtime_of(app).settings.state_dir / "authgate.db").read_bytes()
    assert key.encode() not in db


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("replayed", id="replayed"),
        pytest.param("altered", id="altered"),
        pytest.param("expired", id="expired"),
        pytest.param("garbage", id="garbage"),
    ],
)
async def test_a_bad_link_is_refused_alike(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox, clock: FrozenClock, attack: str
) -> None:
    await register(client)
    await delivered(app)
    key = key_of(mailbox.last_link("ada@example.com"))
    if attack == "replayed":
        assert (await _verify(client, key)).status_code == 200
    elif attack == "altered":
        key = key[:-1] + ("A" if key[-1] != "A" else "B")
    elif attack == "expired":
        clock.advance(runtime_of(app).settings.email_verification_ttl + 1)
    else:
        key = "not-a-key"
    response = await _verify(client, key)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid link"


async def test_email_change_takes_effect_only_when_the_new_address_confirms(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    pair = await login(client)
    auth = bearer(pair["accessToken"])
    wrong = await client.post(
        "/auth/email/change", json={"newEmail": "new@example.com", "password": "nope"}, headers=auth
    )
    assert wrong.status_code == 401
    asked = await client.post(
        "/auth/email/change",
        json={"newEmail": "new@example.com", "password": PASSWORD},
        headers=auth,
    )
    assert asked.status_code == 202, asked.text
    await delivered(app)
    me = await client.get("/auth/me", headers=auth)
    assert me.json()["email"] == "ada@example.com"
    confirmed = await _verify(client, key_of(mailbox.last_link("new@example.com")))
    assert confirmed.status_code == 200
    assert confirmed.json()["user"]["email"] == "new@example.com"
    assert confirmed.json()["user"]["emailVerified"] is True
    relogin = await client.post(
        "/auth/login", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert relogin.status_code == 200


async def test_email_change_to_a_taken_address_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    await register(client, "bob@example.com")
    pair = await login(client)
    response = await client.post(
        "/auth/email/change",
        json={"newEmail": "bob@example.com", "password": PASSWORD},
        headers=bearer(pair["accessToken"]),
    )
    assert response.status_code == 409


async def test_a_link_for_an_old_address_proves_nothing_after_a_change(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    await delivered(app)
    old_key = key_of(mailbox.last_link("ada@example.com"))
    pair = await login(client)
    await client.post(
        "/auth/email/change",
        json={"newEmail": "new@example.com", "password": PASSWORD},
        headers=bearer(pair["accessToken"]),
    )
    await delivered(app)
    assert (await _verify(client, key_of(mailbox.last_link("new@example.com")))).status_code == 200
    stale = await _verify(client, old_key)
    assert stale.status_code == 400


@pytest.mark.parametrize("account_options", [{"require_verified_email": True}])
async def test_required_verification_refuses_sign_in_until_verified(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client)
    refused = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "Email not verified"
    wrong = await client.post("/auth/login", json={"email": "ada@example.com", "password": "x"})
    assert wrong.status_code == 401  # the wrong password still looks like any other
    await delivered(app)
    await _verify(client, key_of(mailbox.last_link("ada@example.com")))
    assert (await login(client))["user"]["emailVerified"] is True
