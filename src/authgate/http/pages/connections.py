"""What the account page shows of the credential vault: connected accounts and API keys.

Names, kinds, granted scopes, dates and status, never a secret (docs/vault.md). A
connection the provider stopped honouring (``needs_reconsent``) links to the connect
flow again when that provider is still configured here.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from authgate.errors import InvalidRequestError
from authgate.http.pages.providers import label_for
from authgate.runtime import Runtime
from authgate.storage.models import VaultCredential
from authgate.vault.service import parse_scopes

__all__ = ["ConnectionView", "connected_accounts"]

_KINDS = {"oauth": "OAuth connection", "api_key": "API key"}


@dataclass(frozen=True, slots=True)
class ConnectionView:
    id: str
    name: str
    kind: str
    oauth: bool
    scopes: list[str]
    connected_at: int
    last_used_at: int | None
    needs_reconsent: bool
    reconnect_url: str | None


def _reconnect_url(row: VaultCredential, return_to: str) -> str:
    """The connect flow for the same provider, asking again for what was granted."""
    query = {"redirect": "true", "returnTo": return_to}
    # Scopes as the provider reported them; ask again only if they are valid to ask.
    with suppress(InvalidRequestError):
        query["scopes"] = ",".join(parse_scopes(" ".join(row.scopes)))
    return f"/auth/connect/{quote(row.name, safe='')}?{urlencode(query)}"


def _view(runtime: Runtime, row: VaultCredential, return_to: str) -> ConnectionView:
    oauth = row.kind == "oauth"
    needs_reconsent = row.status == "needs_reconsent"
    configured = oauth and row.name in runtime.oauth.providers
    return ConnectionView(
        id=row.id,
        # A provider by its brand ("GitHub"); a key by the service name its owner gave it.
        name=label_for(row.name) if oauth else row.name,
        kind=_KINDS.get(row.kind, row.kind),
        oauth=oauth,
        scopes=list(row.scopes),
        connected_at=row.created_at,
        last_used_at=row.last_used_at,
        needs_reconsent=needs_reconsent,
        reconnect_url=_reconnect_url(row, return_to) if needs_reconsent and configured else None,
    )


async def connected_accounts(
    runtime: Runtime, user_id: str, *, return_to: str
) -> list[ConnectionView] | None:
    """The user's connections and keys; None when the vault is off and holds none."""
    rows = await runtime.vault.connections(user_id)
    if not rows and runtime.settings.encryption_key is None:
        return None
    return [_view(runtime, row, return_to) for row in rows]
