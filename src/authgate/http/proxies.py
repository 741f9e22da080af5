"""The real client address behind trusted reverse proxies.

``X-Forwarded-For`` (or RFC 7239 ``Forwarded``, whichever the proxy is configured to
append) is read only when the socket peer is in ``AUTHGATE_TRUSTED_PROXIES``. Walking
the chain from the right, every hop that is a trusted proxy is skipped; the first one
that is not is the client. Anything left of it was written by the client and is ignored,
so a spoofed header can neither reset nor dodge a per-IP limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedProxyMiddleware", "parse_forwarded", "resolve_client"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "authgate.peer"


def _parse_ip(value: str) -> str | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # RFC 7239 s6: "[2001:db8::1]:443"
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # "192.0.2.1:8080"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def parse_forwarded(values: Iterable[str]) -> list[str]:
    """The ``for=`` nodes of RFC 7239 ``Forwarded`` header values, left to right."""
    nodes = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, node = pair.partition("=")
                if name.strip().lower() == "for":
                    nodes.append(node.strip())
    return nodes


def _parse_xff(values: Iterable[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def resolve_client(peer: str, chain: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The right-most address in ``chain`` + ``peer`` that is not a trusted proxy."""
    current = peer
    if not _is_trusted(current, trusted):
        return current
    for node in reversed(chain):
        address = _parse_ip(node)
        if address is None:
            # A hop we cannot read: stop at the last trusted proxy (stricter, never looser).
            return current
        current = address
        if not _is_trusted(current, trusted):
            return current
    return current


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class TrustedProxyMiddleware:
    """Rewrites ``scope["client"]`` (and ``scheme``) when the peer is a trusted proxy."""

    def __init__(
        self, app: ASGIApp, *, trusted: Iterable[str], header: str = "x-forwarded-for"
    ) -> None:
        self.app = app
        self._trusted = [ipaddress.ip_network(cidr, strict=False) for cidr in trusted]
        self._header = header.lower().encode("latin-1")
        self._forwarded = header.lower() == "forwarded"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._trusted:
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        client = scope.get("client")
        peer = client[0] if client else ""
        scope[PEER_KEY] = peer
        if not _is_trusted(peer, self._trusted):
            return
        values = [v.decode("latin-1") for k, v in scope["headers"] if k == self._header]
        chain = parse_forwarded(values) if self._forwarded else _parse_xff(values)
        address = resolve_client(peer, chain, self._trusted)
        scope["client"] = (address, 0)
        proto = _header(scope, b"x-forwarded-proto")
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text.rsplit(",", 1)[-1].strip().lower()
    return None
