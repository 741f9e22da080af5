"""The agent's side of approvals: OpenID CIBA Core 1.0 with RFC 9396 details.

- ``request`` (CIBA s7, ``POST /oauth2/bc-authorize``): an agent names a user
  (``login_hint``, the email), what it wants to do (``authorization_details``, RFC 9396
  s2) and a ``binding_message``; it gets ``auth_req_id``, ``expires_in`` and
  ``interval`` (s7.3). Only users who delegated to this agent can be asked
  (``POST /auth/delegations``); an unknown user and one without that delegation get the
  same ``unknown_user_id`` (s13), so an agent cannot probe who has an account.
- ``exchange`` (s10.1, grant ``urn:openid:params:grant-type:ciba`` at ``/oauth2/token``):
  ``authorization_pending``, ``slow_down`` (polling faster than the interval, which then
  grows by 5 s), ``access_denied``, ``expired_token``, and ``invalid_grant`` for an
  unknown ``auth_req_id``, one issued to another client, or one already used (s11).
  Success answers once: an approval token (RFC 9068) for the resource, DPoP-bound when the
  agent sent a proof (RFC 9449 s5), carrying the approved ``authorization_details``
  (RFC 9396 s7). No refresh token.
- ``redeem`` (``POST /oauth2/approvals/redeem``): the resource spends the token once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authgate.accounts.users import normalise_email
from authgate.agents.consents import AgentConsents
from authgate.agents.registry import PING
from authgate.audit import AuditTrail
from authgate.authserver.approval_notices import ApprovalNotices
from authgate.authserver.approval_store import (
    APPROVED,
    DENIED,
    EXPIRED,
    ISSUED,
    PENDING,
    ApprovalStore,
)
from authgate.authserver.approvals import seal_ping_secret
from authgate.authserver.authorization_details import parse_authorization_details
from authgate.authserver.errors import GrantError, OAuthError
from authgate.authserver.redirects import is_loopback_http
from authgate.authserver.resources import Resource, ResourceRegistry
from authgate.authserver.tokens import ResourceTokens
from authgate.clock import Clock, system_clock
from authgate.errors import InvalidTokenError
from authgate.keys.encryption import KeyEncryptionKey
from authgate.storage.models import BackchannelRequest, OAuthClient, User
from authgate.storage.store import SqlStore
from authgate.tokens.issuer import IssuedToken

__all__ = [
    "CIBA_GRANT",
    "MAX_PENDING",
    "ApprovalToken",
    "Backchannel",
    "BackchannelAnswer",
    "Timing",
    "check_notification_endpoint",
]

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
SLOW_DOWN_STEP = 5  # CIBA s11 (RFC 8628 s3.5): the interval grows by 5 s
MAX_BINDING_MESSAGE = 120
# Undecided requests one agent may have waiting for one user: an agent cannot flood
# the user's approval list (or their phone, through the webhook).
MAX_PENDING = 10
# RFC 6750 s2.1 b64token: the notification token goes into an Authorization header.
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]{1,1024}=*$")
_NO_USER = "No user who delegated to this agent matches login_hint"


@dataclass(frozen=True, slots=True)
class Timing:
    request_ttl: int
    interval: int
    token_ttl: int


@dataclass(frozen=True, slots=True)
class BackchannelAnswer:
    """CIBA s7.3: the agent's handle on the request."""

    auth_req_id: str
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class ApprovalToken:
    token: IssuedToken
    scopes: list[str]
    authorization_details: list[dict[str, Any]]


class AlreadyUsedError(OAuthError):
    error = "already_used"
    message = "This approval token was already used"
    status_code = 409


