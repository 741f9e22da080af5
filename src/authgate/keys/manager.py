"""The live key ring of one instance: built at start, reloaded and rotated on schedule.

HS256 (the default) signs access tokens with ``JWT_ACCESS_SECRET``; an asymmetric
``AUTHGATE_SIGNING_ALG`` signs them with the key store's active key. Refresh tokens are
only ever read by authgate itself, so they always use ``JWT_REFRESH_SECRET``.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.errors import ConfigurationError
from authgate.keys.encryption import KeyEncryptionKey
from authgate.keys.keyring import KeyRing, hmac_key
from authgate.keys.store import KeyStore

__all__ = ["KeyManager", "key_encryption_key"]

logger = logging.getLogger("authgate.keys")


def key_encryption_key(settings: Settings) -> KeyEncryptionKey:
    if settings.encryption_key is None:
        raise ConfigurationError(
            "AUTHGATE_ENCRYPTION_KEY is required to store private keys "
            "(generate one with `authgate keys kek`)"
        )
    return KeyEncryptionKey.from_setting(settings.encryption_key.get_secret_value())


class KeyManager:
    def __init__(self, settings: Settings, engine: AsyncEngine, *, clock: Clock = system_clock):
        self._settings = settings
        self._clock = clock
        self.refresh_key = hmac_key("refresh", settings.refresh_secret())
        self.store: KeyStore | None = None
        self._ring: KeyRing | None = None
        if settings.signing_alg == "HS256":
            self._ring = KeyRing.of(hmac_key("access", settings.access_secret()))
            return
        self.store = KeyStore(
            engine,
            kek=key_encryption_key(settings),
            alg=settings.signing_alg,
            # Other instances (and this one, after a CLI rotation) keep signing with the old
            # key until their next reload, so its last token can be that much younger.
            verify_window=(
                settings.access_token_ttl + settings.clock_leeway + settings.key_reload_interval
            ),
            clock=clock,
        )

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            # Fail closed: before start() loads the store there is nothing to sign with.
            raise ConfigurationError("Signing keys are not loaded yet")
        return self._ring

    async def start(self) -> None:
        if self.store is None:
            return
        await self.store.ensure_ready()
        await self.reload()

    async def reload(self) -> None:
        if self.store is not None:
            self._ring = await self.store.key_ring()

    async def maintain(self) -> None:
        """Retire keys whose tokens have expired; rotate when the active key is due."""
        if self.store is None:
            return
        retired = await self.store.retire_due()
        if retired:
            logger.info("retired signing keys %s", ", ".join(retired))
        interval = self._settings.key_rotation_interval
        if interval and await self._rotation_due(interval):
            promoted = await self.store.rotate()
            logger.info("rotated signing key; %s now signs", promoted.kid)
        await self.reload()

    async def _rotation_due(self, interval: int) -> bool:
        assert self.store is not None
        now = int(self._clock())
        keys = await self.store.keys()
        active = [k for k in keys if k.state == "active"]
        # The next key must have been published for a reload interval plus a JWKS cache
        # lifetime, so that every verifier knows it before it signs anything.
        lead = self._settings.key_reload_interval + 300
        ready = [k for k in keys if k.state == "next" and k.created_at + lead <= now]
        return bool(ready) and all((k.activated_at or 0) + interval <= now for k in active)
