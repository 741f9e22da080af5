"""SQLAlchemy models: the durable state, portable between SQLite and PostgreSQL.

Times are stored as integer seconds since the epoch (UTC) so that comparisons are the
same on every engine and no timezone conversion can creep in. The one exception is a
refresh token's ``rotated_at``: fractional seconds (a double), because the reuse grace
is measured from it exactly, not in whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AgentConsent",
    "AccountToken",
    "AuditEntry",
    "AuditEvent",
    "AuthorizationCode",
    "BackchannelRequest",
    "Base",
    "Consent",
    "Identity",
    "OAuthClient",
    "Passkey",
    "RecoveryCode",
    "RegistrationToken",
    "RefreshToken",
    "RevocationEvent",
    "Session",
    "SigningKey",
    "User",
    "VaultCredential",
]


class Base(DeclarativeBase):
    # Named constraints, the same on SQLite and PostgreSQL, so migrations can alter them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    password_changed_at: Mapped[int | None] = mapped_column(BigInteger)
    # Accounts (issue 16): the address proven by a mailed link, the TOTP secret (sealed),
    # the last TOTP time step used (no replay), and the wrong-code brake.
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    deleted_at: Mapped[int | None] = mapped_column(BigInteger)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[int | None] = mapped_column(BigInteger)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mfa_locked_until: Mapped[int | None] = mapped_column(BigInteger)


class Session(Base):
    """A grant: refresh tokens and access tokens belong to it.

    ``kind`` is ``login`` (a person on a device), ``delegation`` (an agent acting for
    the user under ``parent_id``'s session, with narrowed ``scopes``) or ``agent`` (an
    agent on its own, client credentials). Revoking a session revokes its children.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="login", server_default="login")
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor: Mapped[str | None] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    device_fingerprint: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # RFC 8176 methods of the sign-in, and when a second factor was last shown (step-up).
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    mfa_at: Mapped[int | None] = mapped_column(BigInteger)
    # kind ``grant`` (authgate as authorization server, docs/authorization-server.md): the
    # RFC 8707 resource its access tokens are for; ``actor`` is the client.
    resource: Mapped[str | None] = mapped_column(String(512))


class RefreshToken(Base):
    """One issued refresh token, stored by hash only; ``status`` drives rotation."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))  # active | rotated | revoked
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # Exact (sub-second) time the token was spent: the reuse grace counts from it.
    rotated_at: Mapped[float | None] = mapped_column(Double)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(36))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """The values of one ``AuditEvent`` row, for a store method to insert (no ORM)."""

    at: int
    event: str
    user_id: str | None
    session_id: str | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any] | None

    def columns(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "event": self.event,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "detail": self.detail,
        }


class SigningKey(Base):
    """An asymmetric signing key and its place in the rotation (next/active/retiring/retired).

    The private half is stored only encrypted under the key-encryption key ``kek_id``.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)
    activated_at: Mapped[int | None] = mapped_column(BigInteger)
    retiring_at: Mapped[int | None] = mapped_column(BigInteger)
    retire_after: Mapped[int | None] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger)


class OAuthClient(Base):
    """A machine caller: an agent or a resource server. Only a hash of its secret is kept."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # agent | resource_server
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    owner_user_id: Mapped[str | None] = mapped_column(String(36))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dpop_required: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Authorization server (docs/authorization-server.md). A resource server's audience
    # URL, with per-scope descriptions and the scopes that need a user permission:
    resource: Mapped[str | None] = mapped_column(String(512), unique=True)
    scope_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A third-party client (kind ``app``): RFC 7591 metadata, how it was registered
    # (``cli``, ``dynamic`` or ``cimd``), its metadata document URL, and its last use.
    redirect_uris: Mapped[list[str] | None] = mapped_column(JSON)
    grant_types: Mapped[list[str] | None] = mapped_column(JSON)
    auth_method: Mapped[str | None] = mapped_column(String(32))
    registered_via: Mapped[str | None] = mapped_column(String(16))
    metadata_url: Mapped[str | None] = mapped_column(String(512))
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    # Human approval (docs/ciba.md). An agent's OpenID CIBA s4 registration: ``poll``
    # (also when unset) or ``ping`` with its notification endpoint. A resource server's
    # RFC 9396 s2 authorization_details types it accepts (``tool_call``).
    backchannel_token_delivery_mode: Mapped[str | None] = mapped_column(String(8))
    backchannel_notification_endpoint: Mapped[str | None] = mapped_column(String(512))
    authorization_details_types: Mapped[list[str] | None] = mapped_column(JSON)


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 s4.1.2), stored by hash, bound to all it was for.

    ``used_at`` makes it single use; ``session_id`` is the grant its redemption started,
    revoked when the code comes back a second time (RFC 6749 s4.1.2).
    """

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    resource: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    session_id: Mapped[str | None] = mapped_column(String(36))


