"""Connecting a provider account: the login flow's protections, bound to one user.

The same authorization-code flow as sign-in (RFC 6749 s4.1 with PKCE S256, RFC 7636;
``state`` sealed in a cookie, RFC 9700 s4.7; the OIDC ``nonce`` and ID token checks;
RFC 9207 ``iss``), with three differences: the sealed state also names the signed-in
user and the scopes asked for, and the callback refuses any other user; the state
cookie is sealed under its own key (a login state is not a connect state, nor the
reverse); and the redirect URI is ``/auth/connect/{provider}/callback`` on the origin
of the provider's login redirect URI (register it at the provider as well).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urljoin

from authgate.clock import Clock, system_clock
from authgate.errors import OAuthLoginError, OAuthStateError, ProviderDeniedError
from authgate.federation import pkce
from authgate.federation.flow import OAuthFlow, Started
from authgate.federation.providers import Exchanged
from authgate.federation.state import OAuthState, StateManager, UsedStates, derive_state_key

__all__ = ["CONNECT_COOKIE", "Connector"]

CONNECT_COOKIE = "vault_connect_state"
_STATE_LABEL = b"authgate/vault-connect-state/aes-256-gcm/v1"


class Connector:
    def __init__(
        self, oauth: OAuthFlow, *, used_states: UsedStates, clock: Clock = system_clock
    ) -> None:
        self._oauth = oauth
        self.states = StateManager(
            key=derive_state_key(oauth.config.state_secret, label=_STATE_LABEL),
            used=used_states,
            clock=clock,
        )

    def redirect_uri(self, name: str) -> str:
        """The connect callback, on the origin of the provider's login redirect URI."""
        config = self._oauth.config.providers[name]
        return urljoin(config.redirect_uri, f"/auth/connect/{name}/callback")

    async def start(
        self,
        name: str,
        *,
        user_id: str,
        scopes: Sequence[str],
        return_to: str | None,
        browser: bool,
    ) -> Started:
        provider = self._oauth.provider(name)
        target = self._oauth.redirects.resolve(return_to, provider=name)
        wanted = tuple(dict.fromkeys((*self._oauth.config.providers[name].scopes, *scopes)))
        state, cookie = self.states.issue(
            provider=name,
            return_to=target,
            browser=browser,
            verifier=pkce.make_verifier(),
            oidc=provider.uses_nonce,
            user_id=user_id,
            scopes=" ".join(wanted),
        )
        # Google hands out a refresh token only for offline access, and on consent.
        params = {"access_type": "offline", "prompt": "consent"} if name == "google" else None
        with self._oauth.deadline(name):
            url = await provider.authorization_url(
                state=state.state,
                verifier=state.verifier,
                nonce=state.nonce,
                redirect_uri=self.redirect_uri(name),
                scopes=wanted,
                params=params,
            )
        return Started(url, cookie, browser)

    async def complete(
        self, name: str, *, user_id: str, cookie: str | None, params: Mapping[str, str]
    ) -> tuple[Exchanged, OAuthState]:
        """The checked exchange; state first (also for errors), then ``iss``, then the code."""
        provider = self._oauth.provider(name)
        state = await self.states.consume(cookie, provider=name, state=params.get("state"))
        # The tokens go to the user who started the connection, and to nobody else.
        if state.user_id != user_id:
            raise OAuthStateError(name, "user")
        with self._oauth.deadline(name):
            await self._oauth.check_iss(provider, params.get("iss"))
            if "error" in params:
                raise ProviderDeniedError(name, _error_code(params["error"]))
            code = params.get("code")
            if not code:
                raise OAuthLoginError(name, "The provider sent no authorization code")
            done = await provider.exchange(
                code=code,
                verifier=state.verifier,
                nonce=state.nonce,
                redirect_uri=self.redirect_uri(name),
            )
        return done, state


def _error_code(value: str) -> str:
    # RFC 6749 s4.1.2.1: error codes are printable ASCII; echo nothing else back.
    code = "".join(ch for ch in value[:64] if ch.isalnum() or ch in "_-.")
    return code or "unknown_error"
