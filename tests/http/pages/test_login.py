"""The sign-in and registration forms over HTTP: cookies, redirects, messages."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.http.pages.forms import ORIGIN, form_token, sign_in, sign_up, submit


async def test_sign_in_sets_the_auth_cookies_and_goes_to_next(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    response = await submit(
        client, "/login", {"email": "ADA@example.com", "password": PASSWORD, "next": "/api/x"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/api/x"
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("access_token=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("refresh_token=") and "HttpOnly" in c for c in cookies)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("https://evil.example/", id="absolute"),
        pytest.param("//evil.example/", id="protocol-relative"),
        pytest.param("/\\evil.example", id="backslash"),
    ],
)
async def test_sign_in_never_redirects_off_site(client: httpx.AsyncClient, target: str) -> None:
    await sign_up(client)
    client.cookies.clear()
    response = await submit(
        client, "/login", {"email": "ada@example.com", "password": PASSWORD, "next": target}
    )
    assert response.headers["location"] == "/account"


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    client.cookies.clear()
    wrong = await sign_in(client, "ada@example.com", "not the password")
    unknown = await sign_in(client, "bob@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    for response in (wrong, unknown):
        assert '<div class="alert" role="alert" id="form-error">' in response.text
        assert "Invalid email or password" in response.text
        assert "not the password" not in response.text
        assert "access_token" not in response.headers.get("set-cookie", "")


async def test_submitted_email_is_escaped_when_shown_again(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, '"><script>alert(1)</script>', "x")
    assert "<script>alert(1)</script>" not in response.text
    assert "&#34;&gt;&lt;script&gt;" in response.text


async def test_signed_in_browser_skips_the_form(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    response = await client.get("/login", params={"next": "/api/x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/api/x"


async def test_register_signs_the_new_account_in(client: httpx.AsyncClient) -> None:
    response = await sign_up(client)
    assert response.headers["location"] == "/account"
    assert (await client.get("/account")).status_code == 200


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        pytest.param("not-an-email", PASSWORD, "Enter a valid email address.", id="bad-email"),
        pytest.param("ada@example.com", "short", "at least 15 characters", id="short-password"),
        pytest.param("ada@example.com", "1q2w3e4r5t6y7u8i", "too common", id="common-password"),
    ],
)
async def test_register_explains_what_to_fix(
    client: httpx.AsyncClient, email: str, password: str, message: str
) -> None:
    response = await submit(
        client, "/register", {"email": email, "password": password}, page="/register"
    )
    assert response.status_code == 400
    assert message in response.text


async def test_register_with_a_taken_email_says_so(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    again = await submit(
        client, "/register", {"email": "ada@example.com", "password": PASSWORD}, page="/register"
    )
    assert again.status_code == 409
    assert "already exists" in again.text


@pytest.fixture
def closed(settings_factory: object) -> object:
    return settings_factory(registration_enabled=False)  # type: ignore[operator]


async def test_register_page_is_gone_when_registration_is_closed(
    settings_factory: object,
) -> None:
    from authgate.http.app import create_app
    from authgate.testing import client_for, lifespan

    app = create_app(settings_factory(registration_enabled=False))  # type: ignore[operator]
    async with lifespan(app), client_for(app) as client:
        assert (await client.get("/register")).status_code == 404
        token = await form_token(client)
        posted = await client.post(
            "/register",
            data={"csrf_token": token, "email": "a@example.com", "password": PASSWORD},
            headers=ORIGIN,
        )
        login = await client.get("/login")
    assert posted.status_code == 404
    assert "Create an account" not in login.text


async def test_sign_out_ends_the_session_and_clears_cookies(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    token = await form_token(client, "/account")
    access = client.cookies["access_token"]
    response = await client.post("/logout", data={"csrf_token": token}, headers=ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=signed_out"
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 401
