"""Sign-in providers: OpenID Connect issuers (Google, Auth0, any) and GitHub.

A provider builds the authorization URL (RFC 6749 s4.1.1 with PKCE S256 and, for OIDC,
a nonce) and turns the callback's code into a verified ``Profile``. Authlib's
``AsyncOAuth2Client`` builds the URL and performs the code exchange (RFC 6749 s4.1.3),
authenticating the client as the provider's metadata asks (client_secret_basic or
client_secret_post, RFC 6749 s2.3.1). Every network step is bounded in time; a provider
that is slow or unreachable is a ``ProviderUnavailableError`` (502).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authgate import jsonlimits
from authgate.clock import Clock, system_clock
from authgate.errors import CodeExchangeError, IdTokenError, ProviderUnavailableError
from authgate.federation import pkce
from authgate.federation.config import TOKEN_AUTH_METHODS, ProviderConfig
from authgate.federation.discovery import (
    MAX_DOCUMENT_BYTES,
    Discovery,
    ProviderMetadata,
    fetch_json,
)
from authgate.federation.idtoken import IdTokenValidator, unverified_header

__all__ = [
    "Exchanged",
    "GitHubProvider",
    "OidcProvider",
    "Profile",
    "Provider",
    "bounded_token_responses",
    "build_provider",
]

GITHUB_API_VERSION = "2022-11-28"


def bounded_token_responses(client: AsyncOAuth2Client) -> AsyncOAuth2Client:
    """Have ``client`` check token endpoint answers with the bounded JSON reader before
    Authlib parses them; too deep or too large raises ``ValueError``."""
    for hook in ("access_token_response", "refresh_token_response"):
        client.register_compliance_hook(hook, _bounded_response)
    return client


def _bounded_response(response: httpx.Response) -> httpx.Response:
    jsonlimits.check(response.content, max_bytes=MAX_DOCUMENT_BYTES)
    return response


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Who the provider says signed in. ``email_verified`` is the provider's assertion."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class Exchanged:
    """A checked code exchange: who signed in, and the provider's token response.

    Login keeps only the profile; connecting an account (authgate.vault) keeps the tokens.
    """

    profile: Profile
    token: Mapping[str, Any] = field(repr=False)


class Provider(Protocol):
    name: str
    #: The issuer chosen at request time: RFC 9207 checks the response's `iss` against it.
    issuer: str
    uses_nonce: bool

    async def authorization_url(
        self,
        *,
        state: str,
        verifier: str,
        nonce: str | None,
        redirect_uri: str | None = None,
        scopes: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str: ...

    async def requires_iss(self) -> bool: ...

    async def complete(self, *, code: str, verifier: str, nonce: str | None) -> Profile: ...

    async def exchange(
        self, *, code: str, verifier: str, nonce: str | None, redirect_uri: str | None = None
    ) -> Exchanged: ...


class _Exchange:
    """The code exchange shared by both kinds of provider, bounded by ``timeout``."""

    def __init__(self, config: ProviderConfig, *, timeout: float, tls: ssl.SSLContext) -> None:
        self.config = config
        self.timeout = timeout
        self._tls = tls
        # Used only to build URLs (no I/O, no token kept).
        self._url_client = AsyncOAuth2Client(
            client_id=config.client_id,
            scope=" ".join(config.scopes),
            redirect_uri=config.redirect_uri,
        )

    def authorize_url(self, endpoint: str, *, state: str, verifier: str, **extra: str) -> str:
        url, _ = self._url_client.create_authorization_url(
            endpoint,
            state=state,
            code_challenge=pkce.s256_challenge(verifier),
            code_challenge_method=pkce.METHOD,
            **extra,
        )
        return str(url)

    async def fetch_token(
        self,
        endpoint: str,
        *,
        code: str,
        verifier: str,
        auth_method: str,
        redirect_uri: str | None = None,
    ) -> dict[str, Any]:
        # One client per exchange, so no provider token outlives the request in memory.
        client = bounded_token_responses(
            AsyncOAuth2Client(
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                token_endpoint_auth_method=auth_method,
                redirect_uri=redirect_uri or self.config.redirect_uri,
                timeout=self.timeout,
                verify=self._tls,
            )
        )
        async with client:
            try:
                token = await client.fetch_token(
                    endpoint, grant_type="authorization_code", code=code, code_verifier=verifier
                )
            except OAuthError as exc:
                raise CodeExchangeError(self.config.name) from exc
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailableError(self.config.name) from exc
        if not isinstance(token, Mapping) or not isinstance(token.get("access_token"), str):
            raise CodeExchangeError(self.config.name)
        return dict(token)


class OidcProvider:
    """Google, Auth0 or any OpenID Connect issuer, configured through discovery."""

    uses_nonce = True

    def __init__(
        self,
        config: ProviderConfig,
        *,
        discovery: Discovery,
        http: httpx.AsyncClient,
        exchange: _Exchange,
        leeway: int,
        clock: Clock = system_clock,
    ) -> None:
        self.name = config.name
        self.issuer = config.issuer
        self._config = config
        self._discovery = discovery
        self._http = http
        self._exchange = exchange
        self._validator = IdTokenValidator(
            provider=config.name,
            client_id=config.client_id,
            issuers=(config.issuer, *config.extra_issuers),
            leeway=leeway,
            clock=clock,
        )

    async def _metadata(self) -> ProviderMetadata:
        return await self._discovery.metadata(
            self._config.issuer, provider=self.name, overrides=self._config.endpoints
        )

    async def authorization_url(
        self,
        *,
        state: str,
        verifier: str,
        nonce: str | None,
        redirect_uri: str | None = None,
        scopes: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        metadata = await self._metadata()
        extra = _extra(redirect_uri, scopes, params)
        if nonce:
            extra["nonce"] = nonce
        return self._exchange.authorize_url(
            metadata.authorization_endpoint, state=state, verifier=verifier, **extra
        )

    async def requires_iss(self) -> bool:
        return (await self._metadata()).iss_parameter_supported

    async def complete(self, *, code: str, verifier: str, nonce: str | None) -> Profile:
        return (await self.exchange(code=code, verifier=verifier, nonce=nonce)).profile

    async def exchange(
        self, *, code: str, verifier: str, nonce: str | None, redirect_uri: str | None = None
    ) -> Exchanged:
        if nonce is None:
            raise IdTokenError(self.name, "nonce")
        metadata = await self._metadata()
        token = await self._exchange.fetch_token(
            metadata.token_endpoint,
            code=code,
            verifier=verifier,
            auth_method=self.auth_method(metadata),
            redirect_uri=redirect_uri,
        )
        claims = await self._verify(token.get("id_token"), metadata, nonce)
        if not claims.get("email") and metadata.userinfo_endpoint:
            claims = await self._with_userinfo(claims, token["access_token"], metadata)
        profile = Profile(
            issuer=self.issuer,
            subject=claims["sub"],
            email=_string(claims.get("email")),
            email_verified=claims.get("email_verified") in (True, "true"),
            name=_string(claims.get("name")),
        )
        return Exchanged(profile, token)

    async def metadata(self) -> ProviderMetadata:
        return await self._metadata()

    def auth_method(self, metadata: ProviderMetadata) -> str:
        if self._config.token_auth_method:
            return self._config.token_auth_method
        # RFC 8414 s2: the first method we support, in the provider's order of listing.
        supported = [m for m in metadata.token_endpoint_auth_methods if m in TOKEN_AUTH_METHODS]
        return supported[0] if supported else "client_secret_basic"

    async def _verify(
        self, id_token: object, metadata: ProviderMetadata, nonce: str
    ) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise IdTokenError(self.name, "missing")
        kid = unverified_header(id_token, provider=self.name).get("kid")
        key = await self._discovery.key(
            metadata.jwks_uri, kid if isinstance(kid, str) else None, provider=self.name
        )
        return self._validator.validate(
            id_token, key=key, algorithms=metadata.id_token_algs, nonce=nonce
        )

    async def _with_userinfo(
        self, claims: dict[str, Any], access_token: str, metadata: ProviderMetadata
    ) -> dict[str, Any]:
        assert metadata.userinfo_endpoint is not None
        info = await fetch_json(
            self._http,
            metadata.userinfo_endpoint,
            provider=self.name,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        # OIDC Core s5.3.2: a UserInfo answer about someone else must not be used.
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise IdTokenError(self.name, "userinfo_sub")
        return {**claims, **{k: info[k] for k in ("email", "email_verified", "name") if k in info}}


class GitHubProvider:
    """GitHub (or GitHub Enterprise Server): OAuth 2.0 plus the REST API, no ID token.

    Endpoints as GitHub documents them: ``/login/oauth/authorize``,
    ``/login/oauth/access_token``, and the API's ``/user`` and ``/user/emails``; the
    account is keyed by the numeric user id (logins can be renamed).
    """

    uses_nonce = False

    def __init__(
        self, config: ProviderConfig, *, http: httpx.AsyncClient, exchange: _Exchange
    ) -> None:
        self.name = config.name
        self.issuer = config.issuer
        self._config = config
        self._http = http
        self._exchange = exchange
        self._api = config.api_url or "https://api.github.com"

    async def authorization_url(
        self,
        *,
        state: str,
        verifier: str,
        nonce: str | None,
        redirect_uri: str | None = None,
        scopes: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        endpoint = f"{self.issuer}/login/oauth/authorize"
        extra = _extra(redirect_uri, scopes, params)
        return self._exchange.authorize_url(endpoint, state=state, verifier=verifier, **extra)

    async def requires_iss(self) -> bool:
        return False

    async def complete(self, *, code: str, verifier: str, nonce: str | None) -> Profile:
        return (await self.exchange(code=code, verifier=verifier, nonce=nonce)).profile

    async def exchange(
        self, *, code: str, verifier: str, nonce: str | None, redirect_uri: str | None = None
    ) -> Exchanged:
        token = await self._exchange.fetch_token(
            f"{self.issuer}/login/oauth/access_token",
            code=code,
            verifier=verifier,
            auth_method="client_secret_post",
            redirect_uri=redirect_uri,
        )
        headers = {
            "Authorization": f"Bearer {token['access_token']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
        }
        user = await fetch_json(
            self._http, f"{self._api}/user", provider=self.name, headers=headers
        )
        emails = await fetch_json(
            self._http, f"{self._api}/user/emails", provider=self.name, headers=headers
        )
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise ProviderUnavailableError(self.name, "GitHub sent an unexpected user profile")
        email, verified = _github_email(user, emails)
        profile = Profile(
            issuer=self.issuer,
            subject=str(user["id"]),
            email=email,
            email_verified=verified,
            name=_string(user.get("name")) or _string(user.get("login")),
        )
        return Exchanged(profile, token)


def _github_email(user: Mapping[str, Any], emails: Any) -> tuple[str | None, bool]:
    """The verified primary address; else the profile's public one, unverified."""
    for entry in emails if isinstance(emails, list) else []:
        if isinstance(entry, dict) and entry.get("primary") is True:
            address = _string(entry.get("email"))
            if address and entry.get("verified") is True:
                return address, True
    return _string(user.get("email")), False


def _extra(
    redirect_uri: str | None, scopes: Sequence[str] | None, params: Mapping[str, str] | None
) -> dict[str, str]:
    """Authorization request parameters that replace the login defaults (RFC 6749 s4.1.1)."""
    extra = dict(params or {})
    if redirect_uri:
        extra["redirect_uri"] = redirect_uri
    if scopes:
        extra["scope"] = " ".join(scopes)
    return extra


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def build_provider(
    config: ProviderConfig,
    *,
    discovery: Discovery,
    http: httpx.AsyncClient,
    timeout: float,
    tls: ssl.SSLContext,
    leeway: int,
    clock: Clock = system_clock,
) -> Provider:
    exchange = _Exchange(config, timeout=timeout, tls=tls)
    if config.kind == "github":
        return GitHubProvider(config, http=http, exchange=exchange)
    return OidcProvider(
        config, discovery=discovery, http=http, exchange=exchange, leeway=leeway, clock=clock
    )
