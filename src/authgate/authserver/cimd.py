"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the MCP
authorization spec's preferred client identification, 2025-11-25 "Client Registration").

A ``client_id`` that is an https URL names a JSON document describing the client. It is
fetched here with server-side request forgery defences (RFC 9700 s4.1 is about redirects;
these are OWASP SSRF): https only; the host's every address must be public (no private,
loopback, link-local, multicast or reserved address), checked after DNS and then
connected to by that address, so DNS rebinding cannot swap it; no redirects at all; the
body bounded in bytes and the whole fetch in time; results cached. The document must
name itself (``client_id`` equal to its URL) and supplies the redirect URIs.

``allow_loopback`` lets tests serve documents over http on 127.0.0.1; settings refuse it
in production.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from authgate.authserver.errors import OAuthError
from authgate.authserver.redirects import MAX_REDIRECT_URIS, check_redirect_uri
from authgate.clock import Clock, system_clock

__all__ = ["MetadataDocuments", "MetadataDocumentError"]

_CACHE_SIZE = 1024
_GRANTS = frozenset({"authorization_code", "refresh_token"})


class MetadataDocumentError(OAuthError):
    error = "invalid_client"
    message = "The client metadata document could not be used"


def _public(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback and ip.is_loopback:
        return True
    return ip.is_global and not ip.is_multicast


class MetadataDocuments:
    def __init__(
        self,
        *,
        trusted_hosts: list[str],
        allow_loopback: bool = False,
        max_bytes: int = 5120,
        timeout: float = 3.0,
        cache_ttl: int = 300,
        clock: Clock = system_clock,
    ) -> None:
        self._trusted = frozenset(host.lower() for host in trusted_hosts)
        self._allow_loopback = allow_loopback
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, dict[str, Any], bool]] = OrderedDict()

    def handles(self, client_id: str) -> bool:
        if client_id.startswith("https://"):
            return True
        return self._allow_loopback and client_id.startswith("http://127.0.0.1:")

    async def resolve(self, url: str) -> tuple[dict[str, Any], bool]:
        cached = self._cache.get(url)
        if cached is not None and cached[0] > self._clock():
            return cached[1], cached[2]
        host = self._check_url(url)
        try:
            with anyio.fail_after(self._timeout):
                body = await self._fetch(url, host)
        except TimeoutError as exc:
            raise MetadataDocumentError("The client metadata document took too long") from exc
        except (httpx.HTTPError, OSError) as exc:  # refused, reset, TLS: never a 500
            raise MetadataDocumentError(
                "The client metadata document could not be fetched"
            ) from exc
        metadata = self._check_document(url, body)
        trusted = host in self._trusted
        self._remember(url, metadata, trusted)
        return metadata, trusted

    def _check_url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError as exc:
            raise MetadataDocumentError("Not a client metadata document URL") from exc
        loopback_http = self._allow_loopback and parts.scheme == "http"
        if parts.scheme != "https" and not loopback_http:
            raise MetadataDocumentError("A client metadata document URL must be https")
        if not parts.hostname or parts.username or parts.password or parts.fragment:
            raise MetadataDocumentError("A client metadata document URL needs a plain host")
        if parts.path in ("", "/") or "/./" in parts.path or "/../" in parts.path:
            raise MetadataDocumentError("A client metadata document URL needs a path")
        host = parts.hostname.lower()
        if self._trusted and host not in self._trusted:
            raise MetadataDocumentError("Client metadata documents from this host are not allowed")
        return host

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise MetadataDocumentError("The client metadata document host is unknown") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
        if not addresses or not all(_public(a, self._allow_loopback) for a in addresses):
            # Every address, not just the first: a resolver may hand out any of them.
            raise MetadataDocumentError("The client metadata document host is not public")
        return addresses

    async def _fetch(self, url: str, host: str) -> bytes:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = (await self._addresses(host, port))[0]
        literal = f"[{address}]" if ":" in address else address
        # Connect to the vetted address; the certificate is still checked for the name.
        target = parts._replace(netloc=f"{literal}:{port}").geturl()
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=self._timeout) as client,
            client.stream(
                "GET", target, headers=headers, extensions={"sni_hostname": host}
            ) as response,
        ):
            if response.is_redirect:
                raise MetadataDocumentError("The client metadata document URL redirects")
            if response.status_code != 200:
                raise MetadataDocumentError("The client metadata document was not found")
            return await self._bounded(response)

    async def _bounded(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise MetadataDocumentError("The client metadata document is too large")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise MetadataDocumentError("The client metadata document is too large")
        return bytes(body)

    def _check_document(self, url: str, body: bytes) -> dict[str, Any]:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MetadataDocumentError("The client metadata document is not JSON") from exc
        if not isinstance(document, dict) or document.get("client_id") != url:
            raise MetadataDocumentError("The client metadata document does not name itself")
        uris = document.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
            raise MetadataDocumentError("The client metadata document needs redirect_uris")
        for uri in uris:
            check_redirect_uri(uri)
        if (
            document.get("token_endpoint_auth_method", "none") != "none"
            or "client_secret" in document
        ):
            raise MetadataDocumentError("A metadata document client is public (auth method none)")
        grants = document.get("grant_types", ["authorization_code"])
        if not isinstance(grants, list) or not set(grants) <= _GRANTS:
            raise MetadataDocumentError("Only authorization_code and refresh_token grants")
        name = document.get("client_name")
        if name is not None and not isinstance(name, str):
            raise MetadataDocumentError("client_name must be a string")
        return document

    def _remember(self, url: str, metadata: dict[str, Any], trusted: bool) -> None:
        if self._cache_ttl <= 0:
            return
        self._cache[url] = (self._clock() + self._cache_ttl, metadata, trusted)
        self._cache.move_to_end(url)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
