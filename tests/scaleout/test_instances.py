"""Several authgate processes behave as one: they share PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.scaleout.conftest import ServerFactory
from tests.scaleout.infra import Server, wait_until

pytestmark = pytest.mark.e2e

UA = {"user-agent": "scaleout-agent/1.0"}


def register_and_login(server: Server, email: str = "ada@example.com") -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD}
    created = httpx.post(f"{server.url}/auth/register", json=body, headers=UA, timeout=10)
    assert created.status_code == 201, created.text
    return login(server, email)


def login(server: Server, email: str = "ada@example.com") -> dict[str, Any]:
    body = {"email": email, "password": PASSWORD}
    response = httpx.post(f"{server.url}/auth/login", json=body, headers=UA, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def chat(server: Server, access: str) -> httpx.Response:
    headers = {**UA, "authorization": f"Bearer {access}"}
    return httpx.post(f"{server.url}/api/ai/chat", json={"message": "hi"}, headers=headers)


def refresh(server: Server, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/auth/refresh", json={"refreshToken": token}, headers=UA, timeout=10
    )


def test_logout_on_one_instance_is_refused_on_another_within_one_second(
    shared_env: dict[str, str], start_server: ServerFactory
) -> None:
    a, b = start_server(shared_env), start_server(shared_env)
    pair = register_and_login(a)
    assert chat(b, pair["accessToken"]).status_code == 200
    logout = httpx.post(
        f"{a.url}/auth/logout", headers={**UA, "authorization": f"Bearer {pair['accessToken']}"}
    )
    assert logout.status_code == 200
    took = wait_until(lambda: chat(b, pair["accessToken"]).status_code == 401, timeout=1.0)
    assert took <= 1.0


def test_session_revoked_by_id_on_one_instance_is_refused_on_another(
    shared_env: dict[str, str], start_server: ServerFactory
) -> None:
    a, b = start_server(shared_env), start_server(shared_env)
    first = register_and_login(a)
    second = login(b)
    headers = {**UA, "authorization": f"Bearer {first['accessToken']}"}
    revoked = httpx.delete(f"{a.url}/auth/sessions/{second['sessionId']}", headers=headers)
    assert revoked.status_code == 200, revoked.text
    wait_until(lambda: chat(b, second["accessToken"]).status_code == 401, timeout=1.0)
    assert chat(b, first["accessToken"]).status_code == 200


async def _refresh_on_both(a: Server, b: Server, token: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=UA, timeout=10) as client:
        body = {"refreshToken": token}
        return list(
            await asyncio.gather(
                client.post(f"{a.url}/auth/refresh", json=body),
                client.post(f"{b.url}/auth/refresh", json=body),
            )
        )


def test_same_refresh_token_on_two_instances_gives_exactly_one_new_pair(
    shared_env: dict[str, str], start_server: ServerFactory
) -> None:
    a, b = start_server(shared_env), start_server(shared_env)
    pair = register_and_login(a)
    for _ in range(5):  # several rounds: each race has exactly one winner
        responses = asyncio.run(_refresh_on_both(a, b, pair["refreshToken"]))
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1, [r.status_code for r in responses]
        assert [r.status_code for r in responses if r.status_code != 200] == [401]
        pair = winners[0].json()
    assert refresh(b, pair["refreshToken"]).status_code == 200


@pytest.mark.parametrize("replay_on", ["first", "second"])
def test_replayed_refresh_token_is_reuse_on_either_instance(
    shared_env: dict[str, str], start_server: ServerFactory, replay_on: str
) -> None:
    shared_env = {**shared_env, "AUTHGATE_REFRESH_REUSE_GRACE": "0"}
    a, b = start_server(shared_env), start_server(shared_env)
    pair = register_and_login(a)
    rotated = refresh(a, pair["refreshToken"])
    assert rotated.status_code == 200
    newest = rotated.json()
    # A grace of 0 forgives nothing (measured exactly): no need to wait before replaying.
    replay_target = a if replay_on == "first" else b
    assert refresh(replay_target, pair["refreshToken"]).status_code == 401
    # Reuse revoked the whole session, including the newest pair, on both instances.
    assert refresh(b, newest["refreshToken"]).status_code == 401
    wait_until(lambda: chat(a, newest["accessToken"]).status_code == 401, timeout=1.0)
    wait_until(lambda: chat(b, newest["accessToken"]).status_code == 401, timeout=1.0)


def test_failed_logins_are_limited_across_instances(
    shared_env: dict[str, str], start_server: ServerFactory
) -> None:
    env = {**shared_env, "AUTHGATE_RATE_LIMIT_ENABLED": "true"}
    a, b = start_server(env), start_server(env)
    register_and_login(a)
    wrong = {"email": "ada@example.com", "password": "not the password at all"}
    statuses = [
        httpx.post(f"{(a, b)[i % 2].url}/auth/login", json=wrong, headers=UA).status_code
        for i in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429, "the sixth failure in total is limited, on either instance"


def test_restarting_every_instance_loses_no_session_and_no_revocation(
    shared_env: dict[str, str], start_server: ServerFactory, servers: list[Server]
) -> None:
    a, b = start_server(shared_env), start_server(shared_env)
    kept = register_and_login(a)
    ended = login(b)
    headers = {**UA, "authorization": f"Bearer {ended['accessToken']}"}
    assert httpx.post(f"{b.url}/auth/logout", headers=headers).status_code == 200
    for server in (a, b):
        server.stop()
    a2, b2 = start_server(shared_env), start_server(shared_env)
    for server in (a2, b2):
        assert chat(server, kept["accessToken"]).status_code == 200
        assert chat(server, ended["accessToken"]).status_code == 401
    assert refresh(b2, ended["refreshToken"]).status_code == 401
    assert refresh(a2, kept["refreshToken"]).status_code == 200


def test_workers_share_state_through_redis(
    shared_env: dict[str, str], start_server: ServerFactory
) -> None:
    """`authgate serve --workers 2`: a logout holds on whichever worker answers next."""
    server = start_server(shared_env, workers=2)
    pair = register_and_login(server)
    headers = {**UA, "authorization": f"Bearer {pair['accessToken']}"}
    assert httpx.post(f"{server.url}/auth/logout", headers=headers).status_code == 200
    time.sleep(0.2)  # no timing assertion: the pub/sub hop between workers
    # Many requests so both workers answer; every one of them refuses the token.
    statuses = {chat(server, pair["accessToken"]).status_code for _ in range(20)}
    assert statuses == {401}
