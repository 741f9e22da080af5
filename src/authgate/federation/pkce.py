"""PKCE, RFC 7636, restricted to the S256 method (RFC 9700 s2.1.1: ``plain`` adds nothing).

The verifier stays on the server side of the flow (inside the encrypted state cookie);
only its challenge goes to the provider in the authorization URL.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

__all__ = ["METHOD", "make_verifier", "s256_challenge"]

METHOD = "S256"
# RFC 7636 s4.1: 43 to 128 characters from the unreserved set.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def make_verifier(nbytes: int = 48) -> str:
    """A fresh verifier: ``nbytes`` random bytes, base64url (64 characters by default)."""
    verifier = secrets.token_urlsafe(nbytes)
    _check(verifier)
    return verifier


def s256_challenge(verifier: str) -> str:
    """RFC 7636 s4.2: BASE64URL(SHA256(ASCII(code_verifier))), without padding."""
    _check(verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check(verifier: str) -> None:
    if not _VERIFIER.fullmatch(verifier):
        raise ValueError("a PKCE verifier is 43 to 128 unreserved characters (RFC 7636 s4.1)")