def check_notification_endpoint(url: str) -> str:
    """CIBA s4 ``backchannel_client_notification_endpoint``: https (http on loopback for
    development), absolute, without fragment; at most 512 characters."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or is_loopback_http(url)
    if len(url) > 512 or not parts.netloc or "#" in url or not secure:
        raise _bad("The notification endpoint must be an https URL (http only on loopback)")
    return url


def _hash(auth_req_id: str) -> str:
    return hashlib.sha256(auth_req_id.encode()).hexdigest()


def _bad(message: str, error: str = "invalid_request") -> OAuthError:
    return OAuthError(message, error=error)


def _binding_message(params: Mapping[str, str]) -> str | None:
    message = params.get("binding_message")
    if message is None:
        return None
    # CIBA s7.1: short, shown on both devices; s13 invalid_binding_message otherwise.
    if not message.strip() or len(message) > MAX_BINDING_MESSAGE or not message.isprintable():
        raise _bad(
            f"binding_message must be 1 to {MAX_BINDING_MESSAGE} printable characters",
            "invalid_binding_message",
        )
    return message


def _login_hint(params: Mapping[str, str]) -> str:
    # CIBA s7.1: exactly one hint; authgate takes the user's email as login_hint only.
    if "login_hint_token" in params or "id_token_hint" in params:
        raise _bad("Only login_hint (the user's email) is supported")
    if "user_code" in params:
        raise _bad("user_code is not supported (backchannel_user_code_parameter_supported)")
    hint = params.get("login_hint")
    if not hint or len(hint) > 320:
        raise _bad("login_hint (the user's email) is required")
    return normalise_email(hint)


def _expiry(params: Mapping[str, str], maximum: int) -> int:
    requested = params.get("requested_expiry")
    if requested is None:
        return maximum
    if not requested.isdigit() or not 1 <= int(requested) <= 10**6:
        raise _bad("requested_expiry must be a positive number of seconds")
    return min(int(requested), maximum)


def _notification_token(client: OAuthClient, params: Mapping[str, str]) -> str | None:
    if client.backchannel_token_delivery_mode != PING:
        return None
    token = params.get("client_notification_token")
    # CIBA s7.1: REQUIRED in ping mode; it authenticates authgate's callback.
    if token is None or not _B64TOKEN.match(token):
        raise _bad("client_notification_token is required in ping mode (a bearer token)")
    return token


class Backchannel:
    def __init__(
        self,
        *,
        store: ApprovalStore,
        users: SqlStore,
        consents: AgentConsents,
        resources: ResourceRegistry,
        tokens: ResourceTokens,
        audit: AuditTrail,
        notices: ApprovalNotices,
        kek: KeyEncryptionKey,
        timing: Timing,
        permissions: Callable[[list[str]], list[str]],
        public_url: str,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._users = users
        self._consents = consents
        self._resources = resources
        self._tokens = tokens
        self._audit = audit
        self._notices = notices
        self._kek = kek
        self._timing = timing
        self._permissions = permissions  # roles -> permissions (Settings.permissions_for)
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    # CIBA s7: the backchannel authentication request

    async def request(self, client: OAuthClient, params: Mapping[str, str]) -> BackchannelAnswer:
        bearer = _notification_token(client, params)
        message = _binding_message(params)
        email = _login_hint(params)
        expires_in = _expiry(params, self._timing.request_ttl)
        raw = params.get("authorization_details")
        if not raw:
            raise _bad("authorization_details is required (RFC 9396 s2)")
        action = await parse_authorization_details(raw, self._resources.details_types)
        user = await self._delegating_user(email, client.client_id)
        waiting = await self._store.pending_count(user.id, client.client_id, int(self._clock()))
        if waiting >= MAX_PENDING:
            raise _bad(
                f"{MAX_PENDING} requests already wait for this user's decision", "access_denied"
            )
        resource = await self._resources.by_url(action.resource)
        if resource is None:  # disabled in between
            raise _bad("The resource is not registered", "invalid_authorization_details")
        scopes = self._scopes(params, resource, user)
        auth_req_id = secrets.token_urlsafe(32)  # CIBA s7.3: >= 128 bits (here 256)
        row = self._row(client, user, auth_req_id, message, scopes, action.details, expires_in)
        if bearer is not None:
            row.ping_secret = seal_ping_secret(
                self._kek, row.id, auth_req_id=auth_req_id, bearer=bearer
            )
            row.kek_id = self._kek.kek_id
        await self._store.add(row)
        await self._audit.record(
            "approval.requested",
            user_id=user.id,
            approval=row.id,
            agent=client.client_id,
            resource=action.resource,
            tools=[str(d.get("tool", d["type"])) for d in action.details],
        )
        self._notices.webhook(self._webhook_body(row, client))
        return BackchannelAnswer(auth_req_id, expires_in, row.interval)

    async def _delegating_user(self, email: str, agent_id: str) -> User:
        user = await self._users.user_by_email(email)
        if user is None or not user.is_active or user.deleted_at is not None:
            raise _bad(_NO_USER, "unknown_user_id")
        if await self._consents.get(user.id, agent_id) is None:
            raise _bad(_NO_USER, "unknown_user_id")  # the same answer: no enumeration
        return user

    def _scopes(self, params: Mapping[str, str], resource: Resource, user: User) -> list[str]:
        requested = {s for s in (params.get("scope") or "").split(" ") if s}
        grantable = resource.grantable(self._permissions(list(user.roles)))
        if not requested <= grantable:
            raise _bad("A requested scope is not the resource's to grant", "invalid_scope")
        return sorted(requested)

    def _row(
        self,
        client: OAuthClient,
        user: User,
        auth_req_id: str,
        message: str | None,
        scopes: list[str],
        details: list[dict[str, Any]],
        expires_in: int,
    ) -> BackchannelRequest:
        now = int(self._clock())
        return BackchannelRequest(
            id=str(uuid.uuid4()),
            req_hash=_hash(auth_req_id),
            user_id=user.id,
            client_id=client.client_id,
            binding_message=message,
            scopes=scopes,
            resource=details[0]["resource"],
            authorization_details=details,
            mode=client.backchannel_token_delivery_mode or "poll",
            status=PENDING,
            interval=self._timing.interval,
            created_at=now,
            expires_at=now + expires_in,
        )

    def _webhook_body(self, row: BackchannelRequest, client: OAuthClient) -> dict[str, Any]:
        return {
            "event": "approval.requested",
            "approval_id": row.id,
            "user_id": row.user_id,
            "agent": {"client_id": client.client_id, "name": client.name},
            "binding_message": row.binding_message,
            "summaries": [str(d.get("summary", "")) for d in row.authorization_details],
            "expires_at": row.expires_at,
            "approve_url": f"{self._public_url}/account#approval-{row.id}",
        }

    # CIBA s10.1, s11: the token request

    async def exchange(
        self, client: OAuthClient, auth_req_id: str | None, jkt: str | None
    ) -> ApprovalToken:
        if not auth_req_id or len(auth_req_id) > 256:
            raise _bad("auth_req_id is required")
        row = await self._store.by_hash(_hash(auth_req_id))
        if row is None or row.client_id != client.client_id:
            # s11: unknown, or issued to another client: the same answer.
            raise GrantError("The auth_req_id is not valid")
        now = self._clock()
        if row.status == ISSUED:
            raise GrantError("The auth_req_id was already used")
        if row.status == EXPIRED or now >= row.expires_at:
            await self._expire(row)
            raise _bad("The request has expired; ask again", "expired_token")
        if row.status == DENIED:
            raise _bad("The user denied the request", "access_denied")
        if row.status == PENDING:
            await self._pending(row, now)
        return await self._issue(row, jkt)

    async def _expire(self, row: BackchannelRequest) -> None:
        if row.status in (PENDING, APPROVED) and await self._store.expire(row.id):
            await self._audit.record(
                "approval.expired", user_id=row.user_id, approval=row.id, agent=row.client_id
            )

    async def _pending(self, row: BackchannelRequest, now: float) -> None:
        too_fast = row.last_poll_at is not None and now - row.last_poll_at < row.interval
        interval = row.interval + SLOW_DOWN_STEP if too_fast else row.interval
        await self._store.record_poll(row.id, now=now, interval=interval)
        if too_fast:
            raise _bad(f"Poll at most every {interval} seconds", "slow_down")
        raise _bad("The user has not decided yet", "authorization_pending")

    async def _issue(self, row: BackchannelRequest, jkt: str | None) -> ApprovalToken:
        user = await self._users.user_by_id(row.user_id)
        consent = await self._consents.get(row.user_id, row.client_id)
        if user is None or not user.is_active or consent is None:
            # The user was disabled, or withdrew the delegation, since approving.
            raise _bad("The user no longer lets this agent act for them", "access_denied")
        token = self._tokens.issue(
            user_id=row.user_id,
            client_id=row.client_id,
            resource=row.resource,
            scopes=list(row.scopes),
            session_id=row.id,
            jkt=jkt,
            not_after=int(self._clock()) + self._timing.token_ttl,
            authorization_details=list(row.authorization_details),
        )
        if not await self._store.mark_issued(
            row.id, jti=token.jti, token_expires_at=token.expires_at
        ):
            raise GrantError("The auth_req_id was already used")  # a concurrent poll won
        await self._audit.record(
            "approval.token_issued",
            user_id=row.user_id,
            approval=row.id,
            agent=row.client_id,
            dpop=jkt is not None,
        )
        return ApprovalToken(token, list(row.scopes), list(row.authorization_details))

    # Single use at the resource

    async def redeem(self, caller: OAuthClient, token: str | None) -> dict[str, Any]:
        """Spend an approval token for the resource ``caller`` serves: the first time its
        claims, then ``already_used`` (409), across instances sharing the database."""
        if caller.kind != "resource_server" or caller.resource is None:
            raise _bad("Only a resource server redeems approval tokens", "unauthorized_client")
        if not token:
            raise _bad("The token parameter is required")
        try:
            claims = self._tokens.verify(token)
        except InvalidTokenError as exc:
            raise _bad("The token is not valid", "invalid_token") from exc
        if claims.authorization_details is None or claims.aud != caller.resource:
            raise _bad("Not an approval token for this resource", "invalid_token")
        try:
            row = await self._store.redeem(claims.jti, now=int(self._clock()))
        except LookupError as exc:
            raise _bad("Not an approval token for this resource", "invalid_token") from exc
        if row is None:
            raise AlreadyUsedError()
        await self._audit.record(
            "approval.used",
            user_id=claims.sub,
            approval=row.id,
            agent=claims.client_id,
            resource=caller.resource,
        )
        return {
            "redeemed": True,
            "authorization_details": claims.authorization_details,
            "sub": claims.sub,
            "client_id": claims.client_id,
        }
