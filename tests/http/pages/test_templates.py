"""The pages hold under a strict CSP: no inline script, style or event handlers."""

from __future__ import annotations

import re
from importlib import resources

import httpx
import pytest

from tests.http.pages.forms import sign_up

TEMPLATES = sorted(
    entry.name
    for entry in resources.files("authgate").joinpath("templates").iterdir()
    if entry.name.endswith(".html")
)
INLINE = re.compile(
    r"<script(?![^>]*\ssrc=\"/static/)|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE
)


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_have_no_inline_script_or_style(name: str) -> None:
    text = resources.files("authgate").joinpath("templates", name).read_text()
    assert INLINE.search(text) is None


@pytest.mark.parametrize("path", ["/login", "/register", "/auth/error", "/account"])
async def test_pages_are_served_with_the_strict_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    await sign_up(client)
    if path != "/account":
        client.cookies.clear()
    page = await client.get(path)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-store"
    # Not "no-referrer": it would make browsers send "Origin: null" with form posts.
    assert page.headers["referrer-policy"] == "same-origin"
    assert '<html lang="en">' in page.text
    assert '<link rel="stylesheet" href="/static/style.css">' in page.text


async def test_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in response.text
