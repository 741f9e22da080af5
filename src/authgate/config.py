"""Settings, read once from the environment and `.env` into a frozen object.

The JWT secrets keep the names of the original design (`JWT_ACCESS_SECRET`,
`JWT_REFRESH_SECRET`); everything else is prefixed `AUTHGATE_`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authgate.errors import ConfigurationError, WeakSecretError
from authgate.secretstrength import check_secret, generate_secret
from authgate.statedir import make_private_dir

__all__ = ["DevelopmentSecretsWarning", "Settings", "load_settings", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> int:
    """Seconds from an int or a string such as ``900``, ``15m``, ``7d``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("expected seconds or a duration such as 15m, 12h, 7d")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _rate_limit_text(value: Any) -> Any:
    from authgate.ratelimit import parse_rule

    parse_rule(str(value))  # raises ValueError on bad notation
    return value


Duration = Annotated[int, BeforeValidator(parse_duration), Field(ge=1)]
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
RateLimitText = Annotated[str, BeforeValidator(_rate_limit_text)]
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self' https://apis.google.com; "
    "connect-src 'self' https://api.github.com; frame-ancestors 'none'"
)
FingerprintInput = Literal["user-agent", "ip", "accept-language"]


def _unprefixed(name: str) -> Any:
    """A setting read from ``name`` without the AUTHGATE_ prefix (the original design's names)."""
    return Field(default=None, validation_alias=AliasChoices(name, name.lower()))


DEFAULT_ROLE_PERMISSIONS = {
    "user": ["use_agent"],
    "admin": ["use_agent", "manage_agent", "manage_users"],
}


class DevelopmentSecretsWarning(UserWarning):
    """No secrets were configured, so development secrets were generated."""


