"""The vault: connected provider accounts and static API keys, handed out to agents.

A signed-in user connects a provider account (the login flow's state, PKCE and nonce
protections, with the state bound to that user) or stores an API key; authgate keeps
the secrets sealed (``vault.envelope``) and never returns them to the browser. An
agent acting for the user under a delegation with scope ``vault:<name>`` gets the
provider's access token, refreshed first when it is about to expire; an agent on its
own gets only keys an admin stored for it. Every hand-out is audited.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.devices import DeviceInfo
from authgate.errors import (
    ConfigurationError,
    CredentialConflictError,
    CredentialNotFoundError,
    DelegationPolicyError,
    InvalidRequestError,
    PermissionDeniedError,
    ReconsentRequiredError,
    VaultError,
)
from authgate.federation.flow import OAuthFlow, Started
from authgate.federation.state import OAuthState, UsedStates
from authgate.keys.encryption import DecryptionError
from authgate.principal import Principal
from authgate.scopes import vault_scope
from authgate.storage.models import VaultCredential
from authgate.vault.connect import Connector
from authgate.vault.envelope import KeyChain
from authgate.vault.store import VaultStore
from authgate.vault.upstream import TokenSet, Upstream

__all__ = ["HandOut", "RekeyReport", "Vault", "check_name", "parse_scopes"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# RFC 6749 s3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
_MAX_SCOPES = 20
_MAX_KEY_BYTES = 8192


@dataclass(frozen=True, slots=True)
class HandOut:
    """What an agent receives: the secret, its kind, and how long it lives (if known)."""

    token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RekeyReport:
    rewrapped: int
    unchanged: int
    failed: tuple[str, ...]


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidRequestError(
            "A provider or service name is 1 to 64 of a-z, 0-9, '_', '.', '-'"
        )
    return name


def parse_scopes(value: str | None) -> tuple[str, ...]:
    """Extra scopes from ``?scopes=a,b`` or ``a b``, each an RFC 6749 s3.3 scope-token."""
    scopes = tuple(dict.fromkeys((value or "").replace(",", " ").split()))
    if len(scopes) > _MAX_SCOPES or not all(_SCOPE.fullmatch(s) for s in scopes):
        raise InvalidRequestError(f"scopes: at most {_MAX_SCOPES} valid scope tokens")
    return scopes


class Vault:
    def __init__(
        self,
        *,
        settings: Settings,
        store: VaultStore,
        keys: KeyChain | None,
        oauth: OAuthFlow,
        audit: AuditTrail,
        used_states: UsedStates,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._keys = keys
        self._oauth = oauth
        self._audit = audit
        self._clock = clock
        self._margin = settings.vault_refresh_margin
        self.upstream = Upstream(oauth)
        self.connector = Connector(oauth, used_states=used_states, clock=clock)
        # One refresh per record at a time in this process (a rotating provider would
        # take a second use of the same refresh token for theft).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def store(self) -> VaultStore:
        return self._store

    def _now(self) -> int:
        return int(self._clock())

    def _chain(self) -> KeyChain:
        if self._keys is None:
            raise ConfigurationError(
                "The vault needs AUTHGATE_ENCRYPTION_KEY (generate one with `authgate keys kek`)"
            )
        return self._keys

    # Connecting an account

    async def start_connect(
        self,
        name: str,
        *,
        user_id: str,
        scopes: Sequence[str],
        return_to: str | None,
        browser: bool,
    ) -> Started:
        self._chain()
        return await self.connector.start(
            name, user_id=user_id, scopes=scopes, return_to=return_to, browser=browser
        )

    async def complete_connect(
        self,
        name: str,
        *,
        user_id: str,
        cookie: str | None,
        params: Mapping[str, str],
        device: DeviceInfo,
    ) -> tuple[VaultCredential, OAuthState]:
        chain = self._chain()
        done, state = await self.connector.complete(
            name, user_id=user_id, cookie=cookie, params=params
        )
        tokens = TokenSet.from_response(done.token)
        asked = tuple((state.scopes or "").split())
        row = self._new_row(chain, user_id, name, "oauth", tokens, asked, done.profile.subject)
        await self._store.replace(row)
        await self._audit.record(
            "vault.connected", user_id=user_id, device=device, provider=name, scopes=row.scopes
        )
        return row, state

    def _new_row(
        self,
        chain: KeyChain,
        owner: str,
        name: str,
        kind: str,
        tokens: TokenSet,
        asked: Sequence[str],
        account: str | None,
    ) -> VaultCredential:
        now = self._now()
        record_id = str(uuid.uuid4())
        sealed = chain.seal(
            record_id, {"secret": tokens.access_token, "refresh_secret": tokens.refresh_token}
        )
        return VaultCredential(
            id=record_id,
            owner=owner,
            kind=kind,
            name=name,
            status="active",
            account=(account or "")[:255] or None,
            # RFC 6749 s5.1: without `scope` in the answer, what was asked was granted.
            scopes=sorted(tokens.scope.split() if tokens.scope is not None else asked),
            data_key=sealed.data_key,
            kek_id=sealed.kek_id,
            secret=sealed.fields["secret"],
            refresh_secret=sealed.fields["refresh_secret"],
            expires_at=now + tokens.expires_in if tokens.expires_in is not None else None,
            version=1,
            created_at=now,
            updated_at=now,
            last_used_at=None,
        )

    # Static keys

    async def put_key(
        self, owner: str, service: str, value: str, *, device: DeviceInfo | None = None
    ) -> VaultCredential:
        chain = self._chain()
        check_name(service)
        if not value or len(value.encode()) > _MAX_KEY_BYTES or value != value.strip():
            raise InvalidRequestError(
                f"The key must be 1 to {_MAX_KEY_BYTES} bytes without surrounding spaces"
            )
        existing = await self._store.get(owner, service)
        if existing is not None and existing.kind != "api_key":
            raise CredentialConflictError(service)
        tokens = TokenSet(access_token=value, refresh_token=None, expires_in=None, scope=None)
        row = self._new_row(chain, owner, service, "api_key", tokens, (), None)
        await self._store.replace(row)
        await self._audit.record("vault.key_stored", user_id=owner, device=device, service=service)
        return row

    # Lifecycle

    async def connections(self, owner: str) -> Sequence[VaultCredential]:
        return await self._store.for_owner(owner)

    async def disconnect(self, owner: str, record_id: str, *, device: DeviceInfo) -> bool | None:
        """Remove the record now, then revoke at the provider (None: not applicable)."""
        row = await self._store.remove(owner, record_id)
        if row is None:
            raise CredentialNotFoundError("")
        revoked: bool | None = None
        if row.kind == "oauth":
            revoked = await self._revoke_upstream(row)
        await self._audit.record(
            "vault.disconnected",
            user_id=owner,
            device=device,
            provider=row.name,
            kind=row.kind,
            revoked_at_provider=revoked,
        )
        return revoked

    async def _revoke_upstream(self, row: VaultCredential) -> bool:
        try:
            access = self._open(row, "secret", row.secret)
            refresh = self._open(row, "refresh_secret", row.refresh_secret)
        except (DecryptionError, ConfigurationError):
            return False
        if access is None:
            return False
        return await self.upstream.revoke(row.name, access_token=access, refresh_token=refresh)

    def _open(self, row: VaultCredential, field_name: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return self._chain().open(
            row.id, data_key=row.data_key, kek_id=row.kek_id, name=field_name, blob=blob
        )

    # Hand-out

    async def hand_out(self, principal: Principal, name: str) -> HandOut:
        owner, agent = _owner_and_agent(principal)
        try:
            handed = await self._hand_out(principal, owner, name)
        except (VaultError, PermissionDeniedError) as exc:
            await self._audit.record(
                "vault.refused",
                user_id=owner,
                session_id=principal.session_id,
                agent=agent,
                provider=name[:64],
                error=exc.error,
            )
            raise
        await self._audit.record(
            "vault.handout",
            user_id=owner,
            session_id=principal.session_id,
            agent=agent,
            provider=name,
            delegated=principal.is_delegated,
        )
        return handed

    async def _hand_out(self, principal: Principal, owner: str, name: str) -> HandOut:
        scope = vault_scope(name)
        if scope not in principal.permissions:
            raise PermissionDeniedError([scope])
        row = await self._store.get(owner, name)
        if row is None:
            raise CredentialNotFoundError(name)
        if row.kind == "oauth":
            row = await self._fresh(row)
        now = self._now()
        token = self._open(row, "secret", row.secret)
        assert token is not None
        await self._store.touch(row.id, now)
        if row.kind == "api_key":
            return HandOut(token, "api_key", None, ())
        expires_in = max(0, row.expires_at - now) if row.expires_at is not None else None
        return HandOut(token, "Bearer", expires_in, tuple(row.scopes))

    def _expiring(self, row: VaultCredential) -> bool:
        return row.expires_at is not None and row.expires_at - self._margin <= self._now()

    async def _fresh(self, row: VaultCredential) -> VaultCredential:
        if row.status != "active":
            raise ReconsentRequiredError(row.name)
        if not self._expiring(row):
            return row
        lock = self._locks.setdefault(row.id, asyncio.Lock())
        async with lock:
            current = await self._store.by_id(row.id)
            if current is None:
                raise CredentialNotFoundError(row.name)
            if current.status != "active":
                raise ReconsentRequiredError(row.name)
            if not self._expiring(current):
                return current  # refreshed by the request we waited for
            return await self._refresh(current)

    async def _refresh(self, row: VaultCredential) -> VaultCredential:
        refresh = self._open(row, "refresh_secret", row.refresh_secret)
        if refresh is None:
            if row.expires_at is not None and row.expires_at > self._now():
                return row  # still valid for a moment; nothing to refresh it with
            await self._needs_reconsent(row, "no_refresh_token")
        assert refresh is not None
        try:
            tokens = await self.upstream.refresh(row.name, refresh)
        except ReconsentRequiredError:
            latest = await self._store.by_id(row.id)
            if latest is not None and latest.version != row.version:
                return latest  # another instance refreshed first (and rotated the token)
            await self._needs_reconsent(row, "refresh_refused")
        return await self._store_refreshed(row, tokens)

    async def _store_refreshed(self, row: VaultCredential, tokens: TokenSet) -> VaultCredential:
        now = self._now()
        sealed = self._chain().seal(
            row.id, {"secret": tokens.access_token, "refresh_secret": tokens.refresh_token}
        )
        values: dict[str, object] = {
            "data_key": sealed.data_key,
            "kek_id": sealed.kek_id,
            "secret": sealed.fields["secret"],
            "refresh_secret": sealed.fields["refresh_secret"],
            "expires_at": now + tokens.expires_in if tokens.expires_in is not None else None,
            "updated_at": now,
        }
        if tokens.scope is not None:
            values["scopes"] = sorted(tokens.scope.split())
        await self._store.update_if_version(row.id, row.version, **values)
        await self._audit.record("vault.refreshed", user_id=row.owner, provider=row.name)
        latest = await self._store.by_id(row.id)
        if latest is None:
            raise CredentialNotFoundError(row.name)  # disconnected meanwhile
        return latest

    async def _needs_reconsent(self, row: VaultCredential, reason: str) -> None:
        await self._store.update_if_version(
            row.id, row.version, status="needs_reconsent", updated_at=self._now()
        )
        await self._audit.record(
            "vault.refresh_failed", user_id=row.owner, provider=row.name, reason=reason
        )
        raise ReconsentRequiredError(row.name)

    # KEK rotation

    async def rekey(self) -> RekeyReport:
        """Re-wrap every data key not under the current KEK; secrets are not re-encrypted."""
        chain = self._chain()
        rewrapped, unchanged, failed = 0, 0, []
        for row in await self._store.stale_keys(chain.current_id):
            try:
                wrapped = chain.rewrap(row.data_key, record_id=row.id, kek_id=row.kek_id)
            except DecryptionError:
                failed.append(row.id)
                continue
            done = await self._store.rewrap(
                row.id, old_kek_id=row.kek_id, data_key=wrapped, kek_id=chain.current_id
            )
            rewrapped += done
            unchanged += not done  # rewritten meanwhile, under the current KEK
        return RekeyReport(rewrapped, unchanged, tuple(failed))


def _owner_and_agent(principal: Principal) -> tuple[str, str]:
    """Whose record an agent may read: its user's (delegated) or its own (client credentials)."""
    if principal.is_delegated and principal.actor is not None:
        return principal.id, principal.actor
    if principal.id.startswith("agent:") and principal.client_id:
        return principal.id, principal.client_id
    raise DelegationPolicyError("The vault hands tokens to agents only, never to a browser")
