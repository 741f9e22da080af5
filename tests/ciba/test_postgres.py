"""Approvals on PostgreSQL shared by two authgate instances: the auth_req_id is spent
once, the approval token is redeemed once, and a request is decided once, whichever
instance is asked (one conditional UPDATE each)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.errors import ApprovalConflictError
from authgate.http.app import create_app
from authgate.secretstrength import generate_secret
from authgate.testing import FrozenClock, client_for, lifespan, make_settings
from tests.ciba.conftest import PAY, ask, make_agent, poll
from tests.conftest import register
from tests.scaleout.infra import REDIS_URL, postgres_database, redis_prefix


@pytest.fixture
def backends() -> Iterator[dict[str, Any]]:
    secrets = {"jwt_access_secret": generate_secret(), "jwt_refresh_secret": generate_secret()}
    with postgres_database() as url, redis_prefix() as prefix:
        yield {"database_url": url, "redis_url": REDIS_URL, "redis_key_prefix": prefix, **secrets}


@pytest.fixture
async def two(
    tmp_path: Path, clock: FrozenClock, backends: dict[str, Any]
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances: their own state directories, one database, the same secrets."""
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    first_dir.mkdir()
    second_dir.mkdir()
    one = create_app(make_settings(first_dir, auto_migrate=True, **backends), clock=clock)
    async with lifespan(one):
        two = create_app(make_settings(second_dir, **backends), clock=clock)
        async with lifespan(two):
            yield one, two


async def _setup(one: FastAPI, client: httpx.AsyncClient) -> tuple[Any, Any, str]:
    user = await register(client)
    made = await one.state.authgate.authserver.resources.create(
        name="Payments", url=PAY, scopes=["pay"], authorization_details_types=["tool_call"]
    )
    agent = await make_agent(one)
    asked = await ask(client, agent)
    assert asked.status_code == 200, asked.text
    return user, (agent, made), str(asked.json()["auth_req_id"])


async def test_single_use_across_two_instances(two: tuple[FastAPI, FastAPI]) -> None:
    one, other = two
    async with client_for(one) as a, client_for(other) as b:
        user, (agent, made), auth_req_id = await _setup(one, a)
        # Approve on one instance; both instances race for the token: one wins.
        (pending,) = await other.state.authgate.approvals.pending_for(user["id"])
        await one.state.authgate.approvals.approve(pending.id, user_id=user["id"])
        first, second = await asyncio.gather(
            poll(a, agent, auth_req_id), poll(b, agent, auth_req_id)
        )
        assert sorted([first.status_code, second.status_code]) == [200, 400]
        winner = first if first.status_code == 200 else second
        token = winner.json()["access_token"]
        # The resource redeems on one instance, a replay goes to the other: 409.
        auth = (made.resource.client_id, made.secret)
        redeemed = await a.post("/oauth2/approvals/redeem", data={"token": token}, auth=auth)
        assert redeemed.status_code == 200, redeemed.text
        replay = await b.post("/oauth2/approvals/redeem", data={"token": token}, auth=auth)
        assert replay.status_code == 409
        assert replay.json()["error"] == "already_used"


async def test_concurrent_redemptions_have_one_winner(two: tuple[FastAPI, FastAPI]) -> None:
    one, other = two
    async with client_for(one) as a, client_for(other) as b:
        user, (agent, made), auth_req_id = await _setup(one, a)
        (pending,) = await one.state.authgate.approvals.pending_for(user["id"])
        await one.state.authgate.approvals.approve(pending.id, user_id=user["id"])
        token = (await poll(a, agent, auth_req_id)).json()["access_token"]
        auth = (made.resource.client_id, made.secret)
        answers = await asyncio.gather(
            *(
                c.post("/oauth2/approvals/redeem", data={"token": token}, auth=auth)
                for c in (a, b, a, b)
            )
        )
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]


async def test_approve_and_deny_race_has_one_winner(two: tuple[FastAPI, FastAPI]) -> None:
    one, other = two
    async with client_for(one) as a:
        user, _, _ = await _setup(one, a)
        (pending,) = await one.state.authgate.approvals.pending_for(user["id"])
        outcomes = await asyncio.gather(
            one.state.authgate.approvals.approve(pending.id, user_id=user["id"]),
            other.state.authgate.approvals.deny(pending.id, user_id=user["id"]),
            return_exceptions=True,
        )
        conflicts = [o for o in outcomes if isinstance(o, ApprovalConflictError)]
        assert len(conflicts) == 1
        assert outcomes.count(None) == 1
