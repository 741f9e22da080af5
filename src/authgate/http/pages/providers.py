"""What the pages show of OAuth: sign-in buttons and linked identities.

The one place the pages read the OAuth configuration, so the templates stay unaware
of how providers are configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from authgate.runtime import Runtime

__all__ = [
    "IdentityView",
    "ProviderButton",
    "label_for",
    "linked_identities",
    "provider_buttons",
    "provider_label",
]


@dataclass(frozen=True, slots=True)
class ProviderButton:
    name: str
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class IdentityView:
    provider: str
    email: str | None
    linked_at: int


_LABELS = {"google": "Google", "github": "GitHub", "auth0": "Auth0"}


def label_for(name: str) -> str:
    """A provider's display name: the brand for built-ins, else the configured name."""
    return _LABELS.get(name) or name.replace("_", " ").replace("-", " ").title()


def _configured(runtime: Runtime) -> dict[str, str]:
    """Configured providers, name -> display label."""
    return {name: label_for(name) for name in runtime.oauth.providers}


def provider_buttons(runtime: Runtime, next_path: str) -> list[ProviderButton]:
    # The OAuth start route redirects a browser to the provider and, after the
    # callback, back to returnTo (checked again there against its allow-list).
    query = urlencode({"returnTo": next_path, "redirect": "true"})
    return [
        ProviderButton(name, label, f"/auth/oauth/{name}?{query}")
        for name, label in _configured(runtime).items()
    ]


def provider_label(runtime: Runtime, name: str | None) -> str | None:
    if name is None:
        return None
    return _configured(runtime).get(name)


async def linked_identities(runtime: Runtime, user_id: str) -> list[IdentityView] | None:
    """The user's linked provider accounts; None when no provider is configured."""
    if not runtime.oauth.providers:
        return None
    rows = await runtime.oauth.identities(user_id)
    return [IdentityView(label_for(row.provider), row.email, row.created_at) for row in rows]
