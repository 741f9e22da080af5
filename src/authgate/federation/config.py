"""Provider configuration, read once from Settings and the environment.

Built-in providers (``google``, ``github``, ``auth0``) are enabled by their client id.
Any other OpenID Connect issuer is named in ``AUTHGATE_OIDC_PROVIDERS=corp,partner`` and
configured by ``AUTHGATE_OIDC_<NAME>_ISSUER``, ``_CLIENT_ID``, ``_CLIENT_SECRET``,
``_REDIRECT_URI`` and optionally ``_SCOPES``, ``_TOKEN_AUTH_METHOD`` and endpoint
overrides (``_AUTHORIZATION_ENDPOINT``, ``_TOKEN_ENDPOINT``, ``_USERINFO_ENDPOINT``,
``_JWKS_URI``). ``Settings.oidc_provider_settings`` supplies the same keys in lower case
for programmatic use; the environment fills what it leaves out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from dotenv import dotenv_values

from authgate.config import Settings
from authgate.errors import ConfigurationError

__all__ = ["BUILTIN", "OAuthConfig", "ProviderConfig", "load_oauth_config"]

BUILTIN = ("google", "github", "auth0")
OIDC_SCOPES = ("openid", "email", "profile")
GITHUB_SCOPES = ("read:user", "user:email")
GOOGLE_ISSUER = "https://accounts.google.com"
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
ENDPOINT_KEYS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_GENERIC_KEYS = (
    "issuer",
    "client_id",
    "client_secret",
    "redirect_uri",
    "scopes",
    "token_auth_method",
    *ENDPOINT_KEYS,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    name: str
    kind: Literal["oidc", "github"]
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]
    # OIDC: the issuer (discovery, `iss` checks). GitHub: the web base URL.
    issuer: str
    # Google documents `iss` as either of its two spellings.
    extra_issuers: tuple[str, ...] = ()
    # OIDC: values that replace the discovery document's; GitHub: unused.
    endpoints: Mapping[str, str] = field(default_factory=dict)
    token_auth_method: str | None = None
    api_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthConfig:
    providers: Mapping[str, ProviderConfig]
    state_secret: str = field(repr=False)
    http_timeout: float
    post_login_redirect: str
    allowed_redirects: tuple[str, ...]
    secure_cookies: bool


def load_oauth_config(
    settings: Settings, environ: Mapping[str, str | None] | None = None
) -> OAuthConfig:
    env = _environment(settings) if environ is None else environ
    providers = [p for p in _builtin(settings) if p is not None]
    providers += [_generic(name, settings, env) for name in settings.oidc_providers]
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ConfigurationError("AUTHGATE_OIDC_PROVIDERS repeats a provider name")
    state_secret = settings.oauth_state_secret
    return OAuthConfig(
        providers=MappingProxyType({p.name: p for p in providers}),
        state_secret=state_secret.get_secret_value() if state_secret else settings.access_secret(),
        http_timeout=settings.oauth_http_timeout,
        post_login_redirect=settings.post_login_redirect,
        allowed_redirects=tuple(settings.allowed_redirects),
        secure_cookies=settings.secure_cookies,
    )


def _environment(settings: Settings) -> Mapping[str, str | None]:
    env_file = settings.model_config.get("env_file")
    from_file = dotenv_values(env_file) if isinstance(env_file, str) else {}
    return {**from_file, **os.environ}


def _builtin(settings: Settings) -> list[ProviderConfig | None]:
    return [_google(settings), _github(settings), _auth0(settings)]


def _secret(value: object | None) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else None


def _require(name: str, values: Mapping[str, str | None]) -> dict[str, str]:
    missing = [var for var, value in values.items() if not value]
    if missing:
        raise ConfigurationError(f"provider {name!r} is enabled but {', '.join(missing)} unset")
    return {var: str(value) for var, value in values.items()}


def _google(settings: Settings) -> ProviderConfig | None:
    if not settings.google_client_id:
        return None
    values = _require(
        "google",
        {
            "GOOGLE_CLIENT_ID": settings.google_client_id,
            "GOOGLE_CLIENT_SECRET": _secret(settings.google_client_secret),
            "GOOGLE_REDIRECT_URI": settings.google_redirect_uri,
        },
    )
    issuer = settings.google_issuer
    return ProviderConfig(
        name="google",
        kind="oidc",
        client_id=values["GOOGLE_CLIENT_ID"],
        client_secret=values["GOOGLE_CLIENT_SECRET"],
        redirect_uri=values["GOOGLE_REDIRECT_URI"],
        scopes=OIDC_SCOPES,
        issuer=issuer,
        extra_issuers=("accounts.google.com",) if issuer == GOOGLE_ISSUER else (),
    )


def _github(settings: Settings) -> ProviderConfig | None:
    if not settings.github_client_id:
        return None
    values = _require(
        "github",
        {
            "GITHUB_CLIENT_ID": settings.github_client_id,
            "GITHUB_CLIENT_SECRET": _secret(settings.github_client_secret),
            "GITHUB_REDIRECT_URI": settings.github_redirect_uri,
        },
    )
    base = settings.github_url.rstrip("/")
    # github.com serves its REST API from a separate host; Enterprise Server under /api/v3.
    default_api = "https://api.github.com" if base == "https://github.com" else f"{base}/api/v3"
    return ProviderConfig(
        name="github",
        kind="github",
        client_id=values["GITHUB_CLIENT_ID"],
        client_secret=values["GITHUB_CLIENT_SECRET"],
        redirect_uri=values["GITHUB_REDIRECT_URI"],
        scopes=GITHUB_SCOPES,
        issuer=base,
        token_auth_method="client_secret_post",  # noqa: S106 - a method name
        api_url=(settings.github_api_url or default_api).rstrip("/"),
    )


def _auth0(settings: Settings) -> ProviderConfig | None:
    if not settings.auth0_client_id:
        return None
    values = _require(
        "auth0",
        {
            "AUTH0_DOMAIN": settings.auth0_domain,
            "AUTH0_CLIENT_ID": settings.auth0_client_id,
            "AUTH0_CLIENT_SECRET": _secret(settings.auth0_client_secret),
            "AUTH0_REDIRECT_URI": settings.auth0_redirect_uri,
        },
    )
    domain = values["AUTH0_DOMAIN"].rstrip("/")
    # Auth0's issuer is the tenant URL with a trailing slash; a full URL is taken as given.
    issuer = f"{domain}/" if "://" in domain else f"https://{domain}/"
    return ProviderConfig(
        name="auth0",
        kind="oidc",
        client_id=values["AUTH0_CLIENT_ID"],
        client_secret=values["AUTH0_CLIENT_SECRET"],
        redirect_uri=values["AUTH0_REDIRECT_URI"],
        scopes=OIDC_SCOPES,
        issuer=issuer,
    )


def _generic(name: str, settings: Settings, env: Mapping[str, str | None]) -> ProviderConfig:
    if not _NAME.match(name) or name in BUILTIN:
        raise ConfigurationError(f"AUTHGATE_OIDC_PROVIDERS: invalid or reserved name {name!r}")
    prefix = f"AUTHGATE_OIDC_{name.upper().replace('-', '_')}_"
    given = settings.oidc_provider_settings.get(name, {})
    raw = {key: given.get(key) or env.get(prefix + key.upper()) for key in _GENERIC_KEYS}
    values = _require(name, {prefix + key.upper(): raw[key] for key in _GENERIC_KEYS[:4]})
    method = raw["token_auth_method"]
    if method is not None and method not in TOKEN_AUTH_METHODS:
        raise ConfigurationError(f"{prefix}TOKEN_AUTH_METHOD must be one of {TOKEN_AUTH_METHODS}")
    scopes = tuple((raw["scopes"] or " ".join(OIDC_SCOPES)).replace(",", " ").split())
    return ProviderConfig(
        name=name,
        kind="oidc",
        client_id=values[prefix + "CLIENT_ID"],
        client_secret=values[prefix + "CLIENT_SECRET"],
        redirect_uri=values[prefix + "REDIRECT_URI"],
        scopes=scopes if "openid" in scopes else ("openid", *scopes),
        issuer=values[prefix + "ISSUER"],
        endpoints={key: str(raw[key]) for key in ENDPOINT_KEYS if raw[key]},
        token_auth_method=method,
    )
