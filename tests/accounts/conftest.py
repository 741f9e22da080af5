from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.runtime import Runtime
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.accounts.mailbox import Mailbox, smtp_server
from tests.conftest import bearer, login, register


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with smtp_server(tmp_path) as box:
        yield box


@pytest.fixture
def account_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def app(
    tmp_path: Path, mailbox: Mailbox, clock: FrozenClock, account_options: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        tmp_path,
        smtp_url=mailbox.url,
        smtp_ca_file=mailbox.ca_file,
        public_url="https://auth.example.com",
        **account_options,
    )
    application = create_app(settings, clock=clock)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, headers={"user-agent": "pytest-agent/1.0"}) as c:
        yield c


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.authgate
    return runtime


async def delivered(app: FastAPI) -> None:
    """Wait for the background mails of the requests so far."""
    await runtime_of(app).outbox.drain()


class Enrolled:
    def __init__(self, secret: str, codes: list[str], clock: FrozenClock) -> None:
        self.totp = pyotp.TOTP(secret)
        self.codes = codes
        self.clock = clock

    def code(self) -> str:
        return self.totp.at(int(self.clock()))


@pytest.fixture
async def enrolled(app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock) -> Enrolled:
    await register(client)
    auth = bearer((await login(client))["accessToken"])
    begun = await client.post("/auth/mfa/totp", headers=auth)
    assert begun.status_code == 200, begun.text
    body = begun.json()
    assert body["otpauthUri"].startswith("otpauth://totp/")
    assert body["qrSvg"].lstrip().startswith("<?xml") or "<svg" in body["qrSvg"]
    assert begun.headers["cache-control"] == "no-store"
    secret = body["secret"]
    wrong = await client.post("/auth/mfa/totp/confirm", json={"code": "000000"}, headers=auth)
    assert wrong.status_code == 401
    code = pyotp.TOTP(secret).at(int(clock()))
    confirmed = await client.post("/auth/mfa/totp/confirm", json={"code": code}, headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recoveryCodes"]
    assert len(codes) == 10
    clock.advance(30)  # the next step: the enrolment code is spent
    return Enrolled(secret, codes, clock)
