"""Each way a cross-site or token-less form post is refused (OWASP ASVS V3.5)."""

from __future__ import annotations

import httpx
import pytest

from authgate.http.pages import (
    FORM_PATHS,
    account,
    approvals,
    apps,
    authorize,
    failures,
    login,
    recovery,
    second_factor,
    security,
)
from tests.conftest import PASSWORD
from tests.http.pages.forms import ORIGIN, form_token, sign_up

CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


def test_every_form_target_is_listed_for_the_csrf_middleware() -> None:
    posts = {path for path, methods in _routes() if "POST" in methods}
    # The authorization request (RFC 6749 s3.1) is no form of ours: it carries no token.
    assert posts - {"/oauth2/authorize"} == set(FORM_PATHS)


def _routes() -> list[tuple[str, set[str]]]:
    pages = (account, approvals, apps, authorize, failures, login, recovery, second_factor)
    modules = (*pages, security)
    routes = [r for module in modules for r in module.router.routes]
    return [(getattr(r, "path", ""), set(getattr(r, "methods", None) or ())) for r in routes]


async def test_same_site_form_with_its_token_is_accepted(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    token = await form_token(client)
    response = await client.post(
        "/login", data={"csrf_token": token, **CREDENTIALS}, headers=ORIGIN
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("field", "headers"),
    [
        pytest.param(None, ORIGIN, id="no-token-field"),
        pytest.param("A" * 43, ORIGIN, id="wrong-token"),
        pytest.param("", ORIGIN, id="empty-token"),
        pytest.param("TOKEN", {"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param("TOKEN", {"Origin": "http://testserver.evil.example"}, id="suffix-origin"),
        pytest.param("TOKEN", {"Origin": "null"}, id="null-origin"),
        pytest.param("TOKEN", {"Referer": "https://evil.example/login"}, id="foreign-referer"),
        pytest.param("TOKEN", {}, id="no-origin-no-referer"),
    ],
)
async def test_sign_in_form_refuses_cross_site_or_tokenless_posts(
    client: httpx.AsyncClient, field: str | None, headers: dict[str, str]
) -> None:
    await sign_up(client)
    client.cookies.delete("access_token")
    client.cookies.delete("refresh_token")
    token = await form_token(client)
    data = dict(CREDENTIALS)
    if field is not None:
        data["csrf_token"] = token if field == "TOKEN" else field
    response = await client.post("/login", data=data, headers=headers)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert "access_token" not in response.headers.get("set-cookie", "")


async def test_referer_from_this_site_stands_in_for_a_missing_origin(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    client.cookies.clear()
    token = await form_token(client)
    response = await client.post(
        "/login",
        data={"csrf_token": token, **CREDENTIALS},
        headers={"Referer": "http://testserver/login"},
    )
    assert response.status_code == 303


async def test_token_without_its_cookie_is_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    token = await form_token(client)
    client.cookies.delete("form_csrf")
    response = await client.post(
        "/login", data={"csrf_token": token, **CREDENTIALS}, headers=ORIGIN
    )
    assert response.status_code == 403


async def test_form_cookie_is_httponly_and_strict(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("form_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


async def test_secure_mode_uses_a_host_prefixed_cookie(settings_factory: object) -> None:
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(cookie_secure=True))  # type: ignore[operator]
    async with lifespan(app), client_for(app, base_url="https://testserver") as secure:
        cookie = (await secure.get("/login")).headers["set-cookie"]
    assert cookie.startswith("__Host-form_csrf=")
    assert "Secure" in cookie
    assert "Path=/" in cookie


@pytest.mark.parametrize("path", [path for path in FORM_PATHS if path != "/login"])
async def test_every_other_form_refuses_a_post_without_token(
    client: httpx.AsyncClient, path: str
) -> None:
    await sign_up(client)
    response = await client.post(path, data={"session": "x"}, headers=ORIGIN)
    assert response.status_code == 403
    account = await client.get("/account")
    assert account.status_code == 200, "the signed-in session must survive"
