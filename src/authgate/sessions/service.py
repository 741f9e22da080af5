"""Sessions and their token pairs: issue, rotate, detect reuse, revoke, clean up.

Refresh rotation follows RFC 9700 s4.14.2: every use returns a new refresh token, and
an already rotated token coming back revokes the whole session (its newest refresh
token and every access token), since either the client or an attacker holds a copy.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.devices import DeviceFingerprints, DeviceInfo
from authgate.errors import (
    InvalidTokenError,
    NotFoundError,
    RefreshDeviceMismatchError,
    RefreshTokenError,
    RefreshTokenReuseError,
)
from authgate.scopes import is_vault_scope
from authgate.sessions.revoker import Revoker
from authgate.storage.memory import LocalRevocationFeed
from authgate.storage.models import AuditEntry, RefreshToken, Session, User
from authgate.storage.protocols import RevocationFeed
from authgate.storage.revocation_events import RevocationEvents
from authgate.storage.revocations import RevocationList
from authgate.storage.rotation import GrantSession, GrantUser, NewRefreshToken, Spend
from authgate.storage.store import SqlStore
from authgate.tokens.claims import AccessClaims, RefreshClaims
from authgate.tokens.issuer import SECOND_FACTORS, IssuedToken, TokenIssuer
from authgate.tokens.verifier import TokenVerifier

__all__ = ["GRANT", "AccessMinter", "AuthService", "TokenPair", "hash_token"]

#: The session kind of an authorization-code grant to a third-party client
#: (authgate.authserver): its access tokens are for a resource, minted only there.
GRANT = "grant"
#: Sessions whose fixed columns are kept for one-round-trip rotations (per process).
_FIXED_MAX = 50_000


@dataclass(frozen=True, slots=True)
class _FixedColumns:
    """The columns of a session a replacement refresh token depends on; never updated."""

    id: str
    user_id: str
    expires_at: int
    device_fingerprint: str


#: Mints the access token of a rotation: (user, session, DPoP thumbprint) -> token.
AccessMinter = Callable[[GrantUser, GrantSession, "str | None"], IssuedToken]


def _spend(
    claims: RefreshClaims,
    token: str,
    replacement: IssuedToken,
    now: int,
    audit: AuditEntry,
    spent_at: float,
) -> Spend:
    """The rotation's writes: ``token`` claimed, ``replacement`` stored, ``audit`` kept."""
    row = NewRefreshToken(
        jti=replacement.jti,
        token_hash=hash_token(replacement.token),
        session_id=claims.session_id,
        issued_at=replacement.issued_at,
        expires_at=replacement.expires_at,
    )
    return Spend(claims.jti, hash_token(token), row, now, audit, spent_at)


def hash_token(token: str) -> str:
    # Refresh tokens carry 128+ bits of randomness, so a fast hash is enough at rest.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken
    session_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "accessToken": self.access.token,
            "refreshToken": self.refresh.token,
            "sessionId": self.session_id,
            "tokenType": "Bearer",
            "expiresIn": self.access.expires_at - self.access.issued_at,
        }


