"""The authorization request (RFC 6749 s4.1.1, OAuth 2.1 s4.1.1), checked in two steps.

First the client and its redirect URI: until both are known good nothing may be sent to
the redirect URI, so these errors are pages (s4.1.2.1, RFC 9700 s4.1.3). Then the rest,
whose errors go back to the client with ``state`` and ``iss`` (RFC 9207 s2):

- ``response_type=code`` only (OAuth 2.1 s4.1.1: no implicit grant);
- PKCE with ``S256``; missing or ``plain`` refused (RFC 7636 s4.3, RFC 9700 s2.1.1);
- ``state`` required: authgate refuses requests without one (a decision, see the guide);
- ``resource`` (RFC 8707 s2): exactly one, naming a registered resource, else
  ``invalid_target``;
- ``scope`` narrowed to the resource's scopes (RFC 6749 s3.3); none left: ``invalid_scope``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from authgate.authserver.apps import App, AppRegistry
from authgate.authserver.errors import AuthorizeError, OAuthError, UnsafeRedirectError
from authgate.authserver.pkce import valid_challenge
from authgate.authserver.redirects import redirect_matches
from authgate.authserver.resources import Resource, ResourceRegistry

__all__ = ["AuthorizationRequest", "RequestReader"]

_MAX_VALUE = 2048
_PROMPTS = frozenset({"none", "consent", "login"})


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: App
    redirect_uri: str
    state: str
    code_challenge: str
    resource: Resource
    scopes: tuple[str, ...]  # requested, narrowed to the resource's
    prompt: frozenset[str]
    raw: tuple[tuple[str, str], ...]  # as received, to come back to after sign-in

    @property
    def query(self) -> str:
        return urlencode(self.raw)


def _params(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params or len(value) > _MAX_VALUE:
            # s3.1: parameters MUST NOT be included more than once.
            raise UnsafeRedirectError(f"The parameter {name[:40]} is repeated or too long")
        params[name] = value
    return params


class RequestReader:
    def __init__(self, apps: AppRegistry, resources: ResourceRegistry) -> None:
        self._apps = apps
        self._resources = resources

    async def read(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        params = _params(pairs)
        client, redirect_uri = await self._client(params)
        state = params.get("state")

        def fail(message: str, error: str = "invalid_request") -> AuthorizeError:
            return AuthorizeError(message, error=error, redirect_uri=redirect_uri, state=state)

        if params.get("response_type") != "code":
            raise fail("response_type must be code", "unsupported_response_type")
        if "authorization_code" not in client.grant_types:
            raise fail("This client may not use the code flow", "unauthorized_client")
        if not state:
            raise fail("state is required")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not valid_challenge(challenge):
            raise fail("PKCE is required: code_challenge with code_challenge_method=S256")
        prompt = frozenset(params.get("prompt", "").split())
        if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise fail("prompt must be none, consent or login")
        resource = await self._resource(params.get("resource"), fail)
        return AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            resource=resource,
            scopes=_narrow(params.get("scope"), resource, fail),
            prompt=prompt,
            raw=tuple(pairs),
        )

    async def _client(self, params: dict[str, str]) -> tuple[App, str]:
        try:
            client = await self._apps.find(params.get("client_id", ""))
        except OAuthError as exc:  # a metadata document that could not be used
            raise UnsafeRedirectError(exc.message, error="invalid_client") from exc
        if client is None:
            raise UnsafeRedirectError("The application is not registered", error="invalid_client")
        presented = params.get("redirect_uri")
        if presented is None and len(client.redirect_uris) == 1:
            return client, client.redirect_uris[0]  # s3.1.2.3: the only one registered
        if presented is None or not redirect_matches(list(client.redirect_uris), presented):
            raise UnsafeRedirectError("The redirect URI is not registered for this application")
        return client, presented

    async def _resource(self, url: str | None, fail: _Fail) -> Resource:
        if not url:
            raise fail("resource is required (RFC 8707)", "invalid_target")
        resource = await self._resources.by_url(url)
        if resource is None:
            raise fail("The resource is not registered", "invalid_target")
        return resource


class _Fail(Protocol):
    def __call__(self, message: str, error: str = "invalid_request") -> AuthorizeError: ...


def _narrow(scope: str | None, resource: Resource, fail: _Fail) -> tuple[str, ...]:
    if scope is None:
        return resource.scopes
    requested = set(scope.split(" "))
    narrowed = tuple(s for s in resource.scopes if s in requested)
    if not narrowed:
        raise fail("None of the requested scopes is defined by the resource", "invalid_scope")
    return narrowed
