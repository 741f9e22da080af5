"""What the pages show of OAuth: sign-in buttons and linked identities.

The one place the pages read the OAuth configuration, so the templates stay unaware
of how providers are configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from authgate.runtime import Runtime

__all__ = ["IdentityView", "ProviderButton", "linked_identities", "provider_buttons"]


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


def _configured(runtime: Runtime) -> dict[str, str]:
    """Configured providers, name -> display label (none until OAuth is set up)."""
    del runtime
    return {}


def provider_buttons(runtime: Runtime, next_path: str) -> list[ProviderButton]:
    query = urlencode({"next": next_path})
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
    if not _configured(runtime):
        return None
    del user_id
    return []
