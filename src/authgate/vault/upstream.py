"""A connected account's tokens at its provider: refresh and revocation.

- Refresh, RFC 6749 s6: at the token endpoint (OIDC: from discovery; GitHub:
  ``/login/oauth/access_token``), authenticating the client as login does. An OAuth
  error answer (``invalid_grant``...) is final: the user must consent again. A timeout
  or a server error is not: the connection is kept and the caller gets a 502.
- Revocation, RFC 7009 s2.1: at the ``revocation_endpoint`` of the discovery metadata
  (RFC 8414 s2), refresh token first (s2.1: that ends the grant's access tokens too);
  GitHub: ``DELETE /applications/{client_id}/token`` with the client's credentials.
  Best effort and bounded in time: disconnecting never waits on a slow provider.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authgate.errors import (
    ConfigurationError,
    ProviderUnavailableError,
    ReconsentRequiredError,
)
from authgate.federation.config import ProviderConfig
from authgate.federation.flow import OAuthFlow
from authgate.federation.providers import (
    GITHUB_API_VERSION,
    OidcProvider,
    bounded_token_responses,
)

__all__ = ["TokenSet", "Upstream"]

logger = logging.getLogger("authgate.vault")


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A provider's token response, reduced to what the vault keeps."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int | None
    scope: str | None

    @classmethod
    def from_response(cls, token: Mapping[str, Any], *, refresh: str | None = None) -> TokenSet:
        """RFC 6749 s5.1; s6: a provider that does not rotate keeps the old refresh token."""
        expires = token.get("expires_in")
        new_refresh = token.get("refresh_token")
        scope = token.get("scope")
        return cls(
            access_token=str(token["access_token"]),
            refresh_token=new_refresh if isinstance(new_refresh, str) and new_refresh else refresh,
            expires_in=int(expires)
            if isinstance(expires, int | str) and str(expires).isdigit()
            else None,
            scope=scope if isinstance(scope, str) else None,
        )


class Upstream:
    def __init__(self, oauth: OAuthFlow) -> None:
        self._oauth = oauth
        self._timeout = oauth.config.http_timeout
        self._tls = httpx.create_ssl_context()

    def _config(self, name: str) -> ProviderConfig:
        config = self._oauth.config.providers.get(name)
        if config is None:
            raise ReconsentRequiredError(name, "This provider is no longer configured")
        return config

    async def _token_endpoint(self, config: ProviderConfig) -> tuple[str, str, str | None]:
        """The token endpoint, the client authentication method, the revocation endpoint."""
        if config.kind == "github":
            return f"{config.issuer}/login/oauth/access_token", "client_secret_post", None
        provider = self._oauth.provider(config.name)
        if not isinstance(provider, OidcProvider):
            raise ConfigurationError(f"provider {config.name!r} is not an OpenID Connect issuer")
        metadata = await provider.metadata()
        return metadata.token_endpoint, provider.auth_method(metadata), metadata.revocation_endpoint

    def _client(self, config: ProviderConfig, method: str) -> AsyncOAuth2Client:
        return bounded_token_responses(
            AsyncOAuth2Client(
                client_id=config.client_id,
                client_secret=config.client_secret,
                token_endpoint_auth_method=method,
                revocation_endpoint_auth_method=method,
                timeout=self._timeout,
                verify=self._tls,
            )
        )

    async def refresh(self, name: str, refresh_token: str) -> TokenSet:
        config = self._config(name)
        try:
            with anyio.fail_after(2 * self._timeout):
                endpoint, method, _ = await self._token_endpoint(config)
                async with self._client(config, method) as client:
                    token = await client.refresh_token(endpoint, refresh_token=refresh_token)
        except OAuthError as exc:
            raise ReconsentRequiredError(name) from exc
        except (httpx.HTTPError, ValueError, TimeoutError) as exc:
            raise ProviderUnavailableError(
                name, "The provider did not answer the token refresh; please try again"
            ) from exc
        if not isinstance(token, Mapping) or not isinstance(token.get("access_token"), str):
            raise ReconsentRequiredError(name)
        return TokenSet.from_response(token, refresh=refresh_token)

    async def revoke(self, name: str, *, access_token: str, refresh_token: str | None) -> bool:
        """True when the provider confirmed; False when it cannot or did not (never raises)."""
        config = self._oauth.config.providers.get(name)
        if config is None:
            return False
        try:
            with anyio.fail_after(2 * self._timeout):
                if config.kind == "github":
                    return await self._revoke_github(config, access_token)
                return await self._revoke_rfc7009(config, access_token, refresh_token)
        except (httpx.HTTPError, OAuthError, ValueError, TimeoutError, ProviderUnavailableError):
            logger.warning("revocation at provider %s failed", name)
            return False

    async def _revoke_rfc7009(
        self, config: ProviderConfig, access_token: str, refresh_token: str | None
    ) -> bool:
        _, method, endpoint = await self._token_endpoint(config)
        if endpoint is None:
            return False
        tokens = [(refresh_token, "refresh_token"), (access_token, "access_token")]
        ok = True
        async with self._client(config, method) as client:
            for token, hint in tokens:
                if token:
                    response = await client.revoke_token(
                        endpoint, token=token, token_type_hint=hint
                    )
                    ok = ok and response.status_code == 200  # RFC 7009 s2.2
        return ok

    async def _revoke_github(self, config: ProviderConfig, access_token: str) -> bool:
        api = config.api_url or "https://api.github.com"
        response = await self._oauth.http.request(
            "DELETE",
            f"{api}/applications/{config.client_id}/token",
            auth=(config.client_id, config.client_secret),
            json={"access_token": access_token},
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
            },
        )
        return response.status_code == 204
