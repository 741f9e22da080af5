"""The login flow: start (authorization URL + sealed state) and callback (checks, code
exchange, identity linking). The HTTP routes only translate to and from requests.

Callback order: the state first (RFC 9700 s4.7, also for error responses), then the
RFC 9207 ``iss`` check, then the provider's ``error``, then the exchange. All network
work of one callback is bounded by a deadline, so a slow provider cannot hold it.
"""

from __future__ import annotations

import functools
import hmac
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import anyio
import httpx

from authgate.audit import AuditTrail
from authgate.clock import Clock, system_clock
from authgate.config import Settings
from authgate.devices import DeviceInfo
from authgate.errors import (
    IssuerMismatchError,
    OAuthLoginError,
    ProviderDeniedError,
    ProviderUnavailableError,
    UnknownProviderError,
)
from authgate.federation import pkce
from authgate.federation.accounts import AccountLinker, SignIn
from authgate.federation.config import OAuthConfig, load_oauth_config
from authgate.federation.discovery import Discovery
from authgate.federation.providers import Provider, build_provider
from authgate.federation.return_targets import RedirectPolicy
from authgate.federation.state import (
    MemoryUsedStates,
    OAuthState,
    StateManager,
    UsedStates,
    derive_state_key,
)
from authgate.storage.identities import IdentityStore
from authgate.storage.models import Identity
from authgate.storage.store import SqlStore

__all__ = ["Completed", "OAuthFlow", "Started"]

_MAX_PARAM = 4096


@dataclass(frozen=True, slots=True)
class Started:
    auth_url: str
    cookie: str
    browser: bool


@dataclass(frozen=True, slots=True)
class Completed:
    sign_in: SignIn
    state: OAuthState


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds; one context serves every client.
    return httpx.create_ssl_context()


class OAuthFlow:
    def __init__(
        self,
        config: OAuthConfig,
        *,
        store: SqlStore,
        audit: AuditTrail,
        default_roles: Sequence[str],
        registration_enabled: bool,
        leeway: int = 10,
        used_states: UsedStates | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.config = config
        self._audit = audit
        self._timeout = config.http_timeout
        tls = _tls_context()
        self.http = httpx.AsyncClient(
            timeout=config.http_timeout,
            follow_redirects=False,
            headers={"User-Agent": "authgate", "Accept": "application/json"},
            verify=tls,
        )
        discovery = Discovery(http=self.http, clock=clock)
        self.discovery = discovery
        self.providers: Mapping[str, Provider] = MappingProxyType(
            {
                name: build_provider(
                    provider,
                    discovery=discovery,
                    http=self.http,
                    timeout=config.http_timeout,
                    tls=tls,
                    leeway=leeway,
                    clock=clock,
                )
                for name, provider in config.providers.items()
            }
        )
        self.states = StateManager(
            key=derive_state_key(config.state_secret),
            used=used_states or MemoryUsedStates(clock=clock),
            clock=clock,
        )
        self.redirects = RedirectPolicy(
            default=config.post_login_redirect, allowed=config.allowed_redirects
        )
        self.accounts = AccountLinker(
            store=store,
            identities=IdentityStore(store.engine),
            default_roles=default_roles,
            registration_enabled=registration_enabled,
            clock=clock,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: SqlStore,
        audit: AuditTrail,
        used_states: UsedStates | None = None,
        clock: Clock = system_clock,
    ) -> OAuthFlow:
        return cls(
            load_oauth_config(settings),
            store=store,
            audit=audit,
            default_roles=settings.default_roles,
            registration_enabled=settings.registration_enabled,
            leeway=settings.clock_leeway,
            used_states=used_states,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise UnknownProviderError(name[:64]) from None

    async def start(self, name: str, *, return_to: str | None, browser: bool) -> Started:
        provider = self.provider(name)
        target = self.redirects.resolve(return_to, provider=name)
        state, cookie = self.states.issue(
            provider=name,
            return_to=target,
            browser=browser,
            verifier=pkce.make_verifier(),
            oidc=provider.uses_nonce,
        )
        with self.deadline(name):
            url = await provider.authorization_url(
                state=state.state, verifier=state.verifier, nonce=state.nonce
            )
        return Started(url, cookie, browser)

    async def complete(
        self, name: str, *, cookie: str | None, params: Mapping[str, str], device: DeviceInfo
    ) -> Completed:
        provider = self.provider(name)
        if any(len(value) > _MAX_PARAM for value in params.values()):
            raise OAuthLoginError(name, "The callback parameters are too long")
        state = await self.states.consume(cookie, provider=name, state=params.get("state"))
        with self.deadline(name):
            await self.check_iss(provider, params.get("iss"))
            if "error" in params:
                raise ProviderDeniedError(name, _error_code(params["error"]))
            code = params.get("code")
            if not code:
                raise OAuthLoginError(name, "The provider sent no authorization code")
            profile = await provider.complete(code=code, verifier=state.verifier, nonce=state.nonce)
        sign_in = await self.accounts.sign_in(name, profile)
        if sign_in.outcome != "returning":
            await self._audit.record(
                "oauth.linked",
                user_id=sign_in.user.id,
                device=device,
                provider=name,
                created_user=sign_in.outcome == "created",
            )
        return Completed(sign_in, state)

    async def identities(self, user_id: str) -> Sequence[Identity]:
        return await self.accounts.identities(user_id)

    async def check_iss(self, provider: Provider, iss: str | None) -> None:
        """RFC 9207 s2.4: a present `iss` must be the issuer this login was sent to."""
        if iss is None:
            if await provider.requires_iss():
                raise IssuerMismatchError(provider.name)
            return
        if not hmac.compare_digest(iss.encode(), provider.issuer.encode()):
            raise IssuerMismatchError(provider.name)

    def deadline(self, name: str) -> AbstractContextManager[None]:
        # Each request is bounded by the timeout; a callback makes a few, so allow three.
        return _deadline(name, 3 * self._timeout)


@contextmanager
def _deadline(provider: str, seconds: float) -> Iterator[None]:
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError as exc:
        raise ProviderUnavailableError(provider) from exc


def _error_code(value: str) -> str:
    # RFC 6749 s4.1.2.1: error codes are printable ASCII; echo nothing else back.
    code = "".join(ch for ch in value[:64] if ch.isalnum() or ch in "_-.")
    return code or "unknown_error"
