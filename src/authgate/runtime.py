"""The assembled components of one authgate instance, built once from Settings."""

from __future__ import annotations

import hashlib
import logging

import anyio

from authgate.accounts.admin import UserAdmin
from authgate.accounts.links import LinkTokens
from authgate.accounts.mail import MailOutbox, build_mailer
from authgate.accounts.mfa import SecondFactors
from authgate.accounts.passkeys import Passkeys, relying_party
from authgate.accounts.passwords import PasswordHasher
from authgate.accounts.recovery import PasswordRecovery
from authgate.accounts.users import UserService
from authgate.accounts.verification import EmailVerification
from authgate.agents.assertion import ClientAssertionVerifier
from authgate.agents.consents import AgentConsents
from authgate.agents.dpop import DPoPVerifier
from authgate.agents.registry import ClientRegistry
from authgate.audit import AuditTrail
from authgate.authserver.approval_notices import ApprovalNotices, webhook_key
from authgate.authserver.approval_store import ApprovalStore
from authgate.authserver.approvals import Approvals
from authgate.authserver.ciba import Backchannel, Timing
from authgate.authserver.factory import build_authorization_server
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.devices import DeviceFingerprints
from authgate.errors import StorageUnavailableError
from authgate.federation.flow import OAuthFlow
from authgate.keys.encryption import KeyEncryptionKey
from authgate.keys.manager import KeyManager
from authgate.metrics import Metrics
from authgate.ratelimit import RateLimits, rules_from_settings
from authgate.sessions.authenticator import Authenticator
from authgate.sessions.service import AuthService
from authgate.statedir import secure_state_dir
from authgate.storage.accounts import AccountStore
from authgate.storage.database import PoolLimits, create_engine
from authgate.storage.hotstate import build_hot_state
from authgate.storage.migrate import require_head, upgrade
from authgate.storage.revocation_events import RevocationEvents, RevocationFollower
from authgate.storage.revocations import RevocationList
from authgate.storage.store import SqlStore
from authgate.supervision import Heartbeat, Supervisor
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
        # Before anything opens a file in it: the folder 0700, its files 0600.
        secure_state_dir(settings.state_dir)
        self.store = SqlStore(create_engine(settings.resolved_database_url, _pool(settings)))
        self.revocations = RevocationList()
        self.hot = build_hot_state(settings, local=self.revocations, store=self.store, clock=clock)
        self.single_use = self.hot.single_use
        self.dpop = DPoPVerifier.from_settings(settings, single_use=self.single_use, clock=clock)
        self.keys = KeyManager(settings, self.store.engine, clock=clock)
        self.clients = ClientRegistry(self.store.engine, clock=clock)
        self.consents = AgentConsents(self.store.engine, clock=clock)
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
        self.supervisor = Supervisor(on_failure=self.metrics.on_task_failure)
        self.ratelimits = RateLimits(
            rules=rules_from_settings(settings),
            redis_url=settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            known_client_ttl=settings.known_client_ttl,
            redis_timeout=settings.redis_timeout,
            clock=clock,
        )
        self.authenticator = Authenticator(
            on_reject=self.metrics.on_rejected_token,
            verifier=self.verifier,
            revocations=self.revocations,
            device_check=settings.device_check_on_access,
            fingerprints=DeviceFingerprints.from_secret(
                settings.refresh_secret(), settings.device_fingerprint_inputs
            ),
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
            require_verified_email=settings.require_verified_email,
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
        self._accounts_lifecycle(settings, clock)
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
        # authgate as OAuth 2.1 authorization server for third-party and MCP clients.
        self.authserver, self.client_registration = build_authorization_server(
            settings,
            store=self.store,
            keys=self.keys,
            auth=self.auth,
            issuer=self.issuer,
            verifier=self.verifier,
            audit=self.audit,
            clock=clock,
        )
        self._approvals(settings, clock)
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

    def _approvals(self, settings: Settings, clock: Clock) -> None:
        """Human approval of agent actions (docs/ciba.md): the user's side, ``approvals``,
        and the agent's (OpenID CIBA), ``backchannel``, over one table."""
        store = ApprovalStore(self.store.engine)
        secret = settings.approval_webhook_secret
        self.approval_notices = ApprovalNotices(
            webhook_url=settings.approval_webhook_url,
            webhook_key=webhook_key(secret.get_secret_value()) if secret else None,
            timeout=settings.approval_notify_timeout,
            on_outcome=self.metrics.on_approval_notice,
            clock=clock,
        )
        kek = _sealing_kek(settings, b"authgate-ciba-kek|")
        self.approvals = Approvals(
            store=store,
            clients=self.clients,
            audit=self.audit,
            notices=self.approval_notices,
            kek=kek,
            clock=clock,
        )
        self.backchannel = Backchannel(
            store=store,
            users=self.store,
            consents=self.consents,
            resources=self.authserver.resources,
            tokens=self.authserver.tokens,
            audit=self.audit,
            notices=self.approval_notices,
            kek=kek,
            timing=Timing(
                request_ttl=settings.approval_request_ttl,
                interval=settings.approval_poll_interval,
                token_ttl=settings.approval_token_ttl,
            ),
            permissions=settings.permissions_for,
            public_url=settings.public_url,
            clock=clock,
        )
        self.approval_store = store

    async def start(self) -> None:
        await self.ratelimits.start()
        if self.settings.migrate_on_start:
            await upgrade(self.store.engine)
        else:
            await require_head(self.store.engine)
        await self.keys.start()
        restored = await self.auth.load_revocations()
        await self.hot.revocation_feed.start(self.supervisor)
        logger.info(
            "authgate started; %d recent revocations restored; hot state kept in %s",
            restored,
            self.hot.backend,
        )

    def start_background(self) -> None:
        """The server's periodic work, each task supervised (restarted, and readiness)."""
        settings = self.settings
        bound = settings.revocation_max_staleness
        self.supervisor.supervise(
            "pending-revocations", self.auth.revoker.run_pending, staleness=bound
        )
        # Revocations other processes wrote (the CLI, other instances), from the database.
        self.supervisor.supervise(
            "revocation-follower", self.revocation_follower.run, staleness=bound
        )
        self.supervisor.supervise(
            "cleanup", self.cleanup_forever, staleness=2 * settings.cleanup_interval + 60
        )
        if self.keys.store is not None:
            self.supervisor.supervise(
                "key-maintenance",
                self.maintain_keys_forever,
                staleness=2 * settings.key_reload_interval + 60,
            )

    def readiness(self) -> dict[str, str]:
        """What ``/readyz`` reports: each supervised task, and the revocation view."""
        checks = self.supervisor.states()
        checks["revocations"] = "stale" if self.revocations.stale else "ok"
        return checks

    def _accounts_lifecycle(self, settings: Settings, clock: Clock) -> None:
        """Mail, verification, recovery, second factors and administration (issue 16)."""
        self.accounts = AccountStore(self.store.engine)
        self.outbox = MailOutbox(
            build_mailer(settings),
            limits=self.single_use,
            per_hour=settings.mail_per_address_per_hour,
            clock=clock,
        )
        links = LinkTokens(store=self.accounts, public_url=settings.public_url, clock=clock)
        site = settings.public_url.split("://", 1)[-1].rstrip("/")
        self.verification = EmailVerification(
            links=links,
            store=self.store,
            accounts=self.accounts,
            outbox=self.outbox,
            ttl=settings.email_verification_ttl,
            site=site,
            enabled=settings.verification_enabled,
        )
        self.recovery = PasswordRecovery(
            links=links,
            store=self.store,
            accounts=self.accounts,
            users=self.users,
            outbox=self.outbox,
            ttl=settings.password_reset_ttl,
            site=site,
            enabled=settings.recovery_enabled,
        )
        self.mfa = SecondFactors(
            accounts=self.accounts,
            kek=_totp_kek(settings),
            challenges=self.single_use,
            issuer_name=settings.totp_issuer,
            max_failures=settings.mfa_max_failures,
            lockout=settings.mfa_lockout,
            clock=clock,
        )
        rp_id, origin = relying_party(settings.public_url, settings.webauthn_rp_id)
        self.passkeys = Passkeys(
            accounts=self.accounts,
            challenges=self.single_use,
            rp_id=rp_id,
            rp_name=settings.webauthn_rp_name,
            origin=origin,
            clock=clock,
        )
        self.admin = UserAdmin(
            store=self.store,
            accounts=self.accounts,
            auth=self.auth,
            audit=self.audit,
            known_roles=list(settings.role_permissions),
            clock=clock,
        )

    async def close(self) -> None:
        await self.supervisor.close()
        await self.outbox.drain(within=5.0)
        await self.approval_notices.drain(within=_notice_grace(self.settings))
        await self.hot.revocation_feed.close()
        await self.single_use.close()
        await self.ratelimits.close()
        await self.oauth.aclose()
        await self.store.close()
        await self.revocation_engine.dispose()

    async def cleanup_forever(self, beat: Heartbeat) -> None:
        """Purge expired sessions, refresh tokens and revocation entries periodically.

        A failed sweep (database down) waits for the next period; anything else is the
        supervisor's to log, count and restart.
        """
        while True:
            beat()
            await anyio.sleep(self.settings.cleanup_interval)
            try:
                removed = await self.auth.cleanup()
                await self.accounts.purge_tokens(int(self.clock()))
                await self.approval_store.purge(int(self.clock()))
            except StorageUnavailableError:
                logger.warning("cleanup skipped: the database is unavailable")
            else:
                logger.debug("cleanup removed %d sessions", removed)

    async def maintain_keys_forever(self, beat: Heartbeat) -> None:
        """Reload the key ring (other instances may have rotated), retire and rotate keys."""
        while True:
            beat()
            await anyio.sleep(self.settings.key_reload_interval)
            try:
                await self.keys.maintain()
            except StorageUnavailableError:  # keep verifying with the current ring
                logger.warning("key maintenance skipped: the database is unavailable")


def _totp_kek(settings: Settings) -> KeyEncryptionKey:
    """TOTP secrets are sealed under the vault KEK, or one derived from the access secret."""
    return _sealing_kek(settings, b"authgate-totp-kek|")


def _sealing_kek(settings: Settings, label: bytes) -> KeyEncryptionKey:
    """The vault KEK (AUTHGATE_ENCRYPTION_KEY), else one derived from the access secret
    under ``label`` (TOTP secrets, CIBA notification tokens)."""
    if settings.encryption_key is not None:
        return KeyEncryptionKey.from_setting(settings.encryption_key.get_secret_value())
    derived = hashlib.sha256(label + settings.access_secret().encode()).digest()
    return KeyEncryptionKey(derived)


def _notice_grace(settings: Settings) -> float:
    return settings.approval_notify_timeout + 1.0


def _pool(settings: Settings) -> PoolLimits:
    return PoolLimits(
        size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        command_timeout=settings.db_command_timeout,
    )
