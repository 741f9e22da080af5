"""Driving the authorization code flow the way a person's browser does, over HTTP.

``Browser.authorize(url)`` follows authgate's pages: the sign-in form when asked, then
the consent form (Allow or Deny), until authgate redirects off-site to the client's
redirect URI, whose query it returns. Used in-process and against real servers.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]*)"')


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 s4.1, s4.2: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Outcome:
    """Where authgate sent the browser: the client's redirect URI and its parameters."""

    location: str
    params: dict[str, str]
    pages: list[str] = field(default_factory=list)  # the authgate pages shown on the way

    @property
    def code(self) -> str:
        return self.params["code"]


def csrf_of(html: str) -> str:
    match = _TOKEN.search(html)
    assert match is not None, html[:2000]
    return match.group(1)


class Browser:
    def __init__(self, client: httpx.AsyncClient, *, email: str, password: str = PASSWORD):
        self.client = client
        self.email = email
        self.password = password
        self.origin = f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"

    def _on_site(self, url: str) -> bool:
        parts = urlsplit(url)
        return not parts.scheme or f"{parts.scheme}://{parts.netloc}" == self.origin

    async def authorize(self, url: str, *, decision: str = "allow", max_steps: int = 10) -> Outcome:
        pages: list[str] = []
        response = await self.client.get(url)
        for _ in range(max_steps):
            if response.status_code in (302, 303):
                location = urljoin(str(response.request.url), response.headers["location"])
                if not self._on_site(location):
                    return _outcome(location, pages)
                response = await self.client.get(location)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:2000])
            path = response.request.url.path
            pages.append(path)
            if path == "/login":
                response = await self._sign_in(response)
            elif 'action="/oauth2/consent"' in response.text:
                pages[-1] = "consent"
                response = await self.consent(response.text, decision)
            else:
                raise AssertionError(f"unexpected page {path}: {response.text[:500]}")
        raise AssertionError("too many steps")

    async def _sign_in(self, page: httpx.Response) -> httpx.Response:
        next_path = parse_qs(urlsplit(str(page.request.url)).query).get("next", ["/account"])[0]
        return await self.client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "email": self.email,
                "password": self.password,
                "next": next_path,
            },
            headers={"Origin": self.origin},
        )

    async def consent(self, html: str, decision: str, **extra: Any) -> httpx.Response:
        match = _REQUEST.search(html)
        assert match is not None
        data = {
            "csrf_token": csrf_of(html),
            "request": unescape(match.group(1)),
            "decision": decision,
        }
        return await self.client.post(
            "/oauth2/consent", data={**data, **extra}, headers={"Origin": self.origin}
        )


def _outcome(location: str, pages: list[str]) -> Outcome:
    query = urlsplit(location).query
    return Outcome(location, {k: v[0] for k, v in parse_qs(query).items()}, pages)


def authorize_url(base: str = "", **params: str) -> str:
    return f"{base}/oauth2/authorize?{urlencode(params)}"
