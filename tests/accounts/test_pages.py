"""The account pages as forms (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from tests.accounts.conftest import Enrolled, delivered, runtime_of
from tests.accounts.mailbox import Mailbox, key_of
from tests.conftest import PASSWORD
from tests.http.pages.forms import ORIGIN, form_token, submit

_MFA_TOKEN = re.compile(r'name="mfa_token" value="([^"]+)"')


async def _password_step(client: httpx.AsyncClient) -> str:
    client.cookies.clear()
    page = await submit(client, "/login", {"email": "ada@example.com", "password": PASSWORD})
    assert page.status_code == 200, page.text
    match = _MFA_TOKEN.search(page.text)
    assert match is not None
    return match.group(1)


async def test_the_second_step_page_locks_after_repeated_wrong_codes(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled
) -> None:
    token = await _password_step(client)
    csrf = await form_token(client)
    form = {"csrf_token": csrf, "mfa_token": token, "next": "/account"}
    for _ in range(runtime_of(app).settings.mfa_max_failures):
        wrong = await client.post("/login/mfa", data={**form, "code": "123456"}, headers=ORIGIN)
        assert wrong.status_code == 400
    locked = await client.post("/login/mfa", data={**form, "code": enrolled.code()}, headers=ORIGIN)
    assert locked.status_code == 429
    assert "Too many wrong codes" in locked.text


async def test_the_second_step_page_signs_in_with_a_code(
    client: httpx.AsyncClient, enrolled: Enrolled
) -> None:
    token = await _password_step(client)
    done = await submit(
        client, "/login/mfa", {"mfa_token": token, "code": enrolled.code(), "next": "/account"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/account"
    assert (await client.get("/account")).status_code == 200


async def test_forgot_password_page_answers_alike(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await submit(
        client, "/register", {"email": "ada@example.com", "password": PASSWORD}, page="/register"
    )
    client.cookies.clear()
    known = await submit(client, "/forgot-password", {"email": "ada@example.com"})
    unknown = await submit(client, "/forgot-password", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    strip = re.compile(r'value="[A-Za-z0-9_-]{43}"')
    assert strip.sub("", known.text) == strip.sub("", unknown.text)
    await delivered(app)
    key = key_of(mailbox.last_link("ada@example.com"))
    prefetched = await client.get(f"/reset-password?key={key}")
    assert prefetched.status_code == 200  # a GET shows the form and spends nothing
    reset = await submit(
        client, "/reset-password", {"key": key, "password": "a new long passphrase"}
    )
    assert reset.status_code == 303
    again = await client.get(f"/reset-password?key={key}")
    assert again.status_code == 400
