"""Sign-in with OAuth 2.0 / OpenID Connect providers (docs/oauth.md).

authgate is the relying party: it sends the browser to the provider with state, PKCE
(S256) and a nonce, checks the answer, links the provider identity to a user, and then
issues its own token pair as a password login does.

May import sessions, accounts, tokens, keys, storage and the root modules.
"""

from authgate.federation.config import OAuthConfig, ProviderConfig, load_oauth_config
from authgate.federation.flow import Completed, OAuthFlow, Started
from authgate.federation.providers import Profile, Provider
from authgate.federation.state import MemoryUsedStates, UsedStates

__all__ = [
    "Completed",
    "MemoryUsedStates",
    "OAuthConfig",
    "OAuthFlow",
    "Profile",
    "Provider",
    "ProviderConfig",
    "Started",
    "UsedStates",
    "load_oauth_config",
]
