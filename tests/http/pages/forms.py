"""Submitting the HTML forms the way a browser does: token from the page, same Origin."""

from __future__ import annotations

import re
from typing import Any

import httpx

ORIGIN = {"Origin": "http://testserver"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def form_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    match = _TOKEN.search(page.text)
    assert match is not None, page.text
    return match.group(1)


async def submit(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    *,
    page: str = "/login",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    token = await form_token(client, page)
    return await client.post(
        path, data={"csrf_token": token, **data}, headers=headers or ORIGIN, **kwargs
    )


async def sign_up(client: httpx.AsyncClient, email: str = "ada@example.com") -> httpx.Response:
    from tests.conftest import PASSWORD

    response = await submit(
        client, "/register", {"email": email, "password": PASSWORD}, page="/register"
    )
    assert response.status_code == 303, response.text
    return response


async def sign_in(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str | None = None
) -> httpx.Response:
    from tests.conftest import PASSWORD

    return await submit(client, "/login", {"email": email, "password": password or PASSWORD})
