"""The authorization server: codes after consent, grants from codes, refreshes, revocation.

A grant is an authgate session of kind ``grant`` (``actor`` = the client's row id,
``resource``, ``scopes``), so refresh rotation with reuse detection (RFC 9700 s4.14.2),
revocation, logout-all and the revocation feed all apply to it unchanged. Its refresh
tokens are bound to the client the way a delegation's are bound to its agent.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from authgate.audit import AuditTrail
from authgate.authserver.apps import App, AppRegistry
from authgate.authserver.codes import CodeStore
from authgate.authserver.consents import ConsentStore
from authgate.authserver.errors import GrantError, OAuthError
from authgate.authserver.pkce import verify_s256
from authgate.authserver.requests import AuthorizationRequest
from authgate.authserver.resources import Resource, ResourceRegistry
from authgate.authserver.tokens import ResourceTokens
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.devices import DeviceInfo
from authgate.errors import InvalidTokenError, NotFoundError, RefreshTokenError
from authgate.sessions.service import GRANT, AuthService, hash_token
from authgate.storage.models import RefreshToken, Session
from authgate.storage.rotation import GrantSession, GrantUser
from authgate.storage.store import SqlStore
from authgate.tokens.issuer import IssuedToken, TokenIssuer
from authgate.tokens.verifier import TokenVerifier

__all__ = ["AuthorizationServer", "GrantTokens"]

_PURGE_EVERY = 256
_OPERATOR = DeviceInfo(user_agent="", ip="", accept_language="")  # no browser involved


@dataclass(frozen=True, slots=True)
class GrantTokens:
    access: IssuedToken
    refresh: IssuedToken
    scopes: list[str]
    session_id: str


class AuthorizationServer:
    def __init__(
        self,
        *,
        settings: Settings,
        store: SqlStore,
        auth: AuthService,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        tokens: ResourceTokens,
        apps: AppRegistry,
        resources: ResourceRegistry,
        consents: ConsentStore,
        codes: CodeStore,
        audit: AuditTrail,
        clock: Clock = system_clock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._auth = auth
        self._issuer = issuer
        self._verifier = verifier
        self.tokens = tokens
        self.apps = apps
        self.resources = resources
        self.consents = consents
        self.codes = codes
        self._audit = audit
        self._clock = clock
        self._issued = 0

    # The authorization endpoint

    def grantable(self, request: AuthorizationRequest, roles: Sequence[str]) -> tuple[str, ...]:
        """The requested scopes this user may grant (restricted ones need the permission)."""
        allowed = request.resource.grantable(self._settings.permissions_for(list(roles)))
        return tuple(s for s in request.scopes if s in allowed)

    async def missing_consent(
        self, request: AuthorizationRequest, user_id: str, scopes: Collection[str]
    ) -> list[str]:
        """The scopes the user has not yet allowed this client at this resource."""
        if "consent" in request.prompt:
            return sorted(scopes)
        known = await self.consents.granted(user_id, request.client.id, request.resource.url)
        return sorted(set(scopes) - known)

    async def approve(
        self, request: AuthorizationRequest, user_id: str, scopes: Sequence[str], *, remember: bool
    ) -> str:
        """Consent given (now or before): remember it and issue the code."""
        if remember:
            await self.consents.remember(user_id, request.client.id, request.resource.url, scopes)
            await self._audit.record(
                "authserver.consent",
                user_id=user_id,
                client=request.client.public_id,
                resource=request.resource.url,
                scopes=sorted(scopes),
            )
        code = await self.codes.issue(
            client_id=request.client.id,
            user_id=user_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            resource=request.resource.url,
            scopes=scopes,
        )
        await self.apps.touch(request.client.id)
        self._issued += 1
        if self._issued % _PURGE_EVERY == 0:
            await self.codes.purge()  # spent and expired codes, now and then
        await self._audit.record(
            "authserver.authorize",
            user_id=user_id,
            client=request.client.public_id,
            resource=request.resource.url,
            scopes=sorted(scopes),
        )
        return code

    async def deny(self, request: AuthorizationRequest, user_id: str) -> None:
        await self._audit.record(
            "authserver.consent_denied",
            user_id=user_id,
            client=request.client.public_id,
            resource=request.resource.url,
        )

    # The token endpoint

    async def redeem(
        self,
        client: App,
        *,
        code: str,
        redirect_uri: str | None,
        verifier: str | None,
        resource: str | None,
        device: DeviceInfo,
        jkt: str | None,
    ) -> GrantTokens:
        """RFC 6749 s4.1.3 with RFC 7636 s4.6 and RFC 8707 s2.2."""
        issued = await self.codes.lookup(code)
        now = int(self._clock())
        if issued is None or issued.client_id != client.id:
            raise GrantError("The authorization code is not valid")  # unknown, or another's
        if issued.used_at is not None:
            await self._on_replay(issued.user_id, issued.session_id, client, device)
            raise GrantError("The authorization code was already used")
        if issued.expires_at <= now:
            raise GrantError("The authorization code has expired")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]  # s4.1.3: required only if it was sent
        if redirect_uri != issued.redirect_uri:
            raise GrantError("redirect_uri does not match the authorization request")
        if not verifier or not verify_s256(verifier, issued.code_challenge):
            await self.codes.burn(code)
            raise GrantError("The code_verifier does not match the code_challenge")
        if resource is not None and resource != issued.resource:
            raise OAuthError(
                "resource differs from the authorization request", error="invalid_target"
            )
        return await self._start_grant(
            client, code, issued.user_id, issued.resource, issued.scopes, device, jkt
        )

    async def refresh(
        self,
        client: App,
        *,
        token: str,
        scope: str | None,
        resource: str | None,
        device: DeviceInfo,
        jkt: str | None,
    ) -> GrantTokens:
        """RFC 6749 s6: rotate; the scope may narrow, never widen; the resource stays."""
        grant = await self._grant_of(token, client)
        if resource is not None and resource != grant.resource:
            raise OAuthError("A refresh keeps its resource", error="invalid_target")
        scopes = list(grant.scopes or ())
        if scope is not None:
            requested = set(scope.split(" ")) - {""}
            if not requested or not requested <= set(scopes):
                raise OAuthError("A refresh may only narrow the scope", error="invalid_scope")
            scopes = sorted(requested)
        target = await self.resources.by_url(grant.resource or "")
        if target is None:
            raise OAuthError("The resource is no longer registered", error="invalid_target")

        def mint(user: GrantUser, session: GrantSession, bound: str | None) -> IssuedToken:
            allowed = target.grantable(self._settings.permissions_for(list(user.roles)))
            return self._access(
                user.id,
                client,
                target,
                [s for s in scopes if s in allowed],
                session.id,
                session.expires_at,
                bound,
            )

        try:
            pair = await self._auth.refresh(token, device, client_id=client.id, jkt=jkt, mint=mint)
        except RefreshTokenError as exc:
            raise GrantError(exc.message) from exc
        return GrantTokens(pair.access, pair.refresh, scopes, pair.session_id)

    # The user's view

    async def grants(self, user_id: str) -> Sequence[Session]:
        return await self._store.active_sessions(user_id, int(self._clock()), kind=GRANT)

    async def revoke_grant(self, user_id: str, session_id: str, device: DeviceInfo) -> None:
        """End a grant now, and forget the consent so the app must ask again."""
        session = await self._store.session_by_id(session_id)
        if session is None or session.kind != GRANT or session.user_id != user_id:
            raise NotFoundError("No such grant")
        await self._auth.revoke_session(user_id, session_id, device)
        if session.actor and session.resource:
            await self.consents.forget(user_id, session.actor, session.resource)

    async def revoke_token(self, token: str, client: App) -> bool:
        """RFC 7009: end the grant behind one of ``client``'s tokens (refresh or access).

        A token issued to another client is left alone (s2.1), answered like an unknown one.
        """
        session_id = await self._own_session(token, client)
        if session_id is None:
            return False
        session = await self._store.session_by_id(session_id)
        if session is None or session.kind != GRANT or session.actor != client.id:
            return False
        with contextlib.suppress(NotFoundError):
            await self._auth.revoke_session(session.user_id, session.id, _OPERATOR)
        return True

    async def _own_session(self, token: str, client: App) -> str | None:
        try:
            return self._verifier.verify_refresh(token).session_id
        except InvalidTokenError:
            pass
        try:
            claims = self.tokens.verify(token)
        except InvalidTokenError:
            return None
        return claims.session_id if claims.client_id == client.public_id else None

    async def revoke_client(self, client_id: str, resource: str | None) -> int:
        """A client disabled: its grants end; a resource disabled: every grant for it ends."""
        ended = await self._auth.revoke_agent(client_id)
        if resource is None:
            return ended
        for session in await self._store.resource_sessions(resource):
            with contextlib.suppress(NotFoundError):
                await self._auth.revoke_session(session.user_id, session.id, _OPERATOR)
                ended += 1
        return ended

    # Internals

    async def _grant_of(self, token: str, client: App) -> Session:
        try:
            claims = self._verifier.verify_refresh(token)
        except InvalidTokenError as exc:
            raise GrantError("The refresh token is not valid") from exc
        session = await self._store.session_by_id(claims.session_id)
        if session is None or session.kind != GRANT or session.actor != client.id:
            raise GrantError("The refresh token is not valid")
        return session

    async def _start_grant(
        self,
        client: App,
        code: str,
        user_id: str,
        resource_url: str,
        scopes: Sequence[str],
        device: DeviceInfo,
        jkt: str | None,
    ) -> GrantTokens:
        resource = await self.resources.by_url(resource_url)
        user = await self._store.user_by_id(user_id)
        if resource is None or user is None or not user.is_active:
            raise GrantError("The authorization is no longer valid")
        allowed = resource.grantable(self._settings.permissions_for(list(user.roles)))
        granted = sorted(s for s in scopes if s in allowed)
        now = int(self._clock())
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            kind=GRANT,
            actor=client.id,
            scopes=granted,
            resource=resource.url,
            device_fingerprint=self._auth.fingerprints.of_agent(client.id),
            user_agent=device.user_agent[:512] or None,
            ip=device.ip or None,
            created_at=now,
            last_used_at=now,
            expires_at=now + self._settings.session_absolute_ttl,
        )
        refresh = self._issuer.issue_refresh(
            user_id=user.id,
            session_id=session.id,
            device_fingerprint=session.device_fingerprint,
            not_after=session.expires_at,
        )
        if not await self.codes.redeem(code, session, _refresh_row(refresh, session.id)):
            issued = await self.codes.lookup(code)
            await self._on_replay(user.id, issued.session_id if issued else None, client, device)
            raise GrantError("The authorization code was already used")
        await self._audit.record(
            "authserver.grant", user_id=user.id, session_id=session.id, client=client.public_id
        )
        access = self._access(
            user.id, client, resource, granted, session.id, session.expires_at, jkt
        )
        return GrantTokens(access, refresh, granted, session.id)

    def _access(
        self,
        user_id: str,
        client: App,
        resource: Resource,
        scopes: list[str],
        session_id: str,
        not_after: int,
        jkt: str | None,
    ) -> IssuedToken:
        return self.tokens.issue(
            user_id=user_id,
            client_id=client.public_id,
            resource=resource.url,
            scopes=scopes,
            session_id=session_id,
            jkt=jkt,
            not_after=not_after,
        )

    async def _on_replay(
        self, user_id: str, session_id: str | None, client: App, device: DeviceInfo
    ) -> None:
        """RFC 6749 s4.1.2: a code used twice revokes what its first use issued."""
        await self._audit.record(
            "authserver.code_reused",
            user_id=user_id,
            session_id=session_id,
            client=client.public_id,
        )
        if session_id is None:
            return
        with contextlib.suppress(NotFoundError):  # already revoked
            await self._auth.revoke_session(user_id, session_id, device)


def _refresh_row(token: IssuedToken, session_id: str) -> RefreshToken:
    return RefreshToken(
        jti=token.jti,
        token_hash=hash_token(token.token),
        session_id=session_id,
        status="active",
        issued_at=token.issued_at,
        expires_at=token.expires_at,
    )
