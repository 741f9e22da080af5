"""The client address behind trusted proxies: right-most untrusted hop, spoofing ignored."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from authgate.http.credentials import client_ip
from authgate.http.proxies import TrustedProxyMiddleware, parse_forwarded, resolve_client

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        pytest.param("203.0.113.1", ["1.1.1.1"], "203.0.113.1", id="untrusted-peer-ignores-header"),
        pytest.param("10.0.0.1", [], "10.0.0.1", id="trusted-peer-no-header"),
        pytest.param("10.0.0.1", ["198.51.100.1"], "198.51.100.1", id="one-hop"),
        pytest.param(
            "10.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1", id="spoofed-left-ignored"
        ),
        pytest.param(
            "10.0.0.1", ["198.51.100.1", "10.0.0.2"], "198.51.100.1", id="two-trusted-hops"
        ),
        pytest.param("10.0.0.1", ["10.0.0.3", "10.0.0.2"], "10.0.0.3", id="all-trusted"),
        pytest.param("10.0.0.1", ["garbage"], "10.0.0.1", id="unreadable-hop-stops"),
        pytest.param(
            "10.0.0.1", ["198.51.100.1", "garbage"], "10.0.0.1", id="unreadable-then-spoof"
        ),
        pytest.param("10.0.0.1", ["198.51.100.1:4711"], "198.51.100.1", id="ipv4-with-port"),
        pytest.param("10.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1", id="ipv6-with-port"),
        pytest.param("10.0.0.1", ["2001:DB8::1"], "2001:db8::1", id="ipv6-normalised"),
        pytest.param("2001:db8:ffff::1", ["198.51.100.1"], "198.51.100.1", id="ipv6-trusted-peer"),
    ],
)
def test_resolve_client(peer: str, chain: list[str], expected: str) -> None:
    assert resolve_client(peer, chain, TRUSTED) == expected


def test_parse_forwarded_reads_for_nodes_of_every_element() -> None:
    values = ['for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"']
    assert parse_forwarded(values) == ["192.0.2.60", '"[2001:db8:cafe::17]:4711"']
    assert resolve_client("10.0.0.1", parse_forwarded(values), TRUSTED) == "2001:db8:cafe::17"


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    await JSONResponse({"ip": client_ip(request), "scheme": scope["scheme"]})(scope, receive, send)


async def _seen(peer: str, headers: dict[str, str], **options: Any) -> Any:
    app = TrustedProxyMiddleware(_echo, trusted=["10.0.0.0/8"], **options)
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get("/", headers=headers)).json()


@pytest.mark.parametrize(
    ("peer", "headers", "options", "expected"),
    [
        pytest.param(
            "10.0.0.5",
            {"x-forwarded-for": "6.6.6.6, 198.51.100.4", "x-forwarded-proto": "https"},
            {},
            {"ip": "198.51.100.4", "scheme": "https"},
            id="xff-and-proto-from-trusted",
        ),
        pytest.param(
            "203.0.113.9",
            {"x-forwarded-for": "198.51.100.4", "x-forwarded-proto": "https"},
            {},
            {"ip": "203.0.113.9", "scheme": "http"},
            id="untrusted-peer-unchanged",
        ),
        pytest.param(
            "10.0.0.5",
            {"forwarded": "for=198.51.100.4", "x-forwarded-for": "6.6.6.6"},
            {"header": "forwarded"},
            {"ip": "198.51.100.4", "scheme": "http"},
            id="forwarded-configured-ignores-xff",
        ),
        pytest.param(
            "10.0.0.5",
            {"forwarded": "for=6.6.6.6"},
            {},
            {"ip": "10.0.0.5", "scheme": "http"},
            id="xff-configured-ignores-forwarded",
        ),
    ],
)
async def test_middleware_rewrites_the_client_only_for_trusted_peers(
    peer: str, headers: dict[str, str], options: dict[str, Any], expected: dict[str, str]
) -> None:
    assert await _seen(peer, headers, **options) == expected


@pytest.mark.parametrize("value", ["not-an-ip", "10.0.0.0/33", "example.com"])
def test_bad_trusted_proxy_setting_is_refused(
    settings_factory: Callable[..., Any], value: str
) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        settings_factory(trusted_proxies=value)