class Consent(Base):
    """What a user allowed a client to do at a resource, remembered for the next request."""

    __tablename__ = "oauth_consents"
    __table_args__ = (
        Index(
            "ix_oauth_consents_user_client_resource",
            "user_id",
            "client_id",
            "resource",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class RegistrationToken(Base):
    """An RFC 7591 s3 initial access token, made by ``authgate clients registration-token``."""

    __tablename__ = "oauth_registration_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    uses_left: Mapped[int] = mapped_column(Integer)


class Identity(Base):
    """A sign-in at an OAuth/OIDC provider, linked to one user.

    Keyed by (issuer, subject): OIDC Core s2 makes ``sub`` unique only within its issuer.
    ``email``/``email_verified`` are what the provider last asserted, for display.
    """

    __tablename__ = "identities"
    __table_args__ = (Index("ix_identities_issuer_subject", "issuer", "subject", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_login_at: Mapped[int] = mapped_column(BigInteger)


class VaultCredential(Base):
    """A connected provider account (``kind`` oauth) or a static API key (``api_key``).

    ``owner`` is a user id, or ``agent:<client id>`` for a key an admin stored for an
    agent; ``name`` is the provider or service, one per owner. Secrets are stored only
    sealed (docs/vault.md): each field under the record's own data key, AES-256-GCM with
    the record id and field name as associated data, and the data key wrapped by the
    key-encryption key ``kek_id``. ``version`` changes with every write of the secrets.
    """

    __tablename__ = "vault_credentials"
    __table_args__ = (Index("ix_vault_credentials_owner_name", "owner", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))  # oauth | api_key
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))  # active | needs_reconsent
    account: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    data_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32), index=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class AgentConsent(Base):
    """A user's standing consent that one agent may act for them (RFC 8693 delegation).

    Token exchange for (user, agent) needs this row: the delegation it issues is never
    wider than ``scopes`` nor longer than ``max_ttl`` seconds. One row per pair; the user
    creates, changes and withdraws it (``/auth/delegations``), never an agent.
    """

    __tablename__ = "agent_consents"
    __table_args__ = (Index("ix_agent_consents_user_agent", "user_id", "agent_id", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    max_ttl: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AccountToken(Base):
    """A single-use link token mailed to a person: email verification or password reset.

    Only the SHA-256 of the token is kept; ``email`` is the address the link proves.
    """

    __tablename__ = "account_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # verify_email | reset_password
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """A single-use MFA recovery code, by SHA-256 only."""

    __tablename__ = "recovery_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class Passkey(Base):
    """A WebAuthn credential (a passkey): its public key and signature counter."""

    __tablename__ = "passkeys"

    credential_id: Mapped[str] = mapped_column(String(1400), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class RevocationEvent(Base):
    """A revocation every verifier must learn, in commit order: the revocation feed.

    ``kind`` is ``session`` (a login, delegation or agent grant: tokens with that
    ``sessionId``), ``agent`` (tokens issued to that client before ``revoked_at``) or
    ``key`` (tokens signed by that ``kid``). ``id`` is the feed's cursor; the row lives
    ``until`` every token it kills has expired. The server follows this table, so a
    revocation made by another process (the CLI) reaches it without Redis.
    """

    __tablename__ = "revocation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[int] = mapped_column(BigInteger, index=True)


class BackchannelRequest(Base):
    """An agent's request for one user's approval of one action (OpenID CIBA Core 1.0 s7).

    The ``auth_req_id`` is the agent's secret: only its SHA-256 is kept (``req_hash``);
    ``id`` is the public handle the user's pages use. In ping mode the agent's
    ``client_notification_token`` and the ``auth_req_id`` it must be sent back (s10.2)
    are kept only sealed (AES-256-GCM under the KEK ``kek_id``, the row id as associated
    data). ``status``: pending, approved, denied, issued (token delivered) or expired.
    The token issued on approval has ``token_jti``; ``used_at`` makes it single use at
    the resource (``/oauth2/approvals/redeem``).
    """

    __tablename__ = "backchannel_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    req_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    binding_message: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    resource: Mapped[str] = mapped_column(String(512))
    authorization_details: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    mode: Mapped[str] = mapped_column(String(8))  # poll | ping
    ping_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    interval: Mapped[int] = mapped_column(Integer)
    last_poll_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger)
    token_jti: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
