from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.http.app import create_app
from authgate.runtime import Runtime
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.accounts.mailbox import Mailbox, smtp_server


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
