"""User administration over /api/admin/users: effective at once, data erased, roles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from authgate.storage.models import AuditEvent
from tests.accounts.conftest import runtime_of
from tests.conftest import PASSWORD, bearer, login, register

BASE = "/api/admin/users"


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    await runtime_of(app).users.create("root@example.com", PASSWORD, roles=["admin"])
    return bearer((await login(client, "root@example.com"))["accessToken"])


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, Any]:
    user = await register(client)
    return {"user": user, **(await login(client))}


async def test_a_plain_user_cannot_administer(
    client: httpx.AsyncClient, ada: dict[str, Any]
) -> None:
    response = await client.get(BASE, headers=bearer(ada["accessToken"]))
    assert response.status_code == 403
    assert 'scope="manage_users"' in response.headers["www-authenticate"]


async def test_list_searches_by_email(
    client: httpx.AsyncClient, admin: dict[str, str], ada: dict[str, Any]
) -> None:
    everyone = (await client.get(BASE, headers=admin)).json()["users"]
    assert {u["email"] for u in everyone} == {"root@example.com", "ada@example.com"}
    found = (await client.get(BASE, params={"q": "ADA"}, headers=admin)).json()["users"]
    assert [u["email"] for u in found] == ["ada@example.com"]
    wildcard = (await client.get(BASE, params={"q": "%"}, headers=admin)).json()["users"]
    assert wildcard == []


async def test_disable_refuses_every_token_on_the_next_request(
    client: httpx.AsyncClient, admin: dict[str, str], ada: dict[str, Any]
) -> None:
    user_id = ada["user"]["id"]
    response = await client.post(f"{BASE}/{user_id}/disable", headers=admin)
    assert response.status_code == 200
    assert response.json()["revokedSessions"] == 1
    assert (await client.get("/auth/me", headers=bearer(ada["accessToken"]))).status_code == 401
    refresh = await client.post("/auth/refresh", json={"refreshToken": ada["refreshToken"]})
    assert refresh.status_code == 401
    sign_in = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert sign_in.status_code == 401
    assert (await client.post(f"{BASE}/{user_id}/enable", headers=admin)).status_code == 200
    assert (await login(client))["user"]["id"] == user_id


async def test_delete_erases_personal_data_and_keeps_a_pseudonymous_audit(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], ada: dict[str, Any]
) -> None:
    user_id = ada["user"]["id"]
    response = await client.delete(f"{BASE}/{user_id}", headers=admin)
    assert response.status_code == 200, response.text
    pseudonym = response.json()["auditId"]
    assert pseudonym.startswith("deleted:")
    assert (await client.get("/auth/me", headers=bearer(ada["accessToken"]))).status_code == 401
    assert (await client.get(f"{BASE}/{user_id}", headers=admin)).status_code == 404
    runtime = runtime_of(app)
    tombstone = await runtime.store.user_by_id(user_id)
    assert tombstone is not None
    assert (tombstone.email.endswith(".invalid"), tombstone.name, tombstone.password_hash) == (
        True,
        None,
        None,
    )
    events = await runtime.store.recent_audit(limit=100)
    assert all(e.user_id != user_id for e in events)
    assert any(e.user_id == pseudonym and e.event == "user.registered" for e in events)
    assert all("ada@example.com" not in str(e.detail) for e in events if isinstance(e, AuditEvent))
    # The address is free again.
    assert (await register(client))["id"] != user_id


async def test_set_roles_changes_permissions_and_refuses_unknown_roles(
    client: httpx.AsyncClient, admin: dict[str, str], ada: dict[str, Any]
) -> None:
    user_id = ada["user"]["id"]
    bad = await client.put(f"{BASE}/{user_id}/roles", json={"roles": ["god"]}, headers=admin)
    assert bad.status_code == 400
    up = await client.put(f"{BASE}/{user_id}/roles", json={"roles": ["admin"]}, headers=admin)
    assert up.status_code == 200
    assert "manage_users" in up.json()["user"]["permissions"]
    # Removing a role ends the sessions whose tokens still carry it.
    assert (await client.get("/auth/me", headers=bearer(ada["accessToken"]))).status_code == 401


async def test_force_logout(
    client: httpx.AsyncClient, admin: dict[str, str], ada: dict[str, Any]
) -> None:
    response = await client.post(f"{BASE}/{ada['user']['id']}/logout", headers=admin)
    assert response.json()["revokedSessions"] == 1
    assert (await client.get("/auth/me", headers=bearer(ada["accessToken"]))).status_code == 401
    assert (await login(client))["user"]["email"] == "ada@example.com"


async def test_unknown_user_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.post(f"{BASE}/nope/disable", headers=admin)).status_code == 404
