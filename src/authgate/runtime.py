"""The assembled components of one authgate instance, built once from Settings."""

from __future__ import annotations

import logging

import anyio

from authgate.accounts.passwords import PasswordHasher
from authgate.accounts.users import UserService
from authgate.agents.assertion import ClientAssertionVerifier
from authgate.agents.dpop import DPoPVerifier
from authgate.agents.registry import ClientRegistry
from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.federation.flow import OAuthFlow
from authgate.keys.manager import KeyManager
from authgate.metrics import Metrics
from authgate.ratelimit import RateLimits, rules_from_settings
from authgate.sessions.authenticator import Authenticator
from authgate.sessions.service import AuthService
from authgate.storage.database import PoolLimits, create_engine
from authgate.storage.hotstate import build_hot_state
from authgate.storage.migrate import require_head, upgrade
from authgate.storage.revocation_events import RevocationEvents, RevocationFollower
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore
from authgate.tokens.issuer import TokenIssuer
from authgate.tokens.verifier import TokenVerifier
from authgate.vault import KeyChain, Vault
from authgate.vault.store import VaultStore

__all__ = ["Runtime"]

logger = logging.getLogger("authgate")


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.store = SqlStore(create_engine(settings.resolved_database_url, _pool(settings)))
        self.revocations = RevocationList()
        self.hot = build_hot_state(settings, local=self.revocations, store=self.store, clock=clock)
        self.single_use = self.hot.single_use
        self.dpop = DPoPVerifier.from_settings(settings, single_use=self.single_use, clock=clock)
        self.keys = KeyManager(settings, self.store.engine, clock=clock)
        self.clients = ClientRegistry(self.store.engine, clock=clock)
        self.issuer = TokenIssuer(
            keys=self.keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl=settings.access_token_ttl,
            refresh_ttl=settings.refresh_token_ttl,
            clock=clock,
        )
        self.verifier = TokenVerifier(
            keys=self.keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.clock_leeway,
            max_token_bytes=settings.max_token_bytes,
            clock=clock,
        )
        self.metrics = Metrics()
        self.ratelimits = RateLimits(
            rules=rules_from_settings(settings),
            redis_url=settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            known_client_ttl=settings.known_client_ttl,
            redis_timeout=settings.redis_timeout,
        )
        self.authenticator = Authenticator(
            on_reject=self.metrics.on_rejected_token,
            verifier=self.verifier,
            revocations=self.revocations,
            device_check=settings.device_check_on_access,
            fingerprint_inputs=settings.device_fingerprint_inputs,
        )
        self.audit = AuditTrail(self.store, clock=clock, observer=self.metrics.on_audit)
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.users = UserService(
            store=self.store,
            hasher=self.hasher,
            default_roles=settings.default_roles,
            registration_enabled=settings.registration_enabled,
            password_min_length=settings.password_min_length,
            password_max_length=settings.password_max_length,
            clock=clock,
        )
        self.resource_verifiers = {
            resource: TokenVerifier(
                keys=self.keys,
                issuer=settings.metadata_issuer,
                audience=resource,
                leeway=settings.clock_leeway,
                max_token_bytes=settings.max_token_bytes,
                clock=clock,
            )
            for resource in settings.resources
        }
        self.auth = AuthService(
            settings=settings,
            store=self.store,
            issuer=self.issuer,
            verifier=self.verifier,
            revocations=self.revocations,
            audit=self.audit,
            clock=clock,
            revocation_feed=self.hot.revocation_feed,
            resource_verifiers=self.resource_verifiers,
        )
        self.assertions = ClientAssertionVerifier(
            registry=self.clients,
            replay=self.single_use,
            audiences=frozenset(
                {settings.metadata_issuer, f"{settings.public_url.rstrip('/')}/oauth2/token"}
            ),
            leeway=settings.clock_leeway,
            clock=clock,
        )
        self.oauth = OAuthFlow.from_settings(
            settings, store=self.store, audit=self.audit, used_states=self.single_use, clock=clock
        )
        self.vault = Vault(
            settings=settings,
            store=VaultStore(self.store.engine),
            keys=KeyChain.from_settings(settings),
            oauth=self.oauth,
            audit=self.audit,
            used_states=self.single_use,
            clock=clock,
        )
        # Revocations made by other processes (the CLI, other instances), from the
        # database, with or without Redis; GET /oauth2/revocations serves the same feed.
        # Its own small pool: the follower's polls and the long polls never take a
        # connection from (or show up in) the request path's pool.
        self.revocation_engine = create_engine(
            settings.resolved_database_url,
            PoolLimits(
                size=2,
                max_overflow=2,
                timeout=settings.db_pool_timeout,
                connect_timeout=settings.db_connect_timeout,
                command_timeout=settings.db_command_timeout,
            ),
        )
        self.revocation_events = RevocationEvents(self.revocation_engine, clock=clock)
        self.revocation_follower = RevocationFollower(
            self.revocation_events,
            self.revocations,
            interval=settings.revocation_follow_interval,
            on_key_revoked=self.keys.reload,
            clock=clock,
        )
        self.auth.on_revoked = self.revocation_follower.nudge

    async def start(self) -> None:
        await self.ratelimits.start()
        if self.settings.migrate_on_start:
            await upgrade(self.store.engine)
        else:
            await require_head(self.store.engine)
        await self.keys.start()
        restored = await self.auth.load_revocations()
        await self.hot.revocation_feed.start()
        logger.info(
            "authgate started; %d recent revocations restored; hot state kept in %s",
            restored,
            self.hot.backend,
        )

    async def close(self) -> None:
        await self.hot.revocation_feed.close()
        await self.single_use.close()
        await self.ratelimits.close()
        await self.oauth.aclose()
        await self.store.close()
        await self.revocation_engine.dispose()

    async def cleanup_forever(self) -> None:
        """Purge expired sessions, refresh tokens and revocation entries periodically."""
        while True:
            await anyio.sleep(self.settings.cleanup_interval)
            try:
                removed = await self.auth.cleanup()
            except Exception:  # a failed sweep must not stop the next one
                logger.exception("cleanup failed")
            else:
                logger.debug("cleanup removed %d sessions", removed)

    async def maintain_keys_forever(self) -> None:
        """Reload the key ring (other instances may have rotated), retire and rotate keys."""
        if self.keys.store is None:
            return
        while True:
            await anyio.sleep(self.settings.key_reload_interval)
            try:
                await self.keys.maintain()
            except Exception:  # keep verifying with the current ring; retry next time
                logger.exception("key maintenance failed")


def _pool(settings: Settings) -> PoolLimits:
    return PoolLimits(
        size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        command_timeout=settings.db_command_timeout,
    )
