"""Access-token authentication: the per-request hot path.

Everything here is in process: signature and claims, then the revocation list. No
database round trip, so a logout is effective on the next request without costing one.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from authgate.devices import DeviceFingerprints, DeviceInfo
from authgate.errors import (
    DeviceMismatchError,
    InvalidTokenError,
    RevokedTokenError,
    StorageUnavailableError,
)
from authgate.principal import Principal
from authgate.storage.revocations import RevocationList
from authgate.tokens.claims import AccessClaims
from authgate.tokens.verifier import TokenVerifier

__all__ = ["Authenticator"]


class Authenticator:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        revocations: RevocationList,
        device_check: bool = False,
        fingerprints: DeviceFingerprints | None = None,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.verifier = verifier
        self._on_reject = on_reject
        self.revocations = revocations
        if device_check and fingerprints is None:
            raise ValueError("device_check needs the server's keyed DeviceFingerprints")
        self._device_check = device_check
        self._fingerprints = fingerprints
        # The verifier hands back the same claims object for a cached token: build its
        # Principal once too. Keyed by id(); the entry holds the claims, so the id
        # cannot be reused while it is here.
        self._principals: dict[int, tuple[AccessClaims, Principal]] = {}

    @property
    def needs_device(self) -> bool:
        """Whether ``authenticate`` reads the device; callers skip building it otherwise."""
        return self._device_check

    def authenticate(
        self, token: str, device: DeviceInfo | None = None, *, report: bool = True
    ) -> Principal:
        """The Principal of a valid, unrevoked access token; ``on_reject`` hears each refusal.

        ``report=False`` for a look that is not the request's authentication (the rate
        limiter keying by principal), so a refusal is counted once.
        """
        try:
            return self._authenticate(token, device)
        except InvalidTokenError as exc:
            if report and self._on_reject is not None:
                self._on_reject(exc.reason)
            raise

    def _authenticate(self, token: str, device: DeviceInfo | None) -> Principal:
        claims = self.verifier.verify_access(token)
        if claims.session_id in self.revocations:
            raise RevokedTokenError()
        if self.revocations.stale:
            # Fail closed: the revocation view could not be confirmed for too long.
            raise StorageUnavailableError("revocations")
        # Agents are bound by DPoP or their credentials, not by a browser's fingerprint.
        fingerprints = self._fingerprints
        if self._device_check and fingerprints and device and claims.client_id is None:
            presented = fingerprints.of(device)
            if not hmac.compare_digest(presented, claims.device_fingerprint):
                raise DeviceMismatchError()
        known = self._principals.get(id(claims))
        if known is not None and known[0] is claims:
            return known[1]
        principal = _principal(claims)
        if len(self._principals) >= _PRINCIPALS_MAX:
            self._principals.clear()
        self._principals[id(claims)] = (claims, principal)
        return principal


_PRINCIPALS_MAX = 4096  # as many as the verifier's cache holds


def _principal(claims: AccessClaims) -> Principal:
    return Principal(
        id=claims.sub,
        email=claims.email,
        roles=claims.roles,
        permissions=claims.permissions,
        session_id=claims.session_id,
        device_fingerprint=claims.device_fingerprint,
        token_id=claims.jti,
        expires_at=claims.exp,
        actor=claims.actor,
        client_id=claims.client_id,
        jkt=claims.jkt,
        email_verified=claims.email_verified,
        amr=claims.amr,
        acr=claims.acr,
        auth_time=claims.auth_time,
    )