class AuthService:
    def __init__(
        self,
        *,
        settings: Settings,
        store: SqlStore,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        revocations: RevocationList,
        audit: AuditTrail,
        clock: Clock = system_clock,
        revocation_feed: RevocationFeed | None = None,
        resource_verifiers: Mapping[str, TokenVerifier] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._issuer = issuer
        self._verifier = verifier
        self._revocations = revocations
        self._audit = audit
        self._clock = clock
        self._fingerprints = DeviceFingerprints.from_secret(
            settings.refresh_secret(), settings.device_fingerprint_inputs
        )
        # An access token issued just before a revocation lives at most this long after it.
        self._revocation_ttl = settings.access_token_ttl + settings.clock_leeway
        self._revocation_events = RevocationEvents(store.engine, clock=clock)
        # Tokens for registered resource servers (RFC 8707): aud is the resource's URL.
        self._resource_verifiers = dict(resource_verifiers or {})
        # Called after each revocation is stored (the runtime nudges its feed follower).
        self.on_revoked: Callable[[], None] | None = None
        # Session id -> the columns a replacement refresh token is made of, which never
        # change after the session is created: lets a rotation be one round trip.
        self._fixed: dict[str, _FixedColumns] = {}

        self.revoker = Revoker(
            store=store,
            revocations=revocations,
            feed=revocation_feed or LocalRevocationFeed(),
            audit=audit,
            revocation_ttl=self._revocation_ttl,
            retry_interval=settings.revocation_poll_interval,
            clock=clock,
        )

    @property
    def fingerprints(self) -> DeviceFingerprints:
        """The keyed device fingerprints (issue 19 item 9), for grants made elsewhere."""
        return self._fingerprints

    def _now(self) -> int:
        return int(self._clock())

    async def start_session(
        self, user: User, device: DeviceInfo, *, amr: list[str] | None = None
    ) -> TokenPair:
        """A login session; ``amr`` (RFC 8176) says how the person proved who they are."""
        now = self._now()
        amr = sorted(amr or ["pwd"])
        device_fp = self._fingerprints.of(device)
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            device_fingerprint=device_fp,
            user_agent=device.user_agent[:512] or None,
            ip=device.ip or None,
            created_at=now,
            last_used_at=now,
            expires_at=now + self._settings.session_absolute_ttl,
            amr=amr,
            mfa_at=now if SECOND_FACTORS.intersection(amr) else None,
        )
        refresh = self._issue_refresh(user.id, session)
        await self._store.add_session(session, self._refresh_row(refresh, session.id))
        self._remember(session)
        await self._audit.record(
            "login.success", user_id=user.id, session_id=session.id, device=device, amr=amr
        )
        return TokenPair(self._issue_access(user, session), refresh, session.id)

    async def refresh(
        self,
        token: str,
        device: DeviceInfo,
        *,
        client_id: str | None = None,
        jkt: str | None = None,
        mint: AccessMinter | None = None,
    ) -> TokenPair:
        """Rotate a refresh token. A delegation's tokens are bound to the agent
        ``client_id`` instead of a browser's device fingerprint; ``mint`` issues the
        access token of a grant whose tokens are not authgate's own (kind ``grant``)."""
        claims = self._verify_refresh(token)
        await self._check_binding(claims, device, client_id)
        spent_at = self._clock()  # exact: the reuse grace is measured from it
        now = int(spent_at)
        # Named from the token's claims before the grant is read: the read below refuses
        # a grant whose session or user is not these two.
        entry = self._audit.entry(
            "token.refresh", user_id=claims.sub, session_id=claims.session_id, device=device
        )
        fixed = self._fixed.get(claims.session_id)  # only kept where one round trip exists
        if fixed is not None and fixed.user_id == claims.sub:
            # A session seen before: its replacement depends only on columns that never
            # change, so it is signed first and the grant read joins the writes (one round
            # trip); the database writes only for a live grant, checked again here.
            replacement = self._issue_refresh(fixed.user_id, fixed)
            spend = _spend(claims, token, replacement, now, entry, spent_at)
            grant, outcome = await self._store.grant_and_rotate(user_id=claims.sub, spend=spend)
            session, user = self._live_grant(grant, now)
        else:
            # One connection, one transaction: read the grant, then claim the token and
            # write its replacement and the audit event together, or nothing at all.
            rotating = self._store.refresh_rotation(
                session_id=claims.session_id, user_id=claims.sub
            )
            async with rotating as rotation:
                session, user = self._live_grant(rotation.grant, now)
                replacement = self._issue_refresh(user.id, session)
                spend = _spend(claims, token, replacement, now, entry, spent_at)
                outcome = await rotation.rotate(spend)
            self._remember(session)
        if outcome.status == "reused":
            await self._on_reuse(claims, device, outcome.rotated_at)
        if outcome.status != "rotated":
            raise RefreshTokenError()
        self._audit.announce(entry)
        issue = mint if mint is not None else self._issue_access
        return TokenPair(issue(user, session, jkt), replacement, session.id)

    def _remember(self, session: Session | GrantSession) -> None:
        """Keep the session's fixed columns for its next rotation (bounded: ids are many)."""
        if not self._store.rotates_in_one_round_trip:
            return
        if len(self._fixed) >= _FIXED_MAX:
            self._fixed.clear()
        self._fixed[session.id] = _FixedColumns(
            session.id, session.user_id, session.expires_at, session.device_fingerprint
        )

    async def start_delegation(
        self,
        user: User,
        parent: Session,
        *,
        agent_id: str,
        scopes: list[str],
        lifetime: int,
        jkt: str | None,
    ) -> TokenPair:
        """RFC 8693 delegation: a child session in which ``agent_id`` acts for ``user``.

        It never outlives its parent session, and revoking the parent revokes it.
        """
        now = self._now()
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            kind="delegation",
            parent_id=parent.id,
            actor=agent_id,
            scopes=sorted(scopes),
            device_fingerprint=self._fingerprints.of_agent(agent_id),
            user_agent=None,
            ip=None,
            created_at=now,
            last_used_at=now,
            expires_at=min(now + lifetime, parent.expires_at),
        )
        refresh = self._issue_refresh(user.id, session)
        await self._store.add_session(session, self._refresh_row(refresh, session.id))
        self._remember(session)
        await self._audit.record(
            "delegation.created",
            user_id=user.id,
            session_id=session.id,
            actor=agent_id,
            scopes=session.scopes,
        )
        return TokenPair(self._issue_access(user, session, jkt), refresh, session.id)

    async def start_agent_grant(
        self,
        *,
        agent_id: str,
        owner_id: str,
        scopes: list[str],
        jkt: str | None,
        resource: str | None = None,
    ) -> IssuedToken:
        """RFC 6749 s4.4 client credentials: a short grant, no refresh token (s4.4.3)."""
        now = self._now()
        session = Session(
            id=str(uuid.uuid4()),
            user_id=owner_id,
            kind="agent",
            actor=agent_id,
            scopes=sorted(scopes),
            device_fingerprint=self._fingerprints.of_agent(agent_id),
            created_at=now,
            last_used_at=now,
            expires_at=now + self._settings.access_token_ttl,
        )
        await self._store.add_session(session, None)
        return self._issuer.issue_access(
            user_id=f"agent:{agent_id}",
            email=None,
            roles=[],
            permissions=sorted(scopes),
            session_id=session.id,
            device_fingerprint=session.device_fingerprint,
            client_id=agent_id,
            jkt=jkt,
            # RFC 8707: a token for another resource server names it, and the issuer
            # by its RFC 8414 identifier, which is what that server discovers.
            resource=None if resource is None else (self._settings.metadata_issuer, resource),
        )

    async def revoke_agent(self, agent_id: str, *, reason: str = "agent_disabled") -> int:
        """An agent disabled (``agent_disabled``) or re-keyed (``agent_secret_rotated``):
        every grant it holds ends now, audited with that reason."""
        session_ids = await self._store.actor_session_ids(agent_id)
        revoked = await self._revoke(session_ids, reason, f"agent:{agent_id}", None)
        # Also by client id: a grant being issued right now is caught by its ``iat``.
        now = self._now()
        await self._revocation_events.append(
            "agent", [agent_id], revoked_at=now, until=now + self._revocation_ttl
        )
        if self.on_revoked is not None:
            self.on_revoked()
        return len(revoked)

    async def delegations(self, user_id: str) -> Sequence[Session]:
        return await self._store.active_sessions(user_id, self._now(), kind="delegation")

    async def logout(self, session_id: str, user_id: str, device: DeviceInfo | None) -> None:
        await self._revoke([session_id], "logout", user_id, device)

    async def logout_all(
        self, user_id: str, device: DeviceInfo | None, *, current_session_id: str | None = None
    ) -> int:
        """Every session of the user; the current one is refused here even if the database
        is down (the rest once it records the logout)."""
        current = [current_session_id] if current_session_id else []
        revoked = await self.revoker.revoke(
            current, "logout_all", user_id, device, all_of_user=True
        )
        return len(revoked)

    async def reissue_access(self, user: User, session_id: str) -> IssuedToken:
        """A fresh access token for a live login session (after a step-up)."""
        session = await self._store.session_by_id(session_id)
        if session is None or session.revoked_at is not None or session.user_id != user.id:
            raise RefreshTokenError()
        return self._issue_access(user, session)

    async def revoke_user_sessions(
        self,
        user_id: str,
        reason: str,
        *,
        device: DeviceInfo | None = None,
        keep: str | None = None,
    ) -> int:
        """Every session of the user (logins, delegations, its agents' grants) but ``keep``."""
        session_ids = [s for s in await self._store.user_session_ids(user_id) if s != keep]
        return len(await self._revoke(session_ids, reason, user_id, device))

    async def revoke_session(self, user_id: str, session_id: str, device: DeviceInfo) -> None:
        session = await self._store.session_by_id(session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            raise NotFoundError("No such active session")
        await self._revoke([session_id], "revoked_by_user", user_id, device)

    async def live_refresh_claims(self, token: str) -> RefreshClaims | None:
        """The claims of an unspent refresh token of a live session, else None (RFC 7662)."""
        try:
            claims = self._verifier.verify_refresh(token)
        except InvalidTokenError:
            return None
        live = await self._store.refresh_token_live(
            jti=claims.jti, token_hash=hash_token(token), now=self._now()
        )
        return claims if live else None

    async def revoke_token(self, token: str, *, actor: str) -> bool:
        """RFC 7009: revoke the session behind a refresh or access token; False if unknown.

        Revoking either token ends the grant, so the session's other tokens go too.
        """
        claims: RefreshClaims | AccessClaims | None = await self.live_refresh_claims(token)
        if claims is None:
            try:
                claims = self._verifier.verify_access(token)
            except InvalidTokenError:
                found = self.resource_access(token)
                if found is None:
                    return False
                claims = found[0]
        await self._revoke([claims.session_id], f"revoked_by_{actor}", claims.sub, None)
        return True

    def resource_access(self, token: str) -> tuple[AccessClaims, str] | None:
        """The claims and audience of a live token for a registered resource, else None."""
        for audience, verifier in self._resource_verifiers.items():
            try:
                claims = verifier.verify_access(token)
            except InvalidTokenError:
                continue
            if claims.session_id in self._revocations:
                return None
            return claims, audience
        return None

    async def active_sessions(self, user_id: str) -> Sequence[Session]:
        return await self._store.active_sessions(user_id, self._now())

    async def load_revocations(self) -> int:
        """Rebuild the in-process revocation list after a restart."""
        now = self._now()
        recent = await self._store.revoked_since(now - self._revocation_ttl)
        for session_id, revoked_at in recent:
            self._revocations.revoke([session_id], revoked_at + self._revocation_ttl)
        return len(recent)

    async def cleanup(self) -> int:
        now = self._now()
        self._revocations.purge(now)
        return await self._store.delete_expired(
            now=now, revoked_before=now - self._settings.refresh_token_ttl
        )

    def _verify_refresh(self, token: str) -> RefreshClaims:
        try:
            return self._verifier.verify_refresh(token)
        except InvalidTokenError as exc:
            raise RefreshTokenError() from exc

    async def _check_binding(
        self, claims: RefreshClaims, device: DeviceInfo, client_id: str | None
    ) -> None:
        fingerprints = self._fingerprints
        presented = fingerprints.of_agent(client_id) if client_id else fingerprints.of(device)
        if not hmac.compare_digest(presented, claims.device_fingerprint):
            await self._audit.record(
                "token.device_mismatch",
                user_id=claims.sub,
                session_id=claims.session_id,
                device=device,
            )
            raise RefreshDeviceMismatchError()

    @staticmethod
    def _live_grant(
        grant: tuple[GrantSession, GrantUser] | None, now: int
    ) -> tuple[GrantSession, GrantUser]:
        if grant is None:  # no such session or user, or the session is someone else's
            raise RefreshTokenError()
        session, user = grant
        if session.revoked_at is not None or session.expires_at <= now or not user.is_active:
            raise RefreshTokenError()
        return grant

    async def _on_reuse(
        self, claims: RefreshClaims, device: DeviceInfo, rotated_at: float | None
    ) -> NoReturn:
        # Exact times, strictly inside the window: a grace of 0 forgives nothing, and a
        # grace of 2 s ends 2 s after the token was spent (RFC 9700 s4.14.2).
        if (
            rotated_at is not None
            and self._clock() - rotated_at < self._settings.refresh_reuse_grace
        ):
            # The loser of a concurrent refresh: refuse it, keep the winner's session.
            await self._audit.record(
                "token.refresh_race",
                user_id=claims.sub,
                session_id=claims.session_id,
                device=device,
            )
            raise RefreshTokenError()
        await self._revoke([claims.session_id], "refresh_reuse", claims.sub, device)
        await self._audit.record(
            "token.reuse_detected", user_id=claims.sub, session_id=claims.session_id, device=device
        )
        raise RefreshTokenReuseError()

    async def _revoke(
        self, session_ids: Sequence[str], reason: str, user_id: str, device: DeviceInfo | None
    ) -> list[str]:
        revoked = await self.revoker.revoke(session_ids, reason, user_id, device)
        if self.on_revoked is not None:
            self.on_revoked()
        return revoked

    def _issue_access(
        self, user: User | GrantUser, session: Session | GrantSession, jkt: str | None = None
    ) -> IssuedToken:
        if session.kind == GRANT:
            # A third-party client's grant never yields an authgate token (fail closed).
            raise RefreshTokenError()
        permissions = self._settings.permissions_for(list(user.roles))
        if session.kind != "delegation":
            amr = list(session.amr or ["pwd"])
            return self._issuer.issue_access(
                user_id=user.id,
                email=user.email,
                roles=list(user.roles),
                permissions=permissions,
                session_id=session.id,
                device_fingerprint=session.device_fingerprint,
                jkt=jkt,
                email_verified=bool(user.email_verified),
                amr=amr,
                auth_time=session.mfa_at or session.created_at,
            )
        # Never wider than the user has now, nor than was delegated (RFC 8693 s2.1); no
        # roles either, so a handler checking roles cannot hand an agent the user's role.
        delegated = sorted(s for s in session.scopes or () if s in permissions or is_vault_scope(s))
        return self._issuer.issue_access(
            user_id=user.id,
            email=user.email,
            roles=[],
            permissions=delegated,
            session_id=session.id,
            device_fingerprint=session.device_fingerprint,
            actor=session.actor,
            client_id=session.actor,
            jkt=jkt,
            not_after=session.expires_at,
        )

    def _issue_refresh(
        self, user_id: str, session: Session | GrantSession | _FixedColumns
    ) -> IssuedToken:
        return self._issuer.issue_refresh(
            user_id=user_id,
            session_id=session.id,
            device_fingerprint=session.device_fingerprint,
            not_after=session.expires_at,
        )

    def _refresh_row(self, token: IssuedToken, session_id: str) -> RefreshToken:
        return RefreshToken(
            jti=token.jti,
            token_hash=hash_token(token.token),
            session_id=session_id,
            status="active",
            issued_at=token.issued_at,
            expires_at=token.expires_at,
        )
