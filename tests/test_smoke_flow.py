from __future__ import annotations

import httpx

from tests.conftest import bearer, login, register


async def test_register_login_chat_refresh_logout(client: httpx.AsyncClient) -> None:
    await register(client)
    pair = await login(client)
    assert pair["tokenType"] == "Bearer"
    assert pair["expiresIn"] == 900
    chat = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(pair["accessToken"])
    )
    assert chat.status_code == 200, chat.text
    new = await client.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert new.status_code == 200, new.text
    out = await client.post("/auth/logout", headers=bearer(new.json()["accessToken"]))
    assert out.status_code == 200
    again = await client.post(
        "/api/ai/chat", json={"message": "hi"}, headers=bearer(new.json()["accessToken"])
    )
    assert again.status_code == 401
    assert again.json() == {"error": "Authentication failed", "message": "Invalid or expired token"}
