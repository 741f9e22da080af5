"""Redirect URIs: which may be registered, and how a presented one is matched.

Registration (RFC 8252 s7, RFC 9700 s4.1.1, OAuth 2.1 s2.3.1): ``https`` on any host,
``http`` only on a loopback address (s7.3), or a private-use scheme named after a domain
the app controls (s7.1, ``com.example.app:/cb``). No fragment (RFC 6749 s3.1.2), no
wildcard, no userinfo, nothing like ``javascript:`` or ``data:``.

Matching (RFC 9700 s4.1.3, OAuth 2.1 s4.1.1): an exact string comparison with a
registered URI; the one exception is a loopback URI, whose port may differ (RFC 8252 s7.3).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from authgate.authserver.errors import ClientMetadataError

__all__ = ["MAX_REDIRECT_URIS", "check_redirect_uri", "is_loopback_http", "redirect_matches"]

MAX_REDIRECT_URIS = 10
_MAX_LENGTH = 2048
# RFC 8252 s8.3 recommends the IP literals; "localhost" is what most MCP clients send.
_LOOPBACK = re.compile(r"^(127\.0\.0\.1|\[::1\]|localhost)(:[0-9]{1,5})?$")
# RFC 8252 s7.1: a reverse domain name, so at least one dot.
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+\-]*(\.[a-z0-9+\-]+)+$")
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})


def _bad(message: str) -> ClientMetadataError:
    return ClientMetadataError(message, error="invalid_redirect_uri")


def is_loopback_http(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and bool(_LOOPBACK.match(parts.netloc))


def check_redirect_uri(uri: object) -> str:
    """``uri`` if it may be registered, else ``invalid_redirect_uri`` (RFC 7591 s3.2.2)."""
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_LENGTH:
        raise _bad("A redirect URI must be a string of at most 2048 characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in uri) or "*" in uri or "\\" in uri:
        raise _bad("A redirect URI may not contain spaces, controls, '*' or '\\'")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise _bad("A redirect URI must be an absolute URI") from exc
    if "#" in uri:
        raise _bad("A redirect URI must not contain a fragment (RFC 6749 s3.1.2)")
    scheme = parts.scheme
    if not scheme or scheme in _FORBIDDEN_SCHEMES:
        raise _bad("A redirect URI must be https, loopback http, or a private-use scheme")
    if scheme == "https":
        if not parts.hostname or "@" in parts.netloc:
            raise _bad("An https redirect URI needs a host and no user information")
        return uri
    if scheme == "http":
        if not is_loopback_http(uri):
            raise _bad("http is allowed only on a loopback address (RFC 8252 s7.3)")
        return uri
    if not _PRIVATE_SCHEME.match(scheme):
        raise _bad("A private-use scheme must be a reverse domain name (RFC 8252 s7.1)")
    if parts.netloc:
        raise _bad("A private-use scheme redirect URI has no authority (RFC 8252 s7.1)")
    return uri


def _without_port(uri: str) -> str | None:
    # On the raw string, so nothing is normalised away (an empty "?" still counts).
    if not uri.startswith("http://"):
        return None
    rest = uri[len("http://") :]
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    match = _LOOPBACK.match(rest[:end])
    return None if match is None else f"http://{match.group(1)}{rest[end:]}"


def redirect_matches(registered: list[str], presented: str) -> bool:
    """Whether ``presented`` is one of ``registered``, exactly, or a loopback one on any port."""
    if presented in registered:
        return True
    if "#" in presented:
        return False
    bare = _without_port(presented)
    if bare is None:
        return False
    return any(_without_port(uri) == bare for uri in registered if is_loopback_http(uri))