class Settings(BaseSettings):
    """Every setting, with its secure default. See the configuration table in README."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHGATE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    env: Literal["development", "test", "production"] = "development"
    state_dir: Path = Path(".authgate")
    database_url: str | None = None
    # Bounded pool: when every connection is busy for db_pool_timeout seconds, 503.
    db_pool_size: Annotated[int, Field(ge=1, le=1000)] = 10
    db_max_overflow: Annotated[int, Field(ge=0, le=1000)] = 5
    db_pool_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0
    db_connect_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0
    db_command_timeout: Annotated[float, Field(gt=0, le=600)] = 15.0
    # None: apply migrations at startup only on the embedded SQLite default.
    auto_migrate: bool | None = None
    # Hot state (revocations, rate limits, single-use markers); unset: in process.
    redis_url: str | None = None
    redis_key_prefix: str = "authgate:"
    redis_timeout: Annotated[float, Field(gt=0, le=60)] = 2.0
    # Without the Redis subscription, the revocation view is kept current by polling
    # the database this often; access checks answer 503 once it is older than the max.
    revocation_poll_interval: Annotated[float, Field(gt=0, le=60)] = 1.0
    revocation_resync_interval: Annotated[float, Field(gt=0, le=3600)] = 30.0
    revocation_max_staleness: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # The server follows the revocation_events table this often (revocations made by the
    # CLI or another instance); GET /oauth2/revocations long-polls at most the wait.
    revocation_follow_interval: Annotated[float, Field(gt=0, le=60)] = 0.25
    revocation_feed_max_wait: Annotated[float, Field(ge=0, le=60)] = 25.0

    jwt_access_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("JWT_ACCESS_SECRET", "jwt_access_secret")
    )
    jwt_refresh_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("JWT_REFRESH_SECRET", "jwt_refresh_secret")
    )
    jwt_issuer: str = "ai-agent-system"
    # Signing keys (docs/keys.md): HS256 uses the secrets above; the others a key store.
    signing_alg: Literal["HS256", "EdDSA", "ES256", "RS256"] = "HS256"
    encryption_key: SecretStr | None = None
    # The vault (docs/vault.md): the KEK before the last rotation, read-only, until
    # `authgate vault rekey` has re-wrapped every data key under encryption_key.
    encryption_key_previous: SecretStr | None = None
    # A provider token handed out to an agent is refreshed first when it has less left.
    vault_refresh_margin: Annotated[int, Field(ge=0, le=3600)] = 60
    key_rotation_interval: Annotated[int, BeforeValidator(parse_duration), Field(ge=0)] = 0
    key_reload_interval: Duration = 60
    public_url: str = "http://127.0.0.1:8000"
    # Other URLs this same server is reached at (another host name, a path behind a
    # second proxy). DPoP proofs must name one of these or public_url, never whatever
    # the request's Host header says (RFC 9449 s4.3 step 9; issue 19 item 7).
    additional_public_urls: CommaList = Field(default_factory=list)
    # Agents (docs/agents.md): the longest a user-to-agent delegation may live.
    delegation_max_ttl: Duration = 24 * 3600
    issuer_url: str | None = None
    jwt_audience: str = "ai-agent-users"
    access_token_ttl: Duration = 15 * 60
    refresh_token_ttl: Duration = 7 * 86400
    session_absolute_ttl: Duration = 30 * 86400
    # RFC 7519 s4.1.4: "a small leeway, usually no more than a few minutes"; a minute is
    # plenty for synchronised clocks and bounds how long an expired token still passes.
    clock_leeway: Annotated[int, Field(ge=0, le=60)] = 10
    # A rotated refresh token presented again within this window is refused without
    # revoking the session: it is the loser of a concurrent refresh, not a replay.
    # Seconds, fractions allowed, measured exactly from the moment the token was spent.
    refresh_reuse_grace: Annotated[float, Field(ge=0, le=60)] = 2.0
    # DPoP (RFC 9449, docs/agents.md): how old a proof's iat may be, and whether every
    # proof must carry a server nonce (s8, s9).
    dpop_iat_window: Annotated[int, Field(ge=5, le=600)] = 60
    dpop_nonce_required: bool = False

    registration_enabled: bool = True
    default_roles: CommaList = Field(default_factory=lambda: ["user"])
    role_permissions: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ROLE_PERMISSIONS.items()}
    )
    # NIST SP 800-63B-4 s3.1.1.2: 15 characters when the password is the only factor,
    # 8 at the least with a second one. The maximum is in UTF-8 bytes: 256 or more, so
    # 64 characters of any script always fit.
    password_min_length: Annotated[int, Field(ge=8, le=64)] = 15
    password_max_length: Annotated[int, Field(ge=256, le=4096)] = 1024
    argon2_time_cost: Annotated[int, Field(ge=1)] = 2
    argon2_memory_kib: Annotated[int, Field(ge=1024)] = 19456
    argon2_parallelism: Annotated[int, Field(ge=1)] = 1

    device_fingerprint_inputs: CommaList = Field(
        default_factory=lambda: ["user-agent", "ip", "accept-language"]
    )
    device_check_on_access: bool = False

    cookie_secure: bool | None = None
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    max_token_bytes: Annotated[int, Field(ge=512)] = 8 * 1024
    cleanup_interval: Duration = 300
    log_level: str = "info"

    # Sign-in with OAuth/OIDC providers (docs/oauth.md). A built-in provider is enabled
    # when its client id is set; more OIDC issuers by name through oidc_providers, each
    # read from AUTHGATE_OIDC_<NAME>_ISSUER/_CLIENT_ID/... by authgate.federation.config.
    google_client_id: str | None = _unprefixed("GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = _unprefixed("GOOGLE_CLIENT_SECRET")
    google_redirect_uri: str | None = _unprefixed("GOOGLE_REDIRECT_URI")
    google_issuer: str = "https://accounts.google.com"
    github_client_id: str | None = _unprefixed("GITHUB_CLIENT_ID")
    github_client_secret: SecretStr | None = _unprefixed("GITHUB_CLIENT_SECRET")
    github_redirect_uri: str | None = _unprefixed("GITHUB_REDIRECT_URI")
    github_url: str = "https://github.com"
    github_api_url: str | None = None
    auth0_domain: str | None = _unprefixed("AUTH0_DOMAIN")
    auth0_client_id: str | None = _unprefixed("AUTH0_CLIENT_ID")
    auth0_client_secret: SecretStr | None = _unprefixed("AUTH0_CLIENT_SECRET")
    auth0_redirect_uri: str | None = _unprefixed("AUTH0_REDIRECT_URI")
    oidc_providers: CommaList = Field(default_factory=list)
    oidc_provider_settings: dict[str, dict[str, str]] = Field(default_factory=dict)
    oauth_state_secret: SecretStr | None = None
    oauth_http_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    post_login_redirect: str = "/account"  # a page that exists, as the /login button uses
    allowed_redirects: CommaList = Field(default_factory=list)
    # auto: human-readable text on a terminal in development, JSON lines otherwise.
    log_format: Literal["auto", "json", "text"] = "auto"
    # authgate's own access log (authgate.access, at info); `authgate serve` turns
    # uvicorn's off so each request is logged once (http/access_log.py).
    access_log: bool = True

    # Hardening (docs/hardening.md). Limits read "5 per 15 minutes" (authgate.ratelimit).
    rate_limit_enabled: bool = True
    rate_limit_api: RateLimitText = "100 per 15 minutes"
    rate_limit_login: RateLimitText = "5 per 15 minutes"
    rate_limit_oauth: RateLimitText = "5 per 15 minutes"
    rate_limit_refresh: RateLimitText = "60 per 15 minutes"
    rate_limit_register: RateLimitText = "10 per hour"
    rate_limit_account: RateLimitText = "20 per 15 minutes"
    known_client_ttl: Duration = 30 * 86400
    trusted_proxies: CommaList = Field(default_factory=list)
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    security_headers: bool = True
    content_security_policy: str = DEFAULT_CSP
    hsts_max_age: Annotated[int, Field(ge=0)] = 31536000
    cors_origins: CommaList = Field(default_factory=list)
    # Resource servers (RFC 8707 resource indicators) a client_credentials request may
    # name with `resource`; the token's aud is then that URL, exactly (docs/resource.md).
    resources: CommaList = Field(default_factory=list)
    csrf_protection: bool = True
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None

    # Accounts (docs/accounts.md): mail, email verification, recovery, second factors.
    # smtp:// upgrades with STARTTLS, smtps:// speaks TLS from the start (RFC 3207, 8314).
    smtp_url: SecretStr | None = None
    smtp_ca_file: Path | None = None  # a private CA for the SMTP server's certificate
    mail_from: str = "authgate <noreply@localhost>"
    mail_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    # At most this many mails to one address per hour (sign-up, resets, changes).
    mail_per_address_per_hour: Annotated[int, Field(ge=1, le=100)] = 5
    # None: on when mail can be sent (SMTP set, or development's log). True without SMTP
    # in production refuses to start.
    email_verification: bool | None = None
    password_recovery: bool | None = None
    require_verified_email: bool = False
    email_verification_ttl: Duration = 24 * 3600
    password_reset_ttl: Annotated[int, BeforeValidator(parse_duration), Field(ge=60, le=3600)] = (
        15 * 60
    )
    # How recent a second factor must be for sensitive actions (step-up), and the brake
    # on wrong codes: this many failures lock second-factor checks for mfa_lockout.
    mfa_recent_window: Duration = 10 * 60
    mfa_max_failures: Annotated[int, Field(ge=1, le=100)] = 5
    mfa_lockout: Duration = 15 * 60
    totp_issuer: str = "authgate"
    # WebAuthn relying party: the id defaults to the public URL's host.
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str = "authgate"
    # Authorization server for third-party clients and MCP (docs/authorization-server.md).
    # RFC 7591 registration: open to anyone, only with an initial access token from
    # `authgate clients registration-token`, or off.
    client_registration: Literal["open", "token", "off"] = "open"
    client_registration_max: Annotated[int, Field(ge=0)] = 1000
    client_unused_ttl: Duration = 86400
    authorization_code_ttl: Annotated[int, Field(ge=1, le=60)] = 60
    # Client ID Metadata Documents: fetched over https from public addresses only; when
    # cimd_trusted_hosts is set, only from those hosts. cimd_allow_loopback exists for
    # tests that serve documents on 127.0.0.1 and is refused in production.
    cimd_enabled: bool = True
    cimd_trusted_hosts: CommaList = Field(default_factory=list)
    cimd_allow_loopback: bool = False
    cimd_max_bytes: Annotated[int, Field(ge=256, le=65536)] = 5120
    cimd_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0
    cimd_cache_ttl: Annotated[int, Field(ge=0, le=86400)] = 300
    # Human approval of one agent action (docs/ciba.md; OpenID CIBA Core 1.0, RFC 9396):
    # how long a request waits for the user (an agent's requested_expiry may shorten it),
    # the poll interval it is told (CIBA s7.3), and the approval token's lifetime.
    approval_request_ttl: Annotated[int, BeforeValidator(parse_duration), Field(ge=10, le=3600)] = (
        300
    )
    approval_poll_interval: Annotated[int, Field(ge=1, le=60)] = 5
    approval_token_ttl: Annotated[int, BeforeValidator(parse_duration), Field(ge=1, le=3600)] = 120
    # A deployment's push to the user's phone: a signed POST (Standard Webhooks) on every
    # new approval request, without any secret of the agent.
    approval_webhook_url: str | None = None
    approval_webhook_secret: SecretStr | None = None
    approval_notify_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        allowed = {"user-agent", "ip", "accept-language"}
        unknown = set(self.device_fingerprint_inputs) - allowed
        if unknown:
            raise ValueError(f"unknown device fingerprint inputs: {sorted(unknown)}")
        if self.refresh_token_ttl <= self.access_token_ttl:
            raise ValueError("refresh_token_ttl must be longer than access_token_ttl")
        unknown_roles = set(self.default_roles) - set(self.role_permissions)
        if unknown_roles:
            raise ValueError(f"default roles without permissions: {sorted(unknown_roles)}")
        _check_hardening(self)
        _check_mail(self)
        if self.cimd_allow_loopback and self.is_production:
            raise ValueError("cimd_allow_loopback is for tests only; production refuses it")
        if self.approval_webhook_url is not None and self.approval_webhook_secret is None:
            raise ValueError("approval_webhook_url needs approval_webhook_secret to sign with")
        for resource in self.resources:
            # RFC 8707 s2: an absolute URI without a fragment; compared exactly as written.
            if not resource.startswith(("https://", "http://")) or "#" in resource:
                raise ValueError(f"resources: not an absolute http(s) URL: {resource!r}")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env != "development"

    @property
    def metadata_issuer(self) -> str:
        """RFC 8414 s2 ``issuer``: the configured issuer URL, exactly as configured.

        When the tokens' own ``iss`` is a URL it is the issuer, so that verifiers taking
        the issuer from discovery accept the tokens (RFC 8414 s3.3).
        """
        if self.issuer_url:
            return self.issuer_url
        if self.jwt_issuer.startswith(("https://", "http://")):
            return self.jwt_issuer
        return self.public_url.rstrip("/")

    @property
    def mail_available(self) -> bool:
        """Mail goes out by SMTP, or (development and tests) to the log."""
        return self.smtp_url is not None or not self.is_production

    @property
    def verification_enabled(self) -> bool:
        wanted = self.email_verification
        return self.mail_available if wanted is None else wanted

    @property
    def recovery_enabled(self) -> bool:
        wanted = self.password_recovery
        return self.mail_available if wanted is None else wanted

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'authgate.db'}"

    @property
    def migrate_on_start(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.resolved_database_url.startswith("sqlite")

    def permissions_for(self, roles: list[str]) -> list[str]:
        perms = {perm for role in roles for perm in self.role_permissions.get(role, ())}
        return sorted(perms)

    def access_secret(self) -> str:
        return _require_secret(self.jwt_access_secret, "JWT_ACCESS_SECRET")

    def refresh_secret(self) -> str:
        return _require_secret(self.jwt_refresh_secret, "JWT_REFRESH_SECRET")


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
_PUBLIC_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^?#\s]*)?$")


def _check_hardening(settings: Settings) -> None:
    for cidr in settings.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"trusted_proxies: not an address or CIDR: {cidr!r}") from None
    for url in settings.additional_public_urls:
        if not _PUBLIC_URL.match(url):
            raise ValueError(f"additional_public_urls: not an http(s) URL: {url!r}")
    for origin in settings.cors_origins:
        # An explicit allow-list only: never "*", never "null" (sandboxed frames, file://).
        if not _ORIGIN.match(origin):
            raise ValueError(f"cors_origins: not an origin (scheme://host[:port]): {origin!r}")


def _check_mail(settings: Settings) -> None:
    if settings.mail_available:
        return
    # Production without SMTP: a feature that needs mail must not start half-working.
    needing = [
        name
        for name, wanted in (
            ("AUTHGATE_EMAIL_VERIFICATION", settings.email_verification),
            ("AUTHGATE_PASSWORD_RECOVERY", settings.password_recovery),
            ("AUTHGATE_REQUIRE_VERIFIED_EMAIL", settings.require_verified_email),
        )
        if wanted
    ]
    if needing:
        raise ValueError(f"{', '.join(needing)} need mail: set AUTHGATE_SMTP_URL")


def _require_secret(value: SecretStr | None, name: str) -> str:
    if value is None:
        raise ConfigurationError(f"{name} is not set")
    return value.get_secret_value()


SECRETS_FILE = "secrets.env"


def load_settings(*, check_secrets: bool = True, **overrides: Any) -> Settings:
    """Settings from the environment, with secrets checked (and generated in development)."""
    settings = Settings(**overrides)
    if settings.jwt_access_secret is None and settings.jwt_refresh_secret is None:
        settings = _with_development_secrets(settings)
    if check_secrets:
        validate_secrets(settings)
    return settings


def validate_secrets(settings: Settings) -> None:
    """Refuse missing, weak or equal secrets, naming the variable and never the value."""
    access = settings.access_secret()
    refresh = settings.refresh_secret()
    for name, value in (("JWT_ACCESS_SECRET", access), ("JWT_REFRESH_SECRET", refresh)):
        report = check_secret(value)
        if not report.ok:
            raise WeakSecretError(name, "; ".join(report.problems))
    if access == refresh:
        raise WeakSecretError("JWT_REFRESH_SECRET", "must differ from JWT_ACCESS_SECRET")


def _with_development_secrets(settings: Settings) -> Settings:
    if settings.is_production:
        raise ConfigurationError(
            "JWT_ACCESS_SECRET and JWT_REFRESH_SECRET must be set in production "
            "(generate them with `authgate secrets generate`)"
        )
    path = settings.state_dir / SECRETS_FILE
    values = _read_env_file(path) if path.exists() else _write_generated_secrets(path)
    warnings.warn(
        f"No JWT secrets configured: using development secrets from {path}. "
        "Set JWT_ACCESS_SECRET and JWT_REFRESH_SECRET before production.",
        DevelopmentSecretsWarning,
        stacklevel=2,
    )
    return settings.model_copy(
        update={
            "jwt_access_secret": SecretStr(values["JWT_ACCESS_SECRET"]),
            "jwt_refresh_secret": SecretStr(values["JWT_REFRESH_SECRET"]),
        }
    )


def _write_generated_secrets(path: Path) -> dict[str, str]:
    values = {"JWT_ACCESS_SECRET": generate_secret(), "JWT_REFRESH_SECRET": generate_secret()}
    make_private_dir(path.parent)
    # O_EXCL + 0600: never widen permissions of, or race with, an existing file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}={value}\n" for key, value in values.items()))
    return values


def _read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    values = {key.strip(): value.strip() for key, value in pairs}
    missing = {"JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"} - values.keys()
    if missing:
        raise ConfigurationError(f"{path} lacks {', '.join(sorted(missing))}")
    return values
