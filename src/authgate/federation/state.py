"""The ``oauth_state`` cookie: what a login started, sealed for the browser to carry.

RFC 9700 s2.1 and s4.7 bind the authorization response to the browser that asked for
it: the cookie holds the ``state`` sent to the provider, the PKCE verifier (RFC 7636),
the OIDC ``nonce``, the provider name, where to return and when it was issued. It is
sealed with AES-256-GCM, so it is both encrypted (the verifier never reaches the
browser in clear) and authenticated (any change is refused). The key is derived with
HKDF (RFC 5869) from a dedicated secret or, under a distinct label, the access secret.

At the callback the state is compared in constant time, must be at most ten minutes
old, and is claimed in a ``UsedStates`` store so that it works once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.clock import Clock, system_clock
from authgate.errors import OAuthStateError

__all__ = [
    "COOKIE_NAME",
    "STATE_TTL",
    "MemoryUsedStates",
    "OAuthState",
    "StateManager",
    "UsedStates",
    "derive_state_key",
]

COOKIE_NAME = "oauth_state"
STATE_TTL = 600
_VERSION = b"\x01"
_AAD = b"authgate oauth_state v1"
_HKDF_INFO = b"authgate/federation-state/aes-256-gcm/v1"
# A state issued a little in the future is clock skew between instances, not an attack.
_SKEW = 60


def derive_state_key(secret: str, *, label: bytes = _HKDF_INFO) -> bytes:
    """A 256-bit AES key from ``secret``; the info label keeps it apart from JWT keys
    (and, with another ``label``, the states of one flow apart from another's)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label)
    return hkdf.derive(secret.encode("utf-8"))


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthState:
    state: str
    verifier: str
    nonce: str | None
    provider: str
    return_to: str
    browser: bool
    issued_at: int
    # Connecting an account (authgate.vault): the signed-in user it is for, and the
    # scopes asked for, so that the callback attaches the tokens to that user only.
    user_id: str | None = None
    scopes: str | None = None

    def __repr__(self) -> str:  # the verifier and state are secrets until used
        return f"OAuthState(provider={self.provider!r}, issued_at={self.issued_at})"


class UsedStates(Protocol):
    """Remembers claimed keys for ``ttl`` seconds; of several claims, only the first wins.

    The same shape as the hot-state ``SingleUseStore``, whose Redis implementation
    (``SET key 1 NX EX ttl``) makes single use hold across instances.
    """

    async def claim(self, key: str, ttl: int) -> bool: ...


class MemoryUsedStates:
    """In-process ``UsedStates`` for a single instance."""

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    async def claim(self, key: str, ttl: int) -> bool:
        now = self._clock()
        self._purge(now)
        if key in self._until:
            return False
        self._until[key] = now + ttl
        return True

    def _purge(self, now: float) -> None:
        expired = [key for key, until in self._until.items() if until <= now]
        for key in expired:
            del self._until[key]


class StateManager:
    """Issues sealed states and checks them at the callback."""

    def __init__(
        self,
        *,
        key: bytes,
        used: UsedStates,
        ttl: int = STATE_TTL,
        clock: Clock = system_clock,
    ) -> None:
        if len(key) != 32:
            raise ValueError("the state key must be 32 bytes")
        self._aead = AESGCM(key)
        self._used = used
        self._ttl = ttl
        self._clock = clock

    @property
    def ttl(self) -> int:
        return self._ttl

    def issue(
        self,
        *,
        provider: str,
        return_to: str,
        browser: bool,
        verifier: str,
        oidc: bool,
        user_id: str | None = None,
        scopes: str | None = None,
    ) -> tuple[OAuthState, str]:
        """A new state (32 random bytes) and nonce, and the cookie value sealing them."""
        state = OAuthState(
            state=secrets.token_urlsafe(32),
            verifier=verifier,
            nonce=secrets.token_urlsafe(32) if oidc else None,
            provider=provider,
            return_to=return_to,
            browser=browser,
            issued_at=int(self._clock()),
            user_id=user_id,
            scopes=scopes,
        )
        return state, self.seal(state)

    def seal(self, state: OAuthState) -> str:
        nonce = os.urandom(12)
        plaintext = json.dumps(asdict(state), separators=(",", ":")).encode()
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _AAD)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def unseal(self, value: str, *, provider: str) -> OAuthState:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError) as exc:
            raise OAuthStateError(provider, "malformed") from exc
        if len(raw) < 29 or raw[:1] != _VERSION:
            raise OAuthStateError(provider, "malformed")
        try:
            plaintext = self._aead.decrypt(raw[1:13], raw[13:], _AAD)
            return OAuthState(**json.loads(plaintext))
        except (InvalidTag, ValueError, TypeError) as exc:
            raise OAuthStateError(provider, "malformed") from exc

    async def consume(self, cookie: str | None, *, provider: str, state: str | None) -> OAuthState:
        """The state of this callback, checked and claimed; raises ``OAuthStateError``."""
        if not cookie:
            raise OAuthStateError(provider, "missing")
        sealed = self.unseal(cookie, provider=provider)
        if not hmac.compare_digest(sealed.provider.encode(), provider.encode()):
            raise OAuthStateError(provider, "provider")
        if not state or not hmac.compare_digest(sealed.state.encode(), state.encode()):
            raise OAuthStateError(provider, "mismatch")
        now = int(self._clock())
        if now - sealed.issued_at > self._ttl or sealed.issued_at > now + _SKEW:
            raise OAuthStateError(provider, "expired")
        key = "oauth_state:" + hashlib.sha256(sealed.state.encode()).hexdigest()
        ttl = max(1, sealed.issued_at + self._ttl - now)
        if not await self._used.claim(key, ttl):
            raise OAuthStateError(provider, "replayed")
        return sealed
